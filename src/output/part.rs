//! One part file being written: Parquet (zstd, bounded row groups) or CSV,
//! to a `.tmp` name through a hashing, counting writer; fsynced and renamed
//! into place when finished.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use sha2::{Digest, Sha256};

use super::writer::Sink;
use super::{Format, WriterConfig, WrittenFile, encode_error};
use crate::error::{Error, Result};

/// A Parquet row group is flushed once the memory its writer holds (encoded
/// pages, dictionaries and the page being filled, `ArrowWriter::memory_size`)
/// passes the writer's share of the run's budget
/// ([`super::budget::RowGroupBudget`], at most
/// [`super::budget::ROW_GROUP_BYTES`]). This, not the report's size, bounds
/// the writer's memory; see the scale run in `BENCHMARKS.md`.
/// Per-column limit of a Parquet dictionary page and of a data page.
const PAGE_BYTES: usize = 256 * 1024;

pub(super) struct OpenFile {
    pub(super) tmp_path: PathBuf,
    final_path: PathBuf,
    relative_path: String,
    rows: u64,
    writer: FileWriter,
    /// Where the row-group ceiling comes from (see above).
    row_groups: super::budget::RowGroupBudget,
}

enum FileWriter {
    Parquet(ArrowWriter<HashingWriter>),
    Csv(arrow_csv::Writer<HashingWriter>),
}

pub(super) fn open_part(
    run_dir: &Path,
    config: &WriterConfig,
    sink: &Sink,
    part: u32,
) -> Result<OpenFile> {
    fs::create_dir_all(run_dir).map_err(|e| Error::output(run_dir, e))?;
    let name = format!("part-{part:05}.{}", sink.format.extension());
    let final_path = run_dir.join(&name);
    let tmp_path = run_dir.join(format!("{name}.tmp"));
    let file = File::create(&tmp_path).map_err(|e| Error::output(&tmp_path, e))?;
    let out = HashingWriter::new(file);
    let writer = match sink.format {
        Format::Parquet => {
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(
                    ZstdLevel::try_new(3).map_err(|e| encode_error(&config.report, e))?,
                ))
                .set_created_by(concat!("intercom-export ", env!("CARGO_PKG_VERSION")).into())
                // Each column buffers a dictionary and a data page before
                // encoding; at the 1 MiB defaults a 60-column report held
                // most of its memory there (see `ROW_GROUP_BYTES`).
                .set_dictionary_page_size_limit(PAGE_BYTES)
                .set_data_page_size_limit(PAGE_BYTES)
                .build();
            FileWriter::Parquet(
                ArrowWriter::try_new(out, sink.schema.clone(), Some(props))
                    .map_err(|e| encode_error(&config.report, e))?,
            )
        }
        Format::Csv => FileWriter::Csv(
            arrow_csv::WriterBuilder::new()
                .with_header(true)
                .with_timestamp_tz_format("%Y-%m-%dT%H:%M:%S%.fZ".to_string())
                .build(out),
        ),
    };
    let relative_path = format!("{}/{}/{name}", config.report, config.run_key);
    Ok(OpenFile {
        tmp_path,
        final_path,
        relative_path,
        rows: 0,
        writer,
        row_groups: config.row_groups.clone(),
    })
}

impl OpenFile {
    pub(super) fn write(&mut self, batch: &RecordBatch, report: &str) -> Result<()> {
        match &mut self.writer {
            FileWriter::Parquet(w) => {
                w.write(batch).map_err(|e| encode_error(report, e))?;
                if w.memory_size() > self.row_groups.row_group_bytes() {
                    w.flush().map_err(|e| encode_error(report, e))?;
                    release_freed_memory();
                }
            }
            FileWriter::Csv(w) => w.write(batch).map_err(|e| encode_error(report, e))?,
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    pub(super) fn finish(self, format: Format, report: &str) -> Result<WrittenFile> {
        let out = match self.writer {
            FileWriter::Parquet(w) => w.into_inner().map_err(|e| encode_error(report, e))?,
            FileWriter::Csv(w) => w.into_inner(),
        };
        let (bytes, sha256) = out.finish().map_err(|e| Error::output(&self.tmp_path, e))?;
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

/// A buffered file writer that hashes and counts what goes through it.
struct HashingWriter {
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

/// Hand memory freed by a flushed row group back to the operating system.
/// glibc keeps freed heap pages (here many small buffers, freed on another
/// thread than the one that allocated the records), so without this the
/// process's RSS crept up by row group on long reports.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns unused pages of the allocator's own
    // heap to the kernel; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
