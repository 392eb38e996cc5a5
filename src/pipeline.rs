//! Running a sync: for each report, an extractor streams pages of records
//! through a bounded channel to a writer on a blocking thread; when both are
//! done, the files are durable and one state transaction records them and
//! moves the report's cursor.
//!
//! ```text
//!  IntercomClient ──pages──▶ extractor ──mpsc(4)──▶ ReportWriter (blocking thread)
//!                                │                        │ parquet/csv parts, tmp → fsync → rename
//!                                ▼ new cursor             ▼ files
//!                          StateStore::commit_report (one transaction)
//! ```
//!
//! A failing report does not stop the others (the run ends `partial`), except
//! an authentication failure, which ends the run: no other report would
//! succeed either.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use serde_json::Value;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::http::{IntercomClient, StatsSnapshot};
use crate::output::{Format, ReportWriter, WriterConfig};
use crate::reports::{self, ExtractOptions, ReportName, ReportOptions};
use crate::state::{Run, RunStatus, StateStore};

/// Pages in flight between an extractor and its writer.
const CHANNEL_PAGES: usize = 4;

/// What to sync and where to.
#[derive(Debug, Clone)]
pub struct SyncPlan {
    pub mode: &'static str,
    pub reports: Vec<ReportName>,
    pub report_options: BTreeMap<ReportName, ReportOptions>,
    pub output_dir: PathBuf,
    pub formats: Vec<Format>,
    pub rows_per_file: u64,
    pub extract: ExtractOptions,
}

/// The outcome of one report in a run.
#[derive(Debug, Clone)]
pub struct ReportOutcome {
    pub report: ReportName,
    pub rows: u64,
    /// Data files written (one per part; CSV copies of Parquet parts count once).
    pub files: usize,
    pub seconds: f64,
    pub error: Option<String>,
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub run_key: String,
    pub status: RunStatus,
    pub reports: Vec<ReportOutcome>,
    pub http: StatsSnapshot,
}

/// Run every report of `plan` once.
pub async fn sync(
    client: &IntercomClient,
    state: &StateStore,
    plan: &SyncPlan,
) -> Result<RunSummary> {
    let run = state.begin_run(plan.mode).await?;
    tracing::info!(run = %run.key, reports = plan.reports.len(), "run started");
    let mut outcomes = Vec::new();
    for &report in &plan.reports {
        let started = Instant::now();
        match run_report(client, state, plan, &run, report).await {
            Ok((rows, files)) => {
                tracing::info!(%report, rows, files, "report done");
                outcomes.push(ReportOutcome {
                    report,
                    rows,
                    files,
                    seconds: started.elapsed().as_secs_f64(),
                    error: None,
                });
            }
            Err(e) if e.is_unauthorized() => {
                let _ = state
                    .record_report_failure(&run, report.as_str(), &e.to_string())
                    .await;
                let _ = state.finish_run(&run, RunStatus::Failed).await;
                return Err(e);
            }
            Err(e) => {
                tracing::error!(%report, error = %e, "report failed; its cursor stays where it was");
                state
                    .record_report_failure(&run, report.as_str(), &e.to_string())
                    .await?;
                outcomes.push(ReportOutcome {
                    report,
                    rows: 0,
                    files: 0,
                    seconds: started.elapsed().as_secs_f64(),
                    error: Some(e.to_string()),
                });
            }
        }
    }
    let status = if outcomes.iter().any(|o| o.error.is_some()) {
        RunStatus::Partial
    } else {
        RunStatus::Succeeded
    };
    state.finish_run(&run, status).await?;
    Ok(RunSummary {
        run_key: run.key,
        status,
        reports: outcomes,
        http: client.stats(),
    })
}

/// Extract, write and commit one report. Returns (rows, data files).
async fn run_report(
    client: &IntercomClient,
    state: &StateStore,
    plan: &SyncPlan,
    run: &Run,
    report: ReportName,
) -> Result<(u64, usize)> {
    let options = plan
        .report_options
        .get(&report)
        .cloned()
        .unwrap_or_default();
    // One cursor per option set: other filters must not reuse this one.
    let param_key = options.param_key(report.options());
    let cursor = state.cursor(report.as_str(), &param_key).await?;
    let config = WriterConfig {
        output_dir: plan.output_dir.clone(),
        report: report.as_str().to_string(),
        run_key: run.key.clone(),
        formats: plan.formats.clone(),
        rows_per_file: plan.rows_per_file,
        extracted_at: run.started_at,
    };
    let columns = reports::columns(report, client).await?;
    let mut writer = ReportWriter::new(config, columns)?;
    let (tx, mut rx) = mpsc::channel::<Vec<Value>>(CHANNEL_PAGES);
    let writing = tokio::task::spawn_blocking(move || {
        while let Some(rows) = rx.blocking_recv() {
            if let Err(e) = writer.write(&rows) {
                return (writer, Err(e));
            }
        }
        let finished = writer.finish();
        (writer, finished)
    });
    let retry: Vec<String> = Vec::new();
    let extracted = reports::extract(
        report,
        &options,
        client,
        &plan.extract,
        cursor.as_deref(),
        &retry,
        tx,
    )
    .await;
    let (writer, written) = writing
        .await
        .map_err(|e| Error::Internal(format!("the {report} writer panicked: {e}")))?;
    // A writer failure is the root cause of an extractor's "writer stopped".
    let extracted = match (extracted, written) {
        (Ok(x), Ok(())) => x,
        (_, Err(e)) | (Err(e), Ok(())) => {
            tokio::task::spawn_blocking(move || writer.abort())
                .await
                .ok();
            return Err(e);
        }
    };
    if writer.misfits() > 0 {
        tracing::warn!(
            %report,
            values = writer.misfits(),
            "custom attribute values did not fit their declared type and were written as null; \
             the raw values are in custom_attributes_json"
        );
    }
    let files = writer.files().to_vec();
    if let Err(e) = state
        .commit_report(
            run,
            report.as_str(),
            &param_key,
            &files,
            extracted.rows,
            extracted.cursor.as_deref(),
        )
        .await
    {
        // Files no state row names must not stay behind.
        tokio::task::spawn_blocking(move || writer.abort())
            .await
            .ok();
        return Err(e);
    }
    Ok((extracted.rows, data_file_count(&files)))
}

/// One per part: when both formats are written, count the Parquet copy.
pub(crate) fn data_file_count(files: &[crate::output::WrittenFile]) -> usize {
    let parquet = files.iter().filter(|f| f.format == Format::Parquet).count();
    if parquet > 0 { parquet } else { files.len() }
}
