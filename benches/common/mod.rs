//! Shared by the exporter benchmarks (`export.rs`, `scale.rs`): run the
//! compiled `intercom-export` binary as a child against a simulator and read
//! the child's own resource usage with `wait4`, so CPU time and peak RSS are
//! the exporter's alone, never the simulator's.

// Each bench uses a part of this module.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// What `wait4` tells about one finished child.
pub struct ChildUsage {
    pub status: i32,
    pub cpu_secs: f64,
    pub max_rss_mib: f64,
}

/// Waits for `pid` and returns its exit status and resource usage.
pub fn wait_child(pid: u32) -> ChildUsage {
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
pub fn rows_of(summary: &str, report: &str) -> u64 {
    summary
        .lines()
        .find_map(|l| {
            let mut f = l.split_whitespace();
            (f.next() == Some(report)).then(|| f.next()?.parse().ok())?
        })
        .unwrap_or(0)
}

/// One exporter run of one report.
pub struct Measured {
    pub rows: u64,
    pub wall_secs: f64,
    pub usage: ChildUsage,
}

/// `intercom-export sync --reports REPORT --format FORMAT` against `base_url`,
/// output and state under `dir`. Panics if the exporter fails.
///
/// `BENCH_EXE` runs another build of the exporter (e.g. a copy of an older
/// release binary, for before/after figures on the same machine and world).
pub fn run_export(base_url: &str, dir: &Path, report: &str, format: &str) -> Measured {
    let run = run_sync(base_url, dir, &["--reports", report, "--format", format]);
    assert_eq!(
        run.usage.status, 0,
        "{report}: exporter failed:\n{}",
        run.summary
    );
    Measured {
        rows: rows_of(&run.summary, report),
        wall_secs: run.wall_secs,
        usage: run.usage,
    }
}

/// One finished `intercom-export sync`.
pub struct SyncRun {
    /// What it printed on stdout (the summary table).
    pub summary: String,
    pub wall_secs: f64,
    pub usage: ChildUsage,
}

/// `intercom-export sync ARGS` against `base_url`, output and state under
/// `dir` (the exporter from `BENCH_EXE`, or this build's). The caller checks
/// `usage.status`.
pub fn run_sync(base_url: &str, dir: &Path, args: &[&str]) -> SyncRun {
    let exe = std::env::var("BENCH_EXE")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_intercom-export").to_string());
    let t = Instant::now();
    // Reaped by `wait_child` (wait4), which also reads its rusage.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(&exe)
        .arg("sync")
        .args(args)
        .arg("--base-url")
        .arg(base_url)
        .arg("--output")
        .arg(dir.join("out"))
        .arg("--state")
        .arg(dir.join("state.db"))
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
    SyncRun {
        summary,
        wall_secs: t.elapsed().as_secs_f64(),
        usage,
    }
}

/// `name` parsed from the environment, or `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}
