//! A fleet of workspaces (issue #15): `WORKSPACES` `[[workspace]]` blocks,
//! each with its own token, against one simulator that keeps a rate-limit
//! window and a company scroll per token, with latency. Prints figures; not
//! a test.
//!
//! Two syncs of the whole fleet by the compiled `intercom-export` (a child
//! process, so CPU and peak RSS are the exporter's): a first sync of a tiny
//! world, then a second one with nothing changed (the hourly case). For
//! each: wall seconds, requests (the simulator's count), requests and
//! seconds per workspace, the most workspaces the simulator served at once
//! (`peak_tokens_in_flight`), 429s, exporter CPU and peak RSS.
//!
//! `cargo bench --bench fleet`. Environment:
//! - `WORKSPACES` (200);
//! - `MAX_PARALLEL`: `max_parallel_workspaces` of both syncs (unset: the
//!   default); `1` is the old one-after-another behaviour;
//! - `FIRST_MAX_PARALLEL`: only for the first sync (default `MAX_PARALLEL`),
//!   to set a fleet up quickly before timing a one-at-a-time second sync;
//! - `LATENCY` (`default=150ms`), `RATE_LIMIT` per 10 s per token (1666);
//! - `CONTACTS` (20), `CONVERSATIONS` (5), `PARTS` (2), `COMPANIES` (5),
//!   `TICKETS` (5): the one world every token sees;
//! - `REPORTS`: a comma list for `--reports` (default: every default report);
//! - `BENCH_EXE`: another build of the exporter (see `common`).
//!
//! Figures: `BENCHMARKS.md`, "A fleet of workspaces".

mod common;

use std::path::Path;

use intercom_export::simulator::{self, LatencyModel, SimConfig, SimHandle, WINDOW_SECS};
use serde_json::Value;

use common::{env_usize, run_sync};

/// One fleet sync's figures.
fn measure(
    rt: &tokio::runtime::Runtime,
    sim: &SimHandle,
    dir: &Path,
    label: &str,
    parallel: Option<usize>,
    reports: Option<&str>,
    workspaces: usize,
) {
    let config = dir.join(format!("fleet-{label}.toml"));
    std::fs::write(&config, fleet_config(dir, parallel, workspaces)).expect("config");
    let summary_path = dir.join(format!("summary-{label}.json"));
    let config_arg = config.display().to_string();
    let summary_arg = summary_path.display().to_string();
    let mut args = vec![
        "--config",
        config_arg.as_str(),
        "--format",
        "parquet",
        "--summary-json",
        summary_arg.as_str(),
    ];
    if let Some(r) = reports {
        args.extend(["--reports", r]);
    }
    rt.block_on(async { sim.sim.reset_stats() });
    let run = run_sync(&sim.base_url(), dir, &args);
    let stats = sim.sim.stats();
    if run.usage.status != 0 {
        print!("{}", run.summary);
        panic!("{label}: the exporter exited {}", run.usage.status);
    }
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(&summary_path).expect("summary json"))
            .expect("json");
    let done = summary["workspaces"].as_array().expect("workspaces");
    assert_eq!(done.len(), workspaces, "{label}: every workspace ran");
    let per_ws_secs: Vec<f64> = done
        .iter()
        .map(|w| {
            w["finished_at"].as_f64().expect("finished_at")
                - w["started_at"].as_f64().expect("started_at")
        })
        .collect();
    let mean_ws_secs = per_ws_secs.iter().sum::<f64>() / per_ws_secs.len().max(1) as f64;
    let rows: u64 = done
        .iter()
        .flat_map(|w| w["reports"].as_array().cloned().unwrap_or_default())
        .map(|r| r["rows"].as_u64().unwrap_or(0))
        .sum();
    let requests = stats["total"].as_u64().unwrap_or(0);
    let rate_limited = stats["by_status"]["429"].as_u64().unwrap_or(0);
    println!(
        "{label} (max_parallel_workspaces {}):",
        summary["max_parallel_workspaces"]
    );
    println!("  wall s                        {:>10.1}", run.wall_secs);
    println!("  requests                      {requests:>10}");
    println!(
        "  requests per workspace        {:>10.1}",
        requests as f64 / workspaces as f64
    );
    println!("  rows written                  {rows:>10}");
    println!("  workspace s (mean)            {mean_ws_secs:>10.2}");
    println!(
        "  wall per workspace s          {:>10.3}",
        run.wall_secs / workspaces as f64
    );
    println!(
        "  most workspaces at once       {:>10}",
        stats["peak_tokens_in_flight"]
    );
    println!("  429s                          {rate_limited:>10}");
    println!(
        "  exporter CPU s                {:>10.1}",
        run.usage.cpu_secs
    );
    println!(
        "  exporter peak RSS MiB         {:>10.1}",
        run.usage.max_rss_mib
    );
}

/// `WORKSPACES` blocks, each with its own token file; the base URL, output
/// and state come from `run_sync`'s flags (one state file for all).
fn fleet_config(dir: &Path, parallel: Option<usize>, workspaces: usize) -> String {
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).expect("token dir");
    let mut text = String::new();
    if let Some(n) = parallel {
        text.push_str(&format!("max_parallel_workspaces = {n}\n"));
    }
    for i in 0..workspaces {
        let token = tokens.join(format!("ws-{i:03}"));
        std::fs::write(&token, format!("bench-token-{i:03}\n")).expect("token file");
        text.push_str(&format!(
            "\n[[workspace]]\nname = \"ws-{i:03}\"\ntoken_file = {:?}\n",
            token.display().to_string()
        ));
    }
    text
}

fn main() {
    let workspaces = env_usize("WORKSPACES", 200);
    let parallel = std::env::var("MAX_PARALLEL")
        .ok()
        .and_then(|s| s.parse::<usize>().ok());
    let first_parallel = std::env::var("FIRST_MAX_PARALLEL")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .or(parallel);
    let spec = std::env::var("LATENCY").unwrap_or_else(|_| "default=150ms".into());
    let latency = LatencyModel::parse(&spec).unwrap_or_else(|e| panic!("LATENCY: {e}"));
    let rate_limit = env_usize("RATE_LIMIT", 1666);
    let config = SimConfig {
        contacts: env_usize("CONTACTS", 20),
        conversations: env_usize("CONVERSATIONS", 5),
        parts: env_usize("PARTS", 2),
        companies: env_usize("COMPANIES", 5),
        tickets: env_usize("TICKETS", 5),
        rate_limit: Some(u32::try_from(rate_limit).expect("RATE_LIMIT fits in u32")),
        latency: Some(latency),
        ..SimConfig::default()
    };
    let reports = std::env::var("REPORTS").ok();
    let dir = tempfile::tempdir().expect("temp dir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let sim = rt
        .block_on(simulator::spawn(config.clone()))
        .expect("simulator starts");
    println!(
        "fleet: {workspaces} workspaces (one token each) against one simulator; world per \
         workspace: {} contacts, {} conversations x ~{} parts, {} companies, {} tickets; \
         latency {latency}; rate limit {rate_limit} per {WINDOW_SECS} s per token; reports: {}",
        config.contacts,
        config.conversations,
        config.parts,
        config.companies,
        config.tickets,
        reports.as_deref().unwrap_or("every default report"),
    );
    measure(
        &rt,
        &sim,
        dir.path(),
        "first sync",
        first_parallel,
        reports.as_deref(),
        workspaces,
    );
    measure(
        &rt,
        &sim,
        dir.path(),
        "second sync, nothing changed",
        parallel,
        reports.as_deref(),
        workspaces,
    );
    rt.block_on(sim.shutdown());
}
