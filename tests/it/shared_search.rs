//! One conversation search per run for every report that reads it (issue
//! #14, shared parents): `conversations`, `conversation_parts`, the
//! conversation mapping tables, `lifecycle_events` and `part_attachments`
//! ask for the same search pages, and the run sends each once (the ticket
//! search of the last two once too): counted by the simulator
//! (`/__sim/stats`) and by the run summary, with every report's rows equal
//! to the simulator's truth.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::columns::{by_id_key, check_run, conversation_parts_truth};
use crate::harness::*;
use crate::lifecycle::{
    ticket_contact_key, ticket_contacts_truth, ticket_part_key, ticket_parts_truth,
};
use crate::shared_reads::{Seen, check_readers};

const DAY: i64 = 86_400;

const REPORTS: &str = "conversations,conversation_parts,conversation_tags,conversation_contacts,\
                       lifecycle_events,part_attachments";

fn world_config() -> intercom_export::simulator::SimConfig {
    intercom_export::simulator::SimConfig {
        seed: 14,
        contacts: 60,
        conversations: 120,
        companies: 10,
        tickets: 40,
        parts: 4,
        ..intercom_export::simulator::SimConfig::default()
    }
}

/// A sync of [`REPORTS`] without lookback (the second reads exactly what
/// changed since the first); returns `report → requests` of its summary
/// and the requests the simulator served during it.
async fn sync(world: &World, name: &str) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    sync_reports(world, name, REPORTS).await
}

/// [`sync`] of `reports`.
async fn sync_reports(
    world: &World,
    name: &str,
    reports: &str,
) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let config = world.dir.path().join("no-lookback.toml");
    std::fs::write(&config, "lookback_secs = 0\n").expect("config");
    let summary = world.dir.path().join(format!("{name}.json"));
    let before = world.by_endpoint().await;
    let out = world
        .sync(&[
            "--config",
            &config.display().to_string(),
            "--reports",
            reports,
            "--summary-json",
            &summary.display().to_string(),
        ])
        .await;
    assert_ok(&out);
    let made = requests_between(&before, &world.by_endpoint().await);
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(&summary).expect("summary"))
        .expect("summary is JSON");
    let per_report: BTreeMap<String, u64> = summary["reports"]
        .as_array()
        .expect("reports")
        .iter()
        .map(|r| {
            (
                r["report"].as_str().expect("name").to_string(),
                r["requests"].as_u64().expect("requests"),
            )
        })
        .collect();
    // A request not sent is counted nowhere; one sent, by the report that
    // sent it.
    assert_eq!(
        per_report.values().sum::<u64>(),
        made.values().sum::<u64>(),
        "every request served belongs to one report: {per_report:?} {made:?}"
    );
    (per_report, made)
}

/// The (conversation, item) pairs a conversation mapping table's run `run`
/// holds; `""` for the one row of a conversation without items.
fn exported_pairs(
    world: &World,
    report: &str,
    run: usize,
    item: &str,
) -> BTreeSet<(String, String)> {
    let dirs = run_dirs(&world.output(), report);
    let rows = json_rows(&read_parquet_dir(&dirs[run]));
    let pairs: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["conversation_id"]
                    .as_str()
                    .expect("conversation_id")
                    .to_string(),
                r.get(item)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(pairs.len(), rows.len(), "{report}: no pair twice");
    pairs
}

/// The pairs the truth's `conversations` give a mapping table (`pointer`:
/// the conversation's list).
fn truth_pairs(conversations: &[Value], pointer: &str) -> BTreeSet<(String, String)> {
    let mut pairs = BTreeSet::new();
    for c in conversations {
        let id = c["id"].as_str().expect("id").to_string();
        let items = c
            .pointer(pointer)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if items.is_empty() {
            pairs.insert((id.clone(), String::new()));
        }
        for i in items {
            pairs.insert((id.clone(), i["id"].as_str().expect("item id").to_string()));
        }
    }
    pairs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reports_of_a_sync_share_one_conversation_search() {
    let world = World::start(world_config()).await;
    // The first sync: 120 conversations fit the probe's one page, which the
    // six reports share too.
    let (first, made) = sync(&world, "first").await;
    assert_eq!(
        made.get("POST /conversations/search"),
        Some(&1),
        "{made:?} {first:?}"
    );
    let seen = check_readers(&world, 0, &Seen::default()).await;

    // The clock moves a day: a few conversations change (one page).
    let versions: BTreeSet<(String, i64)> = world
        .truth("conversations")
        .await
        .iter()
        .map(|c| (by_id_key(c), c["updated_at"].as_i64().expect("updated_at")))
        .collect();
    world.sim_post("advance", json!({"seconds": DAY})).await;
    let changed: Vec<Value> = world
        .truth("conversations")
        .await
        .into_iter()
        .filter(|c| !versions.contains(&(by_id_key(c), c["updated_at"].as_i64().unwrap_or(0))))
        .collect();
    assert!(
        !changed.is_empty() && changed.len() < 150,
        "{} changed",
        changed.len()
    );

    let (second, made) = sync(&world, "second").await;
    // One search page for the six reports (each sent its own before), and
    // one ticket search page for the two that read tickets too.
    assert_eq!(
        made.get("POST /conversations/search"),
        Some(&1),
        "{made:?} {second:?}"
    );
    assert_eq!(
        made.get("POST /tickets/search"),
        Some(&1),
        "{made:?} {second:?}"
    );
    // (`sync` checked that the reports' request counts add up to what the
    // simulator served: the search counts for the one report that sent it.)

    // Every report still holds exactly what changed.
    check_readers(&world, 1, &seen).await;
    check_run(
        &world,
        "conversations",
        1,
        changed.clone(),
        Some("conversation"),
        by_id_key,
        false,
    )
    .await;
    for (report, pointer, item) in [
        ("conversation_tags", "/tags/tags", "tag_id"),
        ("conversation_contacts", "/contacts/contacts", "contact_id"),
    ] {
        let want = truth_pairs(&changed, pointer);
        assert!(!want.is_empty(), "{report}");
        assert_eq!(exported_pairs(&world, report, 1, item), want, "{report}");
    }
}

/// A world with 1,000 conversations (seven pages of 150) and 400 tickets
/// (three pages).
fn first_sync_world() -> intercom_export::simulator::SimConfig {
    intercom_export::simulator::SimConfig {
        conversations: 1000,
        tickets: 400,
        ..world_config()
    }
}

/// `endpoint` requests of a first sync of `reports`, in a world of its own
/// ([`first_sync_world`]).
async fn first_sync_searches(reports: &str, endpoint: &str) -> (World, u64) {
    let world = World::start(first_sync_world()).await;
    assert_ok(&world.sync(&["--reports", reports]).await);
    let searches = world.requests_to(endpoint).await;
    (world, searches)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sync_of_the_six_conversation_readers_sends_the_searches_of_one() {
    const SEARCH: &str = "POST /conversations/search";
    // Two readers that need no request per conversation (the plain search
    // and a mapping table): the one plan of a search read by several.
    let (_, two) = first_sync_searches("conversations,conversation_tags", SEARCH).await;
    assert!(two > 7, "{two}: the probe did not hold everything");
    // The six together (a plain search, three fan-outs with a request per
    // conversation, two mapping tables): the same plan, every page once.
    let (world, all) = first_sync_searches(REPORTS, SEARCH).await;
    assert_eq!(
        all, two,
        "the six readers send the searches of two of them: one plan whoever reads"
    );
    check_readers(&world, 0, &Seen::default()).await;
    let conversations = world.truth("conversations").await;
    check_run(
        &world,
        "conversations",
        0,
        conversations.clone(),
        None,
        by_id_key,
        false,
    )
    .await;
    for (report, pointer, item) in [
        ("conversation_tags", "/tags/tags", "tag_id"),
        ("conversation_contacts", "/contacts/contacts", "contact_id"),
    ] {
        let want = truth_pairs(&conversations, pointer);
        assert_eq!(exported_pairs(&world, report, 0, item), want, "{report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sync_of_the_three_ticket_readers_sends_the_searches_of_one() {
    const SEARCH: &str = "POST /tickets/search";
    let (_, two) = first_sync_searches("tickets,ticket_contacts", SEARCH).await;
    assert!(two > 3, "{two}: the probe did not hold everything");
    let (world, all) = first_sync_searches("tickets,ticket_parts,ticket_contacts", SEARCH).await;
    assert_eq!(
        all, two,
        "the three readers send the searches of two of them: one plan whoever reads"
    );
    check_run(
        &world,
        "tickets",
        0,
        world.truth("tickets").await,
        None,
        by_id_key,
        false,
    )
    .await;
    check_run(
        &world,
        "ticket_parts",
        0,
        ticket_parts_truth(&world).await,
        None,
        ticket_part_key,
        false,
    )
    .await;
    let (contacts, _) = ticket_contacts_truth(&world, &BTreeSet::new()).await;
    check_run(
        &world,
        "ticket_contacts",
        0,
        contacts,
        None,
        ticket_contact_key,
        false,
    )
    .await;
}

/// A first sync of `reports` in a world of 3,000 conversations (about
/// 2 KB each in a search answer: 6 MB of search pages, past the 4 MiB the
/// run keeps in memory), with the exporter's `TMPDIR` in a directory of the
/// test's; returns the world, its conversation searches and that directory.
async fn large_first_sync(reports: &str) -> (World, u64, tempfile::TempDir) {
    let world = World::start(intercom_export::simulator::SimConfig {
        conversations: 3000,
        parts: 2,
        ..world_config()
    })
    .await;
    let tmp = tempfile::tempdir().expect("TMPDIR");
    let args: Vec<String> = [
        "sync",
        "--base-url",
        &world.sim.base_url(),
        "--output",
        &world.output().display().to_string(),
        "--state",
        &world.state().display().to_string(),
        "--reports",
        reports,
    ]
    .map(String::from)
    .to_vec();
    let tmpdir = tmp.path().display().to_string();
    let out = run_cli(
        &args,
        &[("INTERCOM_ACCESS_TOKEN", "test-token"), ("TMPDIR", &tmpdir)],
    )
    .await;
    assert_ok(&out);
    let searches = world.requests_to("POST /conversations/search").await;
    (world, searches, tmp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_past_the_memory_budget_are_still_read_once_and_their_file_goes() {
    // Two readers at the same pace: each page read once, in memory.
    let (_, alone, _) = large_first_sync("conversations,conversation_tags").await;
    // The plain search runs ahead; `conversation_parts` reads each
    // conversation between its pages, long after the plain search's pages
    // left memory: it reads them back from the run's file.
    let (world, both, tmp) = large_first_sync("conversations,conversation_parts").await;
    assert_eq!(both, alone, "every search page read once");
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("TMPDIR")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
    check_run(
        &world,
        "conversations",
        0,
        world.truth("conversations").await,
        None,
        by_id_key,
        false,
    )
    .await;
    check_run(
        &world,
        "conversation_parts",
        0,
        conversation_parts_truth(&world).await,
        None,
        by_id_key,
        false,
    )
    .await;
}

/// The reports that read the contact search of users.
const USER_READERS: &str =
    "users,events,contact_tags,contact_companies,contact_segments,notes_by_user";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_readers_of_a_sync_share_the_contact_search() {
    let world = World::start(intercom_export::simulator::SimConfig {
        contacts: 400,
        ..world_config()
    })
    .await;
    let (first, made) = sync_reports(&world, "first", USER_READERS).await;
    let contacts = world.truth("contacts").await;
    let users: Vec<Value> = contacts
        .iter()
        .filter(|c| c["role"] == "user")
        .cloned()
        .collect();
    assert!(users.len() > 150, "more users than a page: {}", users.len());
    check_run(&world, "users", 0, users, Some("contact"), by_id_key, false).await;
    assert!(
        made.contains_key("POST /contacts/search"),
        "{made:?} {first:?}"
    );
    // Nothing changed: each of the six asks for its probe page, the same
    // body for the reports whose cursors stand at the same contact (each
    // sent its own before: six).
    let (second, made) = sync_reports(&world, "second", USER_READERS).await;
    let readers = USER_READERS.split(',').count() as u64;
    let searches = made.get("POST /contacts/search").copied().unwrap_or(0);
    assert!(
        searches >= 1 && searches * 2 <= readers,
        "{searches} contact searches for {readers} readers: {made:?} {second:?}"
    );
}
