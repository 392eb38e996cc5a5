//! Rate limit at latency (issue #15): how much of Intercom's rate limit a
//! first sync uses when every answer takes time (prints figures; not a test).
//!
//! Starts the simulator in-process with a latency model and a rate limit,
//! then runs the compiled `intercom-export sync` (every default report,
//! Parquet, first full run) as a child process. Prints the exporter's
//! summary table, then: wall seconds, requests (the simulator's count),
//! 429s, the floor (requests ÷ the allowed rate: the least time those
//! requests can take), wall ÷ floor, and the share of the allowed calls
//! the run used (floor ÷ wall). Then the exporter's own figures: its CPU
//! seconds and peak RSS (`wait4` on the child, so never the simulator's),
//! the share of allowed calls its `--summary-json` states
//! (`allowed_calls_used`, over its own run time), and one line per report
//! from that file: requests, seconds, requests per second.
//!
//! `cargo bench --bench latency`. Environment:
//! - `LATENCY`: the simulator's `--latency` SPEC (default `default=150ms`);
//! - `RATE_LIMIT`: calls per 10 s (default 1666, Intercom's default of
//!   10,000 a minute);
//! - `CONTACTS` (5000), `CONVERSATIONS` (1000), `PARTS` (10), `COMPANIES`
//!   (500);
//! - `REPORTS`: a comma list for `--reports` (default: every default report).
//!
//! Figures: `BENCHMARKS.md`, "Rate limit at latency".

mod common;

use intercom_export::simulator::{self, LatencyModel, SimConfig, WINDOW_SECS};

use common::{env_usize, run_sync};

/// Prints the exporter's `--summary-json` (`path`): its own share of the
/// allowed calls (`allowed_calls_used`, requests over the calls its stated
/// `X-RateLimit-Limit` allowed in its run time), then per report its
/// `requests`, `seconds` and requests per second, most requests first.
fn print_reports(path: &std::path::Path) {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("--summary-json {}: {e}", path.display()));
    let json: serde_json::Value = serde_json::from_str(&text).expect("summary JSON");
    if let Some(used) = json["allowed_calls_used"].as_f64() {
        println!("exporter's allowed_calls_used {:>7.1} %", 100.0 * used);
    }
    let mut reports: Vec<(String, u64, f64)> = json["reports"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    (
                        r["report"].as_str().unwrap_or("?").to_string(),
                        r["requests"].as_u64().unwrap_or(0),
                        r["seconds"].as_f64().unwrap_or(0.0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    reports.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    println!();
    println!(
        "{:<26} {:>9} {:>9} {:>10}",
        "report", "requests", "seconds", "requests/s"
    );
    for (name, requests, secs) in reports {
        let rate = if secs > 0.0 {
            requests as f64 / secs
        } else {
            0.0
        };
        println!("{name:<26} {requests:>9} {secs:>9.1} {rate:>10.1}");
    }
}

fn main() {
    let spec = std::env::var("LATENCY").unwrap_or_else(|_| "default=150ms".into());
    let latency = LatencyModel::parse(&spec).unwrap_or_else(|e| panic!("LATENCY: {e}"));
    let rate_limit = env_usize("RATE_LIMIT", 1666);
    let config = SimConfig {
        contacts: env_usize("CONTACTS", 5_000),
        conversations: env_usize("CONVERSATIONS", 1_000),
        parts: env_usize("PARTS", 10),
        companies: env_usize("COMPANIES", 500),
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
        "world: {} contacts, {} conversations x ~{} parts, {} companies; latency {latency}; \
         rate limit {rate_limit} per {WINDOW_SECS} s",
        config.contacts, config.conversations, config.parts, config.companies
    );
    let summary_path = dir.path().join("summary.json");
    let summary_arg = summary_path.display().to_string();
    let mut args = vec![
        "--format",
        "parquet",
        "--summary-json",
        summary_arg.as_str(),
    ];
    if let Some(r) = &reports {
        args.extend(["--reports", r.as_str()]);
    }
    let run = run_sync(&sim.base_url(), dir.path(), &args);
    print!("{}", run.summary);
    assert_eq!(run.usage.status, 0, "the exporter failed");

    let stats = sim.sim.stats();
    let requests = stats["total"].as_u64().unwrap_or(0);
    let rate_limited = stats["by_status"]["429"].as_u64().unwrap_or(0);
    let per_sec = rate_limit as f64 / WINDOW_SECS as f64;
    let floor = requests as f64 / per_sec;
    println!();
    println!("wall s                      {:>10.1}", run.wall_secs);
    println!("requests                    {requests:>10}");
    println!("429s                        {rate_limited:>10}");
    println!("floor s (requests / {per_sec:.1}/s) {floor:>7.1}");
    println!(
        "wall / floor                {:>10.2}",
        run.wall_secs / floor
    );
    println!(
        "share of allowed calls used {:>9.1} %",
        100.0 * floor / run.wall_secs
    );
    println!("exporter CPU s              {:>10.1}", run.usage.cpu_secs);
    println!(
        "exporter peak RSS MiB       {:>10.0}",
        run.usage.max_rss_mib
    );
    print_reports(&summary_path);
    rt.block_on(sim.shutdown());
}
