//! The directories a run writes into: created with an error that names
//! what failed (the file in the way, the directory that could not be
//! made) and what to do, and removed again when the run that created them
//! leaves them empty (a failed write, a report with nothing to write).
//! Only empty directories are ever removed: one holding files of an
//! earlier run stays.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// What to do about a write that failed with `e`, said after it.
fn advice(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
            "free space on that disk (or choose another output directory with --output or \
             `output_dir`) and run again: the export resumes from its last checkpoint"
        }
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
            "make the output directory writable for this user (or choose another with \
             --output or `output_dir`) and run again: the export resumes from its last checkpoint"
        }
        _ => {
            "check the output directory (or choose another with --output or `output_dir`) \
             and run again: the export resumes from its last checkpoint"
        }
    }
}

/// An [`Error::Output`] for a write to `path` that failed with `e`, its
/// message followed by what to do.
pub(crate) fn write_error(path: &Path, e: io::Error) -> Error {
    let advice = advice(&e);
    Error::output(path, io::Error::new(e.kind(), format!("{e}; {advice}")))
}

/// The directories of `dir` (itself and its parents) that do not exist
/// yet, deepest first; none above `root` when given (the `root` itself is
/// counted).
pub fn missing(dir: &Path, root: Option<&Path>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in dir.ancestors() {
        if d.as_os_str().is_empty() || d.exists() {
            break;
        }
        out.push(d.to_path_buf());
        if root.is_some_and(|r| d == r) {
            break;
        }
    }
    out
}

/// Remove the directories of `dirs` (deepest first, as [`missing`] gives
/// them) that are empty, stopping at the first that is not (one already
/// gone is passed over): a directory with anything in it (an earlier run's
/// files, another report's) stays, and so do its parents.
pub fn remove_empty(dirs: &[PathBuf]) {
    for d in dirs {
        match fs::remove_dir(d) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(_) => break,
        }
    }
}

/// Create the report's run directory `dir` and its parents. On failure the
/// error names the file in the way (`out/users` a file where the report
/// directory goes) or the directory that could not be made, and what to do.
pub(crate) fn create(dir: &Path) -> Result<()> {
    let first = fs::create_dir_all(dir);
    // A parent removed meanwhile (another report's writer cleaning up the
    // empty directories of its failed run): once more.
    let made = match first {
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir_all(dir),
        other => other,
    };
    let Err(e) = made else {
        return Ok(());
    };
    let in_the_way = dir.ancestors().skip(1).find(|d| d.exists() && !d.is_dir());
    Err(match in_the_way {
        Some(file) => Error::output(
            file,
            io::Error::new(
                e.kind(),
                format!(
                    "a file is in the way of the report directory {}: move or remove it (or \
                     choose another output directory with --output or `output_dir`) and run again",
                    dir.display()
                ),
            ),
        ),
        None => {
            let advice = advice(&e);
            Error::output(
                dir,
                io::Error::new(
                    e.kind(),
                    format!("cannot create this directory: {e}; {advice}"),
                ),
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_missing_directories_are_listed_and_only_empty_ones_removed() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path().join("out");
        let run = root.join("users").join("run-1");
        assert_eq!(
            missing(&run, Some(&root)),
            vec![run.clone(), root.join("users"), root.clone()]
        );
        assert_eq!(
            missing(&run, Some(&root.join("users"))),
            vec![run.clone(), root.join("users")]
        );
        create(&run).expect("created");
        assert!(missing(&run, None).is_empty());

        // An earlier run's file in `out/users`: `run-1` goes, the rest stays.
        std::fs::write(root.join("users").join("earlier"), b"x").expect("file");
        remove_empty(&[run.clone(), root.join("users"), root.clone()]);
        assert!(!run.exists());
        // Once more: `run-1` is gone already, `out/users` still holds a file.
        remove_empty(&[run.clone(), root.join("users"), root.clone()]);
        assert!(!run.exists());
        assert!(root.join("users").join("earlier").exists());

        // A file where a directory goes: the error names it.
        let err = create(&root.join("users").join("earlier").join("run-2"))
            .expect_err("a file in the way")
            .to_string();
        assert!(
            err.contains(&root.join("users").join("earlier").display().to_string())
                && err.contains("a file is in the way")
                && err.contains("--output"),
            "{err}"
        );
    }
}
