//! Running a sync or a backfill: for each report, an extractor streams pages
//! of records through a bounded channel to a writer on a blocking thread;
//! when both are done, the files are durable and one state transaction
//! records them and moves the report's cursor (or, in a backfill, records the
//! finished window).
//!
//! ```text
//!  IntercomClient ──pages──▶ extractor ──mpsc(4)──▶ ReportWriter (blocking thread)
//!                                │                        │ parquet/csv parts, tmp → fsync → rename
//!                                ▼ new cursor, failed     ▼ files
//!                          StateStore::commit (one transaction)
//! ```
//!
//! Search-based reports also commit along the way: after a completed search
//! window (at most once per [`ExtractOptions::checkpoint_every`]) the
//! extractor sends [`Msg::Checkpoint`] with the cursor covering every row
//! sent so far; the writer closes its part files (durable, renamed) and
//! commits them with that cursor in one state transaction, then goes on. An
//! interrupted sync resumes from the last checkpoint; the report's last
//! commit carries the rest, its failed and recovered items.
//!
//! The caller holds the state lock ([`crate::lock`]). A run starts with
//! [`recovery::recover`], which removes what an interrupted run of the same
//! kind left uncommitted (see the commit protocol in [`crate::state`]).
//!
//! A failing report does not stop the others (the run ends `partial`), except
//! an authentication failure, which ends the run: no other report would
//! succeed either. Items an extractor could not fetch (e.g. one
//! conversation's parts) are recorded with the report's commit and retried
//! first by the next run; they make the run `partial` unless `skip_failed`.
//! A stop request ([`Shutdown`]) ends the run between reports (or backfill
//! windows): what finished is committed, nothing is half-written.
//!
//! With a shared (Postgres) state each report is leased first
//! ([`crate::state::lease`]): a report another live worker holds is skipped,
//! and a report taken over from a dead worker first loses that worker's
//! uncommitted files ([`recovery::take_over`]).

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

use tokio::sync::mpsc;

use crate::anomalies::Anomalies;
use crate::error::{Error, Result};
use crate::http::{IntercomClient, StatsSnapshot};
use crate::output::{Format, ReportWriter, WriterConfig, data_file_count};
use crate::reports::{self, ExtractOptions, Extracted, FailedItem, Msg, ReportName, ReportOptions};
use crate::shutdown::Shutdown;
use crate::state::lease::{Acquired, Lease};
use crate::state::recovery::{self, Recovered};
use crate::state::{BackfillJob, Commit, Run, RunStatus, StateStore, format_utc};
use crate::testpoint;

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
    /// Items that fail do not make the run partial (they are still recorded
    /// and retried next run).
    pub skip_failed: bool,
    /// Set by SIGTERM/SIGINT: stop between reports.
    pub shutdown: Shutdown,
    /// The `Intercom-Version` the client sends: a report it does not serve
    /// ([`ReportName::offered_by`]) is skipped with one warning.
    pub intercom_version: String,
    /// Object-storage output: parts are written to `output_dir` (a local
    /// staging directory) and uploaded here before the commit. `None`:
    /// `output_dir` is the output.
    pub object_output: Option<std::sync::Arc<crate::output::object::ObjectOutput>>,
}

impl SyncPlan {
    /// The object store the output goes to, if any.
    pub fn object(&self) -> Option<&crate::output::object::ObjectOutput> {
        self.object_output.as_deref()
    }

    /// A report's options (its defaults when none were given).
    pub fn options_of(&self, report: ReportName) -> ReportOptions {
        self.report_options
            .get(&report)
            .cloned()
            .unwrap_or_default()
    }
}

/// A backfill's range and window size.
#[derive(Debug, Clone, Copy)]
pub struct BackfillPlan {
    /// Unix seconds, inclusive.
    pub since: i64,
    /// Unix seconds, exclusive; `None`: now (fixed when the job is created).
    pub until: Option<i64>,
    pub window_secs: i64,
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
    /// Items that could not be fetched (recorded; retried next run).
    pub failed: Vec<FailedItem>,
    /// Items that failed before and were fetched this time.
    pub recovered: usize,
    /// Backfill: windows exported by this run, and windows skipped because
    /// an earlier run had committed them.
    pub windows_done: usize,
    pub windows_skipped: usize,
    /// Requests, retries and 429s made for this report.
    pub http: StatsSnapshot,
    /// What the report met that was neither a success nor a failed item
    /// (see [`crate::anomalies`]), over all its exports in this run.
    pub anomalies: Anomalies,
}

impl ReportOutcome {
    fn new(report: ReportName) -> Self {
        Self {
            report,
            rows: 0,
            files: 0,
            seconds: 0.0,
            error: None,
            failed: Vec::new(),
            recovered: 0,
            windows_done: 0,
            windows_skipped: 0,
            http: StatsSnapshot::default(),
            anomalies: Anomalies::default(),
        }
    }

    /// The share of the allowed calls this report used: see
    /// [`allowed_calls_used`] (its requests over its own `seconds`).
    pub fn allowed_calls_used(&self) -> Option<f64> {
        allowed_calls_used(
            self.http.requests,
            self.http.rate_limit_per_10s,
            self.seconds,
        )
    }
}

/// The share of the allowed calls a stretch of `seconds` used:
/// `requests ÷ (limit_per_10s / 10 × seconds)`, where `limit_per_10s` is the
/// latest `X-RateLimit-Limit` seen (Intercom's calls per 10-second window)
/// and `requests` counts every HTTP attempt (retries and 429s included).
/// 1.0 means the limit was used fully for the whole stretch; above 1.0 is
/// possible (a window's burst, or a limit that dropped mid-run). `None` when
/// the limit is unknown (no response carried the header) or `seconds` is 0.
pub fn allowed_calls_used(requests: u64, limit_per_10s: Option<u32>, seconds: f64) -> Option<f64> {
    let limit = limit_per_10s.filter(|l| *l > 0)?;
    if seconds.is_nan() || seconds <= 0.0 {
        return None;
    }
    Some(requests as f64 / (f64::from(limit) / 10.0 * seconds))
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub run_key: String,
    pub mode: &'static str,
    pub status: RunStatus,
    pub reports: Vec<ReportOutcome>,
    /// Requests, retries and 429s of the whole run, and the latest stated limit.
    pub http: StatsSnapshot,
    /// Wall seconds of the run, from its start (before recovery) to its end.
    pub seconds: f64,
    /// What start-of-run recovery cleaned up.
    pub recovered: Recovered,
    /// A stop was requested: reports not started are not in `reports`.
    pub stopped: bool,
    /// Failed items were tolerated (`--skip-failed`).
    pub skip_failed: bool,
    /// Backfill: the job's range and whether every window is now done.
    pub backfill: Option<(BackfillJob, bool)>,
}

impl RunSummary {
    /// All failed items of the run.
    pub fn failed_items(&self) -> impl Iterator<Item = (ReportName, &FailedItem)> {
        self.reports
            .iter()
            .flat_map(|r| r.failed.iter().map(move |f| (r.report, f)))
    }

    /// The share of the allowed calls the run used over its wall `seconds`
    /// (see [`allowed_calls_used`]); `None` when the limit is unknown.
    pub fn allowed_calls_used(&self) -> Option<f64> {
        allowed_calls_used(
            self.http.requests,
            self.http.rate_limit_per_10s,
            self.seconds,
        )
    }
}

/// Where a report's rows come from in one export.
enum Source<'a> {
    /// From the saved cursor; retry earlier failed items first.
    Incremental {
        /// The option set's key: one cursor per option set.
        param_key: String,
        cursor: Option<String>,
        retry: Vec<String>,
    },
    /// One backfill window `[start, end)`.
    Window {
        job: &'a BackfillJob,
        start: i64,
        end: i64,
    },
}

/// What one export committed.
struct Exported {
    rows: u64,
    files: usize,
    failed: Vec<FailedItem>,
    recovered: usize,
}

/// Run every report of `plan` once, incrementally. The caller holds the sync lock.
pub async fn sync(
    client: &IntercomClient,
    state: &StateStore,
    plan: &SyncPlan,
) -> Result<RunSummary> {
    let run_started = Instant::now();
    let mut recovered =
        recovery::recover_with(state, &plan.output_dir, plan.object(), false).await?;
    let run = state.begin_run(plan.mode).await?;
    testpoint::hit("run_started");
    tracing::info!(run = %run.key, reports = plan.reports.len(), "run started");
    let mut outcomes = Vec::new();
    let mut stopped = false;
    for &report in &plan.reports {
        if plan.shutdown.requested() {
            stopped = true;
            break;
        }
        if let Some(needed) = report.min_version()
            && !report.offered_by(&plan.intercom_version)
        {
            // Not a failure: the configured version has no such endpoint.
            tracing::warn!(
                %report,
                needed,
                configured = %plan.intercom_version,
                "report {report} skipped: it needs Intercom-Version {needed} or later and \
                 intercom_version is {}; set intercom_version = \"{needed}\" to export it",
                plan.intercom_version
            );
            continue;
        }
        let Some(lease) = take_lease(state, plan, &run, report, &mut recovered).await? else {
            continue;
        };
        let started = Instant::now();
        let http_before = client.stats();
        let mut outcome = ReportOutcome::new(report);
        let mut checkpointed = Checkpointed::default();
        let result = async {
            // One cursor per option set: other filters must not reuse this one.
            let param_key = plan.options_of(report).param_key(report.options());
            let source = Source::Incremental {
                cursor: state.cursor(report.as_str(), &param_key).await?,
                retry: state.failed_ids(report.as_str()).await?,
                param_key,
            };
            export(
                client,
                state,
                plan,
                &run,
                report,
                run.key.clone(),
                source,
                &mut checkpointed,
                &outcome.anomalies,
            )
            .await
        }
        .await;
        outcome.seconds = started.elapsed().as_secs_f64();
        outcome.http = client.stats().since(http_before);
        match result {
            Ok(done) => {
                tracing::info!(%report, rows = done.rows, files = done.files, failed = done.failed.len(), "report done");
                outcome.rows = done.rows;
                outcome.files = done.files;
                outcome.failed = done.failed;
                outcome.recovered = done.recovered;
            }
            Err(e) => {
                // Rows its checkpoints committed before it failed.
                outcome.rows = checkpointed.rows;
                outcome.files = checkpointed.files;
                outcome.error = Some(fail_report(state, &run, report, e).await?);
            }
        }
        outcome.anomalies.warn(report.as_str());
        lease.release().await;
        outcomes.push(outcome);
    }
    finish(
        client,
        state,
        plan,
        run,
        outcomes,
        recovered,
        stopped,
        None,
        run_started,
    )
    .await
}

/// Lease `report` (shared state; a no-op otherwise). `None`: another live
/// worker exports it now, skip it. A lease taken over from a dead worker
/// first removes that worker's uncommitted files of the report.
async fn take_lease(
    state: &StateStore,
    plan: &SyncPlan,
    run: &Run,
    report: ReportName,
    recovered: &mut Recovered,
) -> Result<Option<Lease>> {
    match state.lease(run, report.as_str()).await? {
        Acquired::Busy { holder } => {
            tracing::info!(%report, %holder, "another worker is exporting this report; skipped");
            Ok(None)
        }
        Acquired::Held(lease) => {
            if let Some(dead) = &lease.taken_over {
                let done = recovery::take_over(
                    state,
                    &plan.output_dir,
                    plan.object(),
                    report.as_str(),
                    dead.run_id,
                    &dead.run_key,
                )
                .await?;
                recovered.interrupted.extend(done.interrupted);
                recovered.removed.extend(done.removed);
            }
            Ok(Some(lease))
        }
    }
}

/// Export `[since, until)` window by window into the usual layout, resuming
/// an interrupted job with the same arguments. Cursors are never touched.
/// The caller holds the backfill lock.
pub async fn backfill(
    client: &IntercomClient,
    state: &StateStore,
    plan: &SyncPlan,
    range: &BackfillPlan,
) -> Result<RunSummary> {
    let run_started = Instant::now();
    if range.window_secs <= 0 {
        return Err(Error::Config("the backfill window must be positive".into()));
    }
    let mut recovered =
        recovery::recover_with(state, &plan.output_dir, plan.object(), true).await?;
    let (job, resumed) = state
        .backfill_job(range.since, range.until, range.window_secs)
        .await?;
    if job.until <= job.since {
        return Err(Error::Config(format!(
            "--until ({}) must be after --since ({})",
            format_utc(job.until),
            format_utc(job.since)
        )));
    }
    let run = state.begin_run("backfill").await?;
    testpoint::hit("run_started");
    tracing::info!(run = %run.key, job = job.id, resumed, since = %format_utc(job.since), until = %format_utc(job.until), "backfill started");
    let mut outcomes = Vec::new();
    let mut stopped = false;
    let mut complete = true;
    // Reports another worker had (shared state): done only if it finished them.
    let mut leased_elsewhere = Vec::new();
    'reports: for &report in &plan.reports {
        if reports::range_spec(report, &plan.options_of(report))?.is_none() {
            tracing::warn!(%report, "this report cannot be exported by date range; the backfill leaves it out");
            continue;
        }
        let Some(lease) = take_lease(state, plan, &run, report, &mut recovered).await? else {
            leased_elsewhere.push(report);
            continue;
        };
        let started = Instant::now();
        let http_before = client.stats();
        let mut outcome = ReportOutcome::new(report);
        let done: HashSet<i64> = state
            .done_windows(&job, report.as_str())
            .await?
            .into_iter()
            .collect();
        let mut start = job.since;
        while start < job.until {
            let end = (start + job.window_secs).min(job.until);
            if done.contains(&start) {
                outcome.windows_skipped += 1;
                start = end;
                continue;
            }
            if plan.shutdown.requested() {
                stopped = true;
                complete = false;
                outcome.seconds = started.elapsed().as_secs_f64();
                outcome.http = client.stats().since(http_before);
                outcomes.push(outcome);
                lease.release().await;
                break 'reports;
            }
            let key = format!("{}-w{}", run.key, format_utc(start));
            let source = Source::Window {
                job: &job,
                start,
                end,
            };
            let mut checkpointed = Checkpointed::default();
            match export(
                client,
                state,
                plan,
                &run,
                report,
                key,
                source,
                &mut checkpointed,
                &outcome.anomalies,
            )
            .await
            {
                Ok(x) => {
                    outcome.rows += x.rows;
                    outcome.files += x.files;
                    outcome.windows_done += 1;
                    testpoint::hit("window");
                }
                Err(e) => {
                    // Later windows of this report wait for the next run.
                    outcome.error = Some(fail_report(state, &run, report, e).await?);
                    complete = false;
                    break;
                }
            }
            start = end;
        }
        outcome.seconds = started.elapsed().as_secs_f64();
        outcome.http = client.stats().since(http_before);
        outcome.anomalies.warn(report.as_str());
        lease.release().await;
        outcomes.push(outcome);
    }
    let windows = (job.until - job.since + job.window_secs - 1) / job.window_secs;
    for report in leased_elsewhere {
        complete &= state.done_windows(&job, report.as_str()).await?.len() as i64 >= windows;
    }
    if complete {
        state.finish_backfill(&job).await?;
    }
    finish(
        client,
        state,
        plan,
        run,
        outcomes,
        recovered,
        stopped,
        Some((job, complete)),
        run_started,
    )
    .await
}

/// Record a report's failure. An authentication failure ends the run (no
/// other report would succeed either) and comes back as `Err`; any other
/// comes back as its message.
async fn fail_report(
    state: &StateStore,
    run: &Run,
    report: ReportName,
    e: Error,
) -> Result<String> {
    let message = e.to_string();
    let _ = state
        .record_report_failure(run, report.as_str(), &message)
        .await;
    if e.is_unauthorized() {
        let _ = state.finish_run(run, RunStatus::Failed).await;
        return Err(e);
    }
    tracing::error!(%report, error = %message, "report failed; its cursor stays at its last commit");
    Ok(message)
}

#[allow(clippy::too_many_arguments)]
async fn finish(
    client: &IntercomClient,
    state: &StateStore,
    plan: &SyncPlan,
    run: Run,
    outcomes: Vec<ReportOutcome>,
    recovered: Recovered,
    stopped: bool,
    backfill: Option<(BackfillJob, bool)>,
    run_started: Instant,
) -> Result<RunSummary> {
    // Failed items are tolerated with --skip-failed, or per report with its
    // `skip_failed_conversations` option.
    let tolerated = |report: ReportName| {
        plan.skip_failed
            || report
                .options()
                .iter()
                .find(|o| o.key == "skip_failed_conversations")
                .is_some_and(|o| plan.options_of(report).get(o) == "true")
    };
    let skip_failed = outcomes
        .iter()
        .filter(|o| !o.failed.is_empty())
        .all(|o| tolerated(o.report));
    let status = run_status(&outcomes, stopped, skip_failed);
    state.finish_run(&run, status).await?;
    Ok(RunSummary {
        run_key: run.key,
        mode: plan.mode,
        status,
        reports: outcomes,
        http: client.stats(),
        seconds: run_started.elapsed().as_secs_f64(),
        recovered,
        stopped,
        skip_failed: plan.skip_failed,
        backfill,
    })
}

/// Partial when a report failed, when items failed (unless `skip_failed`),
/// or when a stop request cut the run short; else succeeded.
fn run_status(outcomes: &[ReportOutcome], stopped: bool, skip_failed: bool) -> RunStatus {
    let failed_items = outcomes.iter().any(|o| !o.failed.is_empty());
    if stopped || outcomes.iter().any(|o| o.error.is_some()) || (failed_items && !skip_failed) {
        RunStatus::Partial
    } else {
        RunStatus::Succeeded
    }
}

/// What the progress bar calls a report's export (backfill windows by start).
fn dir_key_label(report: ReportName, dir_key: &str) -> String {
    match dir_key.rsplit_once("-w") {
        Some((_, window)) => format!("{report} {window}"),
        None => report.to_string(),
    }
}

/// Extract, write and commit one report (or one backfill window) into
/// `OUTPUT/<report>/<dir_key>/`.
#[allow(clippy::too_many_arguments)] // the run's context, each used once
async fn export(
    client: &IntercomClient,
    state: &StateStore,
    plan: &SyncPlan,
    run: &Run,
    report: ReportName,
    dir_key: String,
    source: Source<'_>,
    committed: &mut Checkpointed,
    anomalies: &Anomalies,
) -> Result<Exported> {
    let label = dir_key_label(report, &dir_key);
    let config = WriterConfig {
        output_dir: plan.output_dir.clone(),
        report: report.as_str().to_string(),
        run_key: dir_key,
        formats: plan.formats.clone(),
        rows_per_file: plan.rows_per_file,
        extracted_at: run.started_at,
        anomalies: anomalies.clone(),
    };
    let options = plan.options_of(report);
    let columns = reports::columns(report, &options, client, state).await?;
    let mut writer = ReportWriter::new(config, columns)?;
    let (tx, mut rx) = mpsc::channel::<Msg>(CHANNEL_PAGES);
    let bar = crate::telemetry::report_bar(&label);
    let writing_bar = bar.clone();
    let _pages = PageCounter::start(client, &bar);
    let extract_options = ExtractOptions {
        progress: crate::telemetry::Progress::new(bar.clone()),
        anomalies: anomalies.clone(),
        ..plan.extract.clone()
    };
    // Checkpoints commit a search's cursor with the files written so far,
    // from the writer's thread, so that they come in order with the rows.
    let checkpoint = match &source {
        Source::Incremental { param_key, .. } => Some(Checkpointer {
            runtime: tokio::runtime::Handle::current(),
            state: state.clone(),
            run: run.clone(),
            report,
            param_key: param_key.clone(),
            output_dir: plan.output_dir.clone(),
            object: plan.object_output.clone(),
        }),
        Source::Window { .. } => None,
    };
    let writing = tokio::task::spawn_blocking(move || {
        let mut done = Checkpointed::default();
        let mut rows_since = 0u64;
        while let Some(msg) = rx.blocking_recv() {
            let step = match msg {
                Msg::Rows(rows) => writer.write(&rows).map(|()| {
                    rows_since += rows.len() as u64;
                    writing_bar.inc(rows.len() as u64);
                    testpoint::hit("page");
                }),
                Msg::Checkpoint(cursor) => match &checkpoint {
                    Some(c) => c.commit(&mut writer, &cursor, rows_since).map(|files| {
                        done.rows += rows_since;
                        done.files += files;
                        rows_since = 0;
                        testpoint::hit("checkpoint");
                    }),
                    None => Err(Error::Internal(format!(
                        "the {report} extractor sent a checkpoint in a backfill window"
                    ))),
                },
            };
            if let Err(e) = step {
                return (writer, done, Err(e));
            }
        }
        let finished = writer.finish();
        (writer, done, finished)
    });
    let extracted: Result<Extracted> = match &source {
        Source::Incremental { cursor, retry, .. } => {
            reports::extract(
                report,
                &options,
                client,
                &extract_options,
                cursor.as_deref(),
                retry,
                tx,
            )
            .await
        }
        Source::Window { start, end, .. } => {
            reports::extract_range(report, &options, client, &extract_options, *start, *end, tx)
                .await
        }
    };
    let (writer, checkpointed, written) = writing
        .await
        .map_err(|e| Error::Internal(format!("the {report} writer panicked: {e}")))?;
    // Kept by the caller even if this export fails now: committed is committed.
    *committed = checkpointed;
    bar.finish_and_clear();
    // A writer failure is the root cause of an extractor's "writer stopped".
    let extracted = match (extracted, written) {
        (Ok(x), Ok(())) => x,
        (_, Err(e)) | (Err(e), Ok(())) => {
            // Committed checkpoints stay; the writer removes only the rest.
            tokio::task::spawn_blocking(move || writer.abort())
                .await
                .ok();
            return Err(e);
        }
    };
    if writer.misfits() > 0 {
        // Said with the report's other anomalies (one warning, the summary
        // table and --summary-json); the raw values stay in
        // custom_attributes_json.
        anomalies.record_n(
            crate::anomalies::AnomalyKind::UnexpectedShape,
            "custom attributes (not of their declared type; raw values in custom_attributes_json)",
            writer.misfits(),
            None,
        );
    }
    let files = writer.files().to_vec();
    if let Some(object) = plan.object()
        && let Err(e) = object.publish(&files).await
    {
        tokio::task::spawn_blocking(move || writer.abort())
            .await
            .ok();
        return Err(e);
    }
    testpoint::hit("written");
    let (window, param_key) = match &source {
        Source::Window { job, start, end } => (Some((job.id, *start, *end)), ""),
        Source::Incremental { param_key, .. } => (None, param_key.as_str()),
    };
    let commit = Commit {
        param_key,
        files: &files,
        rows: extracted.rows.saturating_sub(checkpointed.rows),
        cursor: extracted.cursor.as_deref(),
        failed: &extracted.failed,
        recovered: &extracted.recovered,
        window,
    };
    if let Err(e) = state.commit(run, report.as_str(), &commit).await {
        // Files no state row names must not stay behind.
        if let Some(object) = plan.object() {
            object.delete(files.iter()).await;
        }
        tokio::task::spawn_blocking(move || writer.abort())
            .await
            .ok();
        return Err(e);
    }
    Ok(Exported {
        rows: extracted.rows,
        files: checkpointed.files + data_file_count(&files),
        failed: extracted.failed,
        recovered: extracted.recovered.len(),
    })
}

/// Shows the pages (requests) of one export on its progress bar while it
/// runs; stops when dropped.
struct PageCounter(Option<tokio::task::JoinHandle<()>>);

impl PageCounter {
    fn start(client: &IntercomClient, bar: &indicatif::ProgressBar) -> Self {
        if bar.is_hidden() {
            return Self(None);
        }
        let (client, bar) = (client.clone(), bar.clone());
        let before = client.stats();
        Self(Some(tokio::spawn(async move {
            loop {
                let pages = client.stats().since(before).requests;
                bar.set_message(format!("{pages} pages"));
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
        })))
    }
}

impl Drop for PageCounter {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

/// What the checkpoints of one export committed.
#[derive(Debug, Default, Clone, Copy)]
struct Checkpointed {
    rows: u64,
    /// Data files (as [`data_file_count`]).
    files: usize,
}

/// Commits a checkpoint from the writer's thread: the files written so far
/// with the cursor that covers them, in one state transaction.
struct Checkpointer {
    runtime: tokio::runtime::Handle,
    state: StateStore,
    run: Run,
    report: ReportName,
    param_key: String,
    output_dir: PathBuf,
    /// Object-storage output: checkpoint files are uploaded before their commit.
    object: Option<std::sync::Arc<crate::output::object::ObjectOutput>>,
}

impl Checkpointer {
    /// Make the writer's files durable and commit them with `cursor`;
    /// returns how many data files were committed.
    fn commit(&self, writer: &mut ReportWriter, cursor: &str, rows: u64) -> Result<usize> {
        let files = writer.take_files()?;
        if let Some(object) = &self.object
            && let Err(e) = self.runtime.block_on(object.publish(&files))
        {
            for f in &files {
                let _ = std::fs::remove_file(self.output_dir.join(&f.relative_path));
            }
            return Err(e);
        }
        let commit = Commit {
            param_key: &self.param_key,
            files: &files,
            rows,
            cursor: Some(cursor),
            ..Commit::default()
        };
        if let Err(e) =
            self.runtime
                .block_on(self.state.commit(&self.run, self.report.as_str(), &commit))
        {
            // Nothing names these files: they must not stay behind.
            if let Some(object) = &self.object {
                self.runtime.block_on(object.delete(files.iter()));
            }
            for f in &files {
                let _ = std::fs::remove_file(self.output_dir.join(&f.relative_path));
            }
            return Err(e);
        }
        tracing::debug!(report = %self.report, rows, files = files.len(), "checkpoint committed");
        Ok(data_file_count(&files))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_items_make_a_run_partial_unless_skipped() {
        let clean = ReportOutcome::new(ReportName::Users);
        let mut with_failed = ReportOutcome::new(ReportName::Conversations);
        with_failed.failed.push(FailedItem {
            id: "c1".into(),
            error: "HTTP 500".into(),
        });
        let mut broken = ReportOutcome::new(ReportName::Leads);
        broken.error = Some("boom".into());
        assert_eq!(
            run_status(std::slice::from_ref(&clean), false, false),
            RunStatus::Succeeded
        );
        assert_eq!(
            run_status(std::slice::from_ref(&clean), true, false),
            RunStatus::Partial
        );
        let failed = [clean.clone(), with_failed];
        assert_eq!(run_status(&failed, false, false), RunStatus::Partial);
        assert_eq!(run_status(&failed, false, true), RunStatus::Succeeded);
        assert_eq!(
            run_status(&[clean, broken], false, true),
            RunStatus::Partial
        );
    }
}
