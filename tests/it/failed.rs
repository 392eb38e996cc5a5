//! Failed items end to end: conversations whose `GET /conversations/{id}`
//! (or users whose `GET /events`) fails are recorded, named in the summary and `state show`, make the run
//! partial (exit 4, or 0 with `--skip-failed`), and are fetched first by the
//! next run once they stop failing, without duplicates.
//!
//! The failures come from a small proxy in front of the simulator that
//! answers 500 for a chosen set of conversation ids (the simulator's own
//! fault for this can replace it).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::crash::{small_world, truth_of};
use crate::harness::*;

#[derive(Clone)]
struct Proxy {
    upstream: String,
    failing: Arc<Mutex<HashSet<String>>>,
    http: reqwest::Client,
}

async fn forward(State(p): State<Proxy>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    if req.method() == Method::GET
        && let Some(id) = path.strip_prefix("/conversations/")
        && p.failing.lock().expect("lock").contains(id)
    {
        let body = json!({"type": "error.list", "errors": [{"code": "server_error", "message": "injected failure"}]});
        return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response();
    }
    // A user's events fail the same way (the user is in the query string).
    if path == "/events"
        && url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .any(|(k, v)| k == "intercom_user_id" && p.failing.lock().expect("lock").contains(&*v))
    {
        let body = json!({"type": "error.list", "errors": [{"code": "server_error", "message": "injected failure"}]});
        return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response();
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
    let body = axum::body::to_bytes(req.into_body(), usize::MAX)
        .await
        .expect("body");
    let resp = p
        .http
        .request(method, url)
        .headers(headers)
        .body(body)
        .send()
        .await
        .expect("simulator reachable");
    let mut out = Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        if k != "content-length" && k != "transfer-encoding" {
            out = out.header(k, v);
        }
    }
    out.body(Body::from(resp.bytes().await.expect("body")))
        .expect("response")
}

/// Start the proxy; returns its base URL.
pub(crate) async fn start_proxy(world: &World, failing: Arc<Mutex<HashSet<String>>>) -> String {
    let proxy = Proxy {
        upstream: world.sim.base_url().trim_end_matches('/').to_string(),
        failing,
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

fn args(world: &World, base_url: &str, extra: &[&str]) -> Vec<String> {
    let config = world.dir.path().join("no-retries.toml");
    std::fs::write(&config, "page_size = 20\nmax_retries = 0\n").expect("config");
    let mut a: Vec<String> = [
        "sync",
        "--config",
        &config.display().to_string(),
        "--base-url",
        base_url,
        "--output",
        &world.output().display().to_string(),
        "--state",
        &world.state().display().to_string(),
        "--reports",
        "conversation_parts",
    ]
    .map(String::from)
    .to_vec();
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

pub(crate) async fn failed_items(world: &World) -> Vec<Value> {
    let out = run_cli(
        &[
            "state".into(),
            "show".into(),
            "--json".into(),
            "--state".into(),
            world.state().display().to_string(),
        ],
        &[],
    )
    .await;
    assert_ok(&out);
    let v: Value = serde_json::from_str(&stdout(&out)).expect("json");
    v["failed_items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_conversations_are_recorded_reported_and_recovered_next_run() {
    let world = World::start(small_world()).await;
    let conversations = world.truth("conversations").await;
    // Three conversations with parts fail.
    let bad: Vec<String> = conversations
        .iter()
        .filter(|c| {
            c["conversation_parts"]["conversation_parts"]
                .as_array()
                .is_some_and(|p| !p.is_empty())
        })
        .take(3)
        .map(|c| c["id"].as_str().expect("id").to_string())
        .collect();
    let bad_parts: BTreeSet<String> = conversations
        .iter()
        .filter(|c| bad.iter().any(|b| c["id"] == b.as_str()))
        .flat_map(|c| {
            c["conversation_parts"]["conversation_parts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|p| p["id"].as_str().expect("part id").to_string())
        .collect();
    let failing = Arc::new(Mutex::new(bad.iter().cloned().collect::<HashSet<_>>()));
    let base = start_proxy(&world, Arc::clone(&failing)).await;
    let truth = truth_of(&world, "conversation_parts").await;

    // 1. They fail: the run goes on, exit 4, the summary and the state name them.
    let out = run_cli(&args(&world, &base, &[]), &[("INTERCOM_ACCESS_TOKEN", "t")]).await;
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("failed items (3"), "{text}");
    for id in &bad {
        assert!(
            text.contains(&format!("conversation_parts {id}@")),
            "{id}: {text}"
        );
    }
    let items = failed_items(&world).await;
    assert_eq!(items.len(), 3);
    assert!(
        items
            .iter()
            .all(|i| i["attempts"] == 1 && i["report"] == "conversation_parts")
    );
    let exported = unique_map(&ids_and_updated(&read_parquet_dir(
        &run_dirs(&world.output(), "conversation_parts")[0],
    )));
    let expected: BTreeMap<String, i64> = truth
        .iter()
        .filter(|(id, _)| !bad_parts.contains(*id))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert_eq!(
        exported, expected,
        "everything but the failed conversations"
    );

    // 2. Still failing, with --skip-failed: exit 0, attempts counted.
    let out = run_cli(
        &args(&world, &base, &["--skip-failed"]),
        &[("INTERCOM_ACCESS_TOKEN", "t")],
    )
    .await;
    assert_ok(&out);
    assert!(
        stdout(&out).contains("skipped with --skip-failed"),
        "{}",
        stdout(&out)
    );
    let items = failed_items(&world).await;
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|i| i["attempts"] == 2), "{items:?}");

    // 2b. The report's own option tolerates them too (exit 0), without the flag.
    let out = run_cli(
        &args(
            &world,
            &base,
            &[
                "--option",
                "conversation_parts.skip_failed_conversations=true",
            ],
        ),
        &[("INTERCOM_ACCESS_TOKEN", "t")],
    )
    .await;
    assert_ok(&out);
    assert_eq!(
        failed_items(&world).await.len(),
        3,
        "still recorded for the next run"
    );

    // 3. The simulator stops failing them: fetched first, cleared, exit 0.
    failing.lock().expect("lock").clear();
    let out = run_cli(&args(&world, &base, &[]), &[("INTERCOM_ACCESS_TOKEN", "t")]).await;
    assert_ok(&out);
    assert!(
        stdout(&out).contains("3 earlier failed item(s) recovered"),
        "{}",
        stdout(&out)
    );
    assert!(failed_items(&world).await.is_empty());
    let mut rows = Vec::new();
    for dir in run_dirs(&world.output(), "conversation_parts") {
        rows.extend(ids_and_updated(&read_parquet_dir(&dir)));
    }
    assert_eq!(unique_map(&rows), truth, "all parts, once");
}

fn events_args(world: &World, base_url: &str, config: &str) -> Vec<String> {
    let path = world.dir.path().join("events.toml");
    std::fs::write(&path, config).expect("config");
    [
        "sync",
        "--config",
        &path.display().to_string(),
        "--base-url",
        base_url,
        "--output",
        &world.output().display().to_string(),
        "--state",
        &world.state().display().to_string(),
        "--reports",
        "events,users",
    ]
    .map(String::from)
    .to_vec()
}

/// `(user, event_name, created_at, metadata)` of every exported event.
fn exported_events(world: &World) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    for dir in run_dirs(&world.output(), "events") {
        for r in json_rows(&read_parquet_dir(&dir)) {
            let s = |k: &str| r[k].as_str().expect("text").to_string();
            out.push((
                s("intercom_user_id"),
                s("event_name"),
                s("created_at"),
                s("metadata"),
            ));
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_users_of_events_are_recorded_and_recovered_next_run() {
    let world = World::start(small_world()).await;
    let truth = world.truth("events").await;
    let contacts = world.truth("contacts").await;
    let users: HashSet<&str> = contacts
        .iter()
        .filter(|c| c["role"] == "user")
        .filter_map(|c| c["id"].as_str())
        .collect();
    let mut with_events: Vec<String> = truth
        .iter()
        .filter_map(|e| e["intercom_user_id"].as_str())
        .filter(|id| users.contains(id))
        .map(str::to_string)
        .collect();
    with_events.dedup();
    let bad: HashSet<String> = with_events.into_iter().take(2).collect();
    assert_eq!(bad.len(), 2);
    let failing = Arc::new(Mutex::new(bad.clone()));
    let base = start_proxy(&world, Arc::clone(&failing)).await;
    let args = events_args(&world, &base, "page_size = 150\nmax_retries = 0\n");
    let token = [("INTERCOM_ACCESS_TOKEN", "t")];

    let out = run_cli(&args, &token).await;
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let items = failed_items(&world).await;
    let ids: HashSet<String> = items
        .iter()
        .map(|i| i["item_id"].as_str().expect("item_id").to_string())
        .collect();
    assert_eq!(ids, bad, "the failed users, by contact id");
    assert!(items.iter().all(|i| i["report"] == "events"));
    let exported = exported_events(&world);
    assert!(exported.iter().all(|e| !bad.contains(&e.0)));
    assert!(!exported.is_empty());

    failing.lock().expect("lock").clear();
    let out = run_cli(&args, &token).await;
    assert_ok(&out);
    assert!(failed_items(&world).await.is_empty());
    let exported = exported_events(&world);
    let want = truth
        .iter()
        .filter(|e| users.contains(e["intercom_user_id"].as_str().unwrap_or_default()))
        .count();
    assert_eq!(exported.len(), want, "every event once");
    let unique: BTreeSet<_> = exported.iter().collect();
    assert_eq!(unique.len(), want);
}

/// With `event_type = "all"`, a failed lead and a failed user are retried
/// by id alone: the retry looks each one's role up (`GET /contacts/{id}`),
/// so their rows say the right `contact_role`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_contacts_of_all_events_are_retried_with_their_roles() {
    let world = World::start(small_world()).await;
    let truth = world.truth("events").await;
    let roles: BTreeMap<String, String> = world
        .truth("contacts")
        .await
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().expect("text").to_string();
            (s("id"), s("role"))
        })
        .collect();
    let first_with_events = |role: &str| -> String {
        truth
            .iter()
            .filter_map(|e| e["intercom_user_id"].as_str())
            .find(|id| roles.get(*id).is_some_and(|r| r == role))
            .expect("a contact of that role with events")
            .to_string()
    };
    let (lead, user) = (first_with_events("lead"), first_with_events("user"));
    let bad: HashSet<String> = [lead.clone(), user.clone()].into();
    let failing = Arc::new(Mutex::new(bad.clone()));
    let base = start_proxy(&world, Arc::clone(&failing)).await;
    let args = events_args(
        &world,
        &base,
        "page_size = 150\nmax_retries = 0\n[options.events]\nevent_type = \"all\"\n",
    );
    let token = [("INTERCOM_ACCESS_TOKEN", "t")];

    let out = run_cli(&args, &token).await;
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let ids: HashSet<String> = failed_items(&world)
        .await
        .iter()
        .map(|i| i["item_id"].as_str().expect("item_id").to_string())
        .collect();
    assert_eq!(ids, bad);
    assert_eq!(world.requests_to("GET /contacts/{id}").await, 0);

    failing.lock().expect("lock").clear();
    let out = run_cli(&args, &token).await;
    assert_ok(&out);
    assert!(failed_items(&world).await.is_empty());
    assert_eq!(
        world.requests_to("GET /contacts/{id}").await,
        2,
        "one role lookup per retried contact"
    );
    let last = run_dirs(&world.output(), "events").pop().expect("a run");
    let mut got: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in json_rows(&read_parquet_dir(&last)) {
        let s = |k: &str| r[k].as_str().expect("text").to_string();
        got.entry(s("intercom_user_id"))
            .or_default()
            .insert(s("contact_role"));
    }
    assert_eq!(
        got,
        BTreeMap::from([
            (lead, BTreeSet::from(["lead".to_string()])),
            (user, BTreeSet::from(["user".to_string()])),
        ]),
        "the retried contacts' events, each with its role"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_never_follow_pages_next_to_another_origin() {
    let world = World::start(small_world()).await;
    let failing = Arc::new(Mutex::new(HashSet::new()));
    // The proxy drops the Host header, so the simulator's pages.next URLs
    // name the simulator's own address, not the configured base URL.
    let base = start_proxy(&world, failing).await;
    let args = events_args(&world, &base, "page_size = 2\nmax_retries = 0\n");
    let before = world.requests_to("GET /events").await;
    let out = run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "t")]).await;
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("refusing to send the access token there"),
        "{text}"
    );
    assert!(
        !run_dirs(&world.output(), "users").is_empty(),
        "the other report finished"
    );
    // Only first pages went out, all through the proxy (the configured base URL).
    assert!(world.requests_to("GET /events").await > before);
}
