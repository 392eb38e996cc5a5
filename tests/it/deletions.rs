//! `deletions`: tombstones compared with the simulator's truth
//! (`/__sim/truth/deletions`) after its clock moved through deletions and
//! merges; with search lag; with Intercom-Version 2.11; across SIGKILLs
//! during a reconciliation pass; and no reconciliation request when a pass
//! is not due.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use serde_json::{Value, json};

use intercom_export::simulator::SimConfig;

use crate::crash::{Ended, run_and_kill_at, sync_args};
use crate::harness::*;

/// One tombstone as the test compares it: (object_type, id) →
/// (how, merged_into, deleted_at).
type Tombstones = BTreeMap<(String, String), (String, Option<String>, Option<i64>)>;

const EVERY_SYNC: [&str; 4] = [
    "--reports",
    "deletions",
    "--option",
    "deletions.reconcile_every=0",
];

fn world_config() -> SimConfig {
    SimConfig {
        seed: 16,
        contacts: 1500,
        conversations: 300,
        parts: 2,
        companies: 300,
        ..SimConfig::default()
    }
}

/// Every committed tombstone, asserting none is written twice.
fn tombstones(output: &Path) -> Tombstones {
    let mut out = Tombstones::new();
    let mut rows = 0usize;
    for dir in run_dirs(output, "deletions") {
        for b in read_parquet_dir(&dir) {
            let s = |name: &str| {
                b.column_by_name(name)
                    .expect(name)
                    .as_string::<i32>()
                    .clone()
            };
            let (kind, id, how, into) = (s("object_type"), s("id"), s("how"), s("merged_into"));
            let deleted_at = b
                .column_by_name("deleted_at")
                .expect("deleted_at")
                .as_primitive::<TimestampMicrosecondType>()
                .clone();
            let detected_at = b
                .column_by_name("detected_at")
                .expect("detected_at")
                .as_primitive::<TimestampMicrosecondType>()
                .clone();
            for i in 0..b.num_rows() {
                assert!(!kind.is_null(i) && !id.is_null(i) && !how.is_null(i));
                assert!(!detected_at.is_null(i), "detected_at is always set");
                rows += 1;
                let key = (kind.value(i).to_string(), id.value(i).to_string());
                let value = (
                    how.value(i).to_string(),
                    (!into.is_null(i)).then(|| into.value(i).to_string()),
                    (!deleted_at.is_null(i)).then(|| deleted_at.value(i) / 1_000_000),
                );
                assert!(
                    out.insert(key.clone(), value).is_none(),
                    "{key:?}: a tombstone written twice"
                );
            }
        }
    }
    assert_eq!(rows, out.len());
    out
}

/// Ids of a truth dataset.
async fn ids(world: &World, dataset: &str) -> BTreeSet<String> {
    world
        .truth(dataset)
        .await
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect()
}

/// What the tombstones must be: every record of `/__sim/truth/deletions`
/// that an earlier pass could have known (`known`: the contacts and
/// companies live at an earlier sync; a record created and removed between
/// two passes was never seen), the merge target resolved as Intercom's 410
/// `Link` does (up to 3 merges), `how` as the exporter can tell it.
fn expected(truth: &[Value], known: &BTreeSet<(String, String)>, v216: bool) -> Tombstones {
    let merged: BTreeMap<&str, &str> = truth
        .iter()
        .filter(|d| d["how"] == "merged")
        .map(|d| {
            (
                d["id"].as_str().expect("id"),
                d["merged_into"].as_str().expect("into"),
            )
        })
        .collect();
    let mut out = Tombstones::new();
    for d in truth {
        let kind = d["object_type"].as_str().expect("object_type").to_string();
        let id = d["id"].as_str().expect("id").to_string();
        let value = match (kind.as_str(), d["how"].as_str()) {
            ("conversation", _) if !v216 => continue,
            ("conversation", _) => (
                "api_deleted".to_string(),
                None,
                Some(d["deleted_at"].as_i64().expect("deleted_at")),
            ),
            _ if !known.contains(&(kind.clone(), id.clone())) => continue,
            ("company", _) => ("missing_from_full_scan".to_string(), None, None),
            ("contact", Some("merged")) if v216 => {
                let mut target = merged[id.as_str()];
                for _ in 0..2 {
                    match merged.get(target) {
                        Some(next) => target = next,
                        None => break,
                    }
                }
                ("merged".to_string(), Some(target.to_string()), None)
            }
            ("contact", _) => ("api_deleted".to_string(), None, None),
            other => panic!("unexpected truth deletion {other:?}"),
        };
        out.insert((kind, id), value);
    }
    out
}

/// The contacts and companies live now, as (object_type, id).
async fn live(world: &World) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (dataset, kind) in [("contacts", "contact"), ("companies", "company")] {
        out.extend(
            ids(world, dataset)
                .await
                .into_iter()
                .map(|id| (kind.to_string(), id)),
        );
    }
    out
}

/// Sync, move the clock through deletions and merges, sync again (twice),
/// and compare the tombstones with the truth each time.
async fn tombstones_follow_the_truth(config: SimConfig, version: &str) -> Tombstones {
    let world = World::start(config).await;
    let cfg = world.dir.path().join("version.toml");
    std::fs::write(&cfg, format!("intercom_version = \"{version}\"\n")).expect("config");
    let cfg = cfg.display().to_string();
    let mut args = vec!["--config", cfg.as_str()];
    args.extend(EVERY_SYNC);
    let v216 = version == "2.16";

    assert_ok(&world.sync(&args).await);
    let mut known = live(&world).await;
    let first = tombstones(&world.output());
    assert!(
        first.keys().all(|(kind, _)| kind == "conversation"),
        "the first pass only learns contact and company ids"
    );
    // A tombstone says what was known when it was written (a merge target
    // merged again later keeps the target it had).
    let mut want = first;
    for hours in [27, 24] {
        world
            .sim_post("advance", json!({"seconds": hours * 3600}))
            .await;
        assert_ok(&world.sync(&args).await);
        let truth = world.truth("deletions").await;
        for (key, value) in expected(&truth, &known, v216) {
            want.entry(key).or_insert(value);
        }
        let got = tombstones(&world.output());
        for kind in ["contact", "company"] {
            assert!(
                want.keys().any(|(k, _)| k == kind),
                "{kind}: the clock moved through some deletions"
            );
        }
        assert_eq!(got, want, "tombstones == truth after {hours} more hours");
        // None for a live record.
        let now_live = live(&world).await;
        let conversations = ids(&world, "conversations").await;
        for (kind, id) in got.keys() {
            assert!(
                !now_live.contains(&(kind.clone(), id.clone())),
                "{kind} {id} is live"
            );
            assert!(kind != "conversation" || !conversations.contains(id));
        }
        known.extend(now_live);
    }
    // Nothing new happened: nothing more is written.
    let before = tombstones(&world.output());
    assert_ok(&world.sync(&args).await);
    assert_eq!(tombstones(&world.output()), before);
    before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tombstones_equal_the_truth_as_the_clock_moves() {
    let got = tombstones_follow_the_truth(world_config(), "2.16").await;
    let hows: BTreeSet<&str> = got.values().map(|(how, _, _)| how.as_str()).collect();
    assert_eq!(
        hows,
        BTreeSet::from(["api_deleted", "merged", "missing_from_full_scan"]),
        "every kind of tombstone is met"
    );
    assert!(got.keys().any(|(kind, _)| kind == "conversation"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_lag_makes_no_false_tombstone() {
    let config = SimConfig {
        search_lag_secs: 6 * 3600,
        ..world_config()
    };
    let world = World::start(config.clone()).await;
    world.sim_post("advance", json!({"seconds": 3600})).await;
    // The lag is real: search leaves out contacts that are live.
    let truth_users = world
        .truth("contacts")
        .await
        .iter()
        .filter(|c| c["role"] == "user")
        .count() as u64;
    let found: Value = reqwest::Client::new()
        .post(format!("{}/contacts/search", world.sim.base_url()))
        .bearer_auth("test-token")
        .json(
            &json!({"query": {"field": "role", "operator": "=", "value": "user"},
                      "pagination": {"per_page": 1}}),
        )
        .send()
        .await
        .expect("search")
        .json()
        .await
        .expect("json");
    let searchable = found["total_count"].as_u64().expect("total_count");
    assert!(
        searchable < truth_users,
        "{searchable} of {truth_users} users searchable"
    );
    drop(world);
    tombstones_follow_the_truth(config, "2.16").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_2_11_merged_contacts_are_api_deleted_and_conversations_skipped() {
    let got = tombstones_follow_the_truth(world_config(), "2.11").await;
    assert!(
        got.values()
            .all(|(how, into, _)| how != "merged" && into.is_none())
    );
    assert!(got.keys().all(|(kind, _)| kind != "conversation"));
}

/// Requests of the reconciliation pass so far.
async fn reconcile_requests(world: &World) -> u64 {
    let mut n = 0;
    for endpoint in [
        "GET /contacts",
        "GET /contacts/{id}",
        "GET /companies/scroll",
    ] {
        n += world.requests_to(endpoint).await;
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_before_reconcile_every_makes_no_reconciliation_request() {
    let world = World::start(world_config()).await;
    let daily = ["--reports", "deletions"];
    assert_ok(&world.sync(&daily).await);
    assert!(
        reconcile_requests(&world).await > 0,
        "the first sync reconciles"
    );
    let known = live(&world).await;
    world.sim_post("reset-stats", json!({})).await;
    world
        .sim_post("advance", json!({"seconds": 6 * 3600}))
        .await;
    assert_ok(&world.sync(&daily).await);
    assert_eq!(reconcile_requests(&world).await, 0, "not due: no pass");
    assert!(
        world.requests_to("GET /conversations/deleted").await > 0,
        "deleted conversations are read every sync"
    );
    let only_conversations = tombstones(&world.output());
    assert!(only_conversations.keys().all(|(k, _)| k == "conversation"));
    // Due (every sync): the pass finds what the 6 hours removed.
    assert_ok(&world.sync(&EVERY_SYNC).await);
    assert!(reconcile_requests(&world).await > 0);
    let truth = world.truth("deletions").await;
    assert_eq!(tombstones(&world.output()), expected(&truth, &known, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_reconciliation_pass_loses_and_repeats_no_tombstone() {
    let world = World::start(world_config()).await;
    let mut args = sync_args(&world, "sync");
    args.extend(EVERY_SYNC.iter().map(|s| s.to_string()));
    assert_ok(&run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "test-token")]).await);
    let known = live(&world).await;
    world
        .sim_post("advance", json!({"seconds": 27 * 3600}))
        .await;
    // After the company pass, after the contact pass, mid-file, files
    // renamed but not committed, inside the transaction, right after it.
    let mut killed = 0;
    for point in [
        "reconcile:1",
        "reconcile:2",
        "page:2",
        "written:1",
        "in_commit:1",
        "committed:1",
    ] {
        match run_and_kill_at(&args, point).await {
            Ended::Killed => killed += 1,
            Ended::Exited(code) => assert_eq!(code, Some(0), "{point}"),
        }
    }
    assert_eq!(
        killed, 6,
        "every point was reached (nothing committed before the last)"
    );
    assert_ok(&run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "test-token")]).await);
    let truth = world.truth("deletions").await;
    let want = expected(&truth, &known, true);
    assert!(want.keys().any(|(k, _)| k == "contact"));
    assert_eq!(tombstones(&world.output()), want);
    crate::crash::assert_disk_matches_state(&world.output(), &world.state()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_company_scroll_writes_no_tombstone() {
    // A broken scroll stays open on the server until it expires.
    let world = World::start(SimConfig {
        scroll_expiry_secs: 2,
        ..world_config()
    })
    .await;
    assert_ok(&world.sync(&EVERY_SYNC).await);
    let known = live(&world).await;
    let before = tombstones(&world.output());
    world
        .sim_post("advance", json!({"seconds": 27 * 3600}))
        .await;
    world
        .sim_post(
            "faults",
            json!({"error_500": 1.0, "only_paths": ["/companies/scroll"]}),
        )
        .await;
    let out = world.sync(&EVERY_SYNC).await;
    assert_eq!(out.status.code(), Some(4), "partial: {}", stderr(&out));
    assert!(
        stderr(&out).contains("GET /companies/scroll"),
        "{}",
        stderr(&out)
    );
    assert_eq!(tombstones(&world.output()), before, "nothing written");
    // Once the scroll completes, the same deletions are found, once.
    world.sim_post("faults", json!({})).await;
    assert_ok(&world.sync(&EVERY_SYNC).await);
    let truth = world.truth("deletions").await;
    let want = expected(&truth, &known, true);
    assert!(want.keys().any(|(k, _)| k == "company"));
    assert_eq!(tombstones(&world.output()), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_ids_and_tombstones_in_a_postgres_state() {
    let Some(admin) =
        crate::fleet::postgres_admin_url("known_ids_and_tombstones_in_a_postgres_state")
    else {
        return;
    };
    let url = crate::fleet::fresh_database(&admin, "tombstones").await;
    let world = World::start(world_config()).await;
    let mut args: Vec<String> = [
        "sync",
        "--base-url",
        &world.sim.base_url(),
        "--output",
        &world.output().display().to_string(),
        "--state",
        &url,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(EVERY_SYNC.iter().map(|s| s.to_string()));
    let token = [("INTERCOM_ACCESS_TOKEN", "test-token")];
    assert_ok(&run_cli(&args, &token).await);
    let known = live(&world).await;
    let store = intercom_export::state::StateStore::connect(
        &intercom_export::state::StateLocation::parse(&url).expect("url"),
    )
    .await
    .expect("postgres state");
    let mut stored = BTreeSet::new();
    for kind in ["contact", "company"] {
        for id in store.known_ids(kind).await.expect("known ids") {
            stored.insert((kind.to_string(), id));
        }
    }
    assert_eq!(
        stored, known,
        "the known ids are every live contact and company"
    );
    world
        .sim_post("advance", json!({"seconds": 27 * 3600}))
        .await;
    assert_ok(&run_cli(&args, &token).await);
    let truth = world.truth("deletions").await;
    assert_eq!(tombstones(&world.output()), expected(&truth, &known, true));
    store.close().await;
}

/// A fake Intercom for the confirmation step: the contact list shows one
/// contact; `GET /contacts/{id}` answers each other known id differently.
async fn confirmation_fake() -> (String, tokio::task::JoinHandle<()>) {
    use axum::extract::{Path as UrlPath, RawQuery};
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::response::IntoResponse;
    use axum::routing::get;

    fn error(status: StatusCode, code: &str) -> axum::response::Response {
        let body = json!({"type": "error.list", "request_id": "r",
                          "errors": [{"code": code, "message": code}]});
        (status, axum::Json(body)).into_response()
    }
    let app = axum::Router::new()
        .route(
            "/contacts",
            get(|| async {
                axum::Json(json!({
                    "type": "list",
                    "data": [{"type": "contact", "id": "6650a0000000000000000001", "role": "user"}],
                    "total_count": 1,
                    "pages": {"type": "pages", "page": 1, "per_page": 150, "total_pages": 1}
                }))
            }),
        )
        .route(
            "/contacts/{id}",
            get(|UrlPath(id): UrlPath<String>| async move {
                match id.as_str() {
                    // Not listed (search lag, a list that has not caught up)
                    // but alive.
                    "6650a0000000000000000002" => axum::Json(json!({
                        "type": "contact", "id": id, "role": "lead", "updated_at": 1_780_000_000
                    }))
                    .into_response(),
                    "6650a0000000000000000003" => error(StatusCode::NOT_FOUND, "not_found"),
                    "6650a0000000000000000004" => {
                        let mut headers = HeaderMap::new();
                        headers.insert(
                            header::LINK,
                            "</contacts/6650a0000000000000000009>; rel=\"canonical\""
                                .parse()
                                .expect("header"),
                        );
                        (headers, error(StatusCode::GONE, "contact_merged")).into_response()
                    }
                    _ => error(StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
                }
            }),
        )
        .route(
            "/companies/scroll",
            get(|RawQuery(q): RawQuery| async move {
                let data = if q.unwrap_or_default().contains("scroll_param") {
                    json!([])
                } else {
                    json!([{"type": "company", "id": "c-live", "updated_at": 1_780_000_000}])
                };
                axum::Json(json!({"type": "list", "data": data, "scroll_param": "s1"}))
            }),
        )
        .route(
            "/conversations/deleted",
            get(|| async {
                axum::Json(json!({"type": "conversations.list", "total_count": 0,
                                  "pages": {"total_pages": 0, "next": null},
                                  "conversations": []}))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_candidate_is_confirmed_before_a_tombstone() {
    let (base, server) = confirmation_fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state.db");
    let known: Vec<String> = (1..=5)
        .map(|i| format!("6650a000000000000000000{i}"))
        .collect();
    let store = intercom_export::state::StateStore::open(&state)
        .await
        .expect("state");
    let mut update = intercom_export::state::known_ids::KnownIdsUpdate::new();
    update.insert("contact", known.clone());
    update.insert("company", vec!["c-live".into(), "c-gone".into()]);
    store.set_known_ids(&update).await.expect("seed known ids");
    store.close().await;
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "max_retries = 1\nmax_retry_secs = 2\n").expect("config");
    let out_dir = dir.path().join("out");
    let mut args: Vec<String> = [
        "sync",
        "--config",
        &config.display().to_string(),
        "--base-url",
        &base,
        "--output",
        &out_dir.display().to_string(),
        "--state",
        &state.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(EVERY_SYNC.iter().map(|s| s.to_string()));
    let out = run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "test-token")]).await;
    // The contact whose answer kept failing is a failed item: partial.
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let t = |kind: &str, id: &str, how: &str, into: Option<&str>| {
        (
            (kind.to_string(), id.to_string()),
            (how.to_string(), into.map(str::to_string), None),
        )
    };
    assert_eq!(
        tombstones(&out_dir),
        Tombstones::from([
            t("company", "c-gone", "missing_from_full_scan", None),
            t("contact", &known[2], "api_deleted", None),
            t(
                "contact",
                &known[3],
                "merged",
                Some("6650a0000000000000000009")
            ),
        ]),
        "alive (200) and unconfirmed (500) candidates get no tombstone"
    );
    let store = intercom_export::state::StateStore::open(&state)
        .await
        .expect("state");
    assert_eq!(
        store.known_ids("contact").await.expect("ids"),
        [known[0].clone(), known[1].clone(), known[4].clone()],
        "the listed, the alive and the unconfirmed stay known"
    );
    assert_eq!(store.known_ids("company").await.expect("ids"), ["c-live"]);
    assert_eq!(
        store.failed_ids("deletions").await.expect("failed"),
        [known[4].clone()]
    );
    store.close().await;
    server.abort();
}
