//! The command line: `sync`, `backfill`, `schedule`, `check`, `state`,
//! `demo`, `simulate`, `schemas`, `reports`. This file holds the clap types
//! and the dispatch only:
//!
//! - `run`: the composition root (Settings → state store, destination,
//!   client, pipeline) behind `sync`, `backfill` and `schedule`;
//! - `check`: `check` and its probes;
//! - `summary`: the summary table, `--summary-json`, the exit status;
//! - `state`: `state show|reset`;
//! - `demo`: `demo`, `simulate`, `schemas`, `reports`.
//!
//! This is the only module that uses `anyhow`; it turns library errors into
//! messages and exit codes (see [`ExitStatus`]).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::error::{Error, ErrorKind};
use crate::output::Format;
use crate::simulator::SimConfig;
use crate::telemetry::LogFormat;

mod check;
mod demo;
mod fresh_state;
mod partial;
mod run;
mod state;
mod summary;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  internal error, or Intercom/network failure after all retries
  2  usage or configuration error (the message says what to fix)
  3  authentication or permission error (token rejected)
  4  partial: some reports or items failed; the rest was exported and committed
  5  another intercom-export process holds the state lock (the message names it)";

/// Export an Intercom workspace to Parquet and CSV files, incrementally.
#[derive(Debug, Parser)]
#[command(name = "intercom-export", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// Log format on stderr [default: human, or the INTERCOM_LOG_FORMAT
    /// environment variable (human or json) when set].
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Export what changed since the last sync (everything on the first run).
    ///
    /// The token comes from INTERCOM_ACCESS_TOKEN (or `token_file` in the config).
    Sync(SyncArgs),
    /// One-off historical export of records updated in [--since, --until),
    /// window by window, into the same layout. Rerun the same command to
    /// resume after a crash; finished windows are not exported again. Never
    /// moves the incremental cursors; may run beside `sync`.
    Backfill(BackfillArgs),
    /// Run `sync` now and then every --every (plus up to --jitter) until
    /// SIGTERM or SIGINT, which end it cleanly: the reports in progress stop
    /// at their last checkpoint.
    Schedule(ScheduleArgs),
    /// Check the token (GET /me): which workspace and region, and which
    /// reports it can read (one cheap request each; 403s are named).
    Check(SyncArgs),
    /// Show or reset the state (cursors, runs, failed items, files).
    #[command(subcommand)]
    State(StateCommand),
    /// Start the built-in simulator, sync every report from it into
    /// ./demo-output, move its clock a day, and sync again. No token needed.
    Demo(DemoArgs),
    /// Run the Intercom simulator on 127.0.0.1 until interrupted.
    Simulate(SimulateArgs),
    /// Print the output schema of every report, or write them to a directory.
    Schemas(SchemasArgs),
    /// List the reports with what they export and their options.
    Reports,
    /// A Singer tap (Meltano): `--discover` prints the catalog, `--catalog`
    /// syncs its selected streams as SCHEMA/RECORD/STATE messages on stdout.
    Tap(crate::tap::TapArgs),
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Config file (TOML); see config/example.toml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Intercom API base URL (overrides `region`); http only for loopback.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// State: a SQLite file (PATH or sqlite://PATH) or a shared postgres://… URL.
    #[arg(long, value_name = "PATH")]
    pub state: Option<PathBuf>,
    /// Output format(s): parquet, csv, or both (`--format parquet,csv`).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub format: Vec<Format>,
    /// Reports to export, comma-separated (default: all that need no options;
    /// `intercom-export reports` lists them).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub reports: Vec<String>,
    /// Reports to leave out, comma-separated: taken from `--reports` (or
    /// the default reports), e.g. the ticket reports for a token without
    /// the tickets scope. An unknown name is an error.
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub exclude_reports: Vec<String>,
    /// A report option, REPORT.KEY=VALUE (repeatable; lists comma-separated),
    /// e.g. `--option conversations.state=open`.
    #[arg(long = "option", value_name = "REPORT.KEY=VALUE")]
    pub options: Vec<String>,
    /// Items that still fail after retries (e.g. one conversation's parts)
    /// do not make the run partial: exit 0. They are still recorded, listed
    /// in the summary and retried by the next run.
    #[arg(long)]
    pub skip_failed: bool,
    /// Also write the run summary as JSON to FILE (for orchestrators:
    /// status, exit code, and per report rows, files, requests, 429s,
    /// retries, failed items).
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,
    /// Only this `[[workspace]]` of the config (repeatable; default: every
    /// workspace the config names).
    #[arg(long = "workspace", value_name = "NAME")]
    pub workspaces: Vec<String>,
}

#[derive(Debug, Args)]
pub struct BackfillArgs {
    #[command(flatten)]
    pub sync: SyncArgs,
    /// Start (inclusive): YYYY-MM-DD (UTC midnight) or YYYY-MM-DDTHH:MM:SSZ.
    #[arg(long, value_name = "DATE")]
    pub since: String,
    /// End (exclusive), same forms; default: now (fixed when the backfill
    /// first starts, so a resumed backfill has the same windows).
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// Window size: each window is exported and committed on its own
    /// (`1d`, `7d`, `12h`, ...).
    #[arg(long, default_value = "7d", value_name = "DURATION")]
    pub window: String,
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    #[command(flatten)]
    pub sync: SyncArgs,
    /// Interval between the starts of two syncs (`1h`, `30m`, ...).
    #[arg(long, value_name = "DURATION")]
    pub every: String,
    /// Add a random delay up to this much to each wait (`5m`), so many
    /// exporters do not hit Intercom at the same second.
    #[arg(long, default_value = "0s", value_name = "DURATION")]
    pub jitter: String,
    /// Serve Prometheus metrics on ADDR (`/metrics`, `/healthz`), e.g.
    /// `127.0.0.1:9184`: rows, requests, 429s, retries, last success and
    /// lag per report, run duration.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Cursors, committed file counts, failed items, backfills and the last runs.
    Show(StateArgs),
    /// Forget cursors, failed items and backfill progress (of one report
    /// with --report): the next sync exports it in full. Files stay.
    Reset(StateResetArgs),
}

#[derive(Debug, Args)]
pub struct StateArgs {
    /// Config file (TOML), for `state_path`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// State: a SQLite file (PATH or sqlite://PATH) or a shared postgres://… URL.
    #[arg(long, value_name = "PATH")]
    pub state: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StateResetArgs {
    /// Config file (TOML), for `state_path`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// State: a SQLite file (PATH or sqlite://PATH) or a shared postgres://… URL.
    #[arg(long, value_name = "PATH")]
    pub state: Option<PathBuf>,
    /// Only this report (default: all).
    #[arg(long, value_name = "NAME")]
    pub report: Option<String>,
    /// Only this `[[workspace]]` (default: every workspace in the state).
    #[arg(long, value_name = "NAME")]
    pub workspace: Option<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the demo writes its files and state (replaced on each demo run).
    #[arg(long, default_value = "demo-output", value_name = "DIR")]
    pub output: PathBuf,
    /// Serve the simulator like a real workspace: Intercom's default rate
    /// limit (1,666 calls per 10 s) and response times
    /// `search=300ms±100ms,get=150ms±50ms,default=150ms`, unless
    /// --rate-limit or --latency say otherwise. Slower.
    #[arg(long)]
    pub realistic: bool,
    #[command(flatten)]
    pub sim: SimConfig,
}

/// Intercom's default rate limit (10,000 calls a minute) per 10-second
/// window, for `demo --realistic`.
const REALISTIC_RATE_LIMIT: u32 = 1666;

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    #[command(flatten)]
    pub sim: SimConfig,
}

#[derive(Debug, Args)]
pub struct SchemasArgs {
    /// Write `<report>.json` files into --dir instead of printing.
    #[arg(long)]
    pub write: bool,
    #[arg(long, default_value = "schemas", value_name = "DIR")]
    pub dir: PathBuf,
}

pub use crate::exit::ExitStatus;

/// The exit status for an error that ended the program.
pub fn exit_status(err: &anyhow::Error) -> ExitStatus {
    match err
        .chain()
        .find_map(|c| c.downcast_ref::<Error>())
        .map(Error::kind)
    {
        Some(ErrorKind::User) => ExitStatus::Usage,
        Some(ErrorKind::Auth) => ExitStatus::Auth,
        Some(ErrorKind::Locked) => ExitStatus::Locked,
        Some(ErrorKind::External | ErrorKind::Internal) | None => ExitStatus::Internal,
    }
}

/// Run a parsed command line.
///
/// A command that only prints (`state`, `reports`, `schemas`, `check`,
/// `demo`, `simulate`) ends quietly with success when its stdout is
/// closed early (`intercom-export state show | head`), as `ls | head`
/// does: the reader has what it wanted. `sync`, `backfill` and `schedule`
/// keep their exit status (a partial run must not read as a success), and
/// `tap` treats a closed stdout as its target failing.
pub async fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    let only_prints = matches!(
        cli.command,
        Command::State(_)
            | Command::Reports
            | Command::Schemas(_)
            | Command::Check(_)
            | Command::Demo(_)
            | Command::Simulate(_)
    );
    let result = match cli.command {
        Command::Sync(args) => run::sync(args).await,
        Command::Backfill(args) => run::backfill(args).await,
        Command::Schedule(args) => run::schedule(args).await,
        Command::Check(args) => check::check(args).await,
        Command::State(StateCommand::Show(args)) => state::state_show(args).await,
        Command::State(StateCommand::Reset(args)) => state::state_reset(args).await,
        Command::Demo(args) => demo::demo(args).await,
        Command::Simulate(args) => demo::simulate(args).await,
        Command::Schemas(args) => demo::schemas(args),
        Command::Reports => demo::list_reports(&mut std::io::stdout().lock()),
        Command::Tap(args) => crate::tap::run(args).await,
    };
    match result {
        Err(err) if only_prints && stdout_closed(&err) => Ok(ExitStatus::Success),
        other => other,
    }
}

/// The error is a write to a pipe whose reader has gone (`EPIPE`).
fn stdout_closed(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `2024-01-31` (UTC midnight), `2024-01-31T12:00:00Z` or unix seconds.
pub fn parse_date(text: &str) -> Result<i64, String> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<i64>() {
        return Ok(secs);
    }
    let date_fmt = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(t, date_fmt) {
        return Ok(d.midnight().assume_utc().unix_timestamp());
    }
    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
        .map(|d| d.unix_timestamp())
        .map_err(|_| format!("{t:?} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)"))
}

/// `90s`, `30m`, `1h`, `7d` (or a plain number of seconds).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let bad = || format!("{t:?} is not a duration; use e.g. 30s, 15m, 1h or 7d");
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    Ok(std::time::Duration::from_secs(n.saturating_mul(secs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_durations() {
        assert_eq!(parse_date("2026-06-01"), Ok(1_780_272_000));
        assert_eq!(parse_date("2026-06-01T01:00:00Z"), Ok(1_780_275_600));
        assert!(parse_date("June").is_err());
        assert_eq!(
            parse_duration("1h"),
            Ok(std::time::Duration::from_secs(3600))
        );
        assert_eq!(
            parse_duration("5m"),
            Ok(std::time::Duration::from_secs(300))
        );
        assert_eq!(
            parse_duration("7d"),
            Ok(std::time::Duration::from_secs(604_800))
        );
        assert!(parse_duration("1 fortnight").is_err());
        let j = crate::time::random_upto(std::time::Duration::from_secs(2));
        assert!(j <= std::time::Duration::from_secs(2));
    }
}
