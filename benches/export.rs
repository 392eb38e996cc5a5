//! Throughput benchmark of the exporter (not a test: it prints figures).
//!
//! Starts the simulator in-process on a sizeable world, then runs the
//! compiled `intercom-export` binary as a child process once per report
//! (`sync --reports R`, Parquet), so the child's resource usage (read with
//! `wait4`) is the exporter's alone, without the simulator's. Prints per
//! report: rows, wall seconds, records per second, CPU seconds (user+sys) per
//! 100,000 records, requests per record and the child's peak RSS.
//!
//! Run with `cargo bench --bench export`. Environment:
//! `EXPORT_BENCH_CONTACTS` (default 100000), `EXPORT_BENCH_CONVERSATIONS`
//! (20000), `EXPORT_BENCH_PARTS` (10), `EXPORT_BENCH_REPORTS` (comma list).
//! The last line is the target figure: CPU µs per exported record over all
//! reports together. Figures and their explanation: `BENCHMARKS.md`.

mod common;

use intercom_export::simulator::{self, SimConfig};

use common::{env_usize, run_export};

const DEFAULT_REPORTS: &str = "users,leads,conversations,conversation_parts,companies,tickets,\
                               conversation_tags,conversation_contacts";

fn main() {
    let config = SimConfig {
        contacts: env_usize("EXPORT_BENCH_CONTACTS", 100_000),
        conversations: env_usize("EXPORT_BENCH_CONVERSATIONS", 20_000),
        parts: env_usize("EXPORT_BENCH_PARTS", 10),
        companies: 2_000,
        tickets: 2_000,
        ..SimConfig::default()
    };
    let reports = std::env::var("EXPORT_BENCH_REPORTS").unwrap_or_else(|_| DEFAULT_REPORTS.into());
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
        "world: {} contacts, {} conversations x ~{} parts, {} companies, {} tickets",
        config.contacts, config.conversations, config.parts, config.companies, config.tickets
    );
    println!(
        "{:<24} {:>9} {:>8} {:>10} {:>14} {:>10} {:>9}",
        "report", "rows", "wall s", "rows/s", "CPU s/100k", "req/row", "peak MiB"
    );
    let base_url = sim.base_url();
    let (mut all_rows, mut all_cpu, mut all_wall, mut all_requests) = (0u64, 0.0, 0.0, 0u64);
    for report in reports.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        sim.sim.reset_stats();
        let m = run_export(&base_url, dir.path(), report, "parquet");
        let requests = sim.sim.stats()["total"].as_u64().unwrap_or(0);
        let rows = m.rows;
        all_rows += rows;
        all_cpu += m.usage.cpu_secs;
        all_wall += m.wall_secs;
        all_requests += requests;
        let per = |x: f64| if rows == 0 { f64::NAN } else { x / rows as f64 };
        println!(
            "{:<24} {:>9} {:>8.1} {:>10.0} {:>14.2} {:>10.4} {:>9.0}",
            report,
            rows,
            m.wall_secs,
            rows as f64 / m.wall_secs,
            per(m.usage.cpu_secs) * 100_000.0,
            per(requests as f64),
            m.usage.max_rss_mib
        );
    }
    let per = |x: f64| x / all_rows.max(1) as f64;
    println!(
        "{:<24} {:>9} {:>8.1} {:>10.0} {:>14.2} {:>10.4} {:>9}",
        "all reports",
        all_rows,
        all_wall,
        all_rows as f64 / all_wall,
        per(all_cpu) * 100_000.0,
        per(all_requests as f64),
        "-"
    );
    println!(
        "CPU per exported record, all reports together: {:.1} µs",
        per(all_cpu) * 1e6
    );
    rt.block_on(sim.shutdown());
}
