//! Findings of a new user's trial. Hung calls (the simulator's `stall`
//! fault) against the in-flight gate: a call out far longer than the
//! others gives its slot to the next one and is sent again beside itself,
//! so a few hangs do not hold the run, and the export still equals the
//! truth. A host never reached ends the run at once, naming the host. A
//! token without the tickets scope: `--exclude-reports`, and the
//! conversation half of the reports that read both parents.

use std::collections::BTreeSet;

use intercom_export::http::inflight::INITIAL_TARGET;
use intercom_export::simulator::SimConfig;
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
    // A hung call was sent again beside itself (a hedge) and answered by
    // that, not retried after its 10 s timeout, as every one was before.
    let retries = s["retries"].as_u64().expect("retries");
    assert!(retries * 2 < stalled, "{retries} retries: {s}");
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
/// `sync` of the three company reports against `base_url`, with a summary.
async fn sync_company_reports(
    base_url: &str,
    output: &std::path::Path,
    state: &std::path::Path,
    summary: &std::path::Path,
) -> std::process::Output {
    let args: Vec<String> = [
        "sync",
        "--base-url",
        base_url,
        "--reports",
        "companies,company_tags,company_segments",
        "--output",
        &output.display().to_string(),
        "--state",
        &state.display().to_string(),
        "--summary-json",
        &summary.display().to_string(),
    ]
    .map(String::from)
    .to_vec();
    run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "t")]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_host_ends_the_company_reports_at_once_naming_the_host() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("its address").port()
        // dropped: nothing listens there any more
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let summary_path = dir.path().join("summary.json");
    let out = sync_company_reports(
        &format!("http://127.0.0.1:{port}"),
        &dir.path().join("out"),
        &dir.path().join("state.db"),
        &summary_path,
    )
    .await;
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

/// A `base_url` whose path is wrong (the server answers every request with
/// 404): the company scroll's first request is refused outright, so each
/// company report fails at once instead of starting the scroll again from
/// the beginning six times (the second trial: 18 passes, 23 s).
#[tokio::test]
async fn a_scroll_refused_outright_is_not_started_again() {
    let world = World::start(SimConfig {
        seed: 5,
        contacts: 10,
        conversations: 0,
        companies: 30,
        ..SimConfig::default()
    })
    .await;
    let summary_path = world.dir.path().join("summary.json");
    let out = sync_company_reports(
        &format!("{}/v9", world.sim.base_url()),
        &world.output(),
        &world.state(),
        &summary_path,
    )
    .await;
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        !err.contains("starting the scroll again"),
        "no scroll restarts: {err}"
    );
    let s = summary(&summary_path);
    let reports = s["reports"].as_array().expect("reports");
    assert_eq!(reports.len(), 3, "{s}");
    for r in reports {
        assert_eq!(r["scroll_restarts"], 0, "{r}");
        assert!(
            r["error"].as_str().is_some_and(|e| e.contains("404")),
            "each report names the 404: {r}"
        );
    }
    // One refused first request per report (the scroll is shared, a
    // failure is not kept), not six passes each.
    let requests = s["requests"].as_u64().unwrap_or(0);
    assert!(requests <= 3, "{requests} requests: {s}");
}

/// The keys of every row a report wrote, over all its run directories
/// (`key` of each row as a JSON object), and per run in order.
fn keys_by_run(world: &World, report: &str, key: fn(&Value) -> String) -> Vec<BTreeSet<String>> {
    run_dirs(&world.output(), report)
        .iter()
        .map(|dir| {
            json_rows(&read_parquet_dir(dir))
                .into_iter()
                .map(|r| key(&Value::Object(r)))
                .collect()
        })
        .collect()
}

/// The keys of a truth dataset's lines whose `field` is `value` (all with
/// `None`).
async fn truth_keys(
    world: &World,
    dataset: &str,
    key: fn(&Value) -> String,
    only: Option<(&str, &str)>,
) -> BTreeSet<String> {
    world
        .truth(dataset)
        .await
        .iter()
        .filter(|t| only.is_none_or(|(f, v)| t[f] == v))
        .map(key)
        .collect()
}

/// A token without the tickets scope (the trial: every default sync exit 4,
/// `lifecycle_events` and `part_attachments` with 0 rows): leaving the four
/// ticket reports out gives exit 0, the two reports of both parents export
/// their conversation half, say once that the ticket half needs `Read
/// tickets`, and keep the ticket half's cursor, so the sync after the
/// scope is granted exports every ticket row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_tickets_scope_the_conversation_half_is_exported_and_tickets_follow_later() {
    let world = World::start(intercom_export::simulator::SimConfig {
        seed: 17,
        contacts: 200,
        conversations: 60,
        companies: 10,
        tickets: 40,
        parts: 4,
        deny_scopes: vec!["tickets".into()],
        ..intercom_export::simulator::SimConfig::default()
    })
    .await;
    let unknown = world.sync(&["--exclude-reports", "tickets,tikets"]).await;
    assert_eq!(unknown.status.code(), Some(2), "{}", stderr(&unknown));
    assert!(
        stderr(&unknown).contains("\"tikets\""),
        "{}",
        stderr(&unknown)
    );

    let summary_path = world.dir.path().join("summary.json");
    let summary_arg = summary_path.display().to_string();
    let out = world
        .sync(&[
            "--exclude-reports",
            "tickets,ticket_types,ticket_parts,ticket_contacts",
            "--summary-json",
            &summary_arg,
        ])
        .await;
    assert_ok(&out);
    let s = summary(&summary_path);
    let reports = s["reports"].as_array().expect("reports");
    assert!(
        reports.iter().all(|r| !r["report"]
            .as_str()
            .unwrap_or_default()
            .starts_with("ticket")),
        "the ticket reports were left out: {s}"
    );
    for name in ["lifecycle_events", "part_attachments"] {
        let r = reports
            .iter()
            .find(|r| r["report"] == name)
            .unwrap_or_else(|| panic!("{name} ran: {s}"));
        assert_eq!(r["status"], "succeeded", "{r}");
        assert_eq!(r["skipped_scopes"], 1, "{r}");
        let detail = r["anomalies"][0]["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("`Read tickets`"), "{r}");
    }
    let warned = stderr(&out)
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("skipped_scopes"))
        .count();
    assert_eq!(warned, 2, "one warning per report:\n{}", stderr(&out));

    // `check` agrees with `sync`: the two reports are readable without
    // their ticket half (the second trial: FORBIDDEN, exit 3).
    let args: Vec<String> = [
        "check",
        "--base-url",
        &world.sim.base_url(),
        "--exclude-reports",
        "tickets,ticket_types,ticket_parts,ticket_contacts",
    ]
    .map(String::from)
    .to_vec();
    let check = run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "test-token")]).await;
    let said = String::from_utf8_lossy(&check.stdout).to_string();
    assert_eq!(check.status.code(), Some(0), "{said}{}", stderr(&check));
    for name in ["lifecycle_events", "part_attachments"] {
        let line = said
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} checked:\n{said}"));
        assert!(
            line.contains("ok (POST /conversations/search)")
                && line.contains("without POST /tickets/search (403"),
            "{line}"
        );
    }

    // The conversation halves, exactly.
    let events = keys_by_run(&world, "lifecycle_events", event_key);
    let conv_events = truth_keys(
        &world,
        "lifecycle_events",
        event_key,
        Some(("object_type", "conversation")),
    )
    .await;
    assert!(!conv_events.is_empty());
    assert_eq!(events, vec![conv_events.clone()]);
    let attachments = keys_by_run(&world, "part_attachments", attachment_key);
    let conv_attachments = truth_keys(
        &world,
        "part_attachments",
        attachment_key,
        Some(("parent_type", "conversation")),
    )
    .await;
    assert!(!conv_attachments.is_empty());
    assert_eq!(attachments, vec![conv_attachments.clone()]);

    // The scope granted: the ticket halves are read from the start.
    world.sim_post("faults", json!({"denied_scopes": []})).await;
    let out = world
        .sync(&["--reports", "lifecycle_events,part_attachments"])
        .await;
    assert_ok(&out);
    let events = keys_by_run(&world, "lifecycle_events", event_key);
    let all_events = truth_keys(&world, "lifecycle_events", event_key, None).await;
    let ticket_events: BTreeSet<String> = all_events.difference(&conv_events).cloned().collect();
    assert!(!ticket_events.is_empty());
    assert_eq!(events.len(), 2, "a second run wrote lifecycle_events");
    assert!(events[1].is_superset(&ticket_events), "every ticket event");
    let union: BTreeSet<String> = events.iter().flatten().cloned().collect();
    assert_eq!(union, all_events);
    let attachments = keys_by_run(&world, "part_attachments", attachment_key);
    let all_attachments = truth_keys(&world, "part_attachments", attachment_key, None).await;
    let ticket_attachments: BTreeSet<String> = all_attachments
        .difference(&conv_attachments)
        .cloned()
        .collect();
    assert!(!ticket_attachments.is_empty());
    assert_eq!(attachments.len(), 2);
    assert!(attachments[1].is_superset(&ticket_attachments));
    let union: BTreeSet<String> = attachments.iter().flatten().cloned().collect();
    assert_eq!(union, all_attachments);
}
