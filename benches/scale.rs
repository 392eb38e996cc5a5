//! Scale run of the exporter (not a test: it prints figures; minutes long).
//!
//! For each workspace size, starts the simulator in-process, then exports
//! each report with the release `intercom-export` binary as a child process
//! (`sync --reports R --format parquet`, a first full run), so peak RSS and
//! CPU come from `wait4` on the exporter alone. Two or more sizes show
//! whether the exporter's memory stays flat as the workspace grows.
//!
//! `cargo bench --bench scale`. Environment:
//! - `SCALE_SIZES`: `CONTACTS:CONVERSATIONS` pairs, comma-separated
//!   (default `100000:10000,1000000:100000`);
//! - `SCALE_PARTS`: average parts per conversation (default 20);
//! - `SCALE_REPORTS`: comma list (default `users,leads,conversations,conversation_parts`).
//!
//! Prints per report: rows, wall s, CPU s, CPU µs per record, requests per
//! record and peak RSS (MiB). Figures: `BENCHMARKS.md`.

mod common;

use intercom_export::simulator::{self, SimConfig};

use common::{env_usize, run_export};

fn main() {
    let sizes =
        std::env::var("SCALE_SIZES").unwrap_or_else(|_| "100000:10000,1000000:100000".into());
    let reports = std::env::var("SCALE_REPORTS")
        .unwrap_or_else(|_| "users,leads,conversations,conversation_parts".into());
    let parts = env_usize("SCALE_PARTS", 20);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!(
        "{:>9} {:>8} {:<20} {:>9} {:>8} {:>8} {:>10} {:>9} {:>9}",
        "contacts",
        "convs",
        "report",
        "rows",
        "wall s",
        "CPU s",
        "CPU µs/rec",
        "req/rec",
        "peak MiB"
    );
    for size in sizes.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (contacts, conversations) = size
            .split_once(':')
            .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
            .expect("SCALE_SIZES holds CONTACTS:CONVERSATIONS pairs");
        let config = SimConfig {
            contacts,
            conversations,
            parts,
            companies: 2_000,
            tickets: 2_000,
            ..SimConfig::default()
        };
        let sim = rt
            .block_on(simulator::spawn(config))
            .expect("simulator starts");
        let base_url = sim.base_url();
        let dir = tempfile::tempdir().expect("temp dir");
        for report in reports.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            sim.sim.reset_stats();
            let m = run_export(&base_url, dir.path(), report, "parquet");
            let requests = sim.sim.stats()["total"].as_u64().unwrap_or(0);
            let per = |x: f64| x / m.rows.max(1) as f64;
            println!(
                "{:>9} {:>8} {:<20} {:>9} {:>8.1} {:>8.1} {:>10.1} {:>9.4} {:>9.0}",
                contacts,
                conversations,
                report,
                m.rows,
                m.wall_secs,
                m.usage.cpu_secs,
                per(m.usage.cpu_secs) * 1e6,
                per(requests as f64),
                m.usage.max_rss_mib
            );
            // Keep the disk use of a 1M run down: this report's files are done with.
            let _ = std::fs::remove_dir_all(dir.path().join("out").join(report));
        }
        rt.block_on(sim.shutdown());
    }
}
