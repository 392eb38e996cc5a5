//! One `GET /conversations/{id}` per changed conversation per run for the
//! reports that read conversation details, `conversation_parts`,
//! `lifecycle_events` and `part_attachments` (issue #14, shared parents):
//! counted in the simulator's request statistics, with the three reports
//! equal to the simulator's truth, alone and together, and exactly once
//! across kills.

use std::collections::{BTreeMap, BTreeSet};

use intercom_export::simulator::SimConfig;
use serde_json::{Value, json};

use crate::columns::{by_id_key, check_run, conversation_parts_truth};
use crate::harness::*;

const DAY: i64 = 86_400;

/// How the simulator's statistics name the conversation read.
const GET: &str = "GET /conversations/{id}";

/// The three reports that read conversation details.
const READERS: &str = "conversation_parts,lifecycle_events,part_attachments";

fn world_config() -> SimConfig {
    SimConfig {
        seed: 14,
        contacts: 60,
        conversations: 120,
        companies: 10,
        tickets: 40,
        parts: 4,
        ..SimConfig::default()
    }
}

/// A config without lookback, so a second sync reads exactly the
/// conversations changed since the first.
fn no_lookback(world: &World) -> String {
    let path = world.dir.path().join("no-lookback.toml");
    std::fs::write(&path, "lookback_secs = 0\n").expect("config");
    path.display().to_string()
}

/// A conversation part version: (conversation, part, updated_at).
fn part_version(p: &Value) -> (String, String, i64) {
    (
        as_text(&p["conversation_id"]),
        as_text(&p["id"]),
        p["updated_at"].as_i64().expect("updated_at"),
    )
}

/// What the truth held when a run was checked, to check the next run's
/// rows against what changed since.
#[derive(Default)]
pub(crate) struct Seen {
    parts: BTreeSet<(String, String, i64)>,
    events: BTreeSet<String>,
    attachments: BTreeSet<String>,
}

/// Run `run` of the three readers holds, column by column, exactly the
/// truth's rows not in `seen`; returns the truth now.
pub(crate) async fn check_readers(world: &World, run: usize, seen: &Seen) -> Seen {
    let parts = conversation_parts_truth(world).await;
    let events = world.truth("lifecycle_events").await;
    let attachments = world.truth("part_attachments").await;
    let now = Seen {
        parts: parts.iter().map(part_version).collect(),
        events: events.iter().map(event_key).collect(),
        attachments: attachments.iter().map(attachment_key).collect(),
    };
    let new_parts: Vec<Value> = parts
        .into_iter()
        .filter(|p| !seen.parts.contains(&part_version(p)))
        .collect();
    let new_events: Vec<Value> = events
        .into_iter()
        .filter(|e| !seen.events.contains(&event_key(e)))
        .collect();
    let new_attachments: Vec<Value> = attachments
        .into_iter()
        .filter(|a| !seen.attachments.contains(&attachment_key(a)))
        .collect();
    assert!(
        !new_parts.is_empty() && !new_events.is_empty() && !new_attachments.is_empty(),
        "run {run} has rows in each report"
    );
    let checks = [
        (
            "conversation_parts",
            new_parts,
            by_id_key as fn(&Value) -> String,
        ),
        ("lifecycle_events", new_events, event_key),
        ("part_attachments", new_attachments, attachment_key),
    ];
    for (report, truth, key) in checks {
        check_run(world, report, run, truth, None, key, false).await;
    }
    now
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_sync_reads_each_changed_conversation_once_for_the_three_reports() {
    let world = World::start(world_config()).await;
    let config = no_lookback(&world);
    let before = world.requests_to(GET).await;
    assert_ok(&world.sync(&["--config", &config]).await);
    let conversations = world.truth("conversations").await;
    assert_eq!(
        world.requests_to(GET).await - before,
        conversations.len() as u64,
        "one GET per conversation for the three reports, not one per report"
    );
    let seen = check_readers(&world, 0, &Seen::default()).await;

    // The clock moves: the next sync reads each changed conversation once.
    let versions: BTreeSet<(String, i64)> = conversations
        .iter()
        .map(|c| {
            (
                as_text(&c["id"]),
                c["updated_at"].as_i64().expect("updated_at"),
            )
        })
        .collect();
    world.sim_post("advance", json!({"seconds": DAY})).await;
    let changed = world
        .truth("conversations")
        .await
        .iter()
        .filter(|c| !versions.contains(&(as_text(&c["id"]), c["updated_at"].as_i64().unwrap_or(0))))
        .count() as u64;
    assert!(changed > 0, "the clock changed conversations");
    let before = world.requests_to(GET).await;
    assert_ok(&world.sync(&["--config", &config]).await);
    assert_eq!(
        world.requests_to(GET).await - before,
        changed,
        "one GET per changed conversation"
    );
    check_readers(&world, 1, &seen).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversation_parts_alone_reads_each_conversation_once_as_before() {
    let world = World::start(world_config()).await;
    let before = world.requests_to(GET).await;
    assert_ok(&world.sync(&["--reports", "conversation_parts"]).await);
    assert_eq!(
        world.requests_to(GET).await - before,
        world.truth("conversations").await.len() as u64
    );
    let truth = conversation_parts_truth(&world).await;
    check_run(
        &world,
        "conversation_parts",
        0,
        truth,
        None,
        by_id_key,
        false,
    )
    .await;
}

/// Every row key of `report` over all runs, with the conversation it
/// belongs to (`None` for a ticket's).
fn exported(
    world: &World,
    report: &str,
    key: fn(&Value) -> String,
) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for dir in run_dirs(&world.output(), report) {
        for r in json_rows(&read_parquet_dir(&dir)) {
            let r = Value::Object(r);
            let conversation = match (&r["conversation_id"], &r["parent_type"]) {
                (Value::String(c), _) => Some(c.clone()),
                (_, t) if t == "conversation" => Some(as_text(&r["parent_id"])),
                _ => None,
            };
            out.push((key(&r), conversation));
        }
    }
    out
}

/// `got` has no key twice, holds every key of `truth`, and nothing else
/// but rows of conversations deleted since (not in `live`).
fn assert_once(
    report: &str,
    got: &[(String, Option<String>)],
    truth: &BTreeSet<String>,
    live: &BTreeSet<String>,
) {
    let unique: BTreeMap<&String, &Option<String>> = got.iter().map(|(k, c)| (k, c)).collect();
    assert_eq!(unique.len(), got.len(), "{report}: a row written twice");
    let missing: Vec<_> = truth.iter().filter(|k| !unique.contains_key(k)).collect();
    assert!(
        missing.is_empty(),
        "{report}: rows never written: {missing:?}"
    );
    let extra: Vec<_> = unique
        .iter()
        .filter(|(k, c)| !truth.contains(**k) && c.as_ref().is_none_or(|c| live.contains(c)))
        .collect();
    assert!(
        extra.is_empty(),
        "{report}: rows not in the truth: {extra:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_three_readers_killed_at_many_points_are_exported_exactly_once() {
    // The world of the lifecycle_events crash test (with seed 14 a
    // conversation's rating is re-dated by the clock, which writes a second
    // conversation_rated event, one not in the truth, with or without
    // sharing).
    let world = World::start(SimConfig {
        seed: 17,
        contacts: 300,
        conversations: 150,
        tickets: 100,
        ..world_config()
    })
    .await;
    crate::lifecycle::kill_at_many_points(&world, READERS).await;
    let live: BTreeSet<String> = world
        .truth("conversations")
        .await
        .iter()
        .map(|c| as_text(&c["id"]))
        .collect();
    let version_key = |p: &Value| {
        let (c, id, t) = part_version(p);
        format!("{c}/{id}/{t}")
    };
    let parts: Vec<(String, Option<String>)> =
        crate::lifecycle::committed_conversation_part_versions(&world)
            .into_iter()
            .map(|(c, id, t)| (format!("{c}/{id}/{t}"), Some(c)))
            .collect();
    let truth: BTreeSet<String> = world
        .truth("conversation_parts")
        .await
        .iter()
        .map(version_key)
        .collect();
    assert_once("conversation_parts", &parts, &truth, &live);
    let truth: BTreeSet<String> = world
        .truth("lifecycle_events")
        .await
        .iter()
        .map(event_key)
        .collect();
    let got = exported(&world, "lifecycle_events", event_key);
    assert_once("lifecycle_events", &got, &truth, &live);
    let truth: BTreeSet<String> = world
        .truth("part_attachments")
        .await
        .iter()
        .map(attachment_key)
        .collect();
    let got = exported(&world, "part_attachments", attachment_key);
    assert_once("part_attachments", &got, &truth, &live);
    crate::crash::assert_disk_matches_state(&world.output(), &world.state()).await;
}
