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
    // writeln!, not println!: a closed stdout is an error to return, not a panic.
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{}", banner(&sim, &base_url))?;
    let settings = Settings::resolve(
        FileConfig::default(),
        Overrides {
            base_url: Some(base_url),
            output_dir: Some(args.output.clone()),
            state_path: Some(args.output.join(DEMO_STATE)),
            formats: vec![Format::Parquet, Format::Csv],
            reports: Vec::new(),
            exclude_reports: Vec::new(),
            options: Vec::new(),
        },
    )?;
    let token = AccessToken::new("demo-token").context("demo token")?;
    writeln!(stdout, "\nfirst sync (everything):")?;
    let first = sync_with(&settings, token.clone(), "demo").await?;
    print_summary(&first, &mut std::io::stdout().lock())?;

    let advanced = handle.sim.advance(86_400);
    writeln!(stdout, "\nsimulator clock moved one day: {advanced}")?;
    writeln!(stdout, "\nsecond sync (only what changed):")?;
    let second = sync_with(&settings, token, "demo").await?;
    print_summary(&second, &mut std::io::stdout().lock())?;
    handle.shutdown().await;

    writeln!(
        stdout,
        "\nfiles are under {dir}/<report>/<run>/; for example, with DuckDB:\n  duckdb -c \"SELECT role, count(*) FROM '{dir}/users/*/*.parquet' GROUP BY role\"",
        dir = args.output.display()
    )?;
    Ok(status_of(&first).max_severity(status_of(&second)))
}

/// The demo's first line: where the simulator listens, its world, and the
/// rate limit the runs are held to. Every simulator response states
/// `X-RateLimit-Limit` (`--rate-limit N`, else the simulator's
/// [`simulator::DEFAULT_LIMIT`], a private app's 1,666 per 10 s) and the
/// exporter paces to the stated limit whether or not the simulator refuses
/// calls beyond it (only `--rate-limit` / `--realistic` make it answer 429).
fn banner(sim: &simulator::SimConfig, base_url: &str) -> String {
    let limit = match sim.rate_limit {
        Some(n) => format!("{n} per 10 s, enforced with 429s"),
        None => format!(
            "{} per 10 s, stated by the simulator and kept by the exporter's pacer; \
             not enforced",
            simulator::DEFAULT_LIMIT
        ),
    };
    format!(
        "simulator on {base_url}: {} contacts, {} conversations (seed {}; latency {}, rate limit {limit})",
        sim.contacts,
        sim.conversations,
        sim.seed,
        sim.latency.unwrap_or_default(),
    )
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
            std::io::stdout().lock().write_all(text.as_bytes())?;
        }
    }
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_banner_names_the_rate_limit_the_run_is_held_to() {
        // The trial: no --rate-limit said "rate limit none" while every
        // response stated 1,666 per 10 s and the client paced to it.
        let plain = banner(&simulator::SimConfig::default(), "http://127.0.0.1:1");
        assert!(!plain.contains("rate limit none"), "{plain}");
        assert!(
            plain.contains("rate limit 1666 per 10 s, stated by the simulator"),
            "{plain}"
        );
        assert!(plain.contains("not enforced"), "{plain}");
        let enforced = banner(
            &simulator::SimConfig {
                rate_limit: Some(50),
                ..Default::default()
            },
            "http://127.0.0.1:1",
        );
        assert!(
            enforced.contains("rate limit 50 per 10 s, enforced with 429s"),
            "{enforced}"
        );
    }
}
