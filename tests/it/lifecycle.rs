//! The issue #17 reports of the exporter (`ticket_parts`, `ticket_contacts`,
//! `part_attachments`, `lifecycle_events`) against the simulator's
//! `/__sim/truth/<name>`, column by column: a first sync exports the truth,
//! and after the clock moves a second sync exports exactly what changed.

use std::collections::{BTreeMap, BTreeSet};

use intercom_export::simulator::SimConfig;
use serde_json::{Value, json};

use crate::columns::{check_run, html_text};
use crate::harness::*;

const DAY: i64 = 86_400;

/// A world with tickets moving through their states.
fn world_config() -> SimConfig {
    SimConfig {
        seed: 17,
        contacts: 300,
        conversations: 80,
        companies: 20,
        tickets: 60,
        parts: 4,
        ..SimConfig::default()
    }
}

/// A ticket part row by (ticket, part).
pub(crate) fn ticket_part_key(r: &Value) -> String {
    format!("{}/{}", as_text(&r["ticket_id"]), as_text(&r["id"]))
}

/// The `ticket_parts` truth with the columns the exporter derives
/// (`body_text`, `attachment_count`, `parts_truncated`, `parts_total`).
pub(crate) async fn ticket_parts_truth(world: &World) -> Vec<Value> {
    let parts = world.truth("ticket_parts").await;
    let mut per_ticket: BTreeMap<String, u64> = BTreeMap::new();
    for p in &parts {
        *per_ticket.entry(as_text(&p["ticket_id"])).or_default() += 1;
    }
    parts
        .into_iter()
        .map(|mut p| {
            let body_text = p["body"].as_str().map(html_text);
            let attachments = p["attachments"].as_array().map_or(0, Vec::len);
            let total = per_ticket[&as_text(&p["ticket_id"])];
            let m = p.as_object_mut().expect("part object");
            m.insert("body_text".into(), json!(body_text));
            m.insert("attachment_count".into(), json!(attachments));
            // Fewer than 500 parts per ticket here: nothing is cut off.
            m.insert("parts_truncated".into(), json!(false));
            m.insert("parts_total".into(), json!(total));
            p
        })
        .collect()
}

/// `(ticket_id, id, updated_at)` of a ticket part: its primary key.
fn part_version(p: &Value) -> (String, String, i64) {
    (
        as_text(&p["ticket_id"]),
        as_text(&p["id"]),
        p["updated_at"].as_i64().expect("updated_at"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticket_parts_equal_the_truth_then_only_the_changes() {
    let world = World::start(world_config()).await;
    assert_ok(&world.sync(&["--reports", "ticket_parts"]).await);
    let first = ticket_parts_truth(&world).await;
    let kinds: BTreeSet<&str> = first
        .iter()
        .filter_map(|p| p["part_type"].as_str())
        .collect();
    for kind in [
        "ticket_state_updated_by_admin",
        "assignment",
        "comment",
        "note",
    ] {
        assert!(
            kinds.contains(kind),
            "the world has {kind} parts: {kinds:?}"
        );
    }
    check_run(
        &world,
        "ticket_parts",
        0,
        first.clone(),
        None,
        ticket_part_key,
        false,
    )
    .await;

    let advanced = world.sim_post("advance", json!({"seconds": DAY})).await;
    assert!(
        advanced["updated"]["tickets"].as_u64().unwrap_or(0) > 0,
        "tickets moved: {advanced}"
    );
    assert_ok(&world.sync(&["--reports", "ticket_parts"]).await);
    let seen: BTreeSet<_> = first.iter().map(part_version).collect();
    let changes: Vec<Value> = ticket_parts_truth(&world)
        .await
        .into_iter()
        .filter(|p| !seen.contains(&part_version(p)))
        .collect();
    assert!(!changes.is_empty(), "the clock added ticket parts");
    check_run(
        &world,
        "ticket_parts",
        1,
        changes,
        None,
        ticket_part_key,
        false,
    )
    .await;
}

/// An exported timestamp (RFC 3339) in unix seconds.
fn unix(v: &Value) -> i64 {
    let t = v.as_str().expect("a timestamp");
    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
        .expect("rfc3339")
        .unix_timestamp()
}

/// Every committed `ticket_parts` row as `(ticket_id, id, updated_at)`.
fn committed_part_versions(world: &World) -> Vec<(String, String, i64)> {
    let mut out = Vec::new();
    for dir in run_dirs(&world.output(), "ticket_parts") {
        for r in json_rows(&read_parquet_dir(&dir)) {
            let r = Value::Object(r);
            out.push((
                as_text(&r["ticket_id"]),
                as_text(&r["id"]),
                unix(&r["updated_at"]),
            ));
        }
    }
    out
}

/// `sync --reports REPORT` (one, or several comma-separated) on `world`
/// (small pages and parts, a checkpoint after every window) killed at many
/// points over three rounds, the clock
/// moving six hours between rounds, then run to its end. Each round but the
/// last ends with a run that finishes: the clock moves between complete
/// syncs (a parent exported by an interrupted run and changed before the
/// resumed run may get parts again, see `reports::part_cursor`).
pub(crate) async fn kill_at_many_points(world: &World, report: &str) {
    use crate::crash::{Ended, run_and_kill_at};
    let config = world.dir.path().join("crash.toml");
    std::fs::write(
        &config,
        "page_size = 20\nrows_per_file = 25\ncheckpoint_secs = 0\n",
    )
    .expect("config");
    let args: Vec<String> = sync_argv(
        &config,
        report,
        &world.sim.base_url(),
        &world.output(),
        &world.state(),
    );
    let rounds: [&[&str]; 3] = [
        &[
            "page:2",
            "written:1",
            "in_commit:1",
            "committed:1",
            "page:5",
            "in_commit:2",
            "committed:3",
            "page:9",
            "never:1",
        ],
        &[
            "page:1",
            "written:1",
            "in_commit:1",
            "committed:1",
            "never:1",
        ],
        &["in_commit:2", "page:3", "committed:2"],
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
    assert!(kills >= 8, "{report}: only {kills} runs were killed");
    assert_ok(&run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "t")]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticket_parts_killed_at_many_points_are_exported_exactly_once() {
    use crate::crash::assert_disk_matches_state;
    let world = World::start(SimConfig {
        tickets: 150,
        ..world_config()
    })
    .await;
    kill_at_many_points(&world, "ticket_parts").await;
    let got = committed_part_versions(&world);
    let unique: BTreeSet<_> = got.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        got.len(),
        "a ticket part version exported twice"
    );
    let truth: BTreeSet<_> = world
        .truth("ticket_parts")
        .await
        .iter()
        .map(part_version)
        .collect();
    let missing: Vec<_> = truth.difference(&unique).collect();
    let extra: Vec<_> = unique.difference(&truth).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "every ticket part of the truth, no other: missing {missing:?}, not in the truth {extra:?}"
    );
    assert_disk_matches_state(&world.output(), &world.state()).await;
}

/// Every (conversation, part, updated_at) exported by any run.
pub(crate) fn committed_conversation_part_versions(world: &World) -> Vec<(String, String, i64)> {
    let mut out = Vec::new();
    for dir in run_dirs(&world.output(), "conversation_parts") {
        for r in json_rows(&read_parquet_dir(&dir)) {
            let r = Value::Object(r);
            out.push((
                as_text(&r["conversation_id"]),
                as_text(&r["id"]),
                unix(&r["updated_at"]),
            ));
        }
    }
    out
}

/// The same kill rounds as `ticket_parts`, on `conversation_parts`: a
/// rerun after a checkpoint must still write the older parts of the
/// conversations beyond it (they were never written), none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversation_parts_killed_at_many_points_are_exported_exactly_once() {
    use crate::crash::assert_disk_matches_state;
    let world = World::start(SimConfig {
        conversations: 200,
        ..world_config()
    })
    .await;
    kill_at_many_points(&world, "conversation_parts").await;
    let got = committed_conversation_part_versions(&world);
    let unique: BTreeSet<_> = got.iter().cloned().collect();
    assert_eq!(unique.len(), got.len(), "a part version exported twice");
    let truth: BTreeSet<_> = world
        .truth("conversation_parts")
        .await
        .iter()
        .map(|p| {
            (
                as_text(&p["conversation_id"]),
                as_text(&p["id"]),
                p["updated_at"].as_i64().expect("updated_at"),
            )
        })
        .collect();
    // Conversations deleted while the clock moved left the truth; their
    // parts were exported while they lived.
    let live: BTreeSet<String> = world
        .truth("conversations")
        .await
        .iter()
        .map(|c| as_text(&c["id"]))
        .collect();
    let missing: Vec<_> = truth.difference(&unique).collect();
    let extra: Vec<_> = unique
        .difference(&truth)
        .filter(|(conversation, _, _)| live.contains(conversation))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "every part of the truth, no other: {} missing {missing:?}, not in the truth {extra:?}",
        missing.len()
    );
    assert_disk_matches_state(&world.output(), &world.state()).await;
}

/// Events per kind.
fn kinds(events: &[Value]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for e in events {
        *m.entry(as_text(&e["event"])).or_default() += 1;
    }
    m
}

/// Every `event_key` exported by run `run`.
fn exported_keys(world: &World, report: &str, run: usize) -> Vec<String> {
    let dirs = run_dirs(&world.output(), report);
    json_rows(&read_parquet_dir(&dirs[run]))
        .into_iter()
        .map(|r| as_text(&r["event_key"]))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_events_equal_the_truth_then_only_new_events() {
    let world = World::start(world_config()).await;
    assert_ok(&world.sync(&["--reports", "lifecycle_events"]).await);
    let first = world.truth("lifecycle_events").await;
    let per_kind = kinds(&first);
    for kind in [
        "conversation_created",
        "conversation_rated",
        "conversation_replied",
        "conversation_closed",
        "ticket_created",
        "ticket_submitted",
        "ticket_replied",
        "ticket_pending",
        "ticket_resolved",
    ] {
        assert!(
            per_kind.get(kind).is_some_and(|n| *n > 0),
            "the world has {kind}: {per_kind:?}"
        );
    }
    check_run(
        &world,
        "lifecycle_events",
        0,
        first.clone(),
        None,
        event_key,
        false,
    )
    .await;
    let got = exported_keys(&world, "lifecycle_events", 0);
    let got_kinds = kinds(
        &got.iter()
            .map(|k| json!({"event": k.split(':').next().unwrap_or("")}))
            .collect::<Vec<_>>(),
    );
    assert_eq!(got_kinds, per_kind, "each kind: the truth's count");

    let advanced = world.sim_post("advance", json!({"seconds": DAY})).await;
    assert!(
        advanced["updated"]["tickets"].as_u64().unwrap_or(0) > 0,
        "tickets moved: {advanced}"
    );
    assert_ok(&world.sync(&["--reports", "lifecycle_events"]).await);
    let before: BTreeSet<String> = first.iter().map(event_key).collect();
    let new: Vec<Value> = world
        .truth("lifecycle_events")
        .await
        .into_iter()
        .filter(|e| !before.contains(&event_key(e)))
        .collect();
    let new_kinds = kinds(&new);
    for kind in ["ticket_replied", "ticket_resolved", "conversation_created"] {
        assert!(
            new_kinds.contains_key(kind),
            "the clock made {kind}: {new_kinds:?}"
        );
    }
    check_run(&world, "lifecycle_events", 1, new, None, event_key, false).await;
    let second = exported_keys(&world, "lifecycle_events", 1);
    let mut all: Vec<&String> = got.iter().chain(&second).collect();
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "an event_key written by both syncs");
}

/// A `ticket_contacts` row by (ticket, version, contact).
pub(crate) fn ticket_contact_key(r: &Value) -> String {
    // Exported rows: RFC 3339 and `contact_id`; truth: unix seconds and `id`.
    let t = &r["ticket_updated_at"];
    let t = t.as_i64().unwrap_or_else(|| unix(t));
    let contact = [&r["contact_id"], &r["id"]]
        .into_iter()
        .find(|v| !v.is_null())
        .map_or_else(String::new, as_text);
    format!("{}/{t}/{contact}", as_text(&r["ticket_id"]))
}

/// The expected `ticket_contacts` rows of the tickets in the truth whose
/// version is not in `exported` (`(id, updated_at)`): the truth's
/// `ticket_contacts` lines (contact id as `id`, the column's source), and
/// one row without contact for a version without contacts.
pub(crate) async fn ticket_contacts_truth(
    world: &World,
    exported: &BTreeSet<(String, i64)>,
) -> (Vec<Value>, BTreeSet<(String, i64)>) {
    let tickets = world.truth("tickets").await;
    let versions: BTreeSet<(String, i64)> = tickets
        .iter()
        .map(|t| {
            (
                as_text(&t["id"]),
                t["updated_at"].as_i64().expect("updated_at"),
            )
        })
        .collect();
    let mut with_contacts = BTreeSet::new();
    let mut rows: Vec<Value> = Vec::new();
    for c in world.truth("ticket_contacts").await {
        let v = (
            as_text(&c["ticket_id"]),
            c["ticket_updated_at"].as_i64().expect("t"),
        );
        with_contacts.insert(v.0.clone());
        if !exported.contains(&v) {
            rows.push(
                json!({"ticket_id": c["ticket_id"], "ticket_updated_at": c["ticket_updated_at"],
                             "id": c["contact_id"], "external_id": c["external_id"]}),
            );
        }
    }
    for (id, t) in &versions {
        if !with_contacts.contains(id) && !exported.contains(&(id.clone(), *t)) {
            rows.push(json!({"ticket_id": id, "ticket_updated_at": t}));
        }
    }
    (rows, versions)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticket_contacts_equal_the_truth_then_only_changed_tickets() {
    let world = World::start(world_config()).await;
    assert_ok(&world.sync(&["--reports", "ticket_contacts"]).await);
    let (first, versions) = ticket_contacts_truth(&world, &BTreeSet::new()).await;
    let per_ticket = first
        .iter()
        .fold(BTreeMap::<String, usize>::new(), |mut m, r| {
            *m.entry(as_text(&r["ticket_id"])).or_default() += 1;
            m
        });
    assert!(
        per_ticket.values().any(|n| *n > 1),
        "tickets with several contacts"
    );
    check_run(
        &world,
        "ticket_contacts",
        0,
        first,
        None,
        ticket_contact_key,
        false,
    )
    .await;

    world.sim_post("advance", json!({"seconds": DAY})).await;
    assert_ok(&world.sync(&["--reports", "ticket_contacts"]).await);
    let (changed, _) = ticket_contacts_truth(&world, &versions).await;
    assert!(!changed.is_empty(), "the clock changed tickets");
    check_run(
        &world,
        "ticket_contacts",
        1,
        changed,
        None,
        ticket_contact_key,
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn part_attachments_equal_the_truth_then_only_new_attachments() {
    let world = World::start(SimConfig {
        conversations: 300,
        tickets: 120,
        ..world_config()
    })
    .await;
    assert_ok(&world.sync(&["--reports", "part_attachments"]).await);
    let first = world.truth("part_attachments").await;
    for parent in ["conversation", "ticket"] {
        assert!(
            first.iter().any(|a| a["parent_type"] == parent),
            "the world has {parent} attachments"
        );
    }
    assert!(
        first.iter().any(|a| a["width"].is_null()) && first.iter().any(|a| a["width"].is_i64()),
        "attachments with and without dimensions"
    );
    check_run(
        &world,
        "part_attachments",
        0,
        first.clone(),
        None,
        attachment_key,
        false,
    )
    .await;

    world.sim_post("advance", json!({"seconds": 2 * DAY})).await;
    assert_ok(&world.sync(&["--reports", "part_attachments"]).await);
    let before: BTreeSet<String> = first.iter().map(attachment_key).collect();
    let new: Vec<Value> = world
        .truth("part_attachments")
        .await
        .into_iter()
        .filter(|a| !before.contains(&attachment_key(a)))
        .collect();
    assert!(!new.is_empty(), "the clock added attachments");
    check_run(
        &world,
        "part_attachments",
        1,
        new,
        None,
        attachment_key,
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_events_killed_at_many_points_are_exported_exactly_once() {
    let world = World::start(SimConfig {
        conversations: 150,
        tickets: 100,
        ..world_config()
    })
    .await;
    kill_at_many_points(&world, "lifecycle_events").await;
    let mut got = Vec::new();
    for dir in run_dirs(&world.output(), "lifecycle_events") {
        got.extend(json_rows(&read_parquet_dir(&dir)).into_iter().map(|r| {
            (
                as_text(&r["event_key"]),
                r.get("conversation_id").map(as_text),
            )
        }));
    }
    let unique: BTreeMap<String, Option<String>> = got.iter().cloned().collect();
    assert_eq!(unique.len(), got.len(), "an event_key exported twice");
    let truth: BTreeSet<String> = world
        .truth("lifecycle_events")
        .await
        .iter()
        .map(event_key)
        .collect();
    let missing: Vec<_> = truth.iter().filter(|k| !unique.contains_key(*k)).collect();
    assert!(missing.is_empty(), "events never exported: {missing:?}");
    // Conversations deleted by the clock leave the truth, not the export.
    let live: BTreeSet<String> = world
        .truth("conversations")
        .await
        .iter()
        .map(|c| as_text(&c["id"]))
        .collect();
    let extra: Vec<_> = unique
        .iter()
        .filter(|(k, conversation)| {
            !truth.contains(*k) && conversation.as_ref().is_none_or(|c| live.contains(c))
        })
        .collect();
    assert!(extra.is_empty(), "events not in the truth: {extra:?}");
    crate::crash::assert_disk_matches_state(&world.output(), &world.state()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_events_of_failed_conversations_come_with_the_next_run_once() {
    use std::sync::{Arc, Mutex};
    let world = World::start(world_config()).await;
    let bad: Vec<String> = world
        .truth("conversations")
        .await
        .iter()
        .take(3)
        .map(|c| as_text(&c["id"]))
        .collect();
    let failing = Arc::new(Mutex::new(bad.iter().cloned().collect()));
    let base = crate::failed::start_proxy(&world, Arc::clone(&failing)).await;
    let config = world.dir.path().join("no-retries.toml");
    std::fs::write(&config, "page_size = 20\nmax_retries = 0\n").expect("config");
    let args: Vec<String> = [
        "sync",
        "--config",
        &config.display().to_string(),
        "--base-url",
        &base,
        "--output",
        &world.output().display().to_string(),
        "--state",
        &world.state().display().to_string(),
        "--reports",
        "lifecycle_events",
    ]
    .map(String::from)
    .to_vec();
    let out = run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "t")]).await;
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let items: Vec<String> = crate::failed::failed_items(&world)
        .await
        .iter()
        .map(|i| as_text(&i["item_id"]))
        .collect();
    for id in &bad {
        assert!(
            items
                .iter()
                .any(|i| i.starts_with(&format!("conversation:{id}@"))),
            "{id} recorded as a failed item: {items:?}"
        );
    }
    let truth = world.truth("lifecycle_events").await;
    let first: BTreeSet<String> = exported_keys(&world, "lifecycle_events", 0)
        .into_iter()
        .collect();
    for e in &truth {
        let of_bad = bad.iter().any(|b| e["conversation_id"] == b.as_str());
        assert_eq!(!of_bad, first.contains(&event_key(e)), "{e}");
    }

    failing.lock().expect("lock").clear();
    assert_ok(&run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "t")]).await);
    assert!(
        crate::failed::failed_items(&world).await.is_empty(),
        "recovered"
    );
    let second = exported_keys(&world, "lifecycle_events", 1);
    let mut all: Vec<String> = first.iter().cloned().chain(second).collect();
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "an event_key written twice");
    let want: Vec<String> = truth
        .iter()
        .map(event_key)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(all, want, "every event once");
}
