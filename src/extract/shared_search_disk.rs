//! The temporary file of a run's shared search pages past the memory
//! budget (see [`super`]): one file per run, appended to, read by offset,
//! never rewritten; it goes with the run's store (the last clone dropped at
//! the run's end). Unnamed in the system's temporary directory
//! (`tempfile::tempfile()`, `TMPDIR`: removed by the system when closed,
//! also when the process is killed), or a named file in a directory the
//! tests give (`intercom-export-searches-*`, removed when dropped).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

/// The file, and how much of it is used.
pub(super) struct Disk {
    file: Option<Held>,
    /// Bytes written (the file's length).
    len: u64,
    /// Bytes written at most; past them a page is not kept.
    budget: u64,
    /// Where the file is made (`None`: an unnamed file in `TMPDIR`).
    dir: Option<PathBuf>,
    /// The file could not be made or written: keep nothing more on disk.
    broken: bool,
}

enum Held {
    Unnamed(File),
    Named(tempfile::NamedTempFile),
}

impl Held {
    fn file(&self) -> &File {
        match self {
            Held::Unnamed(f) => f,
            Held::Named(f) => f.as_file(),
        }
    }
}

impl Disk {
    pub(super) fn new(budget: u64, dir: Option<PathBuf>) -> Disk {
        Disk {
            file: None,
            len: 0,
            budget,
            dir,
            broken: false,
        }
    }

    /// Bytes on disk now.
    pub(super) fn bytes(&self) -> u64 {
        self.len
    }

    /// Append `text`; its offset, or `None` (not kept) past the budget or
    /// when the file system fails (said once).
    pub(super) fn write(&mut self, text: &[u8]) -> Option<u64> {
        let len = text.len() as u64;
        if self.broken || self.len + len > self.budget {
            return None;
        }
        if self.file.is_none() {
            let made = match &self.dir {
                None => tempfile::tempfile().map(Held::Unnamed),
                Some(dir) => tempfile::Builder::new()
                    .prefix("intercom-export-searches-")
                    .tempfile_in(dir)
                    .map(Held::Named),
            };
            match made {
                Ok(file) => self.file = Some(file),
                Err(e) => return self.fail(e),
            }
        }
        let offset = self.len;
        let written = match &self.file {
            Some(held) => held.file().write_all_at(text, offset),
            None => return None,
        };
        if let Err(e) = written {
            return self.fail(e);
        }
        self.len += len;
        Some(offset)
    }

    fn fail(&mut self, e: std::io::Error) -> Option<u64> {
        tracing::warn!(
            error = %e,
            "cannot keep search pages in a temporary file (TMPDIR); the reports that read \
             the same conversation or ticket search ask for its pages again themselves"
        );
        self.broken = true;
        None
    }

    /// The `len` bytes at `offset`, as text.
    pub(super) fn read(&self, offset: u64, len: usize) -> std::io::Result<String> {
        let held = self
            .file
            .as_ref()
            .ok_or_else(|| std::io::Error::other("the temporary file is gone"))?;
        let mut buf = vec![0u8; len];
        held.file().read_exact_at(&mut buf, offset)?;
        String::from_utf8(buf).map_err(std::io::Error::other)
    }
}
