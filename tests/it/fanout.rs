//! The extraction engine end to end: `lookback_secs` re-reads in every kind
//! of incremental report (a search, a fan-out over a search, a
//! page-numbered list), backfill of fan-out reports, page-numbered lists
//! that keep failing read with smaller pages, and a fan-out in which no item
//! could be read failing its report.
//!
//! "Missed by an earlier read" comes from a small proxy in front of the
//! simulator that leaves chosen ids out of listings (`data` of searches and
//! lists, with `total_count` lowered to match), as a search index that lags
//! behind does for a record updated below newer ones.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use intercom_export::simulator::SimConfig;
use serde_json::{Value, json};

use crate::harness::*;

/// What the proxy does to the simulator's answers.
#[derive(Default)]
struct Tamper {
    /// Ids left out of every listing's `data`.
    hidden: HashSet<String>,
    /// Answer 404 to every `GET /events`.
    events_404: bool,
    /// Sort searches asked for `ascending` descending instead (a server
    /// that does not honour the sort it was sent).
    flip_ascending: bool,
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    tamper: Arc<Mutex<Tamper>>,
    http: reqwest::Client,
}

async fn forward(State(p): State<Proxy>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    if path == "/events" && p.tamper.lock().expect("lock").events_404 {
        let body = json!({"type": "error.list", "errors": [{"code": "not_found", "message": "Not Found"}]});
        return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    }
    let url = format!(
        "{}{}",
        p.upstream,
        req.uri()
            .path_and_query()
            .map_or(path.as_str(), |pq| pq.as_str())
    );
    let method = req.method().clone();
    let mut headers = req.headers().clone();
    headers.remove("host");
    let mut body = axum::body::to_bytes(req.into_body(), usize::MAX)
        .await
        .expect("body");
    if path.ends_with("/search") && p.tamper.lock().expect("lock").flip_ascending {
        let text = String::from_utf8_lossy(&body).replace("\"ascending\"", "\"descending\"");
        body = text.into_bytes().into();
        headers.remove("content-length");
    }
    let resp = p
        .http
        .request(method, url)
        .headers(headers)
        .body(body)
        .send()
        .await
        .expect("simulator reachable");
    let status = resp.status();
    let mut out = Response::builder().status(status);
    for (k, v) in resp.headers() {
        if k != "content-length" && k != "transfer-encoding" {
            out = out.header(k, v);
        }
    }
    let mut bytes = resp.bytes().await.expect("body").to_vec();
    let key = ["data", "conversations"]
        .into_iter()
        .find(|k| serde_json::from_slice::<Value>(&bytes).is_ok_and(|v| v[*k].is_array()));
    if let Some(key) = key
        && let Ok(mut v) = serde_json::from_slice::<Value>(&bytes)
        && let Some(Value::Array(data)) = v.get_mut(key)
    {
        let hidden = &p.tamper.lock().expect("lock").hidden;
        let before = data.len();
        data.retain(|r| !r["id"].as_str().is_some_and(|id| hidden.contains(id)));
        let removed = (before - data.len()) as u64;
        if removed > 0 {
            if let Some(total) = v.get("total_count").and_then(Value::as_u64) {
                v["total_count"] = json!(total.saturating_sub(removed));
            }
            bytes = serde_json::to_vec(&v).expect("json");
        }
    }
    out.body(Body::from(bytes)).expect("response")
}

/// Start the proxy in front of `world`; returns its base URL.
async fn start_proxy(world: &World, tamper: Arc<Mutex<Tamper>>) -> String {
    let proxy = Proxy {
        upstream: world.sim.base_url().trim_end_matches('/').to_string(),
        tamper,
        http: reqwest::Client::new(),
    };
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// `sync` (or `backfill`) through `base` with `config`, plus `extra`.
fn args(world: &World, base: &str, config: &str, extra: &[&str]) -> Vec<String> {
    let path = world.dir.path().join("engine.toml");
    std::fs::write(&path, config).expect("config");
    let mut a: Vec<String> = [
        "--config",
        &path.display().to_string(),
        "--base-url",
        base,
        "--output",
        &world.output().display().to_string(),
        "--state",
        &world.state().display().to_string(),
    ]
    .map(String::from)
    .to_vec();
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

async fn api_get(world: &World, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}{path}", world.sim.base_url()))
        .bearer_auth("t")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

/// The `(id, updated_at)` rows of each run directory of `report`, in run order.
fn runs(world: &World, report: &str) -> Vec<Vec<(String, i64)>> {
    run_dirs(&world.output(), report)
        .iter()
        .map(|d| ids_and_updated(&read_parquet_dir(d)))
        .collect()
}

/// `column` of every row of each run directory of `report`.
fn run_values(world: &World, report: &str, column: &str) -> Vec<Vec<String>> {
    run_dirs(&world.output(), report)
        .iter()
        .map(|d| {
            json_rows(&read_parquet_dir(d))
                .iter()
                .map(|r| r[column].as_str().expect(column).to_string())
                .collect()
        })
        .collect()
}

/// Ten years: every record of the simulator's world is within the margin.
const LOOKBACK: &str = "page_size = 20\nlookback_secs = 315360000\ncheckpoint_secs = 0\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lookback_margin_exports_what_an_earlier_read_missed_in_every_kind_of_report() {
    let world = World::start(SimConfig {
        seed: 31,
        contacts: 120,
        conversations: 60,
        parts: 2,
        companies: 20,
        ..SimConfig::default()
    })
    .await;
    let contacts = world.truth("contacts").await;
    let conversations = world.truth("conversations").await;
    let newest = |records: &[&Value]| {
        records
            .iter()
            .filter_map(|r| r["updated_at"].as_i64())
            .max()
            .expect("records")
    };
    // A company with several users; one of them, older than the newest of
    // the company's users and of all users, is missed by the first reads.
    let users: Vec<&Value> = contacts.iter().filter(|c| c["role"] == "user").collect();
    let newest_user = newest(&users);
    let mut pick = None;
    for company in world.truth("companies").await {
        let id = company["id"].as_str().expect("id");
        let members = api_get(&world, &format!("/companies/{id}/contacts?per_page=150")).await;
        let members: Vec<Value> = members["data"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c["role"] == "user")
            .collect();
        if members.len() < 3 {
            continue;
        }
        let top = members
            .iter()
            .filter_map(|c| c["updated_at"].as_i64())
            .max();
        if let Some(user) = members.iter().find(|c| {
            let t = c["updated_at"].as_i64();
            t < top && t < Some(newest_user)
        }) {
            let user_id = user["id"].as_str().expect("id").to_string();
            let ids = members
                .iter()
                .map(|c| c["id"].as_str().expect("id").to_string());
            pick = Some((id.to_string(), user_id, ids.collect::<BTreeSet<_>>()));
            break;
        }
    }
    let (company, user, company_users) = pick.expect("a company with several users");
    // A conversation with parts, older than the newest conversation.
    let newest_conversation = newest(&conversations.iter().collect::<Vec<_>>());
    let conversation = conversations
        .iter()
        .find(|c| {
            c["updated_at"].as_i64() < Some(newest_conversation)
                && c["conversation_parts"]["conversation_parts"]
                    .as_array()
                    .is_some_and(|p| !p.is_empty())
        })
        .expect("a conversation with parts");
    let conversation_id = conversation["id"].as_str().expect("id").to_string();
    let hidden_parts: BTreeSet<String> = conversation["conversation_parts"]["conversation_parts"]
        .as_array()
        .expect("parts")
        .iter()
        .map(|p| p["id"].as_str().expect("part id").to_string())
        .collect();

    let tamper = Arc::new(Mutex::new(Tamper::default()));
    tamper.lock().expect("lock").hidden = [user.clone(), conversation_id.clone()].into();
    let base = start_proxy(&world, Arc::clone(&tamper)).await;
    let option = format!("users_by_company.company_ids={company}");
    let mut sync = vec!["sync".to_string()];
    sync.extend(args(
        &world,
        &base,
        LOOKBACK,
        &[
            "--reports",
            "users,conversation_parts,contact_segments,users_by_company",
            "--option",
            &option,
        ],
    ));
    let out = run_cli(&sync, &[("INTERCOM_ACCESS_TOKEN", "t")]).await;
    assert_ok(&out);
    // The first reads missed them.
    let missed = |report: &str, column: &str, id: &str| {
        run_values(&world, report, column)
            .concat()
            .iter()
            .any(|x| x == id)
    };
    assert!(!missed("users", "id", &user));
    assert!(!missed("users_by_company", "id", &user));
    assert!(!missed("contact_segments", "contact_id", &user));
    assert!(!missed(
        "conversation_parts",
        "conversation_id",
        &conversation_id
    ));

    // The index caught up; nothing changed since. The next sync re-reads the
    // margin: exactly what was missed is exported, nothing twice.
    tamper.lock().expect("lock").hidden.clear();
    let out = run_cli(&sync, &[("INTERCOM_ACCESS_TOKEN", "t")]).await;
    assert_ok(&out);

    // Search: users.
    let users_runs = runs(&world, "users");
    assert_eq!(users_runs.len(), 2, "users: the second run wrote something");
    let ids = |rows: &[(String, i64)]| rows.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(&users_runs[1]),
        std::slice::from_ref(&user),
        "users: only the missed one"
    );
    let all: Vec<(String, i64)> = users_runs.concat();
    assert_eq!(unique_map(&all), truth_map(&contacts, Some("user")));
    assert_eq!(all.len(), unique_map(&all).len(), "users: no row twice");

    // Fan-out over a search: conversation_parts and contact_segments.
    let parts_runs = runs(&world, "conversation_parts");
    assert_eq!(
        parts_runs.len(),
        2,
        "conversation_parts: the second run wrote"
    );
    let second: BTreeSet<String> = ids(&parts_runs[1]).into_iter().collect();
    assert_eq!(
        second, hidden_parts,
        "conversation_parts: only the missed conversation's parts"
    );
    let all: Vec<(String, i64)> = parts_runs.concat();
    let truth_parts: Vec<Value> = conversations
        .iter()
        .flat_map(|c| {
            c["conversation_parts"]["conversation_parts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(unique_map(&all), truth_map(&truth_parts, None));
    assert_eq!(
        all.len(),
        unique_map(&all).len(),
        "conversation_parts: no row twice"
    );

    let segment_runs = run_values(&world, "contact_segments", "contact_id");
    assert_eq!(
        segment_runs.len(),
        2,
        "contact_segments: the second run wrote"
    );
    assert!(
        segment_runs[1].iter().all(|c| *c == user) && !segment_runs[1].is_empty(),
        "contact_segments: only the missed contact: {:?}",
        segment_runs[1]
    );
    let exported: BTreeSet<&String> = segment_runs.iter().flatten().collect();
    let every_contact: BTreeSet<String> = contacts
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(
        exported,
        every_contact.iter().collect(),
        "a version of every contact"
    );

    // A page-numbered list: users_by_company.
    let list_runs = runs(&world, "users_by_company");
    assert_eq!(list_runs.len(), 2, "users_by_company: the second run wrote");
    assert_eq!(
        ids(&list_runs[1]),
        std::slice::from_ref(&user),
        "users_by_company: only the missed one"
    );
    let all: BTreeSet<String> = ids(&list_runs.concat()).into_iter().collect();
    assert_eq!(
        all, company_users,
        "users_by_company: every user of the company once"
    );
    assert_eq!(list_runs.concat().len(), company_users.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_exports_the_parts_and_mappings_of_the_conversations_in_its_range() {
    let world = World::start(SimConfig {
        seed: 32,
        contacts: 40,
        conversations: 40,
        parts: 3,
        ..SimConfig::default()
    })
    .await;
    let conversations = world.truth("conversations").await;
    let mut backfill = vec![
        "backfill".to_string(),
        "--since".into(),
        "2000-01-01".into(),
        "--window".into(),
        "3650d".into(),
    ];
    backfill.extend(args(
        &world,
        &world.sim.base_url(),
        "page_size = 20\n",
        &[
            "--reports",
            "conversations,conversation_parts,conversation_tags",
        ],
    ));
    let out = run_cli(&backfill, &[("INTERCOM_ACCESS_TOKEN", "t")]).await;
    assert_ok(&out);
    let all = |report: &str| -> Vec<(String, i64)> { runs(&world, report).concat() };
    let parts = all("conversation_parts");
    let truth_parts: Vec<Value> = conversations
        .iter()
        .flat_map(|c| {
            c["conversation_parts"]["conversation_parts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    assert!(!truth_parts.is_empty());
    assert_eq!(unique_map(&parts), truth_map(&truth_parts, None));
    assert_eq!(parts.len(), truth_parts.len(), "no part twice");
    // One version of every conversation in conversation_tags, with its tags.
    let tagged: BTreeMap<String, BTreeSet<String>> = conversations
        .iter()
        .map(|c| {
            let tags = c["tags"]["tags"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|t| t["id"].as_str().expect("tag id").to_string())
                .collect();
            (c["id"].as_str().expect("id").to_string(), tags)
        })
        .collect();
    let mut got: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for dir in run_dirs(&world.output(), "conversation_tags") {
        for r in json_rows(&read_parquet_dir(&dir)) {
            let set = got
                .entry(r["conversation_id"].as_str().expect("id").to_string())
                .or_default();
            if let Some(tag) = r.get("tag_id").and_then(Value::as_str) {
                set.insert(tag.to_string());
            }
        }
    }
    assert_eq!(got, tagged, "conversation_tags: every conversation's tags");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fanout_in_which_every_child_is_gone_fails_its_report_once() {
    let world = World::start(SimConfig {
        seed: 33,
        contacts: 30,
        conversations: 3,
        ..SimConfig::default()
    })
    .await;
    let tamper = Arc::new(Mutex::new(Tamper {
        events_404: true,
        ..Tamper::default()
    }));
    let base = start_proxy(&world, tamper).await;
    let summary = world.dir.path().join("summary.json");
    let mut sync = vec!["sync".to_string()];
    sync.extend(args(
        &world,
        &base,
        "page_size = 20\n",
        &[
            "--reports",
            "events,users",
            "--summary-json",
            &summary.display().to_string(),
        ],
    ));
    let out = run_cli(&sync, &[("INTERCOM_ACCESS_TOKEN", "t")]).await;
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let users = truth_map(&world.truth("contacts").await, Some("user")).len();
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).expect("summary")).expect("json");
    let events = summary["reports"]
        .as_array()
        .expect("reports")
        .iter()
        .find(|r| r["report"] == "events")
        .expect("events in the summary");
    let error = events["error"].as_str().expect("the report failed");
    assert!(
        error.contains("GET /events") && error.contains(&format!("none of the {users}")),
        "{error}"
    );
    assert!(
        run_dirs(&world.output(), "events").is_empty(),
        "nothing committed"
    );
    assert!(
        !run_dirs(&world.output(), "users").is_empty(),
        "the other report ran"
    );
    // Said once, not once per user.
    let log = stderr(&out);
    let lines = log.lines().filter(|l| l.contains("GET /events")).count();
    assert!(lines <= 3, "{lines} log lines about GET /events:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_numbered_list_that_keeps_failing_is_read_with_smaller_pages() {
    use axum::extract::{Path, Query};
    // 30 users of company k1; pages of more than 20 answer 504 with HTML,
    // as a gateway does for a slow page.
    let contacts: Vec<Value> = (0..30)
        .map(|i| {
            json!({"type": "contact", "id": format!("u{i}"), "role": "user",
                        "updated_at": 1_700_000_000 + i, "created_at": 1_600_000_000})
        })
        .collect();
    let served = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&served);
    let app = axum::Router::new().route(
        "/companies/{id}/contacts",
        axum::routing::get(
            move |Path(id): Path<String>, Query(q): Query<BTreeMap<String, u64>>| {
                let contacts = contacts.clone();
                let log = Arc::clone(&log);
                async move {
                    let per_page = q.get("per_page").copied().unwrap_or(50);
                    let page = q.get("page").copied().unwrap_or(1);
                    log.lock().expect("lock").push((page, per_page));
                    if id != "k1" || per_page > 20 {
                        return (
                            StatusCode::GATEWAY_TIMEOUT,
                            "<html>504 Gateway Time-out</html>",
                        )
                            .into_response();
                    }
                    let start = ((page - 1) * per_page) as usize;
                    let data: Vec<Value> = contacts
                        .iter()
                        .skip(start)
                        .take(per_page as usize)
                        .cloned()
                        .collect();
                    axum::Json(json!({"type": "list", "data": data, "total_count": 30,
                        "pages": {"type": "pages", "page": page, "per_page": per_page,
                                  "total_pages": 30u64.div_ceil(per_page)}}))
                    .into_response()
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("c.toml");
    std::fs::write(&config, "page_size = 50\nmax_retries = 0\n").expect("config");
    let summary = dir.path().join("summary.json");
    let out_dir = dir.path().join("out");
    let args: Vec<String> = [
        "sync",
        "--config",
        &config.display().to_string(),
        "--base-url",
        &base,
        "--output",
        &out_dir.display().to_string(),
        "--state",
        &dir.path().join("s.db").display().to_string(),
        "--reports",
        "users_by_company",
        "--option",
        "users_by_company.company_ids=k1",
        "--summary-json",
        &summary.display().to_string(),
    ]
    .map(String::from)
    .to_vec();
    let out = run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "t")]).await;
    assert_ok(&out);
    let mut rows = Vec::new();
    for d in run_dirs(&out_dir, "users_by_company") {
        rows.extend(ids_and_updated(&read_parquet_dir(&d)));
    }
    let ids: BTreeSet<String> = rows.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(ids.len(), 30, "every contact");
    assert_eq!(rows.len(), 30, "none twice");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).expect("summary")).expect("json");
    let report = &summary["reports"][0];
    assert_eq!(report["degraded_windows"], 1, "{report}");
    let sizes: Vec<u64> = served
        .lock()
        .expect("lock")
        .iter()
        .map(|(_, s)| *s)
        .collect();
    assert_eq!(
        &sizes[..2],
        [50, 25],
        "halved after each failure: {sizes:?}"
    );
    assert!(sizes[2..].iter().all(|s| *s == 12), "{sizes:?}");
}

/// A mapping table's fan-out, where only a few parents make a request of
/// their own (`conversation_contacts`), reads its parent search in windows
/// of several pages each: on a small world (40 search pages) it makes about
/// as many search requests as the `conversations` report reading the same
/// search, not one window and a partly filled page per 1/40 of the search
/// (which doubled them), and still writes every conversation's contacts.
/// A fan-out with a request per parent keeps its 40 windows (the crash
/// test `crash::fanouts_killed_at_65_percent_...` measures their redo).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_fanout_on_a_small_world_reads_its_search_in_few_windows() {
    let world = World::start(SimConfig {
        contacts: 300,
        conversations: 800,
        ..skeleton_world()
    })
    .await;
    let base = world.sim.base_url();
    let search_requests = async |report: &str| {
        world.sim_post("reset-stats", json!({})).await;
        let mut sync = vec!["sync".to_string()];
        sync.extend(args(
            &world,
            &base,
            "page_size = 20\n",
            &["--reports", report],
        ));
        assert_ok(&run_cli(&sync, &[("INTERCOM_ACCESS_TOKEN", "t")]).await);
        world.requests_to("POST /conversations/search").await
    };
    let plain = search_requests("conversations").await;
    let mapped = search_requests("conversation_contacts").await;
    // 800 conversations, 20 a page: 40 pages and the probe.
    assert!(plain >= 41, "conversations: {plain} search requests");
    assert!(
        mapped * 4 <= plain * 5,
        "conversation_contacts: {mapped} search requests, conversations: {plain}"
    );

    let want = truth_contact_pairs(&world).await;
    assert!(want.len() > 100, "{} pairs", want.len());
    assert_eq!(
        exported_contact_pairs(&world.output())
            .into_iter()
            .collect::<BTreeSet<_>>(),
        want
    );
}

/// A fan-out's first sync plans its parent windows from the oldest parent,
/// asked for with a page sorted `updated_at` ascending, and reads what lies
/// below that first. A server that ignores the sort (here: answers it
/// newest first, so the "oldest" is the newest) costs requests, never
/// parents: the first window then holds nearly all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_ignoring_the_oldest_parent_sort_loses_no_parent() {
    let world = World::start(SimConfig {
        contacts: 300,
        conversations: 400,
        ..skeleton_world()
    })
    .await;
    let tamper = Arc::new(Mutex::new(Tamper {
        flip_ascending: true,
        ..Tamper::default()
    }));
    let base = start_proxy(&world, tamper).await;
    let mut sync = vec!["sync".to_string()];
    sync.extend(args(
        &world,
        &base,
        "page_size = 10\n",
        &["--reports", "conversation_contacts,conversation_parts"],
    ));
    assert_ok(&run_cli(&sync, &[("INTERCOM_ACCESS_TOKEN", "t")]).await);
    let want = truth_contact_pairs(&world).await;
    assert!(want.len() > 100, "{} pairs", want.len());
    assert_eq!(
        exported_contact_pairs(&world.output())
            .into_iter()
            .collect::<BTreeSet<_>>(),
        want
    );
    // The parts: the same rows as a sync straight from the simulator.
    let parts = runs(&world, "conversation_parts").concat();
    let reference = tempfile::tempdir().expect("tempdir");
    let straight: Vec<String> = [
        "sync",
        "--reports",
        "conversation_parts",
        "--base-url",
        &world.sim.base_url(),
        "--output",
        &reference.path().join("out").display().to_string(),
        "--state",
        &reference.path().join("state.db").display().to_string(),
    ]
    .map(String::from)
    .to_vec();
    assert_ok(&run_cli(&straight, &[("INTERCOM_ACCESS_TOKEN", "t")]).await);
    let want: Vec<(String, i64)> = run_dirs(&reference.path().join("out"), "conversation_parts")
        .iter()
        .flat_map(|d| ids_and_updated(&read_parquet_dir(d)))
        .collect();
    assert!(want.len() > 400, "{} parts", want.len());
    let sorted = |mut v: Vec<(String, i64)>| {
        v.sort();
        v
    };
    assert_eq!(sorted(parts), sorted(want), "conversation_parts");
}
