//! The company scroll under faults: a scroll page whose answer is lost after
//! the server moved on (500, an empty 200, a cut-off body, a stall past the
//! client's timeout) must never lose the page's companies. Every sync below
//! is compared with the simulator's ground truth: `companies` by (id,
//! updated_at), `company_tags` and `company_segments` by (company, item)
//! pairs, none twice.

use std::collections::{BTreeMap, BTreeSet};

use intercom_export::simulator::SimConfig;
use serde_json::{Value, json};

use crate::harness::*;

/// A world that is mostly companies: `companies` of them, few contacts and
/// conversations, and a scroll that expires after 3 s unused (longer than
/// the 1 s client timeout, so a stall does not expire it).
fn companies_world(seed: u64, companies: usize) -> SimConfig {
    SimConfig {
        seed,
        contacts: 20,
        conversations: 5,
        parts: 1,
        companies,
        scroll_expiry_secs: 3,
        ..SimConfig::default()
    }
}

/// Short timeouts, enough retries for the idempotent requests.
fn write_config(world: &World) -> String {
    let path = world.dir.path().join("scroll.toml");
    std::fs::write(
        &path,
        "request_timeout_secs = 1\nmax_retries = 12\nmax_retry_secs = 60\n",
    )
    .expect("config");
    path.display().to_string()
}

/// The company reports' expected output from the truth: (id → updated_at),
/// (company, tag) pairs and (company, segment) pairs.
pub struct CompanyTruth {
    pub companies: BTreeMap<String, i64>,
    pub tags: BTreeSet<(String, String)>,
    pub segments: BTreeSet<(String, String)>,
}

pub async fn company_truth(world: &World) -> CompanyTruth {
    let records = world.truth("companies").await;
    let pairs = |list: &str| -> BTreeSet<(String, String)> {
        records
            .iter()
            .flat_map(|c| {
                let id = c["id"].as_str().expect("id").to_string();
                c.pointer(list)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |t| (id.clone(), t["id"].as_str().expect("item id").to_string()))
            })
            .collect()
    };
    CompanyTruth {
        companies: truth_map(&records, None),
        tags: pairs("/tags/tags"),
        segments: pairs("/segments/segments"),
    }
}

/// (company_id, `column`) pairs of every run of a mapping report, asserting
/// that no pair was written twice (rows of companies without items left out).
pub fn exported_pairs(world: &World, report: &str, column: &str) -> BTreeSet<(String, String)> {
    // A company version with no items is one row with a null item column
    // (README "Mapping tables"): it is no pair.
    let rows: Vec<serde_json::Map<String, Value>> = run_dirs(&world.output(), report)
        .iter()
        .flat_map(|d| json_rows(&read_parquet_dir(d)))
        .filter(|r| r.get(column).is_some_and(|v| !v.is_null()))
        .collect();
    let pairs: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["company_id"].as_str().expect("company_id").to_string(),
                r[column].as_str().expect("item id").to_string(),
            )
        })
        .collect();
    assert_eq!(
        pairs.len(),
        rows.len(),
        "{report}: a pair was written twice"
    );
    pairs
}

/// Every company row of every run, asserting no id was written twice.
fn exported_companies(world: &World) -> BTreeMap<String, i64> {
    let mut rows = Vec::new();
    for dir in run_dirs(&world.output(), "companies") {
        rows.extend(ids_and_updated(&read_parquet_dir(&dir)));
    }
    unique_map(&rows)
}

/// `sync --reports REPORTS --summary-json`, returning the output and summary.
async fn sync_with_summary(world: &World, reports: &str) -> (std::process::Output, Value) {
    let config = write_config(world);
    let summary = world.dir.path().join("summary.json");
    let out = world
        .sync(&[
            "--config",
            &config,
            "--reports",
            reports,
            "--summary-json",
            &summary.display().to_string(),
        ])
        .await;
    let json = std::fs::read_to_string(&summary)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    (out, json)
}

/// A report's entry in the summary.
fn entry<'a>(summary: &'a Value, report: &str) -> &'a Value {
    summary["reports"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["report"] == report))
        .unwrap_or_else(|| panic!("{report} in the summary: {summary}"))
}

fn restarts(summary: &Value, report: &str) -> u64 {
    entry(summary, report)["scroll_restarts"]
        .as_u64()
        .expect("scroll_restarts is always present")
}

const COMPANY_REPORTS: &str = "companies,company_tags,company_segments";

/// Sync the three company reports under `faults` (applied to the scroll
/// only) and check them against the truth; returns the scroll restarts.
async fn company_reports_under(seed: u64, faults: Value) -> u64 {
    // 500 companies: 10 pages and the end page per pass.
    let world = World::start(companies_world(seed, 500)).await;
    let mut profile = faults.clone();
    profile["only_paths"] = json!(["/companies/scroll"]);
    profile["stall_secs"] = json!(3.0);
    world.sim_post("faults", profile).await;
    let (out, summary) = sync_with_summary(&world, COMPANY_REPORTS).await;
    assert_ok(&out);
    let truth = company_truth(&world).await;
    assert_eq!(truth.companies.len(), 500);
    assert_eq!(
        exported_companies(&world),
        truth.companies,
        "{faults}: companies"
    );
    assert_eq!(
        exported_pairs(&world, "company_tags", "tag_id"),
        truth.tags,
        "{faults}: company_tags"
    );
    assert_eq!(
        exported_pairs(&world, "company_segments", "segment_id"),
        truth.segments,
        "{faults}: company_segments"
    );
    ["companies", "company_tags", "company_segments"]
        .iter()
        .map(|r| restarts(&summary, r))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scroll_pages_lost_after_the_server_moved_on_lose_no_company() {
    // Each kind of fault on 12 % of the scroll's requests; the simulator
    // answers it after consuming the page (the server moved on).
    // The seeds put faults into each of the three reports' scrolls.
    let cases = [
        (1, json!({"seed": 2, "error_500": 0.12})),
        (2, json!({"seed": 6, "empty": 0.12})),
        (3, json!({"seed": 8, "truncated": 0.12})),
        (4, json!({"seed": 17, "stall": 0.12})),
    ];
    let results = futures::future::join_all(
        cases
            .iter()
            .map(|(seed, f)| company_reports_under(*seed, f.clone())),
    )
    .await;
    for ((_, faults), restarts) in cases.iter().zip(results) {
        assert!(
            restarts >= 1,
            "{faults}: the faults broke a scroll and the summary counts the restart"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_on_the_scroll_is_waited_out_in_place_without_a_restart() {
    // Intercom throttles before it acts: the cursor did not move, so the
    // same request is sent again and the scroll goes on.
    let restarts = company_reports_under(7, json!({"seed": 8, "rate_limited": 0.1})).await;
    assert_eq!(restarts, 0, "a 429 never restarts the scroll");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scroll_failing_on_every_pass_fails_the_report_and_commits_nothing() {
    let world = World::start(companies_world(9, 120)).await;
    world
        .sim_post(
            "faults",
            json!({"error_500": 1.0, "only_paths": ["/companies/scroll"]}),
        )
        .await;
    let (out, summary) = sync_with_summary(&world, "companies,admins").await;
    assert_eq!(out.status.code(), Some(4), "partial: {}", stderr(&out));
    let companies = entry(&summary, "companies");
    assert_eq!(companies["status"], "failed", "{summary}");
    assert_eq!(companies["rows"], 0, "{summary}");
    let error = companies["error"].as_str().expect("error");
    assert!(
        error.contains("GET /companies/scroll") && error.contains("passes"),
        "{error}"
    );
    // Six passes that got no page in a row: five restarts, then it gives up.
    assert_eq!(restarts(&summary, "companies"), 5, "{summary}");
    assert!(run_dirs(&world.output(), "companies").is_empty());
    let store = intercom_export::state::StateStore::open(&world.state())
        .await
        .expect("state");
    assert!(
        store
            .committed_files("companies")
            .await
            .expect("files")
            .is_empty()
    );
    assert_eq!(store.cursor("companies", "").await.expect("cursor"), None);
    store.close().await;
    assert_eq!(run_dirs(&world.output(), "admins").len(), 1, "admins ran");

    // The scroll works again: the next run exports every company.
    world.sim_post("faults", json!("none")).await;
    tokio::time::sleep(std::time::Duration::from_secs(4)).await; // the open scroll expires
    let (out, summary) = sync_with_summary(&world, "companies").await;
    assert_ok(&out);
    assert_eq!(restarts(&summary, "companies"), 0);
    assert_eq!(
        exported_companies(&world),
        company_truth(&world).await.companies
    );
}

/// The `flaky` profile with another seed.
fn flaky(seed: u64) -> Value {
    let mut p = serde_json::to_value(
        intercom_export::simulator::FaultProfile::load("flaky").expect("named profile"),
    )
    .expect("json");
    p["seed"] = json!(seed);
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_flaky_first_syncs_of_3000_companies_each_export_exactly_the_truth() {
    let mut restarted = 0;
    // Two at a time: ten in-process simulators of 3,000 companies at once
    // would only fight over the cores.
    for pair in (1..=10u64).collect::<Vec<_>>().chunks(2) {
        let runs = futures::future::join_all(pair.iter().map(|&seed| async move {
            let world = World::start(companies_world(100 + seed, 3000)).await;
            world.sim_post("faults", flaky(seed)).await;
            let (out, summary) = sync_with_summary(&world, "companies").await;
            assert_ok(&out);
            let truth = company_truth(&world).await.companies;
            assert_eq!(truth.len(), 3000);
            assert_eq!(exported_companies(&world), truth, "flaky seed {seed}");
            restarts(&summary, "companies")
        }))
        .await;
        restarted += runs.iter().filter(|r| **r > 0).count();
    }
    assert!(
        restarted >= 5,
        "flaky faults broke most first scrolls ({restarted} of 10 restarted)"
    );
}
