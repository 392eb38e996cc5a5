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
    // `data_attributes` lists all three models: one list without `model`
    // (contact and company, 2.16) and the conversation one, each read once.
    let after_first = world.by_endpoint().await;
    assert_eq!(
        after_first.get("GET /data_attributes"),
        Some(&1),
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

    let before = world.by_endpoint().await;
    let summary = sync(&world, "second").await;
    let after = world.by_endpoint().await;
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
    // `data_attributes` (a snapshot of all of them) is the one reader: in
    // 2.16 the list without `model` holds contact and company attributes,
    // conversation ones are at /conversations/attributes.
    assert_eq!(made.get("GET /data_attributes"), Some(&1), "{made:?}");
    assert_eq!(
        made.get("GET /conversations/attributes"),
        Some(&1),
        "{made:?}"
    );
    assert_eq!(second["data_attributes"].0, 2, "two lists for three models");

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
            (
                2,
                "contact and company attributes in one list, conversation ones \
                 at /conversations/attributes (2.16; one list in 2.11)",
            ),
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
    // Over the whole run, fewer requests than reports: the shared scroll
    // and the shared searches more than make up for the exceptions.
    let total: u64 = made.values().sum();
    assert!(
        total < second.len() as u64,
        "{total} requests for {} reports with nothing changed: {made:?}",
        second.len()
    );
}

/// `GET /data_attributes?model=<model>` as 2.11 answers it (the list per
/// model the snapshot read before).
async fn list_211(world: &World, model: &str) -> Vec<Value> {
    let body: Value = reqwest::Client::new()
        .get(format!(
            "{}/data_attributes?model={model}",
            world.sim.base_url()
        ))
        .bearer_auth("t")
        .header("Intercom-Version", "2.11")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    body["data"].as_array().expect("data").clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_attributes_on_2_11_read_one_list_for_every_model() {
    let world = World::start(SimConfig {
        contacts: 20,
        conversations: 10,
        ..skeleton_world()
    })
    .await;
    let config = world.dir.path().join("v211.toml");
    std::fs::write(&config, "intercom_version = \"2.11\"\n").expect("config");
    let config = config.display().to_string();
    let args = ["--config", &config, "--reports", "data_attributes"];
    assert_ok(&world.sync(&args).await);
    // 2.11 lists conversation attributes without `model` too: one request
    // (no /conversations/attributes, no list per model).
    let made = world.by_endpoint().await;
    assert_eq!(made.get("GET /data_attributes"), Some(&1), "{made:?}");
    assert_eq!(made.get("GET /conversations/attributes"), None, "{made:?}");
    // Nothing changed: the same one request, nothing written.
    assert_ok(&world.sync(&args).await);
    let made = world.by_endpoint().await;
    assert_eq!(made.get("GET /data_attributes"), Some(&2), "{made:?}");
    assert_eq!(run_dirs(&world.output(), "data_attributes").len(), 1);
    // Its rows: the three lists per model (what was read before).
    let mut want = Vec::new();
    for model in ["contact", "company", "conversation"] {
        want.extend(list_211(&world, model).await);
    }
    assert!(want.iter().any(|a| a["model"] == "conversation"));
    crate::columns::check_run(
        &world,
        "data_attributes",
        0,
        want,
        None,
        |r| {
            format!(
                "{}/{}",
                r["model"].as_str().unwrap_or_default(),
                r["full_name"].as_str().unwrap_or_default()
            )
        },
        false,
    )
    .await;
}
