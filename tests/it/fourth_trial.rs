//! Findings of a fourth new user's trial: the log format from
//! `INTERCOM_LOG_FORMAT`, the order of a report's last log lines (its
//! anomaly warnings, then how it ended: done, stopped or failed), and no
//! state left behind by a first run that reached no server.

use std::time::Duration;

use intercom_export::simulator::{LatencyModel, SimConfig};
use serde_json::{Value, json};

use crate::crash::{committed_rows, sigterm_and_wait, small_world, start_paused_logged, sync_args};
use crate::harness::*;

/// Every stderr line of `out` as a JSON object; panics on a line that is
/// not one.
fn json_lines(out: &std::process::Output) -> Vec<Value> {
    stderr(out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert!(v.is_object(), "{l}");
            v
        })
        .collect()
}

/// The JSON log lines of `report` (its `report` field), in order.
fn lines_of<'a>(lines: &'a [Value], report: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["report"] == report).collect()
}

fn message(line: &Value) -> &str {
    line["message"].as_str().unwrap_or_default()
}

/// `INTERCOM_LOG_FORMAT=json` works like `--log-format json` (every line
/// on stderr is a JSON record, the variable is not warned about as unknown);
/// the flag wins over it; a value that is no format is a usage error (exit
/// 2) naming the variable and both formats, before anything is made.
#[tokio::test]
async fn intercom_log_format_sets_the_log_format_and_the_flag_wins() {
    let world = World::start(small_world()).await;
    let mut args = sync_args(&world, "sync");
    args.extend(["--reports".into(), "admins".into()]);
    let token = ("INTERCOM_ACCESS_TOKEN", "test-token");

    let bad = run_cli(&args, &[token, ("INTERCOM_LOG_FORMAT", "xml")]).await;
    let err = stderr(&bad);
    assert_eq!(bad.status.code(), Some(2), "{err}");
    assert_eq!(
        err.trim(),
        "error: INTERCOM_LOG_FORMAT=xml is not a log format; use human or json (or unset it; \
         --log-format overrides it)"
    );
    assert!(!world.state().exists(), "nothing made before the error");

    let json = run_cli(&args, &[token, ("INTERCOM_LOG_FORMAT", "json")]).await;
    assert_ok(&json);
    let lines = json_lines(&json);
    assert!(
        lines
            .iter()
            .any(|l| l["report"] == "admins" && message(l) == "report done"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .all(|l| !message(l).contains("is not a variable")),
        "INTERCOM_LOG_FORMAT is a variable the program reads: {lines:?}"
    );

    let mut human_args = args.clone();
    human_args.extend(["--log-format".into(), "human".into()]);
    let human = run_cli(&human_args, &[token, ("INTERCOM_LOG_FORMAT", "json")]).await;
    assert_ok(&human);
    let err = stderr(&human);
    let done: Vec<&str> = err.lines().filter(|l| l.contains("report done")).collect();
    assert_eq!(done.len(), 1, "{err}");
    assert!(
        !done[0].starts_with('{') && done[0].contains("INFO"),
        "--log-format human wins: {err}"
    );
}

/// The arguments of a `sync --reports users --log-format json` of `world`
/// with `config` as its config file.
fn json_log_sync(world: &World, config: &str) -> Vec<String> {
    let path = world.dir.path().join("run.toml");
    std::fs::write(&path, config).expect("config");
    let mut args = sync_argv(
        &path,
        "users",
        &world.sim.base_url(),
        &world.output(),
        &world.state(),
    );
    args.extend(["--log-format".into(), "json".into()]);
    args
}

/// A report that fails (a part write failing like a full disk, after some
/// checkpoints) logs its anomaly warnings (custom-attribute values not of
/// their declared type, which the simulator's contacts have) before its
/// `report failed` line, as one that completes logs them before `report
/// done`: how the report ended is its last line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_report_logs_its_anomalies_before_its_failed_line() {
    let world = World::start(small_world()).await;
    let args = json_log_sync(
        &world,
        "page_size = 4\nrows_per_file = 25\ncheckpoint_secs = 0\nconcurrency = 1\n",
    );
    let failed = run_cli(
        &args,
        &[
            ("INTERCOM_ACCESS_TOKEN", "test-token"),
            ("INTERCOM_EXPORT_TEST_FAIL", "part_finish:8"),
        ],
    )
    .await;
    assert_eq!(failed.status.code(), Some(4), "{}", stderr(&failed));
    let lines = json_lines(&failed);
    let users = lines_of(&lines, "users");
    let last = users.last().expect("users lines");
    assert!(
        message(last).starts_with("report failed") && last["level"] == "ERROR",
        "the last users line says it failed: {users:#?}"
    );
    let anomalies: Vec<&&Value> = users.iter().filter(|l| l.get("kind").is_some()).collect();
    assert!(
        anomalies
            .iter()
            .any(|l| l["kind"] == "unexpected_shapes" && l["level"] == "WARN"),
        "the failed report met custom-attribute misfits before it failed: {users:#?}"
    );
    assert_eq!(
        users
            .iter()
            .filter(|l| message(l).starts_with("report failed"))
            .count(),
        1,
        "{users:#?}"
    );

    // The rerun completes it: `report done` is its last line too.
    let rerun = run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "test-token")]).await;
    assert_ok(&rerun);
    let lines = json_lines(&rerun);
    let users = lines_of(&lines, "users");
    assert_eq!(
        users.last().map(|l| message(l)),
        Some("report done"),
        "{users:#?}"
    );
}

/// A report a SIGTERM cuts short ends with `report stopped at its last
/// checkpoint`, with the rows its checkpoints committed (those on disk),
/// never `report done`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_stopped_by_sigterm_says_it_stopped_with_what_it_committed() {
    let world = World::start(SimConfig {
        latency: Some(LatencyModel::parse("default=200ms").expect("latency spec")),
        ..small_world()
    })
    .await;
    let args = json_log_sync(
        &world,
        "page_size = 20\nrows_per_file = 25\ncheckpoint_secs = 0\n",
    );
    // Paused (SIGSTOP) at its 4th page written, then SIGTERM.
    let child = start_paused_logged(&args, "page:4", "paused at a page").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let out = sigterm_and_wait(child).await;
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let lines = json_lines(&out);
    let users = lines_of(&lines, "users");
    let last = users.last().expect("users lines");
    assert!(
        message(last).starts_with("report stopped at its last checkpoint"),
        "the last users line says it stopped: {users:#?}"
    );
    assert!(
        users.iter().all(|l| message(l) != "report done"),
        "{users:#?}"
    );
    let committed = committed_rows(&world, "users").await.len() as u64;
    assert_eq!(last["rows"], committed, "{last}");
    assert_eq!(last["failed"], 0, "{last}");
    let truth = world.truth("contacts").await;
    let users_truth = truth.iter().filter(|c| c["role"] == "user").count() as u64;
    assert!(committed < users_truth, "stopped before its end: {last}");
}

/// A first run against a port nothing listens on exits as before (1, the
/// connection error as its last line) and leaves no state, no lock file
/// and no directory for them; a state that existed before stays as it was.
#[tokio::test]
async fn a_first_run_that_reaches_no_server_leaves_no_state_behind() {
    let world = World::start(small_world()).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let dir = world.dir.path().join("states").join("a");
    let state = dir.join("state.db");
    let refused = |state: &std::path::Path| {
        [
            "sync",
            "--base-url",
            &format!("http://127.0.0.1:{port}"),
            "--output",
            &world.output().display().to_string(),
            "--state",
            &state.display().to_string(),
            "--reports",
            "admins,teams",
        ]
        .map(String::from)
        .to_vec()
    };
    let out = run_cli(&refused(&state), &[("INTERCOM_ACCESS_TOKEN", "t")]).await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: GET /")
            && last.contains("could not connect to 127.0.0.1")
            && last.contains("check `region` and `base_url`"),
        "{last}"
    );
    assert!(
        !world.dir.path().join("states").exists(),
        "no state, lock file or directory for them: {:?}",
        std::fs::read_dir(&dir).map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
    );
    assert!(!world.output().exists(), "no output directory either");

    // A state with a sync in it stays, with what it committed.
    let ok = world.sync(&["--reports", "admins"]).await;
    assert_ok(&ok);
    let before = committed_files(&world.state(), "admins").await;
    assert!(!before.is_empty());
    let out = run_cli(&refused(&world.state()), &[("INTERCOM_ACCESS_TOKEN", "t")]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(committed_files(&world.state(), "admins").await, before);
    // Its run is recorded as failed, as a refused token's is: not left
    // `running` for the next sync to "recover" as interrupted.
    let show = run_cli(
        &[
            "state",
            "show",
            "--json",
            "--state",
            &world.state().display().to_string(),
        ]
        .map(String::from),
        &[],
    )
    .await;
    assert_ok(&show);
    let shown: Value = serde_json::from_slice(&show.stdout).expect("state show --json");
    let statuses: Vec<&str> = shown["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| r["status"].as_str())
        .collect();
    assert!(
        statuses.contains(&"failed") && !statuses.contains(&"running"),
        "{statuses:?}"
    );
    let next = world.sync(&["--reports", "admins"]).await;
    assert_ok(&next);
    assert!(
        !stderr(&next).contains("interrupted run"),
        "{}",
        stderr(&next)
    );
}

/// The files the state at `path` lists as committed for `report`.
async fn committed_files(path: &std::path::Path, report: &str) -> Vec<String> {
    let store = intercom_export::state::StateStore::open(path)
        .await
        .expect("state");
    let files = store.committed_files(report).await.expect("files");
    store.close().await;
    files
}

/// A command line clap cannot parse, with JSON logs asked for (the flag or
/// `INTERCOM_LOG_FORMAT`), ends with one JSON record and exit 2, so a cron
/// log stays JSON (a fifth trial: clap's text came out as it is). Without
/// JSON logs it is clap's text, and `--help` is still help.
#[tokio::test]
async fn a_usage_error_with_json_logs_is_one_json_record() {
    let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    for (args, env, names) in [
        (
            argv(&["sync", "--log-format", "json", "--format", "xlsx"]),
            vec![],
            "'xlsx'",
        ),
        (
            argv(&["sync", "--bogus"]),
            vec![("INTERCOM_LOG_FORMAT", "json")],
            "'--bogus'",
        ),
    ] {
        let out = run_cli(&args, &env).await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "one line: {err}");
        let record: Value = serde_json::from_str(lines[0]).expect("a JSON record");
        assert_eq!(
            (&record["kind"], &record["exit_code"]),
            (&json!("usage"), &json!(2))
        );
        let message = record["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(names) && message.ends_with("(see --help)"),
            "{message}"
        );
    }
    let out = run_cli(&argv(&["sync", "--bogus"]), &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("error: unexpected argument '--bogus'"));
    let help = run_cli(&argv(&["sync", "--log-format", "json", "--help"]), &[]).await;
    assert_eq!(help.status.code(), Some(0));
    assert!(stdout(&help).contains("Usage:"), "{}", stdout(&help));
}
