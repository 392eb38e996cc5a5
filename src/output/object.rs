//! Object-storage output (`s3://`, `gs://`, `az://`, `file://`) through the
//! `object_store` crate.
//!
//! The writer works as for a local directory, in a private staging directory
//! on local disk: parts are written under `.tmp` names, fsynced and renamed.
//! When a report's parts are all written, [`ObjectOutput::publish`] uploads
//! each one to its final key (`<prefix>/<report>/<run>/part-NNNNN.<ext>`,
//! the same relative path as on disk) with a single PUT or, for large parts,
//! a multipart upload, and deletes the local copy. Both are atomic on the
//! stores: an object never exists under its final name before it is
//! complete. Only then does the state transaction record the files, as for
//! a local directory. A crash between the upload and the commit leaves
//! objects the state does not name; recovery lists the dead run's prefix
//! and deletes them ([`ObjectOutput::remove_uncommitted`]).
//!
//! Credentials come from each cloud's usual environment variables through
//! the builders' `from_env` (`AWS_*`, `GOOGLE_*`, `AZURE_*`). For
//! S3-compatible servers `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT`) overrides
//! the endpoint, with `AWS_ALLOW_HTTP=true` for plain http.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use tokio::io::AsyncReadExt;

use crate::error::{Error, Result};
use crate::output::WrittenFile;

/// Parts at least this big go up as multipart uploads.
const MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;
/// Size of one multipart chunk.
const CHUNK: usize = 8 * 1024 * 1024;

/// Is `text` an object-store URL (rather than a local path)?
pub fn is_object_url(text: &str) -> bool {
    [
        "s3://", "s3a://", "gs://", "az://", "abfs://", "abfss://", "file://",
    ]
    .iter()
    .any(|scheme| text.starts_with(scheme))
}

/// An output location in an object store, with its local staging directory.
#[derive(Debug, Clone)]
pub struct ObjectOutput {
    /// The URL as configured (no credentials are ever part of it).
    pub url: String,
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    /// Where the writer puts parts before they are uploaded.
    pub staging: PathBuf,
    /// Parts of at least this many bytes go up as multipart uploads.
    multipart_over: u64,
}

impl ObjectOutput {
    /// Connect to the store named by `url` (credentials from the
    /// environment); stage parts under `staging`.
    pub fn new(url: &str, staging: PathBuf) -> Result<Self> {
        let bad = |e: &dyn std::fmt::Display| {
            Error::Config(format!(
                "output {url}: {e}; use s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, \
                 az://CONTAINER/PREFIX or file:///PATH (credentials come from the environment)"
            ))
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(&e))?;
        let (store, prefix): (Arc<dyn ObjectStore>, String) = match parsed.scheme() {
            "s3" | "s3a" => {
                let mut builder = object_store::aws::AmazonS3Builder::from_env().with_url(url);
                // AWS_ENDPOINT_URL is the name the AWS CLI and SDKs use.
                if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
                    builder = builder.with_endpoint(endpoint);
                }
                let store = builder.build().map_err(|e| bad(&e))?;
                (Arc::new(store), parsed.path().to_string())
            }
            "gs" => {
                let store = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_url(url)
                    .build()
                    .map_err(|e| bad(&e))?;
                (Arc::new(store), parsed.path().to_string())
            }
            "az" | "abfs" | "abfss" => {
                let store = object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_url(url)
                    .build()
                    .map_err(|e| bad(&e))?;
                (Arc::new(store), parsed.path().to_string())
            }
            "file" => {
                let dir = parsed
                    .to_file_path()
                    .map_err(|()| bad(&"not an absolute file:// path"))?;
                std::fs::create_dir_all(&dir).map_err(|e| Error::output(&dir, e))?;
                let store = object_store::local::LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|e| bad(&e))?;
                (Arc::new(store), String::new())
            }
            other => return Err(bad(&format!("unsupported scheme {other}://"))),
        };
        let prefix = ObjectPath::parse(prefix.trim_matches('/')).map_err(|e| bad(&e))?;
        Ok(Self {
            url: url.to_string(),
            store,
            prefix,
            staging,
            multipart_over: MULTIPART_THRESHOLD,
        })
    }

    fn key(&self, relative: &str) -> ObjectPath {
        relative
            .split('/')
            .filter(|p| !p.is_empty())
            .fold(self.prefix.clone(), |key, part| key.clone().join(part))
    }

    fn err(&self, what: &str, e: impl std::fmt::Display) -> Error {
        Error::Internal(format!("object store {}: {what}: {e}", self.url))
    }

    /// Upload written parts from the staging directory to their final keys,
    /// then delete the local copies. On error the objects already uploaded
    /// are deleted again.
    pub async fn publish(&self, files: &[WrittenFile]) -> Result<()> {
        let mut done: Vec<&WrittenFile> = Vec::new();
        for f in files {
            if let Err(e) = self.upload(f).await {
                self.delete(done.into_iter()).await;
                return Err(e);
            }
            done.push(f);
        }
        for f in files {
            let local = self.staging.join(&f.relative_path);
            let _ = tokio::fs::remove_file(&local).await;
            if let Some(dir) = local.parent() {
                // Only succeeds once the run directory is empty.
                let _ = tokio::fs::remove_dir(dir).await;
            }
        }
        Ok(())
    }

    async fn upload(&self, f: &WrittenFile) -> Result<()> {
        let local = self.staging.join(&f.relative_path);
        let key = self.key(&f.relative_path);
        if f.bytes < self.multipart_over {
            let bytes = tokio::fs::read(&local)
                .await
                .map_err(|e| Error::output(&local, e))?;
            self.store
                .put(&key, bytes.into())
                .await
                .map_err(|e| self.err(&format!("uploading {key}"), e))?;
            return Ok(());
        }
        // Multipart: the object appears only when the upload completes.
        let upload = self
            .store
            .put_multipart(&key)
            .await
            .map_err(|e| self.err(&format!("starting the upload of {key}"), e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, CHUNK);
        let mut file = tokio::fs::File::open(&local)
            .await
            .map_err(|e| Error::output(&local, e))?;
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = file
                .read(&mut buf)
                .await
                .map_err(|e| Error::output(&local, e))?;
            if n == 0 {
                break;
            }
            writer
                .wait_for_capacity(4)
                .await
                .map_err(|e| self.err(&format!("uploading {key}"), e))?;
            writer.write(&buf[..n]);
        }
        writer
            .finish()
            .await
            .map_err(|e| self.err(&format!("completing the upload of {key}"), e))?;
        Ok(())
    }

    /// Delete uploaded objects (best effort; used when a commit fails).
    pub async fn delete<'a>(&self, files: impl Iterator<Item = &'a WrittenFile>) {
        for f in files {
            let key = self.key(&f.relative_path);
            if let Err(e) = self.store.delete(&key).await {
                tracing::warn!(%key, error = %e, "could not delete an uncommitted object");
            }
        }
    }

    /// Delete every `part-*` object under `<prefix>/<report>/<key>[-…]/`
    /// (for the run keys in `keys`; every report or only `only_report`) that
    /// `committed` (paths relative to the prefix) does not name. Returns the
    /// removed relative paths.
    pub async fn remove_uncommitted(
        &self,
        keys: &HashSet<&str>,
        key_len: usize,
        only_report: Option<&str>,
        committed: &HashSet<String>,
    ) -> Result<Vec<String>> {
        let listing = |e| self.err("listing for recovery", e);
        // Walk report and run "directories" instead of listing every object
        // under the prefix: only the dead runs' directories are listed.
        let report_dirs = match only_report {
            Some(report) => vec![self.key(report)],
            None => {
                self.store
                    .list_with_delimiter(Some(&self.prefix))
                    .await
                    .map_err(listing)?
                    .common_prefixes
            }
        };
        let mut removed = Vec::new();
        for report_dir in report_dirs {
            let Some(report) = report_dir.filename().map(str::to_string) else {
                continue;
            };
            let run_dirs = self
                .store
                .list_with_delimiter(Some(&report_dir))
                .await
                .map_err(listing)?
                .common_prefixes;
            for run_dir in run_dirs {
                let Some(dir) = run_dir.filename().map(str::to_string) else {
                    continue;
                };
                if !keys.contains(dir.get(..key_len).unwrap_or(&dir)) {
                    continue;
                }
                let objects: Vec<_> = self
                    .store
                    .list(Some(&run_dir))
                    .try_collect()
                    .await
                    .map_err(listing)?;
                for meta in objects {
                    let Some(name) = meta.location.filename().map(str::to_string) else {
                        continue;
                    };
                    let relative = format!("{report}/{dir}/{name}");
                    if !name.starts_with("part-") || committed.contains(&relative) {
                        continue;
                    }
                    self.store
                        .delete(&meta.location)
                        .await
                        .map_err(|e| self.err(&format!("deleting {}", meta.location), e))?;
                    removed.push(relative);
                }
            }
        }
        removed.sort();
        Ok(removed)
    }

    /// Read an object (tests, checks).
    pub async fn read(&self, relative: &str) -> Result<bytes::Bytes> {
        let key = self.key(relative);
        self.store
            .get(&key)
            .await
            .map_err(|e| self.err(&format!("reading {key}"), e))?
            .bytes()
            .await
            .map_err(|e| self.err(&format!("reading {key}"), e))
    }

    /// Every object under the prefix, as paths relative to it.
    pub async fn list(&self) -> Result<Vec<String>> {
        let skip = self.prefix.parts().count();
        let objects: Vec<_> = self
            .store
            .list(Some(&self.prefix))
            .try_collect()
            .await
            .map_err(|e| self.err("listing", e))?;
        let mut out: Vec<String> = objects
            .iter()
            .map(|m| {
                m.location
                    .parts()
                    .skip(skip)
                    .map(|p| p.as_ref().to_string())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .collect();
        out.sort();
        Ok(out)
    }
}

/// A private staging directory for one process's uploads.
pub fn staging_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!(
        "intercom-export-staging-{}-{nanos:08x}",
        std::process::id()
    ))
}

/// Remove a staging directory when the process is done with it.
pub fn remove_staging(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Format;

    #[tokio::test]
    async fn file_urls_publish_parts_and_recovery_deletes_uncommitted_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let staging = dir.path().join("staging");
        let target = dir.path().join("bucket");
        let url = format!("file://{}/exports", target.display());
        let out = ObjectOutput::new(&url, staging.clone()).expect("file:// output");
        let key = "20261122T000000Z-000001";
        let part = |n: u32| WrittenFile {
            relative_path: format!("users/{key}/part-{n:05}.parquet"),
            format: Format::Parquet,
            rows: 1,
            bytes: 5,
            sha256: String::new(),
        };
        let files = [part(0), part(1)];
        for f in &files {
            let local = staging.join(&f.relative_path);
            std::fs::create_dir_all(local.parent().expect("parent")).expect("mkdir");
            std::fs::write(&local, b"bytes").expect("write");
        }
        out.publish(&files[..1]).await.expect("publish");
        // The second as a multipart upload.
        let out = ObjectOutput {
            multipart_over: 0,
            ..out
        };
        out.publish(&files[1..]).await.expect("publish multipart");
        assert!(
            !staging.join(&files[0].relative_path).exists(),
            "local copy removed"
        );
        assert_eq!(
            out.list().await.expect("list"),
            [
                files[0].relative_path.clone(),
                files[1].relative_path.clone()
            ]
        );
        assert_eq!(
            out.read(&files[1].relative_path).await.expect("read"),
            &b"bytes"[..]
        );
        // part-00000 was committed, part-00001 not: recovery deletes only it.
        let keys: HashSet<&str> = [key].into_iter().collect();
        let committed: HashSet<String> = [files[0].relative_path.clone()].into_iter().collect();
        let removed = out
            .remove_uncommitted(&keys, key.len(), None, &committed)
            .await
            .expect("recover");
        assert_eq!(removed, [files[1].relative_path.clone()]);
        assert_eq!(
            out.list().await.expect("list"),
            [files[0].relative_path.clone()]
        );
        // Other runs' objects are never touched.
        let other: HashSet<&str> = ["20200101T000000Z-000009"].into_iter().collect();
        let none = out
            .remove_uncommitted(&other, key.len(), None, &HashSet::new())
            .await
            .expect("recover");
        assert!(none.is_empty());
    }
}
