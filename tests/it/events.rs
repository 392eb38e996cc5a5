//! `events` with `event_type` (Domo's "Event Type"): users', leads' or all
//! contacts' events, each compared with the simulator's truth (the events it
//! lists for the last 90 days, joined with the contacts' roles), and the
//! incremental rule after the clock moves.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::harness::*;

fn world_config() -> intercom_export::simulator::SimConfig {
    intercom_export::simulator::SimConfig {
        seed: 5,
        contacts: 160,
        conversations: 5,
        parts: 1,
        companies: 5,
        ..skeleton_world()
    }
}

/// `event_key` by its documented definition (README): SHA-256 of the
/// contact's Intercom id, the event name, `created_at` and the metadata as
/// JSON with sorted keys, each followed by a newline; first 16 bytes in hex.
fn documented_key(event: &Value) -> String {
    use sha2::{Digest, Sha256};
    let text = format!(
        "{}\n{}\n{}\n{}\n",
        event["intercom_user_id"].as_str().expect("contact id"),
        event["event_name"].as_str().expect("name"),
        event["created_at"].as_i64().expect("created_at"),
        event["metadata"]
    );
    Sha256::digest(text.as_bytes())[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Role of every live contact, by Intercom id.
async fn roles(world: &World) -> BTreeMap<String, String> {
    world
        .truth("contacts")
        .await
        .iter()
        .map(|c| {
            (
                c["id"].as_str().expect("id").to_string(),
                c["role"].as_str().expect("role").to_string(),
            )
        })
        .collect()
}

/// `(event_key, contact id, contact_role)` of the truth's listable events
/// of contacts with one of `roles_wanted` (and, if given, in `only`).
async fn expected(
    world: &World,
    roles_wanted: &[&str],
    only: Option<&BTreeSet<String>>,
) -> Vec<(String, String, String)> {
    let roles = roles(world).await;
    let mut out: Vec<_> = world
        .truth("events")
        .await
        .iter()
        .filter_map(|e| {
            let id = e["intercom_user_id"].as_str().expect("contact id");
            let role = roles.get(id)?;
            (roles_wanted.contains(&role.as_str()) && only.is_none_or(|o| o.contains(id)))
                .then(|| (documented_key(e), id.to_string(), role.clone()))
        })
        .collect();
    out.sort();
    out
}

/// `(event_key, intercom_user_id, contact_role)` of the rows in one run
/// directory, sorted (duplicates kept).
fn exported(dir: &std::path::Path) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = json_rows(&read_parquet_dir(dir))
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (s("event_key"), s("intercom_user_id"), s("contact_role"))
        })
        .collect();
    out.sort();
    out
}

async fn sync_events(world: &World, event_type: &str) {
    let option = format!("events.event_type={event_type}");
    assert_ok(
        &world
            .sync(&["--reports", "events", "--option", &option])
            .await,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lead_user_and_all_export_exactly_their_contacts_events() {
    let world = World::start(world_config()).await;
    let leads = expected(&world, &["lead"], None).await;
    let users = expected(&world, &["user"], None).await;
    assert!(
        leads.len() > 20 && users.len() > 20,
        "the world has events of both roles"
    );

    // Each choice keeps its own cursor: `lead` first does not stop `user`
    // or `all` from exporting everything they select.
    sync_events(&world, "lead").await;
    sync_events(&world, "user").await;
    sync_events(&world, "all").await;
    let dirs = run_dirs(&world.output(), "events");
    assert_eq!(dirs.len(), 3, "one run directory per sync");
    assert_eq!(
        exported(&dirs[0]),
        leads,
        "event_type=lead: the leads' events"
    );
    assert_eq!(
        exported(&dirs[1]),
        users,
        "event_type=user: the users' events"
    );
    let mut all = [leads, users].concat();
    all.sort();
    assert_eq!(exported(&dirs[2]), all, "event_type=all: the union");

    // Each choice's cursor moved: nothing changed, nothing is read again.
    let before = world.requests_to("GET /events").await;
    sync_events(&world, "lead").await;
    assert_eq!(world.requests_to("GET /events").await, before);
    assert_eq!(run_dirs(&world.output(), "events").len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_lead_sync_reads_only_the_changed_leads_with_their_new_events() {
    let world = World::start(world_config()).await;
    sync_events(&world, "lead").await;
    let first_now = world.sim_get("clock").await["now"].as_i64().expect("now");

    world
        .sim_post("advance", serde_json::json!({"seconds": 2 * 86_400}))
        .await;
    let changed: BTreeSet<String> = world
        .truth("contacts")
        .await
        .iter()
        .filter(|c| {
            c["role"] == "lead" && c["updated_at"].as_i64().expect("updated_at") > first_now
        })
        .map(|c| c["id"].as_str().expect("id").to_string())
        .collect();
    assert!(!changed.is_empty(), "the advance changed some leads");
    let new_events: Vec<Value> = world
        .truth("events")
        .await
        .into_iter()
        .filter(|e| e["created_at"].as_i64().expect("created_at") > first_now)
        .collect();
    assert!(
        new_events
            .iter()
            .any(|e| changed.contains(e["intercom_user_id"].as_str().expect("id"))),
        "changed leads have new events"
    );

    sync_events(&world, "lead").await;
    let dirs = run_dirs(&world.output(), "events");
    assert_eq!(dirs.len(), 2);
    let second = exported(&dirs[1]);
    assert_eq!(
        second,
        expected(&world, &["lead"], Some(&changed)).await,
        "the second run holds the listable events of the changed leads, and no one else's"
    );
    let second_keys: BTreeSet<&str> = second.iter().map(|r| r.0.as_str()).collect();
    for e in &new_events {
        let id = e["intercom_user_id"].as_str().expect("id");
        let is_changed_lead = changed.contains(id);
        assert_eq!(
            second_keys.contains(documented_key(e).as_str()),
            is_changed_lead,
            "a new event is exported exactly when it is a changed lead's: {e}"
        );
    }

    // Both runs together hold every lead event Intercom now lists.
    let mut both: BTreeSet<String> = exported(&dirs[0]).into_iter().map(|r| r.0).collect();
    both.extend(second.into_iter().map(|r| r.0));
    let now: BTreeSet<String> = expected(&world, &["lead"], None)
        .await
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert!(now.is_subset(&both));
}

#[tokio::test]
async fn an_unknown_event_type_is_a_usage_error_naming_the_choices() {
    let world = World::start(intercom_export::simulator::SimConfig {
        contacts: 5,
        conversations: 1,
        ..world_config()
    })
    .await;
    let out = world
        .sync(&["--reports", "events", "--option", "events.event_type=leads"])
        .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("events.event_type")
            && err.contains("\"leads\"")
            && err.contains("user, lead, all"),
        "{err}"
    );
    assert_eq!(world.requests_to("GET /events").await, 0);
}
