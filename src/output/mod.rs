//! Writing report rows to Parquet and CSV files.
//!
//! Layout: `OUTPUT/<report>/<run-id>/part-NNNNN.<ext>`. Each file is written
//! under a `.tmp` name, flushed and fsynced, then renamed into place and the
//! directory fsynced, so a reader (or a crash) never sees half a file under a
//! final name. A [`ReportWriter`] rolls to a new part every
//! `rows_per_file` rows and keeps Parquet row groups under a byte budget, so
//! memory does not grow with the report's size.

mod encode;
pub mod object;
mod row_view;
pub mod schema;
mod values;

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use schema::{BatchEncoder, Column, RowMeta};

/// Output file formats.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Parquet,
    Csv,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Csv => "csv",
        }
    }
}

/// Flush a Parquet row group once the memory its writer holds (encoded
/// pages, dictionaries and the page being filled, `ArrowWriter::memory_size`)
/// passes this size. This, not the report's size, bounds the writer's
/// memory; see the scale run in `BENCHMARKS.md`.
const ROW_GROUP_BYTES: usize = 16 * 1024 * 1024;

/// Per-column limit of a Parquet dictionary page and of a data page.
const PAGE_BYTES: usize = 256 * 1024;

/// Rows gathered in the Arrow builders before they go to the file writer as
/// one batch: fewer, larger batches (a conversation's parts arrive ~20 at a
/// time) cost less per row in the Parquet and CSV writers.
const BATCH_ROWS: usize = 4096;

/// A file that has been completely written and renamed into place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    /// Path relative to the output directory, with `/` separators.
    pub relative_path: String,
    pub format: Format,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

/// How many data files `files` are: one per part, so when both formats are
/// written the Parquet copies count and their CSV twins do not (the
/// `files` column of `report_runs` and the summaries).
pub fn data_file_count(files: &[WrittenFile]) -> usize {
    let parquet = files.iter().filter(|f| f.format == Format::Parquet).count();
    if parquet > 0 { parquet } else { files.len() }
}

/// Where and how a report's files are written.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    pub output_dir: PathBuf,
    pub report: String,
    pub run_key: String,
    pub formats: Vec<Format>,
    pub rows_per_file: u64,
    /// When the run started (unix seconds): the `_extracted_at` of every row.
    pub extracted_at: i64,
    /// Where the encoders count anomalies (see [`crate::anomalies`]).
    pub anomalies: crate::anomalies::Anomalies,
}

/// Streams rows of one report into part files. Not async: run it on a
/// blocking thread (the pipeline does).
pub struct ReportWriter {
    config: WriterConfig,
    /// The meta values and the counters (misfits, anomalies): the first
    /// format's encoder counts into it.
    meta: RowMeta,
    /// The same meta values with counters nobody reads: the other formats'
    /// encoders count into it, so a value is counted once, not once per
    /// format.
    uncounted: RowMeta,
    sinks: Vec<Sink>,
    part: u32,
    rows_in_part: u64,
    written: Vec<WrittenFile>,
}

/// One format's encoder and the part file being written.
struct Sink {
    format: Format,
    schema: SchemaRef,
    encoder: BatchEncoder,
    open: Option<OpenFile>,
}

struct OpenFile {
    tmp_path: PathBuf,
    final_path: PathBuf,
    relative_path: String,
    rows: u64,
    writer: FileWriter,
}

enum FileWriter {
    Parquet(ArrowWriter<HashingWriter>),
    Csv(arrow_csv::Writer<HashingWriter>),
}

impl ReportWriter {
    pub fn new(config: WriterConfig, columns: Vec<Column>) -> Result<Self> {
        let sinks = config
            .formats
            .iter()
            .map(|&format| {
                let encoder = BatchEncoder::new(&columns, format == Format::Csv);
                Ok(Sink {
                    format,
                    schema: encoder.schema().clone(),
                    encoder,
                    open: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let meta = RowMeta {
            run_id: config.run_key.clone(),
            extracted_at: config.extracted_at,
            anomalies: config.anomalies.clone(),
            ..RowMeta::default()
        };
        let uncounted = RowMeta {
            run_id: meta.run_id.clone(),
            extracted_at: meta.extracted_at,
            ..RowMeta::default()
        };
        Ok(Self {
            config,
            meta,
            uncounted,
            sinks,
            part: 0,
            rows_in_part: 0,
            written: Vec::new(),
        })
    }

    /// The directory this writer puts its parts in.
    pub fn run_dir(&self) -> PathBuf {
        self.config
            .output_dir
            .join(&self.config.report)
            .join(&self.config.run_key)
    }

    /// Append API records. Rolls to a new part file when the current one is full.
    pub fn write(&mut self, records: &[Value]) -> Result<()> {
        let mut rest = records;
        while !rest.is_empty() {
            let room = (self.config.rows_per_file - self.rows_in_part).max(1) as usize;
            let (now, later) = rest.split_at(room.min(rest.len()));
            self.write_part(now)?;
            rest = later;
            if self.rows_in_part >= self.config.rows_per_file {
                self.close_part()?;
            }
        }
        Ok(())
    }

    fn write_part(&mut self, records: &[Value]) -> Result<()> {
        let run_dir = self.run_dir();
        let report = self.config.report.clone();
        for (i, sink) in self.sinks.iter_mut().enumerate() {
            let meta = if i == 0 { &self.meta } else { &self.uncounted };
            sink.encoder.append(records, meta);
            if sink.encoder.len() >= BATCH_ROWS {
                flush_sink(sink, &run_dir, &self.config, self.part, &report)?;
            }
        }
        self.rows_in_part += records.len() as u64;
        Ok(())
    }

    fn close_part(&mut self) -> Result<()> {
        let run_dir = self.run_dir();
        for sink in &mut self.sinks {
            flush_sink(sink, &run_dir, &self.config, self.part, &self.config.report)?;
            if let Some(open) = sink.open.take() {
                let file = open.finish(sink.format, &self.config.report)?;
                self.written.push(file);
            }
        }
        self.part += 1;
        self.rows_in_part = 0;
        Ok(())
    }

    /// Close the last part; every file written is then durable (see [`Self::files`]).
    pub fn finish(&mut self) -> Result<()> {
        self.close_part()?;
        if !self.written.is_empty() {
            sync_dir(&self.run_dir())?;
        }
        Ok(())
    }

    /// Close the current part and hand over the files finished since the
    /// last call, durable (fsynced, renamed, directory synced): a checkpoint.
    /// The writer forgets them, so [`Self::abort`] no longer removes them
    /// (the caller commits them); later rows go to new parts.
    pub fn take_files(&mut self) -> Result<Vec<WrittenFile>> {
        // Rows may still wait in the encoders, with no part file open yet.
        if self.rows_in_part > 0 || self.sinks.iter().any(|s| s.open.is_some()) {
            self.close_part()?;
        }
        if !self.written.is_empty() {
            sync_dir(&self.run_dir())?;
        }
        Ok(std::mem::take(&mut self.written))
    }

    /// Values written as null because they did not fit their column's type.
    pub fn misfits(&self) -> u64 {
        self.meta.misfits.get()
    }

    /// The files finished so far.
    pub fn files(&self) -> &[WrittenFile] {
        &self.written
    }

    /// Remove everything this writer created (temporary and finished parts).
    pub fn abort(self) {
        let run_dir = self.run_dir();
        for sink in self.sinks {
            if let Some(open) = sink.open {
                let _ = fs::remove_file(&open.tmp_path);
            }
        }
        for file in &self.written {
            let _ = fs::remove_file(self.config.output_dir.join(&file.relative_path));
        }
        // Only removes the directory if it is now empty.
        let _ = fs::remove_dir(&run_dir);
    }
}

/// Hand the rows gathered in `sink`'s encoder to its part file (opened on
/// the first rows).
fn flush_sink(
    sink: &mut Sink,
    run_dir: &Path,
    config: &WriterConfig,
    part: u32,
    report: &str,
) -> Result<()> {
    let Some(batch) = sink.encoder.flush().map_err(|e| encode_error(report, e))? else {
        return Ok(());
    };
    if sink.open.is_none() {
        sink.open = Some(open_part(run_dir, config, sink, part)?);
    }
    if let Some(open) = sink.open.as_mut() {
        open.write(&batch, report)?;
    }
    Ok(())
}

fn open_part(run_dir: &Path, config: &WriterConfig, sink: &Sink, part: u32) -> Result<OpenFile> {
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
    })
}

impl OpenFile {
    fn write(&mut self, batch: &RecordBatch, report: &str) -> Result<()> {
        match &mut self.writer {
            FileWriter::Parquet(w) => {
                w.write(batch).map_err(|e| encode_error(report, e))?;
                if w.memory_size() > ROW_GROUP_BYTES {
                    w.flush().map_err(|e| encode_error(report, e))?;
                    release_freed_memory();
                }
            }
            FileWriter::Csv(w) => w.write(batch).map_err(|e| encode_error(report, e))?,
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    fn finish(self, format: Format, report: &str) -> Result<WrittenFile> {
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

/// Make a rename durable: fsync the directory that holds the entry.
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::output(dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn encode_error(report: &str, e: impl std::fmt::Display) -> Error {
    Error::Encode {
        report: report.to_string(),
        message: e.to_string(),
    }
}

/// Check early that `dir` can be created and written to.
pub fn ensure_writable(dir: &Path) -> Result<()> {
    let fail = |e: io::Error| {
        Error::Config(format!(
            "output directory {} is not writable ({e}); choose another with --output or \
             `output_dir` in the config, or fix its permissions",
            dir.display()
        ))
    };
    fs::create_dir_all(dir).map_err(fail)?;
    let probe = dir.join(format!(".write-probe-{}", std::process::id()));
    File::create(&probe).map_err(fail)?;
    let _ = fs::remove_file(&probe);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use schema::ColType;

    static COLS: &[Column] = &[
        Column::new("id", ColType::Str, "/id", ""),
        Column::new("n", ColType::Int, "/n", ""),
    ];

    #[test]
    fn take_files_hands_over_rows_still_waiting_in_the_encoders() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = WriterConfig {
            output_dir: dir.path().to_path_buf(),
            report: "things".into(),
            run_key: "run-1".into(),
            formats: vec![Format::Parquet],
            rows_per_file: 1000,
            extracted_at: 0,
            anomalies: Default::default(),
        };
        let mut w = ReportWriter::new(config, COLS.to_vec()).expect("writer");
        let records: Vec<Value> = (0..3)
            .map(|i| serde_json::json!({"id": format!("x{i}"), "n": i}))
            .collect();
        w.write(&records[..2]).expect("write");
        let first = w.take_files().expect("checkpoint");
        assert_eq!(first.iter().map(|f| f.rows).collect::<Vec<_>>(), [2]);
        assert!(dir.path().join(&first[0].relative_path).exists());
        w.write(&records[2..]).expect("write");
        w.finish().expect("finish");
        assert_eq!(w.files().iter().map(|f| f.rows).collect::<Vec<_>>(), [1]);
    }

    #[test]
    fn values_are_counted_once_whatever_the_number_of_formats() {
        static TS: &[Column] = &[
            Column::new("id", ColType::Str, "/id", ""),
            Column::new("at", ColType::Timestamp, "/at", ""),
        ];
        let dir = tempfile::tempdir().expect("tempdir");
        let anomalies = crate::anomalies::Anomalies::default();
        let config = WriterConfig {
            output_dir: dir.path().to_path_buf(),
            report: "things".into(),
            run_key: "run-1".into(),
            formats: vec![Format::Parquet, Format::Csv],
            rows_per_file: 1000,
            extracted_at: 0,
            anomalies: anomalies.clone(),
        };
        let mut w = ReportWriter::new(config, TS.to_vec()).expect("writer");
        // Milliseconds: read, and counted as an interpreted value.
        w.write(&[serde_json::json!({"id": "x", "at": 1_467_133_937_045_i64})])
            .expect("write");
        w.finish().expect("finish");
        assert_eq!(
            anomalies.count(crate::anomalies::AnomalyKind::InterpretedValue),
            1
        );
    }

    #[test]
    fn rolls_parts_and_leaves_no_temporary_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = WriterConfig {
            output_dir: dir.path().to_path_buf(),
            report: "things".into(),
            run_key: "run-1".into(),
            formats: vec![Format::Parquet, Format::Csv],
            rows_per_file: 4,
            extracted_at: 0,
            anomalies: Default::default(),
        };
        let mut w = ReportWriter::new(config, COLS.to_vec()).expect("writer");
        let records: Vec<Value> = (0..10)
            .map(|i| serde_json::json!({"id": format!("x{i}"), "n": i}))
            .collect();
        w.write(&records[..3]).expect("write");
        w.write(&records[3..]).expect("write");
        w.finish().expect("finish");
        let files = w.files().to_vec();
        let parquet: Vec<_> = files
            .iter()
            .filter(|f| f.format == Format::Parquet)
            .collect();
        assert_eq!(
            parquet.iter().map(|f| f.rows).collect::<Vec<_>>(),
            [4, 4, 2]
        );
        assert_eq!(files.len(), 6);
        let mut total = 0;
        for f in &parquet {
            let file = File::open(dir.path().join(&f.relative_path)).expect("open");
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .expect("parquet")
                .build()
                .expect("reader");
            total += reader.map(|b| b.expect("batch").num_rows()).sum::<usize>();
        }
        assert_eq!(total, 10);
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("things/run-1"))
            .expect("dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
        let csv = fs::read_to_string(dir.path().join("things/run-1/part-00000.csv")).expect("csv");
        assert_eq!(csv.lines().next(), Some("id,n,_run_id,_extracted_at"));
    }
}
