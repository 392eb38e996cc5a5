//! One part file being written, whatever its format (see [`super::format`]):
//! to a `.tmp` name through a hashing, counting writer; fsynced and renamed
//! into place when finished.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use sha2::{Digest, Sha256};

use super::format::FormatWriter;
use super::writer::FormatOutput;
use super::{WriterConfig, WrittenFile};
use crate::error::{Error, Result};

pub(super) struct OpenFile {
    pub(super) tmp_path: PathBuf,
    final_path: PathBuf,
    relative_path: String,
    rows: u64,
    writer: Box<dyn FormatWriter>,
    /// The file's first failed write, shared with its [`HashingWriter`].
    failure: IoFailure,
}

/// The first write to a part's `.tmp` file that failed (a full disk): the
/// format writers wrap it in their own errors ("encoding users rows:
/// External: No space left on device", no path), so the part keeps it to
/// say it with the file's path and what to do.
#[derive(Clone, Default)]
struct IoFailure(Arc<Mutex<Option<(io::ErrorKind, String)>>>);

impl IoFailure {
    fn record(&self, e: &io::Error) {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert_with(|| (e.kind(), e.to_string()));
    }

    /// `e` said as the failed write to `path` when a write failed, else `e`.
    fn explain(&self, path: &Path, e: Error) -> Error {
        let slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match &*slot {
            Some((kind, text)) if !matches!(e, Error::Output { .. }) => {
                super::dirs::write_error(path, io::Error::new(*kind, text.clone()))
            }
            _ => e,
        }
    }
}

pub(super) fn open_part(
    run_dir: &Path,
    config: &WriterConfig,
    output: &FormatOutput,
    part: u32,
) -> Result<OpenFile> {
    super::dirs::create(run_dir)?;
    let spec = output.format.spec();
    let name = format!("part-{part:05}.{}", spec.extension);
    let final_path = run_dir.join(&name);
    let tmp_path = run_dir.join(format!("{name}.tmp"));
    let file = File::create(&tmp_path).map_err(|e| super::dirs::write_error(&tmp_path, e))?;
    let failure = IoFailure::default();
    let writer = match (spec.open)(
        config.row_groups.clone(),
        HashingWriter::new(file, failure.clone()),
        output.schema.clone(),
        &config.report,
    ) {
        Ok(writer) => writer,
        Err(e) => {
            // Nothing refers to the `.tmp` file yet: remove it here.
            let _ = fs::remove_file(&tmp_path);
            return Err(failure.explain(&tmp_path, e));
        }
    };
    let relative_path = format!("{}/{}/{name}", config.report, config.run_key);
    Ok(OpenFile {
        tmp_path,
        final_path,
        relative_path,
        rows: 0,
        writer,
        failure,
    })
}

impl OpenFile {
    pub(super) fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let written = self.writer.write(batch);
        written.map_err(|e| self.failure.explain(&self.tmp_path, e))?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Finish the format, fsync, rename into place: a durable file. When
    /// any step fails (a full disk), the `.tmp` file is removed: nothing
    /// else refers to it once this consumed `self`.
    pub(super) fn finish(self, format: super::Format) -> Result<WrittenFile> {
        let tmp_path = self.tmp_path.clone();
        let finished = self.finish_inner(format);
        if finished.is_err() {
            let _ = fs::remove_file(&tmp_path);
        }
        finished
    }

    fn finish_inner(self, format: super::Format) -> Result<WrittenFile> {
        let failure = self.failure.clone();
        let out = self
            .writer
            .finish()
            .map_err(|e| failure.explain(&self.tmp_path, e))?;
        let (bytes, sha256) = out
            .finish()
            .map_err(|e| super::dirs::write_error(&self.tmp_path, e))?;
        fs::rename(&self.tmp_path, &self.final_path)
            .map_err(|e| Error::output(&self.final_path, e))?;
        Ok(WrittenFile {
            relative_path: self.relative_path,
            format,
            rows: self.rows,
            bytes,
            sha256,
        })
    }
}

/// The `.tmp` file a part is written to: a buffered file writer that
/// hashes and counts what goes through it.
pub(crate) struct HashingWriter {
    inner: BufWriter<File>,
    hasher: Sha256,
    bytes: u64,
    failure: IoFailure,
}

impl HashingWriter {
    fn new(file: File, failure: IoFailure) -> Self {
        Self {
            inner: BufWriter::with_capacity(1 << 20, file),
            hasher: Sha256::new(),
            bytes: 0,
            failure,
        }
    }

    /// Flush, fsync, and return (size, sha256 hex).
    fn finish(self) -> io::Result<(u64, String)> {
        let file = self.inner.into_inner().map_err(|e| e.into_error())?;
        crate::failpoint::fail("part_finish")?;
        file.sync_all()?;
        Ok((self.bytes, hex::encode(self.hasher.finalize())))
    }
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = crate::failpoint::fail("part_write")
            .and_then(|()| self.inner.write(buf))
            .inspect_err(|e| self.failure.record(e))?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().inspect_err(|e| self.failure.record(e))
    }
}
