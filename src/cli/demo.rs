//! The commands that need no Intercom workspace: `demo` (two syncs against
//! the built-in simulator), `simulate` (serve the simulator), `schemas`
//! (write or check `schemas/`) and `reports` (list the reports).

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::config::{FileConfig, Overrides, Settings};
use crate::error::Error;
use crate::output::Format;
use crate::reports::ReportName;
use crate::secret::AccessToken;
use crate::simulator::{self};

use super::run::sync_with;
use super::summary::{print_summary, status_of};
use super::{DemoArgs, ExitStatus, REALISTIC_RATE_LIMIT, SchemasArgs, SimulateArgs};

/// `intercom-export reports`: one line per report, then its options.
pub(super) fn list_reports(out: &mut impl Write) -> anyhow::Result<ExitStatus> {
    for report in ReportName::all() {
        let info = report.info();
        let default = if info.default_enabled {
            ""
        } else {
            " (only when named)"
        };
        writeln!(out, "{:<24} {}{default}", info.name, info.description)?;
        for o in info.options {
            let choices = if o.choices.is_empty() && o.default.is_empty() {
                "list".to_string()
            } else if o.choices.is_empty() {
                // A free-form value (seconds, a date): its doc says the form.
                format!("VALUE (default {})", o.default)
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

/// Marker that a directory was made by `demo` and may be replaced by it.
pub(super) const DEMO_STATE: &str = ".demo-state.db";

pub(super) async fn demo(args: DemoArgs) -> anyhow::Result<ExitStatus> {
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

/// Empty the demo directory if an earlier demo made it; refuse anything else.
pub(super) fn prepare_demo_dir(dir: &Path) -> anyhow::Result<()> {
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

pub(super) async fn simulate(args: SimulateArgs) -> anyhow::Result<ExitStatus> {
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

pub(super) fn schemas(args: SchemasArgs) -> anyhow::Result<ExitStatus> {
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
