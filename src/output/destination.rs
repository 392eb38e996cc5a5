//! Where a run's finished parts go: one [`Destination`], a local directory
//! or an object store.
//!
//! Either way the writer writes parts into a local directory
//! ([`Destination::local_dir`]): the output directory itself, or the object
//! store's private staging directory. A finished part (fsynced, renamed) is
//! then [`Destination::publish`]ed before the state records it: nothing to
//! do for a local directory (the rename put it in place), an upload for an
//! object store. A part no commit will name is removed with
//! [`Destination::remove`] (the local file, and its object if it was
//! published).
//!
//! Adding a destination: its file (as `object.rs`), a variant here and its
//! arm in each method below.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::WrittenFile;
use super::object::ObjectOutput;
use crate::error::Result;

/// Where finished parts go (cheap to clone).
#[derive(Debug, Clone)]
pub enum Destination {
    /// A local directory: parts are written and stay in it.
    Local(PathBuf),
    /// An object store (`s3://`, `gs://`, `az://`, `file://`): parts are
    /// written to its staging directory and uploaded on publish.
    Object(Arc<ObjectOutput>),
}

impl Destination {
    /// The destination of a run: the object store when there is one (its
    /// staging directory is the local directory), else `output_dir`.
    pub fn of(output_dir: &Path, object: Option<Arc<ObjectOutput>>) -> Self {
        match object {
            Some(object) => Destination::Object(object),
            None => Destination::Local(output_dir.to_path_buf()),
        }
    }

    /// Where the writer puts parts (relative paths of [`WrittenFile`] are
    /// relative to it).
    pub fn local_dir(&self) -> &Path {
        match self {
            Destination::Local(dir) => dir,
            Destination::Object(object) => &object.staging,
        }
    }

    /// Make finished parts visible under their final names. Local: they
    /// already are. Object store: upload each, then delete the local copies;
    /// on error the objects already uploaded are deleted again.
    pub async fn publish(&self, files: &[WrittenFile]) -> Result<()> {
        match self {
            Destination::Local(_) => Ok(()),
            Destination::Object(object) => object.publish(files).await,
        }
    }

    /// Remove parts no commit will name, published or not (best effort: a
    /// part already gone is fine).
    pub async fn remove(&self, files: &[WrittenFile]) {
        if let Destination::Object(object) = self {
            object.delete(files.iter()).await;
        }
        self.remove_unpublished(files);
    }

    /// Remove the local files of parts that were never published (from a
    /// blocking thread: no object is touched).
    pub fn remove_unpublished(&self, files: &[WrittenFile]) {
        let dir = self.local_dir();
        for f in files {
            let _ = std::fs::remove_file(dir.join(&f.relative_path));
        }
    }

    /// The object store, if the output is one (recovery lists it).
    pub fn object(&self) -> Option<&ObjectOutput> {
        match self {
            Destination::Local(_) => None,
            Destination::Object(object) => Some(object),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Format;

    fn part(dir: &Path, n: u32) -> WrittenFile {
        let f = WrittenFile {
            relative_path: format!("users/run-1/part-{n:05}.csv"),
            format: Format::Csv,
            rows: 1,
            bytes: 2,
            sha256: String::new(),
        };
        let local = dir.join(&f.relative_path);
        std::fs::create_dir_all(local.parent().expect("parent")).expect("mkdir");
        std::fs::write(&local, b"a\n").expect("write");
        f
    }

    #[tokio::test]
    async fn both_destinations_publish_in_place_and_remove_what_no_commit_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Local: the parts are where the writer put them.
        let local = Destination::Local(dir.path().join("out"));
        let files = [part(local.local_dir(), 0), part(local.local_dir(), 1)];
        local.publish(&files).await.expect("publish");
        assert!(local.local_dir().join(&files[0].relative_path).exists());
        local.remove(&files[1..]).await;
        assert!(!local.local_dir().join(&files[1].relative_path).exists());
        assert!(local.local_dir().join(&files[0].relative_path).exists());
        assert!(local.object().is_none());

        // Object store: staged, uploaded on publish, deleted by remove.
        let url = format!("file://{}/bucket", dir.path().display());
        let object = ObjectOutput::new(&url, dir.path().join("staging")).expect("file://");
        let remote = Destination::of(dir.path(), Some(Arc::new(object)));
        assert_eq!(remote.local_dir(), dir.path().join("staging"));
        let files = [part(remote.local_dir(), 0), part(remote.local_dir(), 1)];
        remote.publish(&files).await.expect("publish");
        let store = remote.object().expect("object store");
        assert!(!remote.local_dir().join(&files[0].relative_path).exists());
        assert_eq!(
            store.list().await.expect("list"),
            [
                files[0].relative_path.clone(),
                files[1].relative_path.clone()
            ]
        );
        remote.remove(&files[1..]).await;
        assert_eq!(
            store.list().await.expect("list"),
            [files[0].relative_path.clone()]
        );
    }
}
