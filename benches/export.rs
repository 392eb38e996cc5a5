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
//! Figures and their explanation: `BENCHMARKS.md`.

use std::process::{Command, Stdio};
use std::time::Instant;

use intercom_export::simulator::{self, SimConfig};

const DEFAULT_REPORTS: &str = "users,leads,conversations,conversation_parts,companies,tickets,\
                               conversation_tags,conversation_contacts";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// What `wait4` tells about one finished child.
struct ChildUsage {
    status: i32,
    cpu_secs: f64,
    max_rss_mib: f64,
}

/// Waits for `pid` and returns its exit status and resource usage.
fn wait_child(pid: u32) -> ChildUsage {
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain data that `wait4` fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to locals; `pid` is our own unreaped child.
    let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(r, pid as libc::pid_t, "wait4 failed");
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    ChildUsage {
        status: if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        },
        cpu_secs: tv(usage.ru_utime) + tv(usage.ru_stime),
        // Linux reports ru_maxrss in KiB.
        max_rss_mib: usage.ru_maxrss as f64 / 1024.0,
    }
}

/// Rows of `report` in the summary table the exporter prints on stdout.
fn rows_of(summary: &str, report: &str) -> u64 {
    summary
        .lines()
        .find_map(|l| {
            let mut f = l.split_whitespace();
            (f.next() == Some(report)).then(|| f.next()?.parse().ok())?
        })
        .unwrap_or(0)
}

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
    let exe = env!("CARGO_BIN_EXE_intercom-export");
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
    for report in reports.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        sim.sim.reset_stats();
        let t = Instant::now();
        // Reaped by `wait_child` (wait4), which also reads its rusage.
        #[allow(clippy::zombie_processes)]
        let child = Command::new(exe)
            .args([
                "sync",
                "--reports",
                report,
                "--format",
                "parquet",
                "--base-url",
            ])
            .arg(sim.base_url())
            .arg("--output")
            .arg(dir.path().join("out"))
            .arg("--state")
            .arg(dir.path().join("state.db"))
            .env("INTERCOM_ACCESS_TOKEN", "bench")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("exporter starts");
        let pid = child.id();
        // The summary is small; read it before reaping so the pipe never fills.
        let mut stdout = child.stdout.expect("piped stdout");
        let mut summary = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut summary).expect("summary");
        let usage = wait_child(pid);
        let wall = t.elapsed().as_secs_f64();
        assert_eq!(usage.status, 0, "{report}: exporter failed:\n{summary}");
        let rows = rows_of(&summary, report);
        let requests = sim.sim.stats()["total"].as_u64().unwrap_or(0);
        let per = |x: f64| if rows == 0 { f64::NAN } else { x / rows as f64 };
        println!(
            "{:<24} {:>9} {:>8.1} {:>10.0} {:>14.2} {:>10.4} {:>9.0}",
            report,
            rows,
            wall,
            rows as f64 / wall,
            per(usage.cpu_secs) * 100_000.0,
            per(requests as f64),
            usage.max_rss_mib
        );
    }
    rt.block_on(sim.shutdown());
}
