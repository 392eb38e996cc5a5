//! Running a sync or a backfill ([`sync`] and [`backfill`]): for each report, lease it, [`export::export`] it, and keep
//! its [`outcome::ReportOutcome`]; the reports of a run side by side, up to
//! [`side::MAX_PARALLEL_REPORTS`] at once ([`side`]). One export is a straight line:
//!
//! ```text
//!  IntercomClient ──pages──▶ extractor ──mpsc<WriterMsg>(4)──▶ ReportWriter (blocking thread)
//!                                                          │ parquet/csv parts, tmp → fsync → rename
//!                                                          ▼ durable files (checkpoints and the end)
//!                                     commit::Committer (async): publish, StateStore::commit
//! ```
//!
//! - [`export`]: extractor task → channel → writer thread, the backfill
//!   window as a typed [`export::BackfillWindow`].
//! - [`commit`]: the one [`commit::Committer`] for checkpoints and final
//!   commits.
//! - [`outcome`]: [`ReportOutcome`], [`RunSummary`], the run's status.
//! - [`side`]: the reports of a run side by side (the bound, the order
//!   reports that depend on others keep, the writers' memory budget, one
//!   progress line per running report).
//!
//! Search-based reports also commit along the way: after a completed search
//! window (at most once per [`ExtractOptions::checkpoint_every`]) the
//! extractor sends `WriterMsg::Checkpoint` with the cursor covering every row
//! sent so far; the writer closes its part files (durable, renamed) and
//! hands them to the committer, which commits them with that cursor in one
//! state transaction while the writer goes on. An
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
//! A stop request ([`Shutdown`]) starts no further report (or backfill
//! window), and the reports running stop at once: each keeps what its
//! checkpoints committed and removes what it wrote since, nothing is
//! half-written (see [`crate::shutdown`]).
//! Each report counts its own requests ([`IntercomClient::counted`]).
//!
//! With a shared (Postgres) state each report is leased first
//! ([`crate::state::lease`]): a report another live worker holds is skipped,
//! and a report taken over from a dead worker first loses that worker's
//! uncommitted files ([`recovery::take_over`]).

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::failpoint;
use crate::http::IntercomClient;
use crate::output::Format;
use crate::reports::{self, ExtractOptions, ReportName, ReportOptions};
use crate::shutdown::Shutdown;
use crate::state::lease::{Acquired, Lease};
use crate::state::recovery::{self, Recovered};
use crate::state::{BackfillJob, Run, RunStatus, StateStore};
use crate::time::format_utc;

mod backfill;
mod commit;
mod export;
mod outcome;
mod side;

pub(crate) use backfill::backfill;
use commit::Checkpointed;
use export::{BackfillWindow, Source, export};
use outcome::run_status;
pub(crate) use outcome::{ReportOutcome, RunSummary};

/// What to sync and where to.
#[derive(Debug, Clone)]
pub(crate) struct SyncPlan {
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
    /// Set by SIGTERM/SIGINT: no report starts, the running ones stop at
    /// their last checkpoint.
    pub shutdown: Shutdown,
    /// The `Intercom-Version` the client sends: a report it does not serve
    /// ([`ReportName::offered_by`]) is skipped with one warning.
    pub intercom_version: String,
    /// Object-storage output: parts are written to `output_dir` (a local
    /// staging directory) and uploaded here before the commit. `None`:
    /// `output_dir` is the output.
    pub object_output: Option<std::sync::Arc<crate::output::object::ObjectOutput>>,
    /// What the run's progress lines start with: the workspace's name when
    /// several workspaces run side by side, else empty.
    pub workspace_label: String,
}

impl SyncPlan {
    /// The object store the output goes to, if any.
    pub fn object(&self) -> Option<&crate::output::object::ObjectOutput> {
        self.object_output.as_deref()
    }

    /// Where the run's finished parts go (the object store, else the
    /// output directory).
    pub fn destination(&self) -> crate::output::Destination {
        crate::output::Destination::of(&self.output_dir, self.object_output.clone())
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
pub(crate) struct BackfillPlan {
    /// Unix seconds, inclusive.
    pub since: i64,
    /// Unix seconds, exclusive; `None`: now (fixed when the job is created).
    pub until: Option<i64>,
    pub window_secs: i64,
}

/// Run every report of `plan` once, incrementally, side by side (see
/// [`side`]). The caller holds the sync lock.
pub(crate) async fn sync(
    client: &IntercomClient,
    state: &StateStore,
    plan: &SyncPlan,
) -> Result<RunSummary> {
    let run_started = Instant::now();
    let mut recovered =
        recovery::recover_with(state, &plan.output_dir, plan.object(), false).await?;
    recovery::clean_ended_tmp(state, &plan.output_dir).await;
    let run = state.begin_run(plan.mode).await?;
    failpoint::hit("run_started");
    tracing::info!(run = %run.key, reports = plan.reports.len(), "run started");
    let reports: Vec<ReportName> = plan
        .reports
        .iter()
        .copied()
        .filter(|&report| offered(plan, report))
        .collect();
    let ctx = Arc::new(RunCtx::new(
        client,
        state,
        plan,
        &run,
        run_started,
        &reports,
    ));
    let ran = side::side_by_side(side::stages(plan, &reports), &plan.shutdown, |report| {
        let ctx = ctx.clone();
        async move { sync_report(&ctx, report).await }
    })
    .await;
    if let Some(e) = ran.ended {
        return Err(end_run(state, &run, e).await);
    }
    let mut outcomes = Vec::new();
    let started: Vec<ReportName> = ran.results.iter().map(|(r, _)| *r).collect();
    for (_, done) in ran.results {
        merge(&mut recovered, done.recovered);
        outcomes.extend(done.outcome);
    }
    if ran.stopped {
        // Reports a stop kept from starting are in the summary too, as
        // stopped with nothing committed (the next run starts them).
        for report in reports.iter().filter(|r| !started.contains(r)) {
            let mut outcome = ReportOutcome::new(*report);
            outcome.stopped = true;
            outcomes.push(outcome);
        }
    }
    // A stop also cuts short the reports that were running.
    let stopped = ran.stopped || outcomes.iter().any(|o| o.stopped);
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

/// Whether the configured `Intercom-Version` serves `report`; if not, says
/// so in one warning (not a failure: the version has no such endpoint).
fn offered(plan: &SyncPlan, report: ReportName) -> bool {
    if let Some(needed) = report.min_version()
        && !report.offered_by(&plan.intercom_version)
    {
        tracing::warn!(
            %report,
            needed,
            configured = %plan.intercom_version,
            "report {report} skipped: it needs Intercom-Version {needed} or later and \
             intercom_version is {}; set intercom_version = \"{needed}\" to export it",
            plan.intercom_version
        );
        return false;
    }
    true
}

/// What every report of one run shares; owned, as each report runs on a
/// task of its own.
struct RunCtx {
    client: IntercomClient,
    state: StateStore,
    plan: SyncPlan,
    run: Run,
    /// When the run started (the reports' `started_secs` count from it).
    run_started: Instant,
    side: side::Side,
}

impl RunCtx {
    /// The context of a run of `reports`, with the run's one store of
    /// conversation details for those of them that read conversation
    /// details ([`crate::extract::shared_conversations`]).
    fn new(
        client: &IntercomClient,
        state: &StateStore,
        plan: &SyncPlan,
        run: &Run,
        run_started: Instant,
        reports: &[ReportName],
    ) -> Self {
        let mut plan = plan.clone();
        plan.extract.conversations = reports::conversation_parts::detail_readers(reports);
        plan.extract.searches = crate::extract::shared_search::SharedSearch::for_run(
            reports.iter().map(|r| r.as_str()),
        );
        let side = side::Side::new(&plan.workspace_label);
        Self {
            client: client.clone(),
            state: state.clone(),
            plan,
            run: run.clone(),
            run_started,
            side,
        }
    }

    /// A fresh outcome of `report`, started now, and the client that
    /// counts its requests.
    fn start(&self, report: ReportName) -> (ReportOutcome, IntercomClient) {
        let mut outcome = ReportOutcome::new(report);
        outcome.started_secs = self.run_started.elapsed().as_secs_f64();
        (outcome, self.client.counted())
    }
}

/// One report's part of a run: its outcome (`None`: another worker holds
/// it) and what taking over its lease cleaned up.
#[derive(Default)]
struct Leased {
    outcome: Option<ReportOutcome>,
    recovered: Recovered,
}

/// Lease, export and commit one report of a sync. `Err`: the run ends (an
/// authentication failure, or the state failed).
async fn sync_report(ctx: &RunCtx, report: ReportName) -> Result<Leased> {
    let (state, plan, run) = (&ctx.state, &ctx.plan, &ctx.run);
    // However it ends (also skipped or failed before it read anything), the
    // report then takes no more of the run's shared conversations.
    let _claim = plan.extract.conversations.claim(report.as_str());
    let mut done = Leased::default();
    let Some(lease) = take_lease(state, plan, run, report, &mut done.recovered).await? else {
        return Ok(done);
    };
    let started = Instant::now();
    let (mut outcome, client) = ctx.start(report);
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
            &client,
            state,
            plan,
            run,
            report,
            &source,
            &mut checkpointed,
            &outcome.anomalies,
            &ctx.side,
        )
        .await
    }
    .await;
    outcome.seconds = started.elapsed().as_secs_f64();
    outcome.http = client.own_stats();
    match result {
        Ok(done) => {
            outcome.rows = done.rows;
            outcome.files = done.files;
            outcome.failed = done.failed;
            outcome.recovered = done.recovered;
            outcome.stopped = done.stopped;
        }
        Err(e) => {
            // Rows (and failed items) its checkpoints committed before it failed.
            outcome.rows = checkpointed.rows;
            outcome.files = checkpointed.files;
            outcome.failed = checkpointed.failed.clone();
            match fail_report(state, run, report, e).await {
                Ok(message) => outcome.error = Some(message),
                Err(e) => {
                    lease.release().await;
                    return Err(e);
                }
            }
        }
    }
    // Its anomaly lines, then its last line: what a log reader sees last
    // of a report is how it ended.
    outcome.anomalies.warn(report.as_str());
    log_end(&outcome);
    lease.release().await;
    // Its pages, writers and buffers are freed.
    crate::extract::ahead::give_back_freed_memory(true);
    done.outcome = Some(outcome);
    Ok(done)
}

/// Add what one report's lease take-over cleaned up to the run's.
fn merge(run: &mut Recovered, report: Recovered) {
    run.interrupted.extend(report.interrupted);
    run.removed.extend(report.removed);
}

/// The run ends with `e`: an authentication failure or no connection to
/// the server marks it failed (no other report would succeed either; left
/// `running`, the next sync would take it for an interrupted run); returns
/// `e`.
async fn end_run(state: &StateStore, run: &Run, e: Error) -> Error {
    if ends_the_run(&e) {
        let _ = state.finish_run(run, RunStatus::Failed).await;
    }
    e
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

/// The last line of a report of a sync, after its anomaly lines: `report
/// done` (rows, files, failed items), `report stopped at its last
/// checkpoint` (a stop request cut it short: rows, files and failed items
/// its checkpoints committed) or `report failed` (its error; an ERROR).
fn log_end(outcome: &ReportOutcome) {
    let report = outcome.report;
    let (rows, files, failed) = (outcome.rows, outcome.files, outcome.failed.len());
    if let Some(error) = &outcome.error {
        log_failed(report, error);
    } else if outcome.stopped {
        tracing::info!(
            %report,
            rows,
            files,
            failed,
            "report stopped at its last checkpoint; the next run goes on from there"
        );
    } else {
        tracing::info!(%report, rows, files, failed, "report done");
    }
}

/// The line of a failed report (after its anomaly lines).
fn log_failed(report: ReportName, error: &str) {
    tracing::error!(%report, error = %error, "report failed; its cursor stays at its last commit");
}

/// Record a report's failure (logged by the caller, [`log_failed`], after
/// the report's anomaly lines). An authentication failure ends the run (no
/// other report would succeed either) and comes back as `Err` (the run is
/// marked failed once its running reports end, [`end_run`]); any other
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
    if ends_the_run(&e) {
        return Err(e);
    }
    Ok(message)
}

/// A report's error that ends the whole run, which is then marked failed: a
/// rejected token or no connection to the server (no other report would
/// succeed either).
fn ends_the_run(e: &Error) -> bool {
    e.is_unauthorized() || e.is_unreachable()
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
    // tolerance option (`skip_failed_conversations`).
    let tolerated = |report: ReportName| {
        plan.skip_failed
            || report
                .spec()
                .skip_failed_option
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
