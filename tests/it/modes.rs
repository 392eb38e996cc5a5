//! The operating modes besides `sync`: `backfill` (resumable window by
//! window), `schedule` (clean stop on SIGTERM), `check`, `state show/reset`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use intercom_export::simulator::{DEFAULT_START_TIME, SimConfig};

use crate::crash::{
    Ended, REPORTS, assert_disk_matches_state, run_and_kill_at, small_world, spawn_paused,
    sync_args, truth_of, wait_paused,
};
use crate::harness::*;

const DAY: i64 = 86_400;

fn backfill_world() -> SimConfig {
    SimConfig {
        history_days: 60,
        ..small_world()
    }
}

async fn state_json(world: &World) -> Value {
    let out = run_cli(
        &[
            "state".into(),
            "show".into(),
            "--json".into(),
            "--state".into(),
            world.state().display().to_string(),
        ],
        &[],
    )
    .await;
    assert_ok(&out);
    serde_json::from_str(&stdout(&out)).expect("state show --json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_backfill_resumes_without_re_exporting_finished_windows() {
    let world = World::start(backfill_world()).await;
    // Thirty days of history, in 3-day windows: 10 windows per report.
    // Not at midnight: contact search compares by day, the export must not.
    let since = DEFAULT_START_TIME - 30 * DAY + 5 * 3600 + 17;
    let mut args = sync_args(&world, "backfill");
    args.extend(
        [
            "--since",
            &since.to_string(),
            "--until",
            &(DEFAULT_START_TIME + 1).to_string(),
            "--window",
            "3d",
        ]
        .map(String::from),
    );
    // Killed after 13 committed windows (of the reports running side by
    // side), then in the middle of a window's Parquet part.
    assert_eq!(run_and_kill_at(&args, "window:13").await, Ended::Killed);
    assert_eq!(run_and_kill_at(&args, "page:2").await, Ended::Killed);
    let out = run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "t")]).await;
    assert_ok(&out);
    let text = stdout(&out);
    assert!(text.contains("complete"), "{text}");

    // Reports run side by side: the finished windows are spread over them.
    let names: Vec<&str> = intercom_export::reports::ReportName::all()
        .map(|r| r.as_str())
        .collect();
    let mut skipped = 0;
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.first().is_some_and(|c| names.contains(c)) {
            // `skipped` is the 10th column; anomaly notes may follow it
            // (e.g. values read from milliseconds).
            skipped += cols[9].parse::<u64>().expect("skipped column");
        }
    }
    assert!(skipped >= 13, "finished windows were skipped: {text}");

    // conversation_parts: every part of the conversations updated in the
    // range (their parent search's), none twice.
    let conversations = world.truth("conversations").await;
    let parts: Vec<Value> = conversations
        .iter()
        .filter(|c| c["updated_at"].as_i64().is_some_and(|t| t >= since))
        .flat_map(|c| {
            c["conversation_parts"]["conversation_parts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    assert!(!parts.is_empty());
    let mut rows = Vec::new();
    for dir in run_dirs(&world.output(), "conversation_parts") {
        rows.extend(ids_and_updated(&read_parquet_dir(&dir)));
    }
    assert_eq!(rows.len(), parts.len(), "conversation_parts: no part twice");
    assert_eq!(unique_map(&rows), truth_map(&parts, None));
    for (report, role, dataset) in REPORTS {
        if report == "conversation_parts" {
            continue;
        }
        let truth: BTreeMap<String, i64> = truth_map(&world.truth(dataset).await, role)
            .into_iter()
            .filter(|(_, t)| *t >= since)
            .collect();
        assert!(truth.len() > 20, "{report}: the range holds records");
        let mut rows = Vec::new();
        for dir in run_dirs(&world.output(), report) {
            rows.extend(ids_and_updated(&read_parquet_dir(&dir)));
        }
        let versions: BTreeSet<_> = rows.iter().cloned().collect();
        assert_eq!(
            versions.len(),
            rows.len(),
            "{report}: a window was exported twice"
        );
        assert_eq!(
            unique_map(&rows),
            truth,
            "{report}: exactly the records updated in the range"
        );
    }
    assert_disk_matches_state(&world.output(), &world.state()).await;
    let state = state_json(&world).await;
    assert_eq!(state["cursors"], Value::Array(vec![]), "no cursor moved");

    // A sync afterwards still starts from scratch (the backfill did not move
    // its cursor) and may run while a backfill holds its own lock.
    let mut backfill = spawn_paused(&args, "page:1");
    assert_eq!(wait_paused(&mut backfill).await, None);
    let sync = run_cli(
        &sync_args(&world, "sync"),
        &[("INTERCOM_ACCESS_TOKEN", "t")],
    )
    .await;
    assert_ok(&sync);
    backfill.start_kill().expect("kill");
    backfill.wait().await.expect("reaped");
    let state = state_json(&world).await;
    assert!(cursor_reports(&state).is_superset(&default_cursors()));
}

/// The reports that have a cursor.
fn cursor_reports(state: &Value) -> BTreeSet<String> {
    state["cursors"]
        .as_array()
        .expect("cursors")
        .iter()
        .filter_map(|c| c["report"].as_str().map(String::from))
        .collect()
}

/// Reports that keep a cursor after a default sync.
fn default_cursors() -> BTreeSet<String> {
    REPORTS.iter().map(|(r, _, _)| r.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_syncs_then_stops_cleanly_on_sigterm() {
    let world = World::start(small_world()).await;
    let mut args = sync_args(&world, "schedule");
    args.extend(["--every", "1h", "--jitter", "1m"].map(String::from));
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_intercom-export"))
        .args(&args)
        .env("INTERCOM_ACCESS_TOKEN", "t")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starts");
    // Wait for the first sync to finish (its run is recorded as succeeded).
    let mut done = false;
    for _ in 0..3000 {
        if world.state().exists() {
            let s = state_json(&world).await;
            if s["runs"][0]["status"] == "succeeded" {
                done = true;
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(done, "the first scheduled sync finished");
    let pid = child.id().expect("pid") as i32;
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = child.wait().await.expect("exits");
    assert_eq!(status.code(), Some(0), "clean stop");
    for (report, _, _) in REPORTS {
        let exported = ids_and_updated(&read_parquet_dir(&run_dirs(&world.output(), report)[0]));
        assert_eq!(unique_map(&exported), truth_of(&world, report).await);
    }
    assert_disk_matches_state(&world.output(), &world.state()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_the_workspace_and_the_readable_reports() {
    let world = World::start(SimConfig {
        reject_tokens: vec!["bad-token".into()],
        ..small_world()
    })
    .await;
    let args = vec![
        "check".to_string(),
        "--base-url".into(),
        world.sim.base_url(),
    ];
    let out = run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "good")]).await;
    assert_ok(&out);
    let text = stdout(&out);
    assert!(text.contains("token: valid"), "{text}");
    assert!(text.contains("region US"), "{text}");
    // Every default report got its probe answered.
    let lines: Vec<&str> = text.lines().skip(3).collect();
    assert!(lines.len() >= REPORTS.len(), "{text}");
    for line in &lines {
        assert!(line.contains(" ok ("), "{line}\n{text}");
    }
    for (report, _, _) in REPORTS {
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("{report} "))),
            "{report}: {text}"
        );
    }
    let bad = run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "bad-token")]).await;
    assert_eq!(bad.status.code(), Some(3), "{}", stderr(&bad));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_probes_the_events_scope_not_only_the_contact_search() {
    let world = World::start(SimConfig {
        deny_scopes: vec!["events".into()],
        ..small_world()
    })
    .await;
    let args = vec![
        "check".to_string(),
        "--base-url".into(),
        world.sim.base_url(),
        "--reports".into(),
        "users,events".into(),
    ];
    let out = run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "good")]).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = stdout(&out);
    let line = |report: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{report} ")))
            .unwrap_or_else(|| panic!("{report}: {text}"))
            .to_string()
    };
    assert!(line("users").contains(" ok ("), "{text}");
    let events = line("events");
    assert!(
        events.contains("FORBIDDEN") && events.contains("events"),
        "{text}"
    );

    // With the scope granted, both probes pass (an unknown user is a 404).
    world
        .sim_post("faults", serde_json::json!({"denied_scopes": []}))
        .await;
    let out = run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "good")]).await;
    assert_ok(&out);
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.starts_with("events ") && l.contains("GET /events")),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_show_and_reset_of_one_report() {
    let world = World::start(small_world()).await;
    let args = sync_args(&world, "sync");
    assert_ok(&run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "t")]).await);
    let state = state_json(&world).await;
    let before = cursor_reports(&state);
    assert!(before.is_superset(&default_cursors()), "{before:?}");
    assert_eq!(state["runs"][0]["status"], "succeeded");
    let users_truth = truth_map(&world.truth("contacts").await, Some("user"));
    let users_files = state["files"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["report"] == "users"))
        .expect("users files");
    assert_eq!(users_files["rows"].as_u64(), Some(users_truth.len() as u64));

    let reset = run_cli(
        &[
            "state".into(),
            "reset".into(),
            "--report".into(),
            "users".into(),
            "--state".into(),
            world.state().display().to_string(),
        ],
        &[],
    )
    .await;
    assert_ok(&reset);
    let state = state_json(&world).await;
    let mut expected = before.clone();
    expected.remove("users");
    assert_eq!(cursor_reports(&state), expected);
    // The next sync exports users in full again, and nothing else.
    assert_ok(&run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "t")]).await);
    let dirs = run_dirs(&world.output(), "users");
    assert_eq!(dirs.len(), 2);
    assert_eq!(
        unique_map(&ids_and_updated(&read_parquet_dir(&dirs[1]))),
        users_truth
    );
    assert_eq!(run_dirs(&world.output(), "leads").len(), 1);
}

/// A server that can never be reached (a wrong port here) fails the run in
/// a few attempts with exit 1 and the reason, instead of retrying every
/// report for `max_retry_time` and halving its pages as if the server were
/// struggling (a refused connection reached no server at all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_never_reached_ends_the_run_at_once_with_exit_1() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("its address").port()
        // dropped: nothing listens there any more
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let args: Vec<String> = [
        "sync",
        "--base-url",
        &format!("http://127.0.0.1:{port}"),
        "--reports",
        "admins,users,conversations,conversation_parts",
        "--output",
        &dir.path().join("out").display().to_string(),
        "--state",
        &dir.path().join("state.db").display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "t")]).await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("could not connect"), "{err}");
    assert!(
        !err.contains("splitting the window") && !err.contains("smaller pages"),
        "a refused connection is not a struggling server: {err}"
    );
    // Each report tried at most a few times, never for max_retry_time.
    let retries = err.matches("retrying request").count();
    assert!(
        retries <= 4 * (intercom_export::http::NEVER_REACHED_ATTEMPTS as usize - 1),
        "{retries} retries: {err}"
    );
}
