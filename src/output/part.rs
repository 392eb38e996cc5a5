//! One part file being written, whatever its format (see [`super::format`]):
//! to a `.tmp` name through a hashing, counting writer; fsynced and renamed
//! into place when finished.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

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
    let writer = match (spec.open)(
        config.row_groups.clone(),
        HashingWriter::new(file),
        output.schema.clone(),
        &config.report,
    ) {
        Ok(writer) => writer,
        Err(e) => {
            // Nothing refers to the `.tmp` file yet: remove it here.
            let _ = fs::remove_file(&tmp_path);
            return Err(e);
        }
    };
    let relative_path = format!("{}/{}/{name}", config.report, config.run_key);
    Ok(OpenFile {
        tmp_path,
        final_path,
        relative_path,
        rows: 0,
        writer,
    })
}

impl OpenFile {
    pub(super) fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer.write(batch)?;
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
        let out = self.writer.finish()?;
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
}

impl HashingWriter {
    fn new(file: File) -> Self {
        Self {
            inner: BufWriter::with_capacity(1 << 20, file),
            hasher: Sha256::new(),
            bytes: 0,
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
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
