//! Writing report rows to Parquet and CSV files.
//!
//! Layout: `OUTPUT/<report>/<run-id>/part-NNNNN.<ext>`. Each file is written
//! under a `.tmp` name, flushed and fsynced, then renamed into place and the
//! directory fsynced, so a reader (or a crash) never sees half a file under a
//! final name. A [`ReportWriter`] rolls to a new part every
//! `rows_per_file` rows and keeps Parquet row groups under a byte budget, so
//! memory does not grow with the report's size.
//!
//! By noun: `writer.rs` ([`ReportWriter`]), `part.rs` (one part file being
//! written, in any format), `format.rs` (the `FormatWriter` trait) with one
//! file per format (`format/parquet.rs`, `format/csv.rs`), `schema.rs` (the columns) with
//! `encode.rs`, `values.rs` and `row_view.rs`, `destination.rs` (where
//! finished parts go: [`Destination`], a local directory or an object store,
//! `object.rs`), `dirs.rs` (the directories a run creates, removed again
//! when it leaves them empty).

pub mod budget;
pub mod destination;
pub mod dirs;
mod encode;
mod format;
pub mod object;
mod part;
mod row_view;
pub mod schema;
mod values;
mod writer;

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
pub use destination::Destination;
pub use writer::{ColumnsOnDemand, ReportWriter};

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
    /// The file name extension of its parts.
    pub fn extension(self) -> &'static str {
        self.spec().extension
    }

    /// How its parts are written (see [`format`]).
    pub(crate) fn spec(self) -> &'static format::FormatSpec {
        match self {
            Format::Parquet => &format::parquet::SPEC,
            Format::Csv => &format::csv::SPEC,
        }
    }
}

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
    /// The row-group memory budget this writer shares with the other
    /// writers of the run ([`budget::RowGroupBudget`]; the default: a
    /// writer alone).
    pub row_groups: budget::RowGroupBudget,
}

fn encode_error(report: &str, e: impl std::fmt::Display) -> Error {
    Error::Encode {
        report: report.to_string(),
        message: e.to_string(),
    }
}

/// Check early that `dir` can be created and written to. Directories this
/// check had to create are removed again (the writers create them when
/// they have a file to write), so a run that writes nothing (a refused
/// token) leaves no empty output directory behind.
pub fn ensure_writable(dir: &Path) -> Result<()> {
    let fail = |e: io::Error| {
        Error::Config(format!(
            "output directory {} is not writable ({e}); choose another with --output or \
             `output_dir` in the config, or fix its permissions",
            dir.display()
        ))
    };
    // A regular file where the directory or one of its parents should be
    // (`--output afile`, `--output afile/out`): said as such (the third
    // trial: "is not writable (File exists)").
    if let Some(file) = dir
        .ancestors()
        .filter(|d| !d.as_os_str().is_empty())
        .find(|d| d.exists())
        .filter(|d| !d.is_dir())
    {
        let whose = if file == dir {
            "is a file, not a directory".to_string()
        } else {
            format!(
                "cannot be created: its parent {} is a file, not a directory",
                file.display()
            )
        };
        return Err(Error::Config(format!(
            "output directory {} {whose}; choose another with --output or `output_dir` in \
             the config",
            dir.display()
        )));
    }
    // The directories missing now, deepest first.
    let missing: Vec<&Path> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .collect();
    fs::create_dir_all(dir).map_err(fail)?;
    let probe = dir.join(format!(".write-probe-{}", std::process::id()));
    let probed = File::create(&probe).map(drop);
    let _ = fs::remove_file(&probe);
    for created in &missing {
        // Only succeeds while empty (nothing else wrote there meanwhile).
        let _ = fs::remove_dir(created);
    }
    probed.map_err(fail)
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
