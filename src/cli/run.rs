//! The composition root: `sync`, `backfill` and `schedule` resolve the
//! config into [`Settings`] (one per workspace), [`run_all`] runs the
//! workspaces side by side (`max_parallel_workspaces` at once), and
//! [`run_workspace`] (it was `run_locked`) assembles one run from them: the state lock or leases, the
//! destination (a directory or an object store), the state store, the
//! Intercom client, and the [`SyncPlan`] the pipeline runs.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::{FileConfig, Overrides, Settings};
use crate::error::Error;
use crate::http::IntercomClient;
use crate::lock::{LockScope, StateLock};
use crate::output;
use crate::pipeline::{self, BackfillPlan, RunSummary, SyncPlan};
use crate::reports::ExtractOptions;
use crate::secret::AccessToken;
use crate::shutdown::Shutdown;
use crate::state::{StateLocation, StateStore};

use super::summary::{FleetRun, WorkspaceRun, print_summary, status_of, write_summaries_json};
use super::{
    BackfillArgs, ExitStatus, ScheduleArgs, SyncArgs, exit_status, fresh_state, parse_date,
    parse_duration,
};

/// One [`Settings`] per workspace to run (one without `[[workspace]]` blocks).
pub(super) fn resolve(args: &SyncArgs) -> anyhow::Result<Vec<Settings>> {
    let file = FileConfig::load(args.config.as_deref(), std::env::vars())?;
    Ok(Settings::resolve_all(
        file,
        Overrides {
            base_url: args.base_url.clone(),
            output_dir: args.output.clone(),
            state_path: args.state.clone(),
            formats: args.format.clone(),
            reports: args.reports.clone(),
            exclude_reports: args.exclude_reports.clone(),
            options: args.options.clone(),
        },
        &args.workspaces,
    )?)
}

/// Run the workspaces of `all` side by side, at most
/// `max_parallel_workspaces` at once (each with its own client, pacer and
/// summary; workspaces sharing a SQLite state share its one lock, see
/// [`HeldLocks`]). A failing workspace does not stop the others. Each
/// workspace's summary is printed whole when it finishes; then the JSON
/// summary is written (workspaces in config order) and the worst exit
/// status given, or the first error (in config order) when any workspace
/// could not run.
pub(super) async fn run_all(
    all: &[Settings],
    args: &SyncArgs,
    mode: &'static str,
    shutdown: Shutdown,
    backfill: Option<BackfillPlan>,
) -> anyhow::Result<ExitStatus> {
    use futures::StreamExt;
    use tracing::Instrument;

    // Every token first. Without `[[workspace]]` blocks a missing one is a
    // usage error before any work; with several, it fails its own
    // workspace (like a refused token) and the others run.
    let mut tokens = Vec::with_capacity(all.len());
    for settings in all {
        match settings.token() {
            Ok(token) => tokens.push(Ok(token)),
            Err(e) if all.len() > 1 => tokens.push(Err(e)),
            Err(e) => return Err(e.into()),
        }
    }
    let parallel = all.first().map_or(1, |s| s.max_parallel_workspaces).max(1);
    if let Some(s) = all.first() {
        crate::telemetry::heartbeat::set_every(s.progress_log_every);
    }
    let locks = HeldLocks::default();
    let fresh = fresh_state::fresh_states(all);
    let fleet_started = std::time::Instant::now();
    let skip_failed = args.skip_failed;
    // `buffer_unordered` starts the next workspace only when one of the
    // running ones finished, so at most `parallel` run at once. They run on
    // this task (an extractor's future is not `Send`); their waiting on
    // Intercom overlaps, and each report's writer has its own thread.
    let runs = all
        .iter()
        .zip(tokens)
        .enumerate()
        .map(|(i, (settings, token))| {
            let shutdown = shutdown.clone();
            let locks = &locks;
            let span = if settings.workspace.is_empty() {
                tracing::Span::none()
            } else {
                // At error level so that it is on whenever any log line is.
                tracing::error_span!("workspace", name = %settings.workspace)
            };
            async move {
                // A stop request: workspaces not started stay for next time.
                if shutdown.requested() {
                    return (i, None);
                }
                let started_at = unix_secs_f64();
                let token = match token {
                    Ok(token) => token,
                    Err(e) => return (i, Some((started_at, unix_secs_f64(), Err(e.into())))),
                };
                // Progress lines name the workspace when several run.
                let label = if all.len() > 1 {
                    settings.workspace.as_str()
                } else {
                    ""
                };
                let result = run_workspace_locked(
                    settings,
                    token,
                    mode,
                    skip_failed,
                    shutdown,
                    backfill,
                    locks,
                    label,
                )
                .await;
                (i, Some((started_at, unix_secs_f64(), result)))
            }
            .instrument(span)
        });
    let mut finished = futures::stream::iter(runs).buffer_unordered(parallel);
    let mut ended: Vec<Option<WorkspaceRun>> = (0..all.len()).map(|_| None).collect();
    while let Some((i, run)) = finished.next().await {
        let settings = &all[i];
        let Some((started_at, finished_at, result)) = run else {
            continue;
        };
        // One workspace's block at a time, whole, as it finishes.
        let mut block = Vec::new();
        match &result {
            Ok(summary) => {
                // Counted for `schedule --metrics-addr` (see `crate::metrics`).
                crate::metrics::record_run(&settings.workspace, summary);
                if !settings.workspace.is_empty() {
                    writeln!(block, "workspace {}:", settings.workspace)?;
                }
                print_summary(summary, &mut block)?;
            }
            Err(e) if all.len() > 1 => {
                let why = format!("{e:#}");
                tracing::error!(workspace = %settings.workspace, error = %why, "workspace could not be synced; going on with the others");
                writeln!(block, "workspace {}: failed: {why}", settings.workspace)?;
            }
            Err(_) => {}
        }
        // With JSON logs and stdout not a terminal (cron's `>> log 2>&1`),
        // the human table would be the only lines of the log that are not
        // JSON: `--summary-json` is the machine-readable summary.
        if crate::telemetry::log_format() == crate::telemetry::LogFormat::Json
            && !std::io::IsTerminal::is_terminal(&std::io::stdout())
        {
            block.clear();
        }
        // Above the progress lines of the workspaces still running.
        crate::telemetry::above_bars(|| {
            let mut out = std::io::stdout().lock();
            out.write_all(&block)?;
            out.flush()
        })?;
        ended[i] = Some(WorkspaceRun {
            name: settings.workspace.clone(),
            started_at,
            finished_at,
            result,
        });
    }
    drop(finished);
    // A first run that reached no server leaves no state behind.
    fresh_state::remove_unreached(&fresh, all, &ended, backfill.is_some()).await;
    drop(locks);
    let ended: Vec<WorkspaceRun> = ended.into_iter().flatten().collect();
    let status = ended
        .iter()
        .filter_map(|w| w.result.as_ref().ok())
        .fold(ExitStatus::Success, |w, s| w.max_severity(status_of(s)));
    // The process's exit code: the first failed workspace's, else the worst.
    let exit = ended
        .iter()
        .find_map(|w| w.result.as_ref().err())
        .map_or(status, exit_status);
    write_summaries_json(
        args.summary_json.as_deref(),
        &ended,
        exit,
        FleetRun {
            seconds: fleet_started.elapsed().as_secs_f64(),
            max_parallel_workspaces: parallel,
        },
    )?;
    // A partial run (not a scheduled one, which goes on) ends with its
    // error line, as a failed command does: the last line on stderr.
    if exit == ExitStatus::Partial && mode != "schedule" {
        crate::telemetry::fatal::report_fatal(
            crate::telemetry::log_format(),
            &super::partial::partial_message(&ended),
            exit,
        );
    }
    match ended.into_iter().find_map(|w| w.result.err()) {
        Some(e) => Err(e),
        None => Ok(status),
    }
}

/// Wall-clock unix seconds, with a fraction (for the workspaces' times in
/// `--summary-json`).
fn unix_secs_f64() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The state locks taken by one [`run_all`], by lock file: workspaces that
/// share a SQLite state file (the usual fleet config: one `state_path` for
/// every block, rows kept apart by workspace) run side by side under its one
/// `flock`, taken by the first of them to start and released when the
/// `run_all` ends. Another process still finds the state locked (exit 5,
/// holder named).
#[derive(Debug, Default)]
pub(super) struct HeldLocks {
    /// A std mutex: held while one lock is taken (a non-blocking `flock`),
    /// never across an `.await`.
    held: std::sync::Mutex<HashMap<PathBuf, std::sync::Arc<StateLock>>>,
}

impl HeldLocks {
    /// The lock of `state_path` in `scope`: the one already held by this
    /// run, or taken now ([`crate::Error::Locked`] when another process
    /// holds it). Kept until `self` is dropped.
    fn acquire(
        &self,
        state_path: &Path,
        scope: LockScope,
        mode: &str,
    ) -> crate::Result<std::sync::Arc<StateLock>> {
        let file = crate::lock::lock_path(state_path, scope);
        let key = std::path::absolute(&file).unwrap_or(file);
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(lock) = held.get(&key) {
            return Ok(std::sync::Arc::clone(lock));
        }
        crate::state::check_sqlite_dir(state_path)?;
        let lock = std::sync::Arc::new(StateLock::acquire(state_path, scope, mode)?);
        held.insert(key, std::sync::Arc::clone(&lock));
        Ok(lock)
    }
}

pub(super) async fn sync(args: SyncArgs) -> anyhow::Result<ExitStatus> {
    let all = resolve(&args)?;
    let shutdown = Shutdown::on_signals().context("installing signal handlers")?;
    run_all(&all, &args, "sync", shutdown, None).await
}

pub(super) async fn backfill(args: BackfillArgs) -> anyhow::Result<ExitStatus> {
    let since = parse_date(&args.since).map_err(|e| Error::Config(format!("--since: {e}")))?;
    let until = args
        .until
        .as_deref()
        .map(parse_date)
        .transpose()
        .map_err(|e| Error::Config(format!("--until: {e}")))?;
    let window =
        parse_duration(&args.window).map_err(|e| Error::Config(format!("--window: {e}")))?;
    if let Some(until) = until
        && until <= since
    {
        return Err(Error::Config("--until must be after --since".into()).into());
    }
    let all = resolve(&args.sync)?;
    let shutdown = Shutdown::on_signals().context("installing signal handlers")?;
    let range = BackfillPlan {
        since,
        until,
        window_secs: window.as_secs().max(1) as i64,
    };
    run_all(&all, &args.sync, "backfill", shutdown, Some(range)).await
}

pub(super) async fn schedule(args: ScheduleArgs) -> anyhow::Result<ExitStatus> {
    let every = parse_duration(&args.every).map_err(|e| Error::Config(format!("--every: {e}")))?;
    let jitter =
        parse_duration(&args.jitter).map_err(|e| Error::Config(format!("--jitter: {e}")))?;
    if every.is_zero() {
        return Err(Error::Config("--every must be more than 0s".into()).into());
    }
    let all = resolve(&args.sync)?;
    for settings in &all {
        settings.token()?;
    }
    let shutdown = Shutdown::on_signals().context("installing signal handlers")?;
    let _metrics = match args.metrics_addr {
        Some(addr) => Some(crate::metrics::serve(addr).await?),
        None => None,
    };
    let mut worst = ExitStatus::Success;
    loop {
        let started = tokio::time::Instant::now();
        // Tokens are read again each time: a rotated token_file is picked up.
        let result = run_all(&all, &args.sync, "schedule", shutdown.clone(), None).await;
        match result {
            Ok(status) => {
                // A run cut short by the stop request is not a failure.
                if !shutdown.requested() {
                    worst = worst.max_severity(status);
                }
            }
            Err(e) => match exit_status(&e) {
                // The token is wrong: every later run would fail too.
                ExitStatus::Auth | ExitStatus::Usage => return Err(e),
                status => {
                    tracing::error!(error = %format!("{e:#}"), "scheduled sync failed; trying again at the next tick");
                    worst = worst.max_severity(status);
                }
            },
        }
        if shutdown.requested() {
            break;
        }
        let delay = (every + crate::time::random_upto(jitter)).saturating_sub(started.elapsed());
        tracing::info!(next_in_secs = delay.as_secs(), "waiting for the next sync");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.wait() => break,
        }
    }
    tracing::info!("schedule stopped");
    // A clean stop is a success; a run that failed along the way is reported.
    Ok(match worst {
        ExitStatus::Locked => ExitStatus::Success,
        other => other,
    })
}

/// The composition root of one workspace's run: take the state lock
/// (SQLite) or rely on leases (Postgres), open the destination (a local
/// directory, or an object store through a staging directory), connect the
/// state store, build the Intercom client and the [`SyncPlan`], and run the
/// pipeline once (`sync`, or `backfill` when `backfill` is given).
pub(super) async fn run_workspace(
    settings: &Settings,
    token: AccessToken,
    mode: &'static str,
    skip_failed: bool,
    shutdown: Shutdown,
    backfill: Option<BackfillPlan>,
) -> anyhow::Result<RunSummary> {
    let locks = HeldLocks::default();
    run_workspace_locked(
        settings,
        token,
        mode,
        skip_failed,
        shutdown,
        backfill,
        &locks,
        "",
    )
    .await
}

/// [`run_workspace`], taking the state lock through `locks` (shared by the
/// workspaces of one [`run_all`]); `label` starts its progress lines (the
/// workspace's name when several run side by side, else empty).
#[allow(clippy::too_many_arguments)] // the run's context, each used once
async fn run_workspace_locked(
    settings: &Settings,
    token: AccessToken,
    mode: &'static str,
    skip_failed: bool,
    shutdown: Shutdown,
    backfill: Option<BackfillPlan>,
    locks: &HeldLocks,
    label: &str,
) -> anyhow::Result<RunSummary> {
    let scope = if backfill.is_some() {
        LockScope::Backfill
    } else {
        LockScope::Sync
    };
    let object_url = settings
        .output_dir
        .to_str()
        .filter(|u| output::object::is_object_url(u));
    // An unwritable local output is a usage error said before the state's
    // lock file is made (the third trial: an empty lock stayed behind).
    if object_url.is_none() {
        output::ensure_writable(&settings.output_dir)?;
    }
    // SQLite: one process at a time. Postgres: workers share it, report by
    // report (leases, see `state::lease`).
    let lock = match &settings.state {
        StateLocation::Sqlite(path) => Some(locks.acquire(path, scope, mode)?),
        StateLocation::Postgres(_) => None,
    };
    // An object-store output is written through a local staging directory,
    // one per workspace (they may run side by side).
    let object_output = match object_url {
        Some(url) => {
            let mut staging = output::object::staging_dir().into_os_string();
            if !settings.workspace.is_empty() {
                staging.push(format!("-{}", settings.workspace));
            }
            Some(std::sync::Arc::new(output::object::ObjectOutput::new(
                url,
                staging.into(),
            )?))
        }
        _ => None,
    };
    let local_dir = object_output
        .as_ref()
        .map_or_else(|| settings.output_dir.clone(), |o| o.staging.clone());
    // The output directory and its parents this run may create: removed
    // again at the end if it leaves them empty (every report failed, or
    // had nothing to write).
    let created_dirs = output::dirs::missing(&local_dir, None);
    // A local output was checked before the lock; a staging one is here.
    if object_output.is_some() {
        output::ensure_writable(&local_dir)?;
    }
    let state = StateStore::connect(&settings.state)
        .await?
        .with_lease_ttl(settings.lease_ttl)
        .scoped(&settings.workspace);
    let client = IntercomClient::new(settings.client_config(token))?;
    let plan = SyncPlan {
        mode,
        reports: settings.reports.clone(),
        report_options: settings.report_options.clone(),
        output_dir: local_dir,
        formats: settings.formats.clone(),
        rows_per_file: settings.rows_per_file,
        extract: ExtractOptions {
            per_page: settings.page_size,
            concurrency: settings.concurrency,
            lookback_secs: settings.lookback_secs,
            checkpoint_every: settings.checkpoint_every,
            progress: Default::default(),
            anomalies: Default::default(),
            companies: Default::default(),
            lists: Default::default(),
            conversations: Default::default(),
            searches: Default::default(),
        },
        skip_failed,
        shutdown,
        intercom_version: settings.intercom_version.clone(),
        object_output,
        workspace_label: label.to_string(),
    };
    let result = match &backfill {
        Some(range) => pipeline::backfill(&client, &state, &plan, range).await,
        None => pipeline::sync(&client, &state, &plan).await,
    };
    state.close().await;
    if let Some(object) = plan.object() {
        output::object::remove_staging(&object.staging);
    }
    output::dirs::remove_empty(&created_dirs);
    drop(lock);
    Ok(result?)
}

/// Open state and output, build the client, and run one sync.
pub(super) async fn sync_with(
    settings: &Settings,
    token: AccessToken,
    mode: &'static str,
) -> anyhow::Result<RunSummary> {
    run_workspace(settings, token, mode, false, Shutdown::new(), None).await
}
