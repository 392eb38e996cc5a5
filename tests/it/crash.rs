//! Exactly-once across crashes, and the state lock.
//!
//! The exporter is SIGKILLed at named points of a sync (after the n-th page
//! reached the writer, i.e. in the middle of a Parquet part; after a report's
//! files were renamed but before the commit; inside the state transaction;
//! right after it), chosen by the test through the debug-build-only
//! `INTERCOM_EXPORT_TEST_PAUSE=point:n` (the process SIGSTOPs itself there;
//! the test then SIGKILLs it). After each kill the next run starts on the
//! same state and output. At the end the union of committed files equals
//! the simulator's ground truth, with no row version twice and no file on
//! disk that the state does not name. A sync killed right after a search
//! window's checkpoint resumes from that window without reading the
//! committed ones again.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;

use intercom_export::simulator::{LatencyModel, SimConfig};
use intercom_export::state::StateStore;

use crate::harness::*;

pub const REPORTS: [(&str, Option<&str>, &str); 4] = [
    ("conversations", None, "conversations"),
    ("conversation_parts", None, "conversations"),
    ("users", Some("user"), "contacts"),
    ("leads", Some("lead"), "contacts"),
];

pub fn small_world() -> SimConfig {
    SimConfig {
        seed: 11,
        contacts: 300,
        conversations: 100,
        parts: 2,
        ..SimConfig::default()
    }
}

/// How a paused run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// Stopped at the pause point and SIGKILLed there.
    Killed,
    /// Never reached the point; exited with this code.
    Exited(Option<i32>),
}

/// The args of `sync` against `world` with a small page and part size.
pub fn sync_args(world: &World, command: &str) -> Vec<String> {
    let config = world.dir.path().join("small.toml");
    if !config.exists() {
        std::fs::write(&config, "page_size = 20\nrows_per_file = 25\n").expect("config");
    }
    vec![
        command.into(),
        "--config".into(),
        config.display().to_string(),
        "--base-url".into(),
        world.sim.base_url(),
        "--output".into(),
        world.output().display().to_string(),
        "--state".into(),
        world.state().display().to_string(),
    ]
}

/// Start the binary with `pause` (`point:n`) set.
pub fn spawn_paused(args: &[String], pause: &str) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_intercom-export"))
        .args(args)
        .env("INTERCOM_ACCESS_TOKEN", "test-token")
        .env("INTERCOM_EXPORT_TEST_PAUSE", pause)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts")
}

/// Start the binary with `pause` (`point:n`) set, its stdout piped (for
/// [`sigterm_and_wait`]'s output), and wait until it stops there; panics
/// with `what` when it exits first.
pub async fn start_paused_piped(args: &[String], pause: &str, what: &str) -> tokio::process::Child {
    start_paused(args, pause, what, false).await
}

/// [`start_paused_piped`] with its stderr piped too and logging at info,
/// for tests of its log lines.
pub async fn start_paused_logged(
    args: &[String],
    pause: &str,
    what: &str,
) -> tokio::process::Child {
    start_paused(args, pause, what, true).await
}

async fn start_paused(
    args: &[String],
    pause: &str,
    what: &str,
    logged: bool,
) -> tokio::process::Child {
    let (log, stderr) = match logged {
        true => ("info", Stdio::piped()),
        false => ("warn", Stdio::null()),
    };
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_intercom-export"))
        .args(args)
        .env("INTERCOM_ACCESS_TOKEN", "t")
        .env("INTERCOM_EXPORT_TEST_PAUSE", pause)
        .env("RUST_LOG", log)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    assert_eq!(wait_paused(&mut child).await, None, "{what}");
    child
}

/// SIGTERM to a child stopped at its pause point, then SIGCONT so it
/// handles the signal; its output once it exited.
pub async fn sigterm_and_wait(child: tokio::process::Child) -> std::process::Output {
    let pid = child.id().expect("pid") as i32;
    // SAFETY: signalling our own child process.
    unsafe {
        assert_eq!(libc::kill(pid, libc::SIGTERM), 0);
        assert_eq!(libc::kill(pid, libc::SIGCONT), 0);
    }
    child.wait_with_output().await.expect("exits")
}

/// Is the process stopped (SIGSTOP)?
fn is_stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('T'))
        })
        .unwrap_or(false)
}

/// Wait until the child stops at its pause point (then leave it stopped) or exits.
pub async fn wait_paused(child: &mut tokio::process::Child) -> Option<Ended> {
    let pid = child.id().expect("pid");
    for _ in 0..6000 {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(Ended::Exited(status.code()));
        }
        if is_stopped(pid) {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the exporter neither paused nor exited within 30s");
}

/// Run with a pause point; SIGKILL the process if it gets there.
pub async fn run_and_kill_at(args: &[String], pause: &str) -> Ended {
    let mut child = spawn_paused(args, pause);
    match wait_paused(&mut child).await {
        Some(ended) => ended,
        None => {
            child.start_kill().expect("SIGKILL");
            child.wait().await.expect("reaped");
            Ended::Killed
        }
    }
}

/// Every committed row version of a report, checked for duplicates and
/// compared with the truth (latest version per id).
pub async fn assert_exactly_once(world: &World, report: &str, truth: &BTreeMap<String, i64>) {
    let mut rows = Vec::new();
    for dir in run_dirs(&world.output(), report) {
        rows.extend(ids_and_updated(&read_parquet_dir(&dir)));
    }
    let versions: BTreeSet<(String, i64)> = rows.iter().cloned().collect();
    assert_eq!(
        versions.len(),
        rows.len(),
        "{report}: a row version was exported twice"
    );
    // Records merged or deleted by `advance` vanish from the truth; the
    // exporter keeps their last version.
    let mut latest = latest_per_id(rows);
    latest.retain(|id, _| truth.contains_key(id));
    assert_eq!(
        &latest, truth,
        "{report}: latest per id (minus deleted/merged) equals the ground truth"
    );
}

/// Every file under the output directory is committed, and every committed file exists.
pub async fn assert_disk_matches_state(output: &Path, state: &Path) {
    let reports: Vec<String> = std::fs::read_dir(output)
        .expect("output dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let store = StateStore::open(state).await.expect("state opens");
    let mut committed = BTreeSet::new();
    for report in &reports {
        committed.extend(store.committed_files(report).await.expect("files"));
    }
    store.close().await;
    let mut on_disk = BTreeSet::new();
    for report in &reports {
        for dir in run_dirs(output, report) {
            for f in std::fs::read_dir(&dir).expect("dir").filter_map(|e| e.ok()) {
                let rel = f
                    .path()
                    .strip_prefix(output)
                    .expect("under output")
                    .display()
                    .to_string();
                on_disk.insert(rel);
            }
        }
    }
    assert!(!on_disk.is_empty());
    assert_eq!(on_disk, committed, "files on disk == committed files");
}

/// (id → updated_at) of a report's records in the simulator's truth.
pub async fn truth_of(world: &World, report: &str) -> BTreeMap<String, i64> {
    let (_, role, dataset) = REPORTS
        .iter()
        .find(|(r, _, _)| *r == report)
        .copied()
        .expect("known");
    let records = world.truth(dataset).await;
    if report == "conversation_parts" {
        let parts: Vec<serde_json::Value> = records
            .iter()
            .flat_map(|c| {
                c["conversation_parts"]["conversation_parts"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        return truth_map(&parts, None);
    }
    truth_map(&records, role)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_many_points_then_rerun_gives_exactly_the_ground_truth() {
    let world = World::start(small_world()).await;
    let args = sync_args(&world, "sync");
    // Points within the first, full sync (300 contacts, 100 conversations,
    // 20 per page, 25 rows per part): conversations have 5 pages, users and
    // leads more. A report's commit makes the next run start on the next
    // report, so later points reach later reports.
    let rounds: [&[&str]; 4] = [
        &[
            "run_started:1",
            "page:1",
            "page:3",
            "page:5",
            "written:1",
            "in_commit:1",
            "committed:1",
            "page:2",
            "page:7",
            "written:1",
            "in_commit:1",
            "page:4",
            "committed:2",
            "page:9",
        ],
        // After the world moved: small incremental syncs.
        &["page:1", "written:2", "in_commit:3", "committed:1"],
        &["written:1", "in_commit:2", "committed:3"],
        &["page:2", "in_commit:1", "written:3"],
    ];
    let mut kills = 0;
    for (i, points) in rounds.iter().enumerate() {
        if i > 0 {
            world
                .sim_post("advance", json!({"seconds": 6 * 3600}))
                .await;
        }
        for point in points.iter() {
            match run_and_kill_at(&args, point).await {
                Ended::Killed => kills += 1,
                Ended::Exited(code) => assert_eq!(code, Some(0), "{point}: a run that finished"),
            }
        }
    }
    assert!(kills >= 20, "only {kills} runs were killed");
    let out = run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "t")]).await;
    assert_ok(&out);
    for (report, _, _) in REPORTS {
        assert_exactly_once(&world, report, &truth_of(&world, report).await).await;
    }
    assert_disk_matches_state(&world.output(), &world.state()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sync_on_the_same_state_exits_5_naming_the_holder_and_writes_nothing() {
    let world = World::start(small_world()).await;
    let args = sync_args(&world, "sync");
    let mut first = spawn_paused(&args, "page:2");
    assert_eq!(wait_paused(&mut first).await, None, "first run paused");
    let first_pid = first.id().expect("pid");
    let runs_before = StateStore::open(&world.state())
        .await
        .expect("state")
        .report(100)
        .await
        .expect("report")
        .runs
        .len();
    let stats_before = world.sim_get("stats").await["total"].clone();

    let second = run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "t")]).await;
    assert_eq!(second.status.code(), Some(5), "{}", stderr(&second));
    let err = stderr(&second);
    assert!(err.contains("holds the state lock"), "{err}");
    assert!(err.contains(&format!("pid {first_pid}")), "{err}");
    assert!(err.contains("since "), "{err}");
    let runs_after = StateStore::open(&world.state())
        .await
        .expect("state")
        .report(100)
        .await
        .expect("report")
        .runs
        .len();
    assert_eq!(
        runs_after, runs_before,
        "the second process recorded no run"
    );
    assert_eq!(
        world.sim_get("stats").await["total"],
        stats_before,
        "the second process sent no request"
    );

    // The holder dies without releasing: the lock is recovered.
    first.start_kill().expect("SIGKILL");
    first.wait().await.expect("reaped");
    let third = run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "t")]).await;
    assert_ok(&third);
    assert!(
        stdout(&third).contains("recovered from interrupted run"),
        "{}",
        stdout(&third)
    );
    for (report, _, _) in REPORTS {
        assert_exactly_once(&world, report, &truth_of(&world, report).await).await;
    }
    assert_disk_matches_state(&world.output(), &world.state()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_report_stops_at_its_checkpoint_and_starts_nothing_more() {
    let world = World::start(small_world()).await;
    let args = sync_args(&world, "sync");
    let child = start_paused_piped(&args, "page:2", "paused mid-conversations").await;
    let out = sigterm_and_wait(child).await;
    assert_eq!(out.status.code(), Some(4), "a stopped run is partial");
    assert!(
        stdout(&out).contains("stopped by a signal"),
        "{}",
        stdout(&out)
    );
    // The reports in progress stopped at their last checkpoint: what they
    // committed is the truth's, none twice (`sigterm` checks each against
    // its cursor); no report started after the stop.
    for (report, _, _) in REPORTS {
        let truth = truth_of(&world, report).await;
        let rows = committed_rows(&world, report).await;
        assert_eq!(unique_map(&rows).len(), rows.len(), "{report}: a row twice");
        assert!(
            rows.iter().all(|(id, t)| truth.get(id) == Some(t)),
            "{report}: a row not in the truth"
        );
    }
    assert!(
        run_dirs(&world.output(), "help_centers").is_empty(),
        "the plan's last report never started"
    );
    // Stopped before any checkpoint (`checkpoint_secs` is 60): nothing
    // committed, and nothing left behind.
    let left: Vec<PathBuf> = REPORTS
        .iter()
        .flat_map(|(report, _, _)| run_dirs(&world.output(), report))
        .flat_map(|dir| files_in(&dir, "parquet"))
        .collect();
    assert!(left.is_empty(), "uncommitted files left: {left:?}");
    // The next run does the rest, once.
    assert_ok(&run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "t")]).await);
    for (report, _, _) in REPORTS {
        assert_exactly_once(&world, report, &truth_of(&world, report).await).await;
    }
    assert_disk_matches_state(&world.output(), &world.state()).await;
}

/// Rows of the committed Parquet files of a report (not the uncommitted tail).
pub async fn committed_rows(world: &World, report: &str) -> Vec<(String, i64)> {
    let store = StateStore::open(&world.state()).await.expect("state");
    let files = store.committed_files(report).await.expect("files");
    store.close().await;
    let mut rows = Vec::new();
    for file in files.iter().filter(|f| f.ends_with(".parquet")) {
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(world.output().join(file)).expect("committed file exists"),
        )
        .expect("valid parquet")
        .build()
        .expect("reader");
        let batches: Vec<_> = reader.map(|b| b.expect("batch")).collect();
        rows.extend(ids_and_updated(&batches));
    }
    rows
}

/// `sync --reports conversations` with `config` against `world`, plus `extra`.
fn conversations_sync_args(world: &World, config: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "sync",
        "--config",
        &config.display().to_string(),
        "--reports",
        "conversations",
        "--base-url",
        &world.sim.base_url(),
        "--output",
        &world.output().display().to_string(),
        "--state",
        &world.state().display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_after_a_window_checkpoint_resumes_from_that_window() {
    let world = World::start(SimConfig {
        seed: 12,
        contacts: 10,
        conversations: 200,
        parts: 1,
        ..SimConfig::default()
    })
    .await;
    // 4 rows a page: windows of at most 80 rows, so 200 conversations take
    // three windows or more; a checkpoint after every window. One window at
    // a time (`concurrency = 1`), so the rerun's requests are counted
    // exactly; windows read at once are killed and resumed in
    // `parallel_windows`.
    let config = world.dir.path().join("windows.toml");
    std::fs::write(
        &config,
        "page_size = 4\nrows_per_file = 25\ncheckpoint_secs = 0\nconcurrency = 1\n",
    )
    .expect("config");
    let args = conversations_sync_args(&world, &config, &[]);
    let truth = truth_of(&world, "conversations").await;
    assert_eq!(truth.len(), 200);

    // Killed after its first checkpoint; the next run after its second.
    let mut committed = BTreeMap::new();
    for point in ["checkpoint:1", "checkpoint:2"] {
        assert_eq!(
            run_and_kill_at(&args, point).await,
            Ended::Killed,
            "{point}"
        );
        // The cursor moved to a completed window, with exactly the rows up
        // to it committed.
        let store = StateStore::open(&world.state()).await.expect("state");
        let cursor = store
            .cursor("conversations", "")
            .await
            .expect("cursor")
            .expect("the checkpoint saved a cursor");
        store.close().await;
        let cursor: serde_json::Value = serde_json::from_str(&cursor).expect("cursor JSON");
        let at = cursor["updated_at"].as_i64().expect("updated_at");
        let now = unique_map(&committed_rows(&world, "conversations").await);
        let expected: BTreeMap<String, i64> = truth
            .iter()
            .filter(|(_, t)| **t <= at)
            .map(|(id, t)| (id.clone(), *t))
            .collect();
        assert_eq!(
            now, expected,
            "{point}: every row up to the cursor is committed, and only those"
        );
        assert!(
            now.len() > committed.len() && now.len() < truth.len(),
            "{point}: {} of {} rows committed",
            now.len(),
            truth.len()
        );
        committed = now;
    }
    let at = committed.values().copied().max().unwrap_or(0);

    // The rerun starts at the checkpoint: no committed window is read again.
    world.sim_post("reset-stats", json!({})).await;
    let out = run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "t")]).await;
    assert_ok(&out);
    assert_exactly_once(&world, "conversations", &truth).await;
    assert_disk_matches_state(&world.output(), &world.state()).await;
    let searches = world.requests_to("POST /conversations/search").await;
    let rest = (truth.len() - committed.len()) as u64;
    assert!(
        searches <= rest.div_ceil(4) + 8 && searches < (truth.len() as u64).div_ceil(4),
        "{searches} search requests for the {rest} rows after the checkpoint"
    );
    let dirs = run_dirs(&world.output(), "conversations");
    assert_eq!(dirs.len(), 3, "one directory per run");
    let last = unique_map(&ids_and_updated(&read_parquet_dir(&dirs[2])));
    assert!(
        last.values().all(|t| *t >= at) && last.keys().all(|id| !committed.contains_key(id)),
        "the last run wrote only rows after the checkpoint"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_failing_after_a_checkpoint_keeps_and_reports_what_it_committed() {
    let world = World::start(SimConfig {
        seed: 13,
        contacts: 10,
        conversations: 600,
        parts: 1,
        // Pages take a little time, so the windows read ahead of the first
        // checkpoint cannot be all of them, however fast the delivery is:
        // pages are still to be asked for once the scope goes away.
        latency: Some(LatencyModel::parse("default=20ms").expect("latency spec")),
        ..SimConfig::default()
    })
    .await;
    let config = world.dir.path().join("windows.toml");
    std::fs::write(&config, "page_size = 4\ncheckpoint_secs = 0\n").expect("config");
    let summary = world.dir.path().join("summary.json");
    let summary_arg = summary.display().to_string();
    let args = conversations_sync_args(&world, &config, &["--summary-json", &summary_arg]);

    // Stopped right after its first checkpoint; then the scope goes away.
    let mut child = spawn_paused(&args, "checkpoint:1");
    assert!(
        wait_paused(&mut child).await.is_none(),
        "paused at the checkpoint"
    );
    world
        .sim_post("faults", json!({"denied_scopes": ["conversations"]}))
        .await;
    let pid = child.id().expect("pid").to_string();
    let resumed = std::process::Command::new("kill")
        .args(["-CONT", &pid])
        .status()
        .expect("kill -CONT");
    assert!(resumed.success());
    let status = child.wait().await.expect("exits");
    assert_eq!(status.code(), Some(4), "the run is partial");

    let committed = committed_rows(&world, "conversations").await;
    assert!(!committed.is_empty() && committed.len() < 600);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).expect("summary written"))
            .expect("summary JSON");
    let report = &summary["reports"][0];
    assert_eq!(report["report"], "conversations");
    assert!(
        report["error"].as_str().is_some_and(|e| e.contains("403")),
        "{report}"
    );
    assert_eq!(
        report["rows"],
        committed.len(),
        "the summary counts the rows its checkpoint committed"
    );
    assert_disk_matches_state(&world.output(), &world.state()).await;
}

/// The `flaky` fault profile (5 % 5xx, 1 % stalls, resets, cut-off and
/// empty bodies, each after the server handled the request) with `seed`.
fn flaky(seed: u64) -> serde_json::Value {
    let mut p = serde_json::to_value(
        intercom_export::simulator::FaultProfile::load("flaky").expect("named profile"),
    )
    .expect("json");
    p["seed"] = json!(seed);
    p["stall_secs"] = json!(3.0);
    p
}

/// Company mapping pairs (company, item) of each company's latest
/// `company_updated_at` across every run, asserting no row was written twice.
/// The current (company, item) pairs by the README's mapping-table query:
/// the rows of each company's latest version, without the null-item row a
/// version with no items has.
fn latest_company_pairs(world: &World, report: &str, column: &str) -> BTreeSet<(String, String)> {
    let mut rows: Vec<(String, String, Option<String>)> = Vec::new();
    for dir in run_dirs(&world.output(), report) {
        let batches = read_parquet_dir(&dir);
        for row in json_rows(&batches) {
            // One format throughout (arrow's UTC timestamps), so the text
            // orders as the time does.
            let at = row["company_updated_at"].to_string();
            rows.push((
                row["company_id"].as_str().expect("company_id").to_string(),
                at,
                row.get(column)
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_string),
            ));
        }
    }
    let distinct: BTreeSet<_> = rows.iter().cloned().collect();
    assert_eq!(
        distinct.len(),
        rows.len(),
        "{report}: a row was written twice"
    );
    let mut latest: BTreeMap<String, String> = BTreeMap::new();
    for (company, at, _) in &rows {
        let e = latest.entry(company.clone()).or_insert_with(|| at.clone());
        if at > e {
            *e = at.clone();
        }
    }
    rows.into_iter()
        .filter(|(company, at, _)| latest[company] == *at)
        .filter_map(|(company, _, item)| Some((company, item?)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_flaky_faults_then_rerun_loses_and_repeats_nothing() {
    // Every default report, the simulator failing requests as `flaky` does
    // (a scroll page's answer lost after the server moved on included), and
    // the exporter killed at many points; a scroll left open by a killed
    // run expires after 3 s.
    let world = World::start(SimConfig {
        seed: 21,
        contacts: 80,
        conversations: 40,
        parts: 2,
        // 12 pages a scroll: the faults meet every company report's scroll.
        companies: 600,
        scroll_expiry_secs: 3,
        ..SimConfig::default()
    })
    .await;
    std::fs::write(
        world.dir.path().join("small.toml"),
        "page_size = 20\nrows_per_file = 25\nrequest_timeout_secs = 1\nmax_retries = 12\n\
         max_retry_secs = 60\n",
    )
    .expect("config");
    let args = sync_args(&world, "sync");
    world.sim_post("faults", flaky(5)).await;
    // Commits in between move later runs on to later reports, so kills
    // land in every part of the sync, the company scrolls included.
    let rounds: [&[&str]; 2] = [
        &[
            "page:2",
            "written:1",
            "committed:1",
            "page:6",
            "in_commit:2",
            "committed:2",
            "page:4",
            "committed:3",
            "page:9",
            "written:3",
            "committed:4",
            "page:5",
            "committed:5",
            "page:3",
            "page:8",
            "in_commit:1",
            "committed:6",
            "page:5",
            "page:12",
            "written:2",
            "page:7",
        ],
        // After the world moved: incremental syncs.
        &[
            "page:1",
            "written:2",
            "in_commit:3",
            "committed:2",
            "page:3",
        ],
    ];
    let mut kills = 0;
    for (i, points) in rounds.iter().enumerate() {
        if i > 0 {
            world
                .sim_post("advance", json!({"seconds": 6 * 3600}))
                .await;
        }
        for point in points.iter() {
            match run_and_kill_at(&args, point).await {
                Ended::Killed => kills += 1,
                // A run the faults made partial (an item that failed every
                // retry) is fine: the next run takes it up.
                Ended::Exited(code) => {
                    assert!(matches!(code, Some(0 | 4)), "{point}: exit {code:?}")
                }
            }
        }
    }
    assert!(kills >= 12, "only {kills} runs were killed");
    // The last run meets the same faults and finishes.
    let out = run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "t")]).await;
    assert_ok(&out);

    for (report, _, _) in REPORTS {
        assert_exactly_once(&world, report, &truth_of(&world, report).await).await;
    }
    let companies = world.truth("companies").await;
    assert_exactly_once(&world, "companies", &truth_map(&companies, None)).await;
    for (report, list, column) in [
        ("company_tags", "/tags/tags", "tag_id"),
        ("company_segments", "/segments/segments", "segment_id"),
    ] {
        let want: BTreeSet<(String, String)> = companies
            .iter()
            .flat_map(|c| {
                let id = c["id"].as_str().expect("id").to_string();
                c.pointer(list)
                    .and_then(serde_json::Value::as_array)
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |t| (id.clone(), t["id"].as_str().expect("item").to_string()))
            })
            .collect();
        assert!(!want.is_empty(), "{report}: the world has some");
        // Companies deleted by `advance` vanish from the truth; the exporter
        // keeps their last version (as `assert_exactly_once` allows). With
        // reports side by side a company report may commit before the
        // advance, so such a company's pairs can be in the output.
        let mut got = latest_company_pairs(&world, report, column);
        got.retain(|(company, _)| companies.iter().any(|c| c["id"] == company.as_str()));
        assert_eq!(got, want, "{report}");
    }
    let tickets = truth_map(&world.truth("tickets").await, None);
    assert_exactly_once(&world, "tickets", &tickets).await;
    assert_disk_matches_state(&world.output(), &world.state()).await;
    // The kills and faults did meet the company scrolls (13 requests a
    // clean scroll; one scroll a run feeds the three company reports, so
    // the last run alone makes one). Reports run side by side, so every
    // run starts its scroll at once and most kills cut one short: more
    // than the last run's clean scroll and another one.
    let scrolls = world.requests_to("GET /companies/scroll").await;
    assert!(scrolls > 2 * 13, "{scrolls} scroll requests");
}

/// The key columns of every committed row of `report` under `output`, as
/// sorted text (nulls as `-`): a multiset to compare two exports with.
fn key_rows(output: &Path, report: &str, keys: &[&str]) -> Vec<String> {
    let mut rows: Vec<String> = run_dirs(output, report)
        .iter()
        .flat_map(|d| json_rows(&read_parquet_dir(d)))
        .map(|r| {
            keys.iter()
                .map(|k| r.get(*k).map_or("-".to_string(), |v| v.to_string()))
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect();
    rows.sort();
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanouts_killed_at_65_percent_of_a_first_sync_redo_at_most_a_tenth_of_it() {
    // Child requests outnumber the searches as in a real workspace (one
    // search page per 20 parents here, per 150 there). Large enough that
    // what a kill always redoes (the requests in flight, the children of
    // the window being read) is well under a tenth wherever the kill lands.
    let world = World::start(SimConfig {
        seed: 14,
        contacts: 1_200,
        conversations: 1_200,
        parts: 1,
        ..SimConfig::default()
    })
    .await;
    let config = world.dir.path().join("fanout.toml");
    std::fs::write(
        &config,
        "page_size = 20\nrows_per_file = 50\ncheckpoint_secs = 0\n",
    )
    .expect("config");
    // `conversation_contacts` reads a sub-resource only for the few
    // conversations whose inline list is cut short, so its requests are
    // mostly search pages: smaller pages give it enough requests (and
    // windows) for a tenth to be more than the rerun's fixed start-up and
    // the parent pages read ahead, which a kill makes it read again (pages
    // of 3 left it 9 requests of margin, and a loaded machine, reading
    // further ahead, took them: 55 redone of 463).
    let small_pages = world.dir.path().join("fanout-small-pages.toml");
    std::fs::write(
        &small_pages,
        "page_size = 2\nrows_per_file = 50\ncheckpoint_secs = 0\n",
    )
    .expect("config");
    let args = |report: &str, output: &Path, state: &Path| -> Vec<String> {
        let config = if report == "conversation_contacts" {
            &small_pages
        } else {
            &config
        };
        sync_argv(config, report, &world.sim.base_url(), output, state)
    };
    let total = async || {
        world.sim_get("stats").await["total"]
            .as_u64()
            .expect("total")
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    for (report, keys) in [
        ("conversation_parts", &["id", "updated_at"][..]),
        (
            "contact_segments",
            &["contact_id", "contact_updated_at", "segment_id"][..],
        ),
        ("events", &["event_key"][..]),
        (
            "conversation_contacts",
            &["conversation_id", "conversation_updated_at", "contact_id"][..],
        ),
    ] {
        // A full first sync on its own state: its requests and its rows.
        let (ref_out, ref_state) = (
            scratch.path().join(report),
            scratch.path().join(format!("{report}.db")),
        );
        world.sim_post("reset-stats", json!({})).await;
        assert_ok(
            &run_cli(
                &args(report, &ref_out, &ref_state),
                &[("INTERCOM_ACCESS_TOKEN", "t")],
            )
            .await,
        );
        let full = total().await;
        assert!(full >= 50, "{report}: {full} requests in a full sync");

        // The same first sync, SIGKILLed at 65 % of those requests.
        world.sim_post("reset-stats", json!({})).await;
        let mut child = spawn_paused(&args(report, &world.output(), &world.state()), "never:1");
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                panic!("{report}: the sync ended ({status}) before 65 % of its requests");
            }
            if total().await * 100 >= full * 65 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        child.start_kill().expect("SIGKILL");
        child.wait().await.expect("reaped");
        let before = total().await;

        // The rerun goes on from the last checkpoint.
        world.sim_post("reset-stats", json!({})).await;
        let out = run_cli(
            &args(report, &world.output(), &world.state()),
            &[("INTERCOM_ACCESS_TOKEN", "t")],
        )
        .await;
        assert_ok(&out);
        let after = total().await;
        let redone = (before + after).saturating_sub(full);
        eprintln!(
            "{report}: killed after {before} of {full} requests; rerun {after}; redone {redone}"
        );
        assert!(
            redone * 10 <= full,
            "{report}: killed after {before} of {full} requests, the rerun made {after}: \
             {redone} redone"
        );
        // Exactly once: the same rows as the uninterrupted sync, no key twice.
        let got = key_rows(&world.output(), report, keys);
        let mut unique = got.clone();
        unique.dedup();
        assert_eq!(unique.len(), got.len(), "{report}: a row twice");
        assert_eq!(
            got,
            key_rows(&ref_out, report, keys),
            "{report}: the rows of a full sync"
        );
    }
    assert_exactly_once(
        &world,
        "conversation_parts",
        &truth_of(&world, "conversation_parts").await,
    )
    .await;
    assert_disk_matches_state(&world.output(), &world.state()).await;
}
