//! `intercom-export tap`: a [Singer](https://hub.meltano.com/singer/spec)
//! tap, as Meltano runs it.
//!
//! - `tap --config config.json --discover` prints a catalog: one stream per
//!   report ([`ReportName::all`]), its JSON Schema generated from the same
//!   Arrow types the Parquet files use ([`catalog::json_schema`]),
//!   `key_properties` (the report's `primary_key` from
//!   [`crate::reports::keys`]), `replication_key` (its `version_column`) and
//!   `metadata` with `selected` and `inclusion`.
//! - `tap --config config.json --catalog catalog.json [--state state.json]`
//!   syncs the selected streams from the Singer STATE it was given and
//!   writes SCHEMA, RECORD and STATE messages on stdout ([`sync`]); logs go
//!   to stderr only.
//!
//! Rows take the exporter's own path: extractor → [`RecordBatchBuilder`] (Arrow
//! record batches, the Parquet writer's encoder) → a sink that writes each
//! row as a RECORD message, so RECORD values are the Parquet values
//! (timestamps RFC 3339 UTC, lists JSON arrays, ids strings). A STATE
//! message follows every checkpoint of a search-based report and the end
//! of every stream. The Singer STATE is the source of truth: it holds each
//! stream's cursor exactly as the state store keeps it ([`state`]); no state
//! file is kept (a temporary SQLite file holds the custom-attribute column
//! names during the run and is removed after it).
//!
//! Bad config, catalog or state: a message naming the problem, exit 2.
//!
//! [`RecordBatchBuilder`]: crate::output::schema::RecordBatchBuilder
//! [`ReportName::all`]: crate::reports::ReportName::all

pub mod catalog;
pub mod config;
pub mod state;
pub mod sync;

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::error::{Error, Result};
use crate::exit::ExitStatus;

/// The flags of `intercom-export tap`.
#[derive(Debug, Args)]
pub struct TapArgs {
    /// The tap's config, a JSON object: `access_token`, `start_date`,
    /// `region`, `base_url`, `intercom_version`, `options` (per report), ...
    /// (see the README, "Use with Meltano / Singer").
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Print the catalog of every report and exit.
    #[arg(long, conflicts_with_all = ["catalog", "state"])]
    pub discover: bool,
    /// The catalog: which streams (and fields) to sync.
    #[arg(long, value_name = "FILE", alias = "properties")]
    pub catalog: Option<PathBuf>,
    /// The Singer STATE of the last run (its last STATE message's value).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
}

/// Run `tap`: discover, or sync the catalog's selected streams.
pub async fn run(args: TapArgs) -> anyhow::Result<ExitStatus> {
    let config = config::TapConfig::load(&args.config)?;
    let stdout = std::io::stdout();
    if args.discover {
        let catalog = catalog::discover(&config).await?;
        let mut out = stdout.lock();
        serde_json::to_writer_pretty(&mut out, &catalog).map_err(io_error)?;
        writeln!(out).map_err(|e| Error::Internal(format!("writing the catalog: {e}")))?;
        return Ok(ExitStatus::Success);
    }
    let Some(catalog_path) = &args.catalog else {
        return Err(Error::Config(
            "tap needs --discover (print the catalog) or --catalog FILE (sync the selected \
             streams); make a catalog with `intercom-export tap --config CONFIG --discover > \
             catalog.json`"
                .into(),
        )
        .into());
    };
    let selection = catalog::Selection::load(catalog_path)?;
    let given = match &args.state {
        Some(path) => state::SingerState::load(path)?,
        None => state::SingerState::default(),
    };
    let out = std::io::BufWriter::new(stdout);
    let status = sync::sync(&config, &selection, given, out).await?;
    Ok(status)
}

fn io_error(e: serde_json::Error) -> Error {
    Error::Internal(format!("writing to stdout: {e}"))
}

/// Read a JSON file given to the tap; `what` names it in errors.
pub(crate) fn read_json(path: &Path, what: &str) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("cannot read the {what} {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        Error::Config(format!(
            "the {what} {} is not valid JSON ({e}); give the file {}",
            path.display(),
            match what {
                "catalog" => "`tap --discover` printed (or Meltano's catalog)",
                "state" => "that holds the value of the tap's last STATE message",
                _ => "as a JSON object, e.g. {\"access_token\": \"...\", \"start_date\": \"2024-01-01T00:00:00Z\"}",
            }
        ))
    })
}
