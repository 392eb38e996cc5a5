//! The command line: `sync`, `demo`, `simulate`, `schemas`.
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
use crate::output::{self, Format};
use crate::pipeline::{self, RunSummary, SyncPlan};
use crate::reports::{ExtractOptions, ReportName};
use crate::secret::AccessToken;
use crate::simulator::{self, SimConfig};
use crate::state::{RunStatus, StateStore};
use crate::telemetry::LogFormat;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  internal error, or Intercom/network failure after all retries
  2  usage or configuration error (the message says what to fix)
  3  authentication or permission error (token rejected)
  4  partial: some reports failed; the others were exported and committed";

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
    /// Start the built-in simulator, sync every report from it into
    /// ./demo-output, move its clock a day, and sync again. No token needed.
    Demo(DemoArgs),
    /// Run the Intercom simulator on 127.0.0.1 until interrupted.
    Simulate(SimulateArgs),
    /// Print the output schema of every report, or write them to a directory.
    Schemas(SchemasArgs),
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
    /// State file (SQLite).
    #[arg(long, value_name = "PATH")]
    pub state: Option<PathBuf>,
    /// Output format(s): parquet, csv, or both (`--format parquet,csv`).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub format: Vec<Format>,
    /// Reports to export, comma-separated (default: all).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub reports: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the demo writes its files and state (replaced on each demo run).
    #[arg(long, default_value = "demo-output", value_name = "DIR")]
    pub output: PathBuf,
    #[command(flatten)]
    pub sim: SimConfig,
}

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
        Some(ErrorKind::External | ErrorKind::Internal) | None => ExitStatus::Internal,
    }
}

/// Run a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    match cli.command {
        Command::Sync(args) => sync(args).await,
        Command::Demo(args) => demo(args).await,
        Command::Simulate(args) => simulate(args).await,
        Command::Schemas(args) => schemas(args),
    }
}

async fn sync(args: SyncArgs) -> anyhow::Result<ExitStatus> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let settings = Settings::resolve(
        file,
        Overrides {
            base_url: args.base_url,
            output_dir: args.output,
            state_path: args.state,
            formats: args.format,
            reports: args.reports,
        },
    )?;
    let token = settings.token()?;
    let summary = sync_with(&settings, token, "sync").await?;
    print_summary(&summary, &mut std::io::stdout().lock())?;
    Ok(status_of(&summary))
}

/// Open state and output, build the client, and run one sync.
async fn sync_with(
    settings: &Settings,
    token: AccessToken,
    mode: &'static str,
) -> anyhow::Result<RunSummary> {
    output::ensure_writable(&settings.output_dir)?;
    let state = StateStore::open(&settings.state_path).await?;
    let client = IntercomClient::new(settings.client_config(token))?;
    let plan = SyncPlan {
        mode,
        reports: settings.reports.clone(),
        output_dir: settings.output_dir.clone(),
        formats: settings.formats.clone(),
        rows_per_file: settings.rows_per_file,
        extract: ExtractOptions {
            per_page: settings.page_size,
            concurrency: settings.concurrency,
            lookback_secs: settings.lookback_secs,
        },
    };
    let result = pipeline::sync(&client, &state, &plan).await;
    state.close().await;
    Ok(result?)
}

fn status_of(summary: &RunSummary) -> ExitStatus {
    match summary.status {
        RunStatus::Succeeded => ExitStatus::Success,
        RunStatus::Partial | RunStatus::Failed => ExitStatus::Partial,
    }
}

/// The end-of-run table.
pub fn print_summary(summary: &RunSummary, out: &mut impl Write) -> std::io::Result<()> {
    let status = match summary.status {
        RunStatus::Succeeded => "succeeded",
        RunStatus::Partial => "partial",
        RunStatus::Failed => "failed",
    };
    writeln!(out, "run {}: {status}", summary.run_key)?;
    writeln!(
        out,
        "{:<24} {:>10} {:>6} {:>8}",
        "report", "rows", "files", "seconds"
    )?;
    for r in &summary.reports {
        writeln!(
            out,
            "{:<24} {:>10} {:>6} {:>8.1}{}",
            r.report.as_str(),
            r.rows,
            r.files,
            r.seconds,
            r.error
                .as_ref()
                .map(|e| format!("  FAILED: {e}"))
                .unwrap_or_default()
        )?;
    }
    writeln!(
        out,
        "requests: {}, retries: {}, rate-limited: {}",
        summary.http.requests, summary.http.retries, summary.http.rate_limited
    )
}

/// Marker that a directory was made by `demo` and may be replaced by it.
const DEMO_STATE: &str = ".demo-state.db";

async fn demo(args: DemoArgs) -> anyhow::Result<ExitStatus> {
    prepare_demo_dir(&args.output)?;
    let handle = simulator::spawn(args.sim.clone())
        .await
        .context("starting the simulator")?;
    let base_url = handle.base_url();
    println!(
        "simulator on {base_url}: {} contacts, {} conversations (seed {})",
        args.sim.contacts, args.sim.conversations, args.sim.seed
    );
    let settings = Settings::resolve(
        FileConfig::default(),
        Overrides {
            base_url: Some(base_url),
            output_dir: Some(args.output.clone()),
            state_path: Some(args.output.join(DEMO_STATE)),
            formats: vec![Format::Parquet, Format::Csv],
            reports: Vec::new(),
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
    for &report in ReportName::ALL {
        let doc = crate::output::schema::schema_document(report.as_str(), report.columns());
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
