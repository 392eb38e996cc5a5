//! [`ReportWriter`]: streams one report's rows through one encoder per
//! format into part files, rolls parts every `rows_per_file` rows, hands
//! over durable files at checkpoints and at the end.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use arrow_schema::SchemaRef;
use serde_json::Value;

use super::part::{OpenFile, open_part};
use super::schema::{Column, RecordBatchBuilder, RowMeta};
use super::{Format, WriterConfig, WrittenFile, encode_error};
use crate::error::{Error, Result};

/// Rows gathered in the Arrow builders before they go to the file writer as
/// one batch: fewer, larger batches (a conversation's parts arrive ~20 at a
/// time) cost less per row in the Parquet and CSV writers.
const BATCH_ROWS: usize = 4096;

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
    outputs: Vec<FormatOutput>,
    /// The columns, asked for on the first rows (see [`Self::lazy`]); the
    /// outputs are made then.
    pending: Option<ColumnsOnDemand>,
    part: u32,
    rows_in_part: u64,
    written: Vec<WrittenFile>,
    /// The report's directories that did not exist when this writer was
    /// made (its run directory, `OUTPUT/<report>` on a report's first
    /// run), deepest first: [`Self::abort`] removes those left empty.
    created_dirs: Vec<PathBuf>,
}

/// One format's encoder and the part file being written.
pub(super) struct FormatOutput {
    pub(super) format: Format,
    pub(super) schema: SchemaRef,
    encoder: RecordBatchBuilder,
    open: Option<OpenFile>,
}

/// Gives a writer its columns when it first has rows to write (it may
/// block: the writer runs on a blocking thread).
pub type ColumnsOnDemand = Box<dyn FnOnce() -> Result<Vec<Column>> + Send>;

impl ReportWriter {
    /// A writer of `columns`.
    pub fn new(config: WriterConfig, columns: Vec<Column>) -> Result<Self> {
        let outputs = outputs(&config, &columns);
        Ok(Self::with(config, outputs, None))
    }

    /// A writer that asks `columns` for its columns on its first non-empty
    /// [`Self::write`], and never when no row comes (so a report with
    /// nothing new reads no custom-attribute declarations).
    pub fn lazy(config: WriterConfig, columns: ColumnsOnDemand) -> Self {
        Self::with(config, Vec::new(), Some(columns))
    }

    fn with(
        config: WriterConfig,
        outputs: Vec<FormatOutput>,
        pending: Option<ColumnsOnDemand>,
    ) -> Self {
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
        Self {
            config,
            meta,
            uncounted,
            outputs,
            pending,
            part: 0,
            rows_in_part: 0,
            written: Vec::new(),
            created_dirs: Vec::new(),
        }
        .with_created_dirs()
    }

    /// Note which of the report's directories are missing now.
    fn with_created_dirs(mut self) -> Self {
        let report_dir = self.config.output_dir.join(&self.config.report);
        self.created_dirs = super::dirs::missing(&self.run_dir(), Some(&report_dir));
        self
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
        if !records.is_empty()
            && let Some(columns) = self.pending.take()
        {
            self.outputs = outputs(&self.config, &columns()?);
        }
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
        for (i, output) in self.outputs.iter_mut().enumerate() {
            let meta = if i == 0 { &self.meta } else { &self.uncounted };
            output.encoder.append(records, meta);
            if output.encoder.len() >= BATCH_ROWS {
                flush_sink(output, &run_dir, &self.config, self.part, &report)?;
            }
        }
        self.rows_in_part += records.len() as u64;
        Ok(())
    }

    fn close_part(&mut self) -> Result<()> {
        let run_dir = self.run_dir();
        for output in &mut self.outputs {
            flush_sink(
                output,
                &run_dir,
                &self.config,
                self.part,
                &self.config.report,
            )?;
            if let Some(open) = output.open.take() {
                let file = open.finish(output.format)?;
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
        if self.rows_in_part > 0 || self.outputs.iter().any(|s| s.open.is_some()) {
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
        for output in self.outputs {
            if let Some(open) = output.open {
                let _ = fs::remove_file(&open.tmp_path);
            }
        }
        for file in &self.written {
            let _ = fs::remove_file(self.config.output_dir.join(&file.relative_path));
        }
        // Only removes the directory if it is now empty.
        let _ = fs::remove_dir(&run_dir);
        // And `OUTPUT/<report>` when this writer made it and nothing else
        // is in it (a report's first run failed): no empty directories.
        super::dirs::remove_empty(&self.created_dirs);
    }
}

/// One encoder per configured format.
fn outputs(config: &WriterConfig, columns: &[Column]) -> Vec<FormatOutput> {
    config
        .formats
        .iter()
        .map(|&format| {
            let encoder = RecordBatchBuilder::new(columns, format.spec().flat);
            FormatOutput {
                format,
                schema: encoder.schema().clone(),
                encoder,
                open: None,
            }
        })
        .collect()
}

/// Hand the rows gathered in `output`'s encoder to its part file (opened on
/// the first rows).
fn flush_sink(
    output: &mut FormatOutput,
    run_dir: &Path,
    config: &WriterConfig,
    part: u32,
    report: &str,
) -> Result<()> {
    let Some(batch) = output
        .encoder
        .flush()
        .map_err(|e| encode_error(report, e))?
    else {
        return Ok(());
    };
    if output.open.is_none() {
        output.open = Some(open_part(run_dir, config, output, part)?);
    }
    if let Some(open) = output.open.as_mut() {
        open.write(&batch)?;
    }
    Ok(())
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
