//! Hung calls (the simulator's `stall` fault) against the in-flight gate: a
//! call out far longer than the others gives its slot to the next one, so
//! a few hangs do not hold the run, and the export still equals the truth.

use std::collections::BTreeSet;

use intercom_export::http::inflight::INITIAL_TARGET;
use serde_json::{Value, json};

use crate::harness::*;

/// `--summary-json` of a run, read back.
fn summary(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("summary written")).expect("summary JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_calls_give_their_slots_away_and_the_parts_equal_the_truth() {
    let world = World::start(intercom_export::simulator::SimConfig {
        contacts: 40,
        conversations: 700,
        ..skeleton_world()
    })
    .await;
    // 3 % of the requests hang 12 s, longer than the 10 s timeout, as in
    // the trial (120 s against 60 s): a hung call is never answered, so it
    // gives the gate no latency, and the target stays at Little's law's 3
    // for a server that answers in a millisecond.
    world
        .sim_post(
            "faults",
            json!({"seed": 5, "stall": 0.03, "stall_secs": 12.0}),
        )
        .await;
    let config = world.dir.path().join("config.toml");
    std::fs::write(&config, "request_timeout_secs = 10\n").expect("config");
    let summary_path = world.dir.path().join("summary.json");
    let out = world
        .sync(&[
            "--config",
            &config.display().to_string(),
            "--reports",
            "conversation_parts",
            "--summary-json",
            &summary_path.display().to_string(),
        ])
        .await;
    assert_ok(&out);

    // Every part exactly as the truth has it.
    let dirs = run_dirs(&world.output(), "conversation_parts");
    assert_eq!(dirs.len(), 1);
    let got: Vec<(String, String)> = json_rows(&read_parquet_dir(&dirs[0]))
        .iter()
        .map(|r| {
            let field = |k: &str| as_text(r.get(k).unwrap_or_else(|| panic!("{k} in {r:?}")));
            (field("conversation_id"), field("id"))
        })
        .collect();
    let unique: BTreeSet<_> = got.iter().cloned().collect();
    assert_eq!(unique.len(), got.len(), "a part exported twice");
    let truth: BTreeSet<(String, String)> = world
        .truth("conversation_parts")
        .await
        .iter()
        .map(|p| (as_text(&p["conversation_id"]), as_text(&p["id"])))
        .collect();
    assert_eq!(unique, truth);

    // The hung calls gave their slots away: more calls were out at once
    // than the gate's first 8, which (with Little's law's 3 for a server
    // answering in a millisecond) was all a run ever had out before, the
    // hung ones holding their slots until their timeout.
    let s = summary(&summary_path);
    let stalled = s["stalled_calls"].as_u64().expect("stalled_calls");
    let peak = s["peak_in_flight"].as_u64().expect("peak_in_flight");
    assert!(stalled >= 1, "the hangs were taken for stalled: {s}");
    assert!(peak > INITIAL_TARGET as u64, "peak_in_flight: {s}");
    let served_at_once = world.sim_stat("/max_in_flight").await;
    assert!(
        served_at_once > INITIAL_TARGET as u64,
        "the simulator served {served_at_once} at once at most"
    );
}

/// A server never reached (a closed port here; a wrong `region` is a DNS
/// failure) with the company reports: the run ends in a few attempts with
/// exit 1 and one error that names the host and what to check, and the
/// company scroll is not started again pass after pass (the trial: 29 s,
/// 6 passes of `companies`, then 6 of `company_tags`, about 55 WARN lines).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_host_ends_the_company_reports_at_once_naming_the_host() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("its address").port()
        // dropped: nothing listens there any more
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let summary_path = dir.path().join("summary.json");
    let args: Vec<String> = [
        "sync",
        "--base-url",
        &format!("http://127.0.0.1:{port}"),
        "--reports",
        "companies,company_tags,company_segments",
        "--output",
        &dir.path().join("out").display().to_string(),
        "--state",
        &dir.path().join("state.db").display().to_string(),
        "--summary-json",
        &summary_path.display().to_string(),
    ]
    .map(String::from)
    .to_vec();
    let out = run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "t")]).await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        !err.contains("starting the scroll again"),
        "no scroll restarts: {err}"
    );
    let s = summary(&summary_path);
    let error = s["error"]
        .as_str()
        .or_else(|| {
            s["reports"]
                .as_array()
                .and_then(|r| r.iter().find_map(|r| r["error"].as_str()))
        })
        .unwrap_or_else(|| panic!("an error in {s}"))
        .to_string();
    assert!(
        error.contains("could not connect to 127.0.0.1")
            && error.contains("`region`")
            && error.contains("`base_url`"),
        "{error}"
    );
    for r in s["reports"].as_array().into_iter().flatten() {
        assert_eq!(r["scroll_restarts"], 0, "{r}");
    }
    // The few attempts of the client (then one per report at most), not
    // passes of the scroll.
    let requests = s["requests"].as_u64().unwrap_or(0);
    assert!(
        requests <= u64::from(intercom_export::http::NEVER_REACHED_ATTEMPTS) + 2,
        "{requests} requests: {s}"
    );
    let warns = err.lines().filter(|l| l.contains("WARN")).count();
    assert!(warns <= 4, "{warns} WARN lines:\n{err}");
}
