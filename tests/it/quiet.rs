//! A sync with nothing changed makes at most one request per report (issue
//! #14), the three company reports together one scroll: counted by the
//! simulator per endpoint (`/__sim/stats` `by_endpoint`) and per report by
//! the run summary (`--summary-json`), whose total must be the simulator's.

use std::collections::BTreeMap;

use intercom_export::simulator::SimConfig;
use serde_json::Value;

use crate::harness::*;

/// Scroll pages hold 50 companies and a scroll ends with an empty page.
const COMPANIES: usize = 120;
const ONE_SCROLL: u64 = COMPANIES.div_ceil(50) as u64 + 1;

/// Requests per endpoint (`/__sim/stats` `by_endpoint`).
async fn by_endpoint(world: &World) -> BTreeMap<String, u64> {
    let stats = world.sim_get("stats").await;
    stats["by_endpoint"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

/// A sync of every default report; returns its `--summary-json`.
async fn sync(world: &World, name: &str) -> Value {
    let summary = world.dir.path().join(format!("{name}.json"));
    let out = world
        .sync(&["--summary-json", &summary.display().to_string()])
        .await;
    assert_ok(&out);
    let text = std::fs::read_to_string(&summary).expect("summary written");
    serde_json::from_str(&text).expect("summary is JSON")
}

/// `report → (requests, rows)` from a run summary.
fn per_report(summary: &Value) -> BTreeMap<String, (u64, u64)> {
    summary["reports"]
        .as_array()
        .expect("reports")
        .iter()
        .map(|r| {
            (
                r["report"].as_str().expect("name").to_string(),
                (
                    r["requests"].as_u64().expect("requests"),
                    r["rows"].as_u64().expect("rows"),
                ),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_with_nothing_changed_makes_at_most_one_request_per_report() {
    let world = World::start(SimConfig {
        seed: 14,
        contacts: 60,
        conversations: 20,
        parts: 2,
        companies: COMPANIES,
        tickets: 8,
        ..SimConfig::default()
    })
    .await;
    let first = per_report(&sync(&world, "first").await);
    // Four reports with rows need custom-attribute columns (users, leads:
    // contact; companies: company; conversations: conversation), and
    // `data_attributes` lists all three models: each list read once.
    let after_first = by_endpoint(&world).await;
    assert_eq!(
        after_first.get("GET /data_attributes"),
        Some(&2),
        "{after_first:?}"
    );
    assert_eq!(
        after_first.get("GET /conversations/attributes"),
        Some(&1),
        "{after_first:?}"
    );
    // The first sync wrote the reports whose custom-attribute columns are
    // the point here (their lists are read lazily, on the first rows).
    for report in [
        "users",
        "leads",
        "conversations",
        "companies",
        "data_attributes",
    ] {
        assert!(first[report].1 > 0, "{report} wrote rows: {first:?}");
    }

    let before = by_endpoint(&world).await;
    let summary = sync(&world, "second").await;
    let after = by_endpoint(&world).await;
    let made: BTreeMap<String, u64> = after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect();
    let second = per_report(&summary);
    assert_eq!(
        summary["requests"].as_u64(),
        Some(made.values().sum()),
        "the summary counts what the simulator served: {made:?}"
    );
    assert_eq!(
        second.values().map(|(requests, _)| requests).sum::<u64>(),
        made.values().sum::<u64>(),
        "every request belongs to a report: {second:?} {made:?}"
    );
    for (report, (_, rows)) in &second {
        assert_eq!(*rows, 0, "{report}: nothing changed, nothing written");
    }

    // The three company reports share one scroll (and read nothing else).
    assert_eq!(
        made.get("GET /companies/scroll"),
        Some(&ONE_SCROLL),
        "{made:?}"
    );
    let companies: u64 = ["companies", "company_tags", "company_segments"]
        .iter()
        .map(|r| second[*r].0)
        .sum();
    assert_eq!(companies, ONE_SCROLL, "company reports: {second:?}");

    // The reports that read conversations (conversations, conversation_parts,
    // the conversation mapping tables, lifecycle_events, part_attachments)
    // share one conversation search page, and those that read tickets
    // (tickets, ticket_parts, ticket_contacts, lifecycle_events,
    // part_attachments) one ticket search page: their cursors stand at the
    // same record, so they ask the same bodies.
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

    // Custom-attribute declarations: none read, since no report had rows.
    // `data_attributes` (a snapshot of all of them) is the one reader: one
    // list per model (the API has no all-models list: `model` is contact or
    // company, conversations at /conversations/attributes in 2.16).
    assert_eq!(made.get("GET /data_attributes"), Some(&2), "{made:?}");
    assert_eq!(
        made.get("GET /conversations/attributes"),
        Some(&1),
        "{made:?}"
    );
    assert_eq!(second["data_attributes"].0, 3, "one list per model");

    // The exceptions, each with its reason; every other report: at most one.
    let exceptions: BTreeMap<&str, (u64, &str)> = [
        // Whichever of the three asks first reads the one scroll (they
        // start side by side); together they made one (asserted above).
        (
            "companies",
            (ONE_SCROLL, "the one companies scroll of the run"),
        ),
        (
            "company_tags",
            (ONE_SCROLL, "the one companies scroll of the run"),
        ),
        (
            "company_segments",
            (ONE_SCROLL, "the one companies scroll of the run"),
        ),
        (
            "data_attributes",
            (3, "one list per model: contact, company, conversation"),
        ),
    ]
    .into();
    for (report, (requests, _)) in &second {
        match exceptions.get(report.as_str()) {
            Some((allowed, why)) => assert!(
                requests <= allowed,
                "{report} made {requests} requests with nothing changed, {allowed} expected \
                 ({why}): {second:?}"
            ),
            None => assert!(
                *requests <= 1,
                "{report} made {requests} requests with nothing changed: {second:?} {made:?}"
            ),
        }
    }
}
