//! SIGTERM with reports side by side (issue #15): a Kubernetes pod gets 30
//! s from SIGTERM to SIGKILL, whatever the API's latency. On the signal
//! every running report stops sending requests, keeps what its checkpoints
//! committed and removes what it wrote since; the run exits 4 (stopped);
//! the next run resumes each report from its checkpoint, exactly once.
//!
//! The time from the signal to the exit is printed, not asserted (speed is
//! never a pass/fail condition here); what is asserted is the behaviour
//! that makes it short: no request after the signal but the few the
//! client could start before it saw it (`concurrency` at most).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use intercom_export::simulator::{LatencyModel, SimConfig};
use serde_json::Value;

use crate::crash::{
    REPORTS, assert_disk_matches_state, assert_exactly_once, committed_rows, sigterm_and_wait,
    small_world, start_paused_piped, sync_args, truth_of,
};
use crate::harness::*;

/// The calls the exporter may have in flight at once (its `concurrency`).
const CONCURRENCY: u64 = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_every_report_at_its_last_checkpoint_and_the_rerun_completes_once() {
    let world = World::start(SimConfig {
        latency: Some(LatencyModel::parse("default=200ms").expect("latency spec")),
        ..small_world()
    })
    .await;
    let config = world.dir.path().join("sigterm.toml");
    std::fs::write(
        &config,
        format!(
            "page_size = 20\nrows_per_file = 25\ncheckpoint_secs = 0\nconcurrency = {CONCURRENCY}\n"
        ),
    )
    .expect("config");
    let summary = world.dir.path().join("summary.json");
    let reports = "conversations,conversation_parts,users,leads,conversation_contacts";
    let mut args = sync_argv(
        &config,
        reports,
        &world.sim.base_url(),
        &world.output(),
        &world.state(),
    );
    args.extend(["--summary-json".to_string(), summary.display().to_string()]);

    // Stopped (SIGSTOP) right after its 6th checkpoint, the reports side
    // by side; the simulator answers what was in flight.
    let child = start_paused_piped(&args, "checkpoint:6", "paused at a checkpoint").await;
    let mut at_signal = world.sim_stat("/total").await;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(30)).await;
        let now = world.sim_stat("/total").await;
        if now == at_signal && world.sim_stat("/in_flight").await == 0 {
            break;
        }
        at_signal = now;
    }
    let signalled = Instant::now();
    let out = sigterm_and_wait(child).await;
    let to_exit = signalled.elapsed();
    let after_signal = world.sim_stat("/total").await - at_signal;
    eprintln!(
        "SIGTERM to exit: {:.2} s; {at_signal} requests before the signal, {after_signal} after",
        to_exit.as_secs_f64()
    );
    assert_eq!(out.status.code(), Some(4), "a stopped run is partial");
    assert!(
        stdout(&out).contains("stopped by a signal"),
        "{}",
        stdout(&out)
    );
    // Only what the client had started before it saw the signal.
    assert!(
        after_signal <= CONCURRENCY,
        "{after_signal} requests after the signal (before it: {at_signal})"
    );
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).expect("summary")).expect("JSON");
    assert_eq!(summary["stopped"], true);
    let statuses: BTreeMap<String, String> = summary["reports"]
        .as_array()
        .expect("reports")
        .iter()
        .map(|r| {
            (
                r["report"].as_str().expect("report").to_string(),
                r["status"].as_str().expect("status").to_string(),
            )
        })
        .collect();
    assert!(
        statuses.values().any(|s| s == "stopped"),
        "reports were cut short: {statuses:?}"
    );
    assert!(statuses.values().all(|s| s != "failed"), "{statuses:?}");

    // What is committed is the truth up to each search report's cursor.
    for report in ["conversations", "users", "leads"] {
        let truth = truth_of(&world, report).await;
        let got = committed_rows(&world, report).await;
        let committed = unique_map(&got);
        assert_eq!(committed.len(), got.len(), "{report}: a row twice");
        let want: BTreeMap<String, i64> = match cursor_updated_at(&world.state(), report).await {
            Some(at) => truth
                .iter()
                .filter(|(_, t)| **t <= at)
                .map(|(id, t)| (id.clone(), *t))
                .collect(),
            None => BTreeMap::new(),
        };
        assert_eq!(committed, want, "{report}: the rows up to its cursor");
    }
    // The fan-outs: committed rows are the truth's, none twice.
    let parts_truth = truth_of(&world, "conversation_parts").await;
    let parts = committed_rows(&world, "conversation_parts").await;
    assert_eq!(unique_map(&parts).len(), parts.len(), "a part twice");
    assert!(parts.iter().all(|(id, t)| parts_truth.get(id) == Some(t)));
    assert!(
        parts.len() < parts_truth.len(),
        "conversation_parts was stopped before its end"
    );
    assert_disk_matches_state(&world.output(), &world.state()).await;

    // The next run resumes every report and completes it, once.
    let rerun = run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "t")]).await;
    assert_ok(&rerun);
    for (report, _, _) in REPORTS {
        assert_exactly_once(&world, report, &truth_of(&world, report).await).await;
    }
    let mut pairs = exported_contact_pairs(&world.output());
    let n = pairs.len();
    pairs.dedup();
    assert_eq!(pairs.len(), n, "a conversation_contacts pair twice");
    let want: Vec<(String, String)> = truth_contact_pairs(&world).await.into_iter().collect();
    assert_eq!(pairs, want);
    assert_disk_matches_state(&world.output(), &world.state()).await;
}

/// A stop with more reports than run side by side (8): the reports it kept
/// from starting are in the summary (text and `--summary-json`) as stopped
/// with nothing committed, and the next run exports them, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_a_stop_kept_from_starting_are_listed_and_the_rerun_exports_them_once() {
    let world = World::start(SimConfig {
        latency: Some(LatencyModel::parse("default=200ms").expect("latency spec")),
        ..small_world()
    })
    .await;
    // Eight reports that read for many requests take every place; the
    // three snapshots start last (they are ranked last in their stage).
    let running = [
        "conversations",
        "conversation_parts",
        "users",
        "leads",
        "conversation_contacts",
        "companies",
        "contact_tags",
        "tickets",
    ];
    let snapshots = ["admins", "teams", "tags"];
    let reports: Vec<&str> = running.iter().chain(&snapshots).copied().collect();
    let summary = world.dir.path().join("summary.json");
    let mut args = sync_args(&world, "sync");
    args.extend(
        [
            "--reports",
            &reports.join(","),
            "--summary-json",
            &summary.display().to_string(),
        ]
        .map(String::from),
    );
    // Paused (SIGSTOP) when the first rows are written, then SIGTERM.
    let child = start_paused_piped(&args, "page:1", "paused at the first rows").await;
    let out = sigterm_and_wait(child).await;
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(4),
        "a stopped run is partial: {text}"
    );

    // Every report asked for is in the JSON summary, once.
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).expect("summary")).expect("JSON");
    assert_eq!(doc["stopped"], true);
    let entries = doc["reports"].as_array().expect("reports");
    let mut named: Vec<&str> = entries
        .iter()
        .map(|r| r["report"].as_str().expect("report"))
        .collect();
    named.sort();
    let mut want = reports.clone();
    want.sort();
    assert_eq!(named, want, "{doc}");
    // The snapshots never started: stopped, nothing read or committed, and
    // the table's line says the next run starts them.
    for report in snapshots {
        let entry = entries
            .iter()
            .find(|r| r["report"] == report)
            .expect("listed");
        assert_eq!(entry["status"], "stopped", "{report}: {entry}");
        assert_eq!(entry["rows"], 0, "{report}: {entry}");
        assert_eq!(entry["files"], 0, "{report}: {entry}");
        assert_eq!(entry["requests"], 0, "{report}: {entry}");
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(report))
            .unwrap_or_else(|| panic!("{report} in the table: {text}"));
        assert!(
            line.contains("stopped before its first checkpoint")
                && line.contains("the next run starts it again"),
            "{line}"
        );
        assert!(run_dirs(&world.output(), report).is_empty(), "{report}");
    }

    // The rerun exports them, once each, as the truth says.
    assert_ok(&run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "t")]).await);
    for report in snapshots {
        let dirs = run_dirs(&world.output(), report);
        assert_eq!(dirs.len(), 1, "{report}: exported by one run");
        let mut ids: Vec<String> = json_rows(&read_parquet_dir(&dirs[0]))
            .iter()
            .map(|r| r["id"].as_str().expect("id").to_string())
            .collect();
        ids.sort();
        let mut truth: Vec<String> = world
            .truth(report)
            .await
            .iter()
            .map(|r| r["id"].as_str().expect("truth id").to_string())
            .collect();
        truth.sort();
        assert!(!truth.is_empty(), "{report}: the world has some");
        assert_eq!(ids, truth, "{report}: every one, once");
    }
    for (report, _, _) in REPORTS {
        assert_exactly_once(&world, report, &truth_of(&world, report).await).await;
    }
    assert_disk_matches_state(&world.output(), &world.state()).await;
}
