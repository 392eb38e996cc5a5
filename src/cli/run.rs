//! The composition root: `sync`, `backfill` and `schedule` resolve the
//! config into [`Settings`] (one per workspace), and [`run_workspace`] (it was
//! `run_locked`) assembles one run from them: the state lock or leases, the
//! destination (a directory or an object store), the state store, the
//! Intercom client, and the [`SyncPlan`] the pipeline runs.

use std::io::Write;

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

use super::summary::{print_summary, status_of, write_summaries_json};
use super::{
    BackfillArgs, ExitStatus, ScheduleArgs, SyncArgs, exit_status, parse_date, parse_duration,
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
            options: args.options.clone(),
        },
        &args.workspaces,
    )?)
}

/// Run every workspace of `all` in turn (a failing one does not stop the
/// others), print each summary, write the JSON summary, and give the worst
/// exit status; the first error when any workspace could not run.
pub(super) async fn run_all(
    all: &[Settings],
    args: &SyncArgs,
    mode: &'static str,
    shutdown: Shutdown,
    backfill: Option<BackfillPlan>,
) -> anyhow::Result<ExitStatus> {
    // Every token first: a missing one is a usage error before any work.
    let tokens = all
        .iter()
        .map(|s| s.token())
        .collect::<crate::Result<Vec<_>>>()?;
    let mut done: Vec<(String, RunSummary)> = Vec::new();
    let mut first_error = None;
    for (settings, token) in all.iter().zip(tokens) {
        if shutdown.requested() {
            break;
        }
        let result = run_workspace(
            settings,
            token,
            mode,
            args.skip_failed,
            shutdown.clone(),
            backfill,
        )
        .await;
        let mut out = std::io::stdout().lock();
        match result {
            Ok(summary) => {
                // Counted for `schedule --metrics-addr` (see `crate::metrics`).
                crate::metrics::record_run(&settings.workspace, &summary);
                if !settings.workspace.is_empty() {
                    writeln!(out, "workspace {}:", settings.workspace)?;
                }
                print_summary(&summary, &mut out)?;
                done.push((settings.workspace.clone(), summary));
            }
            Err(e) if all.len() > 1 => {
                tracing::error!(workspace = %settings.workspace, error = %format!("{e:#}"), "workspace could not be synced; going on with the others");
                writeln!(out, "workspace {}: failed: {e:#}", settings.workspace)?;
                first_error.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    let status = done.iter().fold(ExitStatus::Success, |w, (_, s)| {
        w.max_severity(status_of(s))
    });
    write_summaries_json(args.summary_json.as_deref(), &done, status)?;
    match first_error {
        Some(e) => Err(e),
        None => Ok(status),
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
        let delay = (every + random_upto(jitter)).saturating_sub(started.elapsed());
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

/// A pseudo-random duration in `[0, max]` (jitter needs no strong randomness).
pub(super) fn random_upto(max: std::time::Duration) -> std::time::Duration {
    if max.is_zero() {
        return max;
    }
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64 ^ d.as_secs())
        .unwrap_or(0)
        ^ (u64::from(std::process::id()) << 20);
    // splitmix64 finaliser
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let millis = max.as_millis().max(1) as u64;
    std::time::Duration::from_millis(z % (millis + 1))
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
    let scope = if backfill.is_some() {
        LockScope::Backfill
    } else {
        LockScope::Sync
    };
    // SQLite: one process at a time. Postgres: workers share it, report by
    // report (leases, see `state::lease`).
    let lock = match &settings.state {
        StateLocation::Sqlite(path) => Some(StateLock::acquire(path, scope, mode)?),
        StateLocation::Postgres(_) => None,
    };
    // An object-store output is written through a local staging directory.
    let object_output = match settings.output_dir.to_str() {
        Some(url) if output::object::is_object_url(url) => Some(std::sync::Arc::new(
            output::object::ObjectOutput::new(url, output::object::staging_dir())?,
        )),
        _ => None,
    };
    let local_dir = object_output
        .as_ref()
        .map_or_else(|| settings.output_dir.clone(), |o| o.staging.clone());
    output::ensure_writable(&local_dir)?;
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
        },
        skip_failed,
        shutdown,
        intercom_version: settings.intercom_version.clone(),
        object_output,
    };
    let result = match &backfill {
        Some(range) => pipeline::backfill(&client, &state, &plan, range).await,
        None => pipeline::sync(&client, &state, &plan).await,
    };
    state.close().await;
    if let Some(object) = plan.object() {
        output::object::remove_staging(&object.staging);
    }
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
