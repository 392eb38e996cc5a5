//! The command line: `sync`, `backfill`, `schedule`, `check`, `state`,
//! `demo`, `simulate`, `schemas`.
//!
//! This is the only module that uses `anyhow`; it turns library errors into
//! messages and exit codes (see [`ExitStatus`]).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::config::{FileConfig, Overrides, Settings};
use crate::error::{Error, ErrorKind};
use crate::http::IntercomClient;
use crate::lock::{LockScope, StateLock};
use crate::output::{self, Format};
use crate::pipeline::{self, BackfillPlan, RunSummary, SyncPlan};
use crate::reports::{ExtractOptions, ReportName};
use crate::secret::AccessToken;
use crate::shutdown::Shutdown;
use crate::simulator::{self, SimConfig};
use crate::state::{RunStatus, StateLocation, StateStore};
use crate::telemetry::LogFormat;

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
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,

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
    /// SIGTERM or SIGINT, which end it cleanly after the report in progress.
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

/// Process exit statuses, documented in `--help` and the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success = 0,
    Internal = 1,
    Usage = 2,
    Auth = 3,
    Partial = 4,
    Locked = 5,
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> Self {
        ExitCode::from(s as u8)
    }
}

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
pub async fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    match cli.command {
        Command::Sync(args) => sync(args).await,
        Command::Backfill(args) => backfill(args).await,
        Command::Schedule(args) => schedule(args).await,
        Command::Check(args) => check(args).await,
        Command::State(StateCommand::Show(args)) => state_show(args).await,
        Command::State(StateCommand::Reset(args)) => state_reset(args).await,
        Command::Demo(args) => demo(args).await,
        Command::Simulate(args) => simulate(args).await,
        Command::Schemas(args) => schemas(args),
        Command::Reports => list_reports(&mut std::io::stdout().lock()),
    }
}

/// `intercom-export reports`: one line per report, then its options.
fn list_reports(out: &mut impl Write) -> anyhow::Result<ExitStatus> {
    for report in ReportName::all() {
        let info = report.info();
        let default = if info.default_enabled {
            ""
        } else {
            " (only when named)"
        };
        writeln!(out, "{:<24} {}{default}", info.name, info.description)?;
        for o in info.options {
            let choices = if o.choices.is_empty() {
                "list".to_string()
            } else {
                format!("{} (default {})", o.choices.join("|"), o.default)
            };
            writeln!(
                out,
                "{:<24}   --option {}.{}={choices}: {}",
                "", info.name, o.key, o.doc
            )?;
        }
    }
    Ok(ExitStatus::Success)
}

/// One [`Settings`] per workspace to run (one without `[[workspace]]` blocks).
fn resolve(args: &SyncArgs) -> anyhow::Result<Vec<Settings>> {
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
async fn run_all(
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
        let result = run_locked(
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

async fn sync(args: SyncArgs) -> anyhow::Result<ExitStatus> {
    let all = resolve(&args)?;
    let shutdown = Shutdown::on_signals().context("installing signal handlers")?;
    run_all(&all, &args, "sync", shutdown, None).await
}

async fn backfill(args: BackfillArgs) -> anyhow::Result<ExitStatus> {
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

async fn schedule(args: ScheduleArgs) -> anyhow::Result<ExitStatus> {
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
fn random_upto(max: std::time::Duration) -> std::time::Duration {
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

async fn check(args: SyncArgs) -> anyhow::Result<ExitStatus> {
    let mut worst = ExitStatus::Success;
    for settings in resolve(&args)? {
        if !settings.workspace.is_empty() {
            println!("[[workspace]] {}:", settings.workspace);
        }
        worst = worst.max_severity(check_one(&settings).await?);
    }
    Ok(worst)
}

/// `check` for one workspace.
async fn check_one(settings: &Settings) -> anyhow::Result<ExitStatus> {
    let token = settings.token()?;
    let client = IntercomClient::new(settings.client_config(token))?;
    let mut out = std::io::stdout().lock();
    let me: serde_json::Value = client.get("me").await.map_err(Error::from)?;
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("?").to_string();
    writeln!(
        out,
        "token: valid ({} {} <{}>, id {})",
        s(&me["type"]),
        s(&me["name"]),
        s(&me["email"]),
        s(&me["id"])
    )?;
    writeln!(
        out,
        "workspace: {} (app id {}), region {}, time zone {}",
        s(&me["app"]["name"]),
        s(&me["app"]["id_code"]),
        s(&me["app"]["region"]),
        s(&me["app"]["timezone"])
    )?;
    writeln!(
        out,
        "api: {}, Intercom-Version {}",
        settings.base_url, settings.intercom_version
    )?;
    let mut status = ExitStatus::Success;
    for &report in &settings.reports {
        if let Some(needed) = report.min_version()
            && !report.offered_by(&settings.intercom_version)
        {
            writeln!(
                out,
                "{:<24} skipped: needs Intercom-Version {needed} or later (intercom_version is {}); \
                 sync skips it too",
                report.as_str(),
                settings.intercom_version
            )?;
            continue;
        }
        let probes = probes_for(report, settings)?;
        let mut failure = None;
        let mut labels = Vec::new();
        for (label, request) in probes {
            match result_of(&client, request).await {
                Ok(()) => labels.push(label),
                // The events probe asks for an unknown user on purpose: its
                // 404 shows the endpoint answers (a missing scope is a 403).
                Err(crate::http::HttpError::Status { status: 404, .. })
                    if label == EVENTS_PROBE =>
                {
                    labels.push(label)
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let verdict = match failure {
            None if labels.is_empty() => "not checked (no cheap probe for this report)".to_string(),
            None => format!("ok ({})", labels.join(", ")),
            // A collection that is not found cannot be read: wrong base URL
            // or region, or an endpoint this workspace or version lacks.
            Some(crate::http::HttpError::Status {
                status: 404,
                endpoint,
                ..
            }) => {
                status = status.max_severity(ExitStatus::Auth);
                format!(
                    "NOT READABLE: {endpoint} answered 404 (not found); check base_url/region \
                     and intercom_version, or leave the report out"
                )
            }
            Some(e @ crate::http::HttpError::Forbidden { .. }) => {
                status = ExitStatus::Auth;
                format!("FORBIDDEN: {e}")
            }
            Some(e) => {
                status = status.max_severity(if e.is_auth() {
                    ExitStatus::Auth
                } else {
                    ExitStatus::Internal
                });
                format!("ERROR: {e}")
            }
        };
        writeln!(out, "{:<24} {verdict}", report.as_str())?;
    }
    Ok(status)
}

/// The label of `check`'s second probe for `events`: a 404 there (unknown
/// user) is an answer, not a missing endpoint.
const EVENTS_PROBE: &str = "GET /events";

/// A cheap request for `check`: (label, path, search body or `None` for a GET).
type Probe = (String, (&'static str, Option<serde_json::Value>));

/// The small requests `check` sends for a report (none: not checked).
fn probes_for(report: ReportName, settings: &Settings) -> anyhow::Result<Vec<Probe>> {
    let mut probes: Vec<Probe> = probe_for(report, settings)?.into_iter().collect();
    if report == ReportName::Events {
        // The users come from the contact search; their events need the
        // events scope too. An unknown user answers 404 (readable), a
        // missing scope 403.
        probes.push((
            EVENTS_PROBE.into(),
            ("events?type=user&intercom_user_id=0&per_page=1", None),
        ));
    }
    Ok(probes)
}

/// The one small request that shows a report's main listing is readable.
fn probe_for(report: ReportName, settings: &Settings) -> anyhow::Result<Option<Probe>> {
    if let Some(requests) = crate::reports::snapshot_requests(report) {
        return Ok(requests
            .first()
            .map(|r| (format!("GET /{}", r.path), (r.path, None))));
    }
    // Reports that read lists, not searches: one small page of the list.
    let list: Option<(&'static str, Option<serde_json::Value>)> = match report {
        ReportName::Companies
        | ReportName::CompanyTags
        | ReportName::CompanySegments
        | ReportName::UsersByCompany => {
            Some(("companies/list?per_page=1", Some(serde_json::json!({}))))
        }
        ReportName::DeletedConversations => Some(("conversations/deleted?per_page=1", None)),
        _ => None,
    };
    if let Some((path, body)) = list {
        let method = if body.is_some() { "POST" } else { "GET" };
        return Ok(Some((format!("{method} /{path}"), (path, body))));
    }
    let options = settings
        .report_options
        .get(&report)
        .cloned()
        .unwrap_or_default();
    // Per-record reports find their records through a conversation or contact search.
    let spec = crate::reports::range_spec(report, &options)?.or_else(|| match report {
        ReportName::ConversationParts
        | ReportName::ConversationTags
        | ReportName::ConversationContacts => Some(crate::reports::conversations::search_spec(
            "all",
            "updated_at",
        )),
        ReportName::ContactTags
        | ReportName::ContactCompanies
        | ReportName::ContactSegments
        | ReportName::Events
        | ReportName::NotesByUser => Some(crate::reports::contacts::search_spec("user", None)),
        _ => None,
    });
    Ok(spec.map(|spec| {
        // An AND group's members go in flat (Intercom nests two levels at most).
        let mut filters: Vec<serde_json::Value> = match spec.filter {
            Some(serde_json::Value::Object(group)) if group["operator"] == "AND" => {
                match group.get("value") {
                    Some(serde_json::Value::Array(members)) => members.clone(),
                    _ => Vec::new(),
                }
            }
            other => other.into_iter().collect(),
        };
        filters.push(crate::api::query::leaf(
            "updated_at",
            ">",
            crate::state::unix_now(),
        ));
        let body = crate::api::query::search_body(crate::api::query::and(filters), 1, None, None);
        (format!("POST /{}", spec.path), (spec.path, Some(body)))
    }))
}

/// Send a probe; only whether it succeeded matters.
async fn result_of(
    client: &IntercomClient,
    (path, body): (&'static str, Option<serde_json::Value>),
) -> Result<(), crate::http::HttpError> {
    match body {
        Some(body) => client
            .post::<serde_json::Value>(path, &body)
            .await
            .map(|_| ()),
        None => client.get::<serde_json::Value>(path).await.map(|_| ()),
    }
}

/// The state path from --state or the config file.
fn state_path(config: Option<&Path>, state: Option<PathBuf>) -> anyhow::Result<StateLocation> {
    let file = FileConfig::load(config, std::env::vars())?;
    let text = state
        .or_else(|| file.state.map(PathBuf::from))
        .or(file.state_path)
        .unwrap_or_else(|| crate::config::defaults::STATE_PATH.into());
    Ok(StateLocation::parse(&text.to_string_lossy())?)
}

async fn state_show(args: StateArgs) -> anyhow::Result<ExitStatus> {
    let location = state_path(args.config.as_deref(), args.state)?;
    let path = location.path_for_messages();
    if let StateLocation::Sqlite(file) = &location
        && !file.exists()
    {
        return Err(Error::Config(format!(
            "no state file at {}; pass --state (or `state_path` in --config), or run `sync` first",
            path.display()
        ))
        .into());
    }
    // Reading needs no lock: SQLite and Postgres give a consistent snapshot.
    let state = StateStore::connect(&location).await?;
    let reports: crate::Result<Vec<_>> = async {
        let mut reports = Vec::new();
        for ws in state.workspaces().await? {
            reports.push((ws.clone(), state.scoped(&ws).report(10).await?));
        }
        if reports.is_empty() {
            reports.push((String::new(), state.report(10).await?));
        }
        Ok(reports)
    }
    .await;
    state.close().await;
    let reports = reports?;
    let mut out = std::io::stdout().lock();
    match reports.as_slice() {
        // One unnamed workspace: the layout of a state without workspaces.
        [(ws, report)] if ws.is_empty() => {
            if args.json {
                writeln!(out, "{}", serde_json::to_string_pretty(report)?)?;
            } else {
                write!(out, "state {}\n{report}", path.display())?;
            }
        }
        _ if args.json => {
            let map: serde_json::Map<String, serde_json::Value> = reports
                .iter()
                .map(|(ws, r)| Ok((ws.clone(), serde_json::to_value(r)?)))
                .collect::<serde_json::Result<_>>()?;
            let doc = serde_json::json!({ "workspaces": map });
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        }
        _ => {
            writeln!(out, "state {}", path.display())?;
            for (ws, report) in &reports {
                write!(out, "\n[[workspace]] {ws:?}:\n{report}")?;
            }
        }
    }
    Ok(ExitStatus::Success)
}

async fn state_reset(args: StateResetArgs) -> anyhow::Result<ExitStatus> {
    let location = state_path(args.config.as_deref(), args.state)?;
    let path = location.path_for_messages();
    let report = args
        .report
        .as_deref()
        .map(|r| r.parse::<ReportName>())
        .transpose()?;
    // Neither a sync nor a backfill may run meanwhile (SQLite; a shared
    // state has no such lock: stop the workers first).
    let _locks = match &location {
        StateLocation::Sqlite(file) => Some((
            StateLock::acquire(file, LockScope::Sync, "state reset")?,
            StateLock::acquire(file, LockScope::Backfill, "state reset")?,
        )),
        StateLocation::Postgres(_) => None,
    };
    let state = StateStore::connect(&location).await?;
    let removed: crate::Result<u64> = async {
        let workspaces = match &args.workspace {
            Some(ws) => vec![ws.clone()],
            None => state.workspaces().await?,
        };
        let mut removed = 0;
        for ws in workspaces {
            removed += state
                .scoped(&ws)
                .reset(report.map(ReportName::as_str))
                .await?;
        }
        Ok(removed)
    }
    .await;
    state.close().await;
    let removed = removed?;
    println!(
        "reset {}: {removed} cursor(s) removed; the next sync exports {} in full (files already written stay)",
        path.display(),
        report.map_or("every report".to_string(), |r| r.to_string())
    );
    Ok(ExitStatus::Success)
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

/// Take the lock, open state and output, build the client, run once.
async fn run_locked(
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
async fn sync_with(
    settings: &Settings,
    token: AccessToken,
    mode: &'static str,
) -> anyhow::Result<RunSummary> {
    run_locked(settings, token, mode, false, Shutdown::new(), None).await
}

fn status_of(summary: &RunSummary) -> ExitStatus {
    match summary.status {
        RunStatus::Succeeded => ExitStatus::Success,
        RunStatus::Partial | RunStatus::Failed => ExitStatus::Partial,
    }
}

/// The run summary as JSON, for orchestrators.
pub(crate) fn summary_json(summary: &RunSummary, status: ExitStatus) -> serde_json::Value {
    let reports: Vec<serde_json::Value> = summary
        .reports
        .iter()
        .map(|r| {
            let mut v = serde_json::json!({
                "report": r.report.as_str(),
                "status": if r.error.is_some() { "failed" } else { "succeeded" },
                "rows": r.rows,
                "files": r.files,
                "requests": r.http.requests,
                "rate_limited": r.http.rate_limited,
                "retries": r.http.retries,
                "failed_items": r.failed.iter().map(|f| serde_json::json!({"id": f.id, "error": f.error})).collect::<Vec<_>>(),
                "recovered_items": r.recovered,
                "seconds": r.seconds,
                "rate_limit_per_10s": r.http.rate_limit_per_10s,
                "allowed_calls_used": r.allowed_calls_used(),
                "error": r.error,
            });
            if let Some(map) = v.as_object_mut() {
                map.extend(r.anomalies.json_fields());
            }
            v
        })
        .collect();
    serde_json::json!({
        "run": summary.run_key,
        "mode": summary.mode,
        "status": summary.status.as_str(),
        "exit_code": status as u8,
        "stopped": summary.stopped,
        "requests": summary.http.requests,
        "rate_limited": summary.http.rate_limited,
        "retries": summary.http.retries,
        "seconds": summary.seconds,
        "rate_limit_per_10s": summary.http.rate_limit_per_10s,
        "allowed_calls_used": summary.allowed_calls_used(),
        "reports": reports,
    })
}

/// Write [`summary_json`] to `path` (tmp + rename), if asked to.
fn write_summary_json(
    path: Option<&Path>,
    summary: &RunSummary,
    status: ExitStatus,
) -> anyhow::Result<()> {
    let Some(path) = path else {
        return Ok(());
    };
    let text = serde_json::to_string_pretty(&summary_json(summary, status))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text + "\n")
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            Error::Config(format!(
                "cannot write --summary-json {}: {e}",
                path.display()
            ))
        })?;
    Ok(())
}

/// The JSON summary of one or several workspaces' runs: one workspace (the
/// usual case) writes [`summary_json`] as before; several write
/// `{"exit_code", "workspaces": [{"workspace": NAME, ...summary}]}`.
fn write_summaries_json(
    path: Option<&Path>,
    done: &[(String, RunSummary)],
    status: ExitStatus,
) -> anyhow::Result<()> {
    match done {
        [] => Ok(()),
        [(name, summary)] if name.is_empty() => write_summary_json(path, summary, status),
        _ => {
            let Some(path) = path else {
                return Ok(());
            };
            let workspaces: Vec<serde_json::Value> = done
                .iter()
                .map(|(name, summary)| {
                    let mut v = summary_json(summary, status_of(summary));
                    if let Some(map) = v.as_object_mut() {
                        map.insert("workspace".into(), name.clone().into());
                    }
                    v
                })
                .collect();
            let doc = serde_json::json!({
                "exit_code": status as i32,
                "workspaces": workspaces,
            });
            let tmp = path.with_extension("json.tmp");
            std::fs::write(&tmp, serde_json::to_string_pretty(&doc)? + "\n")
                .and_then(|()| std::fs::rename(&tmp, path))
                .map_err(|e| {
                    Error::Config(format!(
                        "cannot write --summary-json {}: {e}",
                        path.display()
                    ))
                })?;
            Ok(())
        }
    }
}

/// The end-of-run table.
pub(crate) fn print_summary(summary: &RunSummary, out: &mut impl Write) -> std::io::Result<()> {
    let status = summary.status.as_str();
    writeln!(out, "{} run {}: {status}", summary.mode, summary.run_key)?;
    if !summary.recovered.interrupted.is_empty() {
        writeln!(
            out,
            "recovered from interrupted run(s) {}: removed {} uncommitted file(s); their reports were exported again",
            summary.recovered.interrupted.join(", "),
            summary.recovered.removed.len()
        )?;
    }
    if let Some((job, complete)) = &summary.backfill {
        writeln!(
            out,
            "backfill #{} of [{}, {}): {}",
            job.id,
            crate::state::format_utc(job.since),
            crate::state::format_utc(job.until),
            if *complete {
                "complete"
            } else {
                "not complete: run the same command again to resume"
            }
        )?;
    }
    let backfill = summary.backfill.is_some();
    write!(
        out,
        "{:<24} {:>10} {:>6} {:>9} {:>6} {:>7} {:>6} {:>8}",
        "report", "rows", "files", "requests", "429s", "retries", "failed", "seconds"
    )?;
    if backfill {
        write!(out, " {:>8} {:>8}", "windows", "skipped")?;
    }
    writeln!(out)?;
    for r in &summary.reports {
        write!(
            out,
            "{:<24} {:>10} {:>6} {:>9} {:>6} {:>7} {:>6} {:>8.1}",
            r.report.as_str(),
            r.rows,
            r.files,
            r.http.requests,
            r.http.rate_limited,
            r.http.retries,
            r.failed.len(),
            r.seconds,
        )?;
        if backfill {
            write!(out, " {:>8} {:>8}", r.windows_done, r.windows_skipped)?;
        }
        if !r.failed.is_empty() {
            write!(out, "  {} item(s) failed", r.failed.len())?;
        }
        if r.recovered > 0 {
            write!(out, "  {} earlier failed item(s) recovered", r.recovered)?;
        }
        for (kind, detail, c) in r.anomalies.entries() {
            write!(
                out,
                "  {} {} ({detail})",
                c.count,
                kind.as_str().replace('_', " ")
            )?;
        }
        if let Some(e) = &r.error {
            write!(out, "  FAILED: {e}")?;
        }
        writeln!(out)?;
    }
    let failed: Vec<_> = summary.failed_items().collect();
    if !failed.is_empty() {
        writeln!(
            out,
            "failed items ({}, recorded; the next run retries them first{}):",
            failed.len(),
            if summary.skip_failed {
                "; skipped with --skip-failed"
            } else {
                "; pass --skip-failed to exit 0 anyway"
            }
        )?;
        for (report, item) in failed.iter().take(50) {
            writeln!(out, "  {report} {}: {}", item.id, item.error)?;
        }
        if failed.len() > 50 {
            writeln!(
                out,
                "  ... and {} more (see `state show`)",
                failed.len() - 50
            )?;
        }
    }
    if summary.stopped {
        writeln!(
            out,
            "stopped by a signal: finished reports are committed; the rest runs next time"
        )?;
    }
    writeln!(
        out,
        "requests: {}, retries: {}, rate-limited: {}",
        summary.http.requests, summary.http.retries, summary.http.rate_limited
    )?;
    writeln!(out, "{}", allowed_calls_line(summary))
}

/// "used N % of the allowed calls over T s (limit L per 10 s)", or the same
/// with "limit unknown" when no response stated `X-RateLimit-Limit`.
fn allowed_calls_line(summary: &RunSummary) -> String {
    match (
        summary.allowed_calls_used(),
        summary.http.rate_limit_per_10s,
    ) {
        (Some(share), Some(limit)) => format!(
            "used {:.0} % of the allowed calls over {:.1} s (limit {limit} per 10 s)",
            share * 100.0,
            summary.seconds
        ),
        _ => format!(
            "{} requests over {:.1} s (limit unknown: no response stated X-RateLimit-Limit)",
            summary.http.requests, summary.seconds
        ),
    }
}

/// Marker that a directory was made by `demo` and may be replaced by it.
const DEMO_STATE: &str = ".demo-state.db";

async fn demo(args: DemoArgs) -> anyhow::Result<ExitStatus> {
    prepare_demo_dir(&args.output)?;
    let mut sim = args.sim.clone();
    if args.realistic {
        sim.rate_limit.get_or_insert(REALISTIC_RATE_LIMIT);
        sim.latency
            .get_or_insert_with(simulator::LatencyModel::realistic);
    }
    let handle = simulator::spawn(sim.clone())
        .await
        .context("starting the simulator")?;
    let base_url = handle.base_url();
    println!(
        "simulator on {base_url}: {} contacts, {} conversations (seed {}; latency {}, rate limit {})",
        sim.contacts,
        sim.conversations,
        sim.seed,
        sim.latency.unwrap_or_default(),
        sim.rate_limit
            .map_or_else(|| "none".to_string(), |n| format!("{n} per 10 s")),
    );
    let settings = Settings::resolve(
        FileConfig::default(),
        Overrides {
            base_url: Some(base_url),
            output_dir: Some(args.output.clone()),
            state_path: Some(args.output.join(DEMO_STATE)),
            formats: vec![Format::Parquet, Format::Csv],
            reports: Vec::new(),
            options: Vec::new(),
        },
    )?;
    let token = AccessToken::new("demo-token").context("demo token")?;
    println!("\nfirst sync (everything):");
    let first = sync_with(&settings, token.clone(), "demo").await?;
    print_summary(&first, &mut std::io::stdout().lock())?;

    let advanced = handle.sim.advance(86_400);
    println!("\nsimulator clock moved one day: {advanced}");
    println!("\nsecond sync (only what changed):");
    let second = sync_with(&settings, token, "demo").await?;
    print_summary(&second, &mut std::io::stdout().lock())?;
    handle.shutdown().await;

    println!(
        "\nfiles are under {dir}/<report>/<run>/; for example, with DuckDB:\n  duckdb -c \"SELECT role, count(*) FROM '{dir}/users/*/*.parquet' GROUP BY role\"",
        dir = args.output.display()
    );
    Ok(status_of(&first).max_severity(status_of(&second)))
}

impl ExitStatus {
    fn max_severity(self, other: ExitStatus) -> ExitStatus {
        if self == ExitStatus::Success {
            other
        } else {
            self
        }
    }
}

/// Empty the demo directory if an earlier demo made it; refuse anything else.
fn prepare_demo_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.join(DEMO_STATE).exists() {
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("removing the previous demo output {}", dir.display()))?;
    } else if dir
        .read_dir()
        .map(|mut d| d.next().is_some())
        .unwrap_or(false)
    {
        return Err(Error::Config(format!(
            "{} exists and was not made by `demo`; choose another directory with --output",
            dir.display()
        ))
        .into());
    }
    Ok(())
}

async fn simulate(args: SimulateArgs) -> anyhow::Result<ExitStatus> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .map_err(|e| Error::Config(format!("cannot listen on 127.0.0.1:{}: {e}", args.port)))?;
    let addr = listener.local_addr()?;
    args.sim.check().map_err(Error::Config)?;
    let sim = std::sync::Arc::new(simulator::Simulator::new(args.sim));
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{addr}")?;
        out.flush()?;
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    simulator::serve(listener, sim, shutdown).await?;
    Ok(ExitStatus::Success)
}

fn schemas(args: SchemasArgs) -> anyhow::Result<ExitStatus> {
    for report in ReportName::all() {
        let doc = crate::reports::keys::schema_document(report);
        let text = format!("{}\n", serde_json::to_string_pretty(&doc)?);
        if args.write {
            std::fs::create_dir_all(&args.dir)?;
            let path = args.dir.join(format!("{report}.json"));
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        } else {
            print!("{text}");
        }
    }
    Ok(ExitStatus::Success)
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
        let j = random_upto(std::time::Duration::from_secs(2));
        assert!(j <= std::time::Duration::from_secs(2));
    }

    #[test]
    fn summary_names_failed_items_and_the_way_out() {
        use crate::pipeline::ReportOutcome;
        use crate::reports::FailedItem;
        let mut parts = ReportOutcome {
            report: ReportName::Conversations,
            rows: 10,
            files: 1,
            seconds: 0.5,
            error: None,
            failed: vec![FailedItem {
                id: "215469".into(),
                error: "GET /conversations/{id} failed with HTTP 500".into(),
            }],
            recovered: 2,
            windows_done: 0,
            windows_skipped: 0,
            http: crate::http::StatsSnapshot::default(),
            anomalies: Default::default(),
        };
        parts.anomalies.record(
            crate::anomalies::AnomalyKind::SkippedChild,
            "GET /conversations/{id}",
            Some("215470"),
        );
        let summary = |skip_failed, parts: ReportOutcome| RunSummary {
            run_key: "20260101T000000Z-000003".into(),
            mode: "sync",
            status: if skip_failed {
                RunStatus::Succeeded
            } else {
                RunStatus::Partial
            },
            reports: vec![parts],
            http: Default::default(),
            seconds: 2.0,
            recovered: Default::default(),
            stopped: false,
            skip_failed,
            backfill: None,
        };
        let mut out = Vec::new();
        print_summary(&summary(false, parts.clone()), &mut out).expect("print");
        let text = String::from_utf8(out).expect("utf8");
        assert!(
            text.contains("run 20260101T000000Z-000003: partial"),
            "{text}"
        );
        assert!(text.contains("1 item(s) failed"), "{text}");
        assert!(
            text.contains("2 earlier failed item(s) recovered"),
            "{text}"
        );
        assert!(text.contains("conversations 215469: GET"), "{text}");
        assert!(
            text.contains("1 skipped children (GET /conversations/{id})"),
            "{text}"
        );
        let json = summary_json(&summary(false, parts.clone()), ExitStatus::Partial);
        assert_eq!(json["reports"][0]["skipped_children"], 1, "{json}");
        assert_eq!(json["reports"][0]["anomalies"][0]["samples"][0], "215470");
        // No stated limit: the share is unknown, said so, null in JSON.
        assert!(json["allowed_calls_used"].is_null(), "{json}");
        assert!(json["rate_limit_per_10s"].is_null(), "{json}");
        assert!(text.contains("limit unknown"), "{text}");
        // 5 requests in 2 s under 100 per 10 s: 5 of the 20 allowed.
        let mut limited = summary(false, parts.clone());
        limited.http.requests = 5;
        limited.http.rate_limit_per_10s = Some(100);
        let json = summary_json(&limited, ExitStatus::Partial);
        assert_eq!(json["rate_limit_per_10s"], 100, "{json}");
        assert_eq!(json["allowed_calls_used"], 0.25, "{json}");
        let mut out = Vec::new();
        print_summary(&limited, &mut out).expect("print");
        let text = String::from_utf8(out).expect("utf8");
        assert!(
            text.contains("used 25 % of the allowed calls over 2.0 s (limit 100 per 10 s)"),
            "{text}"
        );
        assert!(text.contains("--skip-failed"), "{text}");
        assert_eq!(
            status_of(&summary(false, parts.clone())),
            ExitStatus::Partial
        );
        parts.recovered = 0;
        assert_eq!(status_of(&summary(true, parts)), ExitStatus::Success);
    }
}
