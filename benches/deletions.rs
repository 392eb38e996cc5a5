//! The `deletions` report's cost (not a test: it prints figures).
//!
//! 1. The known-ids store alone: N ids shaped like Intercom's (24 hex
//!    digits: creation time, then 16 random digits) written to and read
//!    from a fresh SQLite state, with the bytes they take.
//! 2. The reconciliation pass against the in-process simulator: a first
//!    sync (learns every id), the clock moved a day (merges and deletions),
//!    a second sync (lists every id again, confirms each missing one), both
//!    with the release exporter as a child process (`reconcile_every = 0`).
//!    Per sync: requests by endpoint, wall and CPU seconds, peak RSS,
//!    tombstones written, and the state's known-id bytes.
//!
//! `cargo bench --bench deletions`. Environment:
//! - `DELETIONS_IDS`: ids for part 1 (default 1,000,000);
//! - `DELETIONS_CONTACTS`: contacts of the simulated workspace for part 2
//!   (default 1,000,000; companies: 2,000);
//! - `BENCH_EXE`: the exporter to measure (default: this build's).
//!
//! Figures: `BENCHMARKS.md`.

mod common;

use std::time::Instant;

use intercom_export::simulator::{self, SimConfig};
use intercom_export::state::StateStore;
use intercom_export::state::known_ids::KnownIdsUpdate;

use common::{env_usize, rows_of, run_sync};

/// Bytes of a SQLite state (the file and its WAL).
fn state_bytes(path: &std::path::Path) -> u64 {
    ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", path.display())).ok())
        .map(|m| m.len())
        .sum()
}

fn store_alone(rt: &tokio::runtime::Runtime, n: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("state.db");
    // Shaped like Intercom's (MongoDB ObjectIds): 8 hex digits of creation
    // time (a contact every 37 s), then 16 that are taken as random here
    // (xorshift): the worst case for compression, real ids share more.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let ids: Vec<String> = (0..n as u64)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            format!("{:08x}{x:016x}", 1_600_000_000 + i * 37)
        })
        .collect();
    let mut update = KnownIdsUpdate::new();
    update.insert("contact", ids);
    rt.block_on(async {
        let store = StateStore::open(&path).await.expect("state");
        let empty = state_bytes(&path);
        let t = Instant::now();
        store.set_known_ids(&update).await.expect("write");
        let write = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let back = store.known_ids("contact").await.expect("read");
        let read = t.elapsed().as_secs_f64();
        assert_eq!(back.len(), n);
        let size = store.known_ids_size().await.expect("size");
        store.close().await;
        let (blob, count) = size["contact"];
        println!(
            "store: {count} ids, blobs {:.2} MiB ({:.2} bytes/id), state file {:.2} MiB \
             (empty state {:.2} MiB), write {write:.2} s, read {read:.2} s",
            blob as f64 / 1048576.0,
            blob as f64 / count as f64,
            state_bytes(&path) as f64 / 1048576.0,
            empty as f64 / 1048576.0,
        );
    });
}

fn pass(rt: &tokio::runtime::Runtime, contacts: usize) {
    let config = SimConfig {
        contacts,
        conversations: 1_000,
        parts: 1,
        companies: 2_000,
        events_per_user: 0,
        ..SimConfig::default()
    };
    let t = Instant::now();
    let sim = rt
        .block_on(simulator::spawn(config))
        .expect("simulator starts");
    println!(
        "simulator with {contacts} contacts ready in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let base_url = sim.base_url();
    let dir = tempfile::tempdir().expect("temp dir");
    let args = [
        "--reports",
        "deletions",
        "--option",
        "deletions.reconcile_every=0",
        "--format",
        "parquet",
    ];
    for (i, label) in ["first pass (learns the ids)", "after 24 h (confirms)"]
        .iter()
        .enumerate()
    {
        if i == 1 {
            let moved = sim.sim.advance(24 * 3600);
            println!("advance 24 h: {moved}");
        }
        sim.sim.reset_stats();
        let run = run_sync(&base_url, dir.path(), &args);
        assert_eq!(run.usage.status, 0, "sync failed:\n{}", run.summary);
        let stats = sim.sim.stats();
        let by = |e: &str| stats["by_endpoint"][e].as_u64().unwrap_or(0);
        let size = rt.block_on(async {
            let store = StateStore::open(&dir.path().join("state.db"))
                .await
                .expect("state");
            let s = store.known_ids_size().await.expect("size");
            store.close().await;
            s
        });
        let known: u64 = size.values().map(|(b, _)| b).sum();
        println!(
            "{label}: tombstones {}, requests {} (GET /contacts {}, GET /contacts/{{id}} {}, \
             GET /companies/scroll {}, GET /conversations/deleted {}), wall {:.1} s, CPU {:.1} s, \
             peak RSS {:.0} MiB, known ids {:.2} MiB, state file {:.2} MiB",
            rows_of(&run.summary, "deletions"),
            stats["total"].as_u64().unwrap_or(0),
            by("GET /contacts"),
            by("GET /contacts/{id}"),
            by("GET /companies/scroll"),
            by("GET /conversations/deleted"),
            run.wall_secs,
            run.usage.cpu_secs,
            run.usage.max_rss_mib,
            known as f64 / 1048576.0,
            state_bytes(&dir.path().join("state.db")) as f64 / 1048576.0,
        );
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    store_alone(&rt, env_usize("DELETIONS_IDS", 1_000_000));
    pass(&rt, env_usize("DELETIONS_CONTACTS", 1_000_000));
}
