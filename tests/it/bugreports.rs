//! Situations other Intercom connectors' users reported, each rebuilt as a
//! small fake Intercom answer (hand-written fixtures in the shapes Intercom
//! sends) or a simulator fault, with the right outcome asserted; plus a
//! second case of the same kind for each.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use intercom_export::simulator::SimConfig;
use serde_json::{Value, json};

use crate::harness::*;

// --- A fake Intercom: fixed answers per route -----------------------------

/// A fake Intercom answering from `app` on 127.0.0.1, with a scratch dir.
struct Fake {
    base: String,
    dir: tempfile::TempDir,
    _server: tokio::task::JoinHandle<()>,
}

impl Fake {
    async fn start(app: Router) -> Fake {
        let app = app.fallback(|uri: Uri| async move {
            (
                StatusCode::NOT_FOUND,
                axum::Json(json!({"type": "error.list", "errors": [
                    {"code": "not_found", "message": format!("no fixture for {}", uri.path())}
                ]})),
            )
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Fake {
            base,
            dir: tempfile::tempdir().expect("tempdir"),
            _server: server,
        }
    }

    fn output(&self) -> std::path::PathBuf {
        self.dir.path().join("out")
    }

    fn summary(&self) -> std::path::PathBuf {
        self.dir.path().join("summary.json")
    }

    /// `sync --reports <reports>` with a small config (fast retries).
    async fn sync(&self, reports: &str) -> Output {
        self.sync_with(reports, &[]).await
    }

    /// [`Fake::sync`] with `extra` arguments (e.g. `--option`).
    async fn sync_with(&self, reports: &str, extra: &[&str]) -> Output {
        let config = self.dir.path().join("config.toml");
        std::fs::write(
            &config,
            "max_retries = 2\nmax_retry_secs = 5\nrequest_timeout_secs = 5\n",
        )
        .expect("config");
        let args: Vec<String> = [
            "sync",
            "--config",
            &config.display().to_string(),
            "--base-url",
            &self.base,
            "--output",
            &self.output().display().to_string(),
            "--state",
            &self.dir.path().join("state.db").display().to_string(),
            "--reports",
            reports,
            "--summary-json",
            &self.summary().display().to_string(),
        ]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect();
        run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "fake-token")]).await
    }

    /// The `--summary-json` entry of `report`.
    fn report_summary(&self, report: &str) -> Value {
        let text = std::fs::read_to_string(self.summary()).expect("summary written");
        let json: Value = serde_json::from_str(&text).expect("summary json");
        json["reports"]
            .as_array()
            .expect("reports")
            .iter()
            .find(|r| r["report"] == report)
            .cloned()
            .unwrap_or_else(|| panic!("{report} not in {json}"))
    }
}

/// JSON answer.
fn ok(v: Value) -> Response {
    axum::Json(v).into_response()
}

/// A gateway's HTML error page.
fn html(status: StatusCode) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "text/html")],
        "<html><body><h1>Not Found</h1></body></html>",
    )
        .into_response()
}

/// Every row of every run of `report`, as JSON objects (nulls left out).
fn all_rows(output: &Path, report: &str) -> Vec<serde_json::Map<String, Value>> {
    run_dirs(output, report)
        .iter()
        .flat_map(|d| json_rows(&read_parquet_dir(d)))
        .collect()
}

/// The README's current-state query for a mapping table, over its rows:
/// keep each parent's rows at its latest `<parent>_updated_at`, then the
/// non-null items. Returns parent id → item ids.
fn current_sets(
    rows: &[serde_json::Map<String, Value>],
    parent: &str,
    item: &str,
) -> BTreeMap<String, BTreeSet<String>> {
    let id_col = format!("{parent}_id");
    let at_col = format!("{parent}_updated_at");
    let text = |r: &serde_json::Map<String, Value>, k: &str| {
        r.get(k).and_then(Value::as_str).map(str::to_string)
    };
    let mut latest: BTreeMap<String, String> = BTreeMap::new();
    for r in rows {
        let (Some(id), Some(at)) = (text(r, &id_col), text(r, &at_col)) else {
            panic!("{id_col} and {at_col} are always set: {r:?}");
        };
        let e = latest.entry(id).or_insert_with(|| at.clone());
        if at > *e {
            *e = at;
        }
    }
    let mut sets: BTreeMap<String, BTreeSet<String>> = latest
        .keys()
        .map(|k| (k.clone(), BTreeSet::new()))
        .collect();
    for r in rows {
        let id = text(r, &id_col).unwrap_or_default();
        if text(r, &at_col) == latest.get(&id).cloned()
            && let Some(item) = text(r, item)
        {
            sets.entry(id).or_default().insert(item);
        }
    }
    sets
}

// --- Item 3: a list under an unexpected key ---------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_under_an_unexpected_key_fails_the_report_and_commits_nothing() {
    let app = Router::new()
        .route(
            "/conversations/search",
            axum::routing::post(|| async {
                ok(
                    json!({"type": "conversation.list", "total_count": 1, "items": [
                        {"type": "conversation", "id": "cv1", "created_at": 1_700_000_000,
                         "updated_at": 1_700_000_100}
                    ]}),
                )
            }),
        )
        // Second case: contact search with its list under `contacts`.
        .route(
            "/contacts/search",
            axum::routing::post(|| async {
                ok(json!({"type": "list", "total_count": 1, "contacts": [
                    {"type": "contact", "id": "ct1", "role": "user", "updated_at": 1_700_000_100}
                ]}))
            }),
        );
    let fake = Fake::start(app).await;
    let out = fake.sync("conversations,users").await;
    assert_eq!(out.status.code(), Some(4), "partial: {}", stderr(&out));
    let err = stderr(&out);
    for (report, endpoint, keys) in [
        (
            "conversations",
            "POST /conversations/search",
            "keys found: items, total_count, type",
        ),
        (
            "users",
            "POST /contacts/search",
            "keys found: contacts, total_count, type",
        ),
    ] {
        assert!(
            err.contains(endpoint) && err.contains(keys),
            "{report}: {err}"
        );
        let summary = fake.report_summary(report);
        assert_eq!(summary["status"], "failed", "{summary}");
        assert_eq!(summary["rows"], 0);
        assert!(
            run_dirs(&fake.output(), report).is_empty(),
            "{report}: nothing written"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_page_short_of_its_total_count_fails_the_report() {
    // Tickets: two listed, `total_count` 3, and no next page.
    let app = Router::new().route(
        "/tickets/search",
        axum::routing::post(|| async {
            ok(json!({"type": "ticket.list", "total_count": 3,
                      "pages": {"type": "pages", "page": 1, "per_page": 150, "total_pages": 1},
                      "tickets": [
                {"type": "ticket", "id": "t1", "created_at": 1_700_000_000, "updated_at": 1_700_000_100},
                {"type": "ticket", "id": "t2", "created_at": 1_700_000_000, "updated_at": 1_700_000_200}
            ]}))
        }),
    );
    let fake = Fake::start(app).await;
    let out = fake.sync("tickets").await;
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("lists 2 record(s) but says total_count 3"),
        "{}",
        stderr(&out)
    );
    assert!(run_dirs(&fake.output(), "tickets").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_stated_rate_limit_the_share_of_allowed_calls_is_null() {
    // Two tickets, and no `X-RateLimit-*` header on any response.
    let app = Router::new().route(
        "/tickets/search",
        axum::routing::post(|| async {
            ok(json!({"type": "ticket.list", "total_count": 2,
                      "pages": {"type": "pages", "page": 1, "per_page": 150, "total_pages": 1},
                      "tickets": [
                {"type": "ticket", "id": "t1", "created_at": 1_700_000_000, "updated_at": 1_700_000_100},
                {"type": "ticket", "id": "t2", "created_at": 1_700_000_000, "updated_at": 1_700_000_200}
            ]}))
        }),
    );
    let fake = Fake::start(app).await;
    let out = fake.sync("tickets").await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(fake.summary()).expect("summary written");
    let json: Value = serde_json::from_str(&text).expect("summary json");
    assert!(json["requests"].as_u64().expect("requests") > 0, "{json}");
    assert!(json["rate_limit_per_10s"].is_null(), "{json}");
    assert!(json["allowed_calls_used"].is_null(), "{json}");
    let report = fake.report_summary("tickets");
    assert!(report["rate_limit_per_10s"].is_null(), "{report}");
    assert!(report["allowed_calls_used"].is_null(), "{report}");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(said.contains("limit unknown"), "{said}");
}

// --- #21: completeness where the API gives a count --------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_that_ends_short_of_its_total_is_counted_as_a_short_read() {
    // Two pages that say 5 in all, and hold 3.
    let app = Router::new().route(
        "/conversations/search",
        axum::routing::post(|body: Bytes| async move {
            let body: Value = serde_json::from_slice(&body).unwrap_or_default();
            let conv = |id: &str, t: i64| json!({"type": "conversation", "id": id, "created_at": t, "updated_at": t});
            if body.pointer("/pagination/starting_after").is_none() {
                ok(json!({"type": "conversation.list", "total_count": 5,
                          "pages": {"type": "pages", "next": {"per_page": 2, "starting_after": "p2"}},
                          "conversations": [conv("a", 1_700_000_300), conv("b", 1_700_000_200)]}))
            } else {
                ok(json!({"type": "conversation.list", "total_count": 5,
                          "pages": {"type": "pages", "next": null},
                          "conversations": [conv("c", 1_700_000_100)]}))
            }
        }),
    );
    let fake = Fake::start(app).await;
    let out = fake.sync("conversations").await;
    assert_ok(&out);
    let summary = fake.report_summary("conversations");
    assert_eq!(summary["rows"], 3);
    assert_eq!(summary["short_reads"], 1, "{summary}");
    let anomaly = &summary["anomalies"][0];
    assert_eq!(anomaly["kind"], "short_reads");
    assert_eq!(anomaly["detail"], "POST /conversations/search");
    assert_eq!(
        stderr(&out)
            .matches("listing(s) ended with fewer distinct rows")
            .count(),
        1,
        "said once: {}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_numbered_listing_short_of_its_total_is_counted_and_one_without_its_list_fails() {
    // GET /companies/{id}/contacts says 4 contacts over two pages and gives 3.
    let contact = |id: &str, role: &str| json!({"type": "contact", "id": id, "role": role, "created_at": 1_700_000_000, "updated_at": 1_700_000_100});
    let page1 = json!({"type": "list", "total_count": 4,
        "pages": {"type": "pages", "page": 1, "per_page": 2, "total_pages": 2},
        "data": [contact("u1", "user"), contact("l1", "lead")]});
    let page2 = json!({"type": "list", "total_count": 4,
        "pages": {"type": "pages", "page": 2, "per_page": 2, "total_pages": 2},
        "data": [contact("u2", "user")]});
    let app = Router::new()
        .route(
            "/companies/k1/contacts",
            axum::routing::get(move |uri: Uri| {
                let (page1, page2) = (page1.clone(), page2.clone());
                async move {
                    if uri.query().unwrap_or_default().contains("page=2") {
                        ok(page2)
                    } else {
                        ok(page1)
                    }
                }
            }),
        )
        // The second case of the kind: deleted conversations under another key.
        .route(
            "/conversations/deleted",
            axum::routing::get(|| async {
                ok(json!({"type": "conversation.list", "total_count": 1,
                          "pages": {"type": "pages", "page": 1, "total_pages": 1},
                          "items": [{"id": "9", "object": "conversation", "deleted_at": 1_700_000_000}]}))
            }),
        );
    let fake = Fake::start(app).await;
    let out = fake
        .sync_with(
            "users_by_company",
            &["--option", "users_by_company.company_ids=k1"],
        )
        .await;
    assert_ok(&out);
    let summary = fake.report_summary("users_by_company");
    assert_eq!(summary["rows"], 2, "the two users: {summary}");
    assert_eq!(summary["short_reads"], 1, "{summary}");
    assert_eq!(
        summary["anomalies"][0]["detail"],
        "GET /companies/{id}/contacts"
    );
    assert_eq!(summary["anomalies"][0]["samples"][0], "k1");

    let out = fake.sync("deleted_conversations").await;
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("GET /conversations/deleted") && err.contains("no `conversations` list"),
        "{err}"
    );
    assert!(
        all_rows(&fake.output(), "deleted_conversations").is_empty(),
        "nothing committed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normal_incremental_syncs_count_no_short_reads() {
    let world = World::start(SimConfig {
        contacts: 300,
        conversations: 200,
        ..skeleton_world()
    })
    .await;
    let config = world.dir.path().join("config.toml");
    // Small pages: every window is read over several pages.
    std::fs::write(&config, "page_size = 10\n").expect("config");
    let config = config.display().to_string();
    let summary = world.dir.path().join("summary.json");
    let summary_arg = summary.display().to_string();
    let reports = "conversations,users,leads,tickets,conversation_tags";
    for round in 0..2 {
        let out = world
            .sync(&[
                "--config",
                &config,
                "--reports",
                reports,
                "--summary-json",
                &summary_arg,
            ])
            .await;
        assert_ok(&out);
        let json: Value =
            serde_json::from_str(&std::fs::read_to_string(&summary).expect("summary"))
                .expect("json");
        for r in json["reports"].as_array().expect("reports") {
            assert_eq!(r["short_reads"], 0, "round {round}: {r}");
            assert_eq!(r["degraded_windows"], 0, "round {round}: {r}");
        }
        world.sim_post("advance", json!({"seconds": 86_400})).await;
    }
}

// --- Item 4: a set that became empty ----------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_that_became_empty_is_written_and_the_current_state_query_sees_it() {
    let conversation = Arc::new(Mutex::new(json!({
        "type": "conversation", "id": "cv1", "created_at": 1_700_000_000, "updated_at": 1_700_000_100,
        "tags": {"type": "tag.list", "tags": [{"type": "tag", "id": "7", "name": "bug"}]},
        "contacts": {"type": "contact.list", "contacts": [{"type": "contact", "id": "ct1"}]}
    })));
    let contact = Arc::new(Mutex::new(json!({
        "type": "contact", "id": "ct1", "role": "user", "updated_at": 1_700_000_100,
        "tags": {"type": "list", "data": [{"type": "tag", "id": "9", "url": "/tags/9"}],
                 "url": "/contacts/ct1/tags", "total_count": 1, "has_more": false},
        "companies": {"type": "list", "data": [], "url": "/contacts/ct1/companies",
                      "total_count": 0, "has_more": false}
    })));
    let (cv, ct) = (Arc::clone(&conversation), Arc::clone(&contact));
    let app = Router::new()
        .route(
            "/conversations/search",
            axum::routing::post(move || {
                let c = cv.lock().expect("lock").clone();
                async move {
                    ok(json!({"type": "conversation.list", "total_count": 1,
                              "pages": {"type": "pages", "next": null}, "conversations": [c]}))
                }
            }),
        )
        .route(
            "/contacts/search",
            axum::routing::post(move || {
                let c = ct.lock().expect("lock").clone();
                async move { ok(json!({"type": "list", "total_count": 1, "data": [c]})) }
            }),
        );
    let fake = Fake::start(app).await;
    let reports = "conversation_tags,conversation_contacts,contact_tags";
    assert_ok(&fake.sync(reports).await);
    // The tag is removed (and the contact's too); updated_at moves.
    {
        let mut c = conversation.lock().expect("lock");
        c["updated_at"] = json!(1_700_000_500);
        c["tags"] = json!({"type": "tag.list", "tags": []});
        let mut k = contact.lock().expect("lock");
        k["updated_at"] = json!(1_700_000_500);
        k["tags"] = json!({"type": "list", "data": [], "url": "/contacts/ct1/tags",
                           "total_count": 0, "has_more": false});
    }
    assert_ok(&fake.sync(reports).await);

    let tags = all_rows(&fake.output(), "conversation_tags");
    let current = current_sets(&tags, "conversation", "tag_id");
    assert_eq!(
        current.get("cv1"),
        Some(&BTreeSet::new()),
        "cv1 has no tags now: {tags:?}"
    );
    // The new version is one row with a null tag_id.
    let latest = tags
        .iter()
        .filter_map(|r| r.get("conversation_updated_at")?.as_str())
        .max()
        .expect("rows");
    let new_version: Vec<_> = tags
        .iter()
        .filter(|r| r.get("conversation_updated_at").and_then(Value::as_str) == Some(latest))
        .collect();
    assert_eq!(new_version.len(), 1, "{tags:?}");
    assert!(
        new_version[0].get("tag_id").is_none(),
        "{:?}",
        new_version[0]
    );
    // The contacts of cv1 did not change: still ct1 in its latest version.
    let contacts = all_rows(&fake.output(), "conversation_contacts");
    let current = current_sets(&contacts, "conversation", "contact_id");
    assert_eq!(current["cv1"], BTreeSet::from(["ct1".to_string()]));
    // Second case: a contact's tags.
    let contact_tags = all_rows(&fake.output(), "contact_tags");
    let current = current_sets(&contact_tags, "contact", "tag_id");
    assert_eq!(
        current.get("ct1"),
        Some(&BTreeSet::new()),
        "{contact_tags:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_whose_notes_were_all_deleted_has_no_current_notes() {
    let contact = Arc::new(Mutex::new(json!({
        "type": "contact", "id": "ct1", "role": "user", "updated_at": 1_700_000_100
    })));
    let note = |id: &str| {
        json!({"type": "note", "id": id, "created_at": 1_700_000_050,
               "contact": {"type": "contact", "id": "ct1"},
               "author": {"type": "admin", "id": "991", "name": "Ann", "email": "ann@example.com"},
               "body": format!("<p>note {id}</p>")})
    };
    let notes = Arc::new(Mutex::new(vec![note("n1"), note("n2")]));
    let (ct, ns) = (Arc::clone(&contact), Arc::clone(&notes));
    let app = Router::new()
        .route(
            "/contacts/search",
            axum::routing::post(move || {
                let c = ct.lock().expect("lock").clone();
                async move { ok(json!({"type": "list", "total_count": 1, "data": [c]})) }
            }),
        )
        .route(
            "/contacts/ct1/notes",
            axum::routing::get(move || {
                let n = ns.lock().expect("lock").clone();
                async move {
                    ok(json!({"type": "list", "total_count": n.len(), "data": n,
                              "pages": {"type": "pages", "next": null, "page": 1,
                                        "per_page": 50, "total_pages": 1}}))
                }
            }),
        );
    let fake = Fake::start(app).await;
    assert_ok(&fake.sync("notes_by_user").await);
    let rows = all_rows(&fake.output(), "notes_by_user");
    assert_eq!(
        current_sets(&rows, "contact", "id")["ct1"],
        BTreeSet::from(["n1".to_string(), "n2".to_string()])
    );
    // Both notes are deleted; the contact's updated_at moves.
    notes.lock().expect("lock").clear();
    contact.lock().expect("lock")["updated_at"] = json!(1_700_000_500);
    assert_ok(&fake.sync("notes_by_user").await);

    let rows = all_rows(&fake.output(), "notes_by_user");
    assert_eq!(
        current_sets(&rows, "contact", "id").get("ct1"),
        Some(&BTreeSet::new()),
        "ct1 has no notes now: {rows:?}"
    );
    // The new version is exactly one row: the contact's columns, null notes.
    let latest = rows
        .iter()
        .filter_map(|r| r.get("contact_updated_at")?.as_str())
        .max()
        .expect("rows");
    let new_version: Vec<_> = rows
        .iter()
        .filter(|r| r.get("contact_updated_at").and_then(Value::as_str) == Some(latest))
        .collect();
    assert_eq!(new_version.len(), 1, "{rows:?}");
    assert_eq!(new_version[0]["contact_id"], "ct1");
    for column in [
        "id",
        "body",
        "body_text",
        "author_id",
        "author_name",
        "author_email",
        "created_at",
    ] {
        assert!(
            new_version[0].get(column).is_none(),
            "{column}: {:?}",
            new_version[0]
        );
    }
}

// --- #13 item 7: an inline list shorter than its total_count ---------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inline_list_short_of_its_total_is_read_from_the_sub_resource() {
    let tag = |i: u32| json!({"type": "tag", "id": format!("{i}"), "url": format!("/tags/{i}")});
    let inline: Vec<Value> = (1..=11).map(tag).collect();
    let full: Vec<Value> = (1..=14)
        .map(|i| json!({"type": "tag", "id": format!("{i}"), "name": format!("tag {i}")}))
        .collect();
    let contact = json!({
        "type": "contact", "id": "ct1", "role": "user", "updated_at": 1_700_000_100,
        "tags": {"type": "list", "data": inline, "url": "/contacts/ct1/tags",
                 "total_count": 14, "has_more": false},
        // Second case: companies with `has_more` but a total equal to the list.
        "companies": {"type": "list", "data": [{"type": "company", "id": "k1", "url": "/companies/k1"}],
                      "url": "/contacts/ct1/companies", "total_count": 1, "has_more": true}
    });
    let app = Router::new()
        .route(
            "/contacts/search",
            axum::routing::post(move || {
                let c = contact.clone();
                async move { ok(json!({"type": "list", "total_count": 1, "data": [c]})) }
            }),
        )
        .route(
            "/contacts/ct1/tags",
            axum::routing::get(move || {
                let full = full.clone();
                async move { ok(json!({"type": "list", "data": full})) }
            }),
        )
        .route(
            "/contacts/ct1/companies",
            axum::routing::get(|| async {
                ok(json!({"type": "list", "data": [
                    {"type": "company", "id": "k1", "name": "Acme"},
                    {"type": "company", "id": "k2", "name": "Initech"}
                ], "total_count": 2}))
            }),
        );
    let fake = Fake::start(app).await;
    assert_ok(&fake.sync("contact_tags,contact_companies").await);
    let tags = current_sets(
        &all_rows(&fake.output(), "contact_tags"),
        "contact",
        "tag_id",
    );
    let expected: BTreeSet<String> = (1..=14).map(|i| i.to_string()).collect();
    assert_eq!(tags["ct1"], expected, "all 14 tags, not the 11 inlined");
    let companies = current_sets(
        &all_rows(&fake.output(), "contact_companies"),
        "contact",
        "company_id",
    );
    assert_eq!(
        companies["ct1"],
        BTreeSet::from(["k1".to_string(), "k2".to_string()])
    );
}

// --- Item 5: a child that is gone -------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_that_are_gone_are_skipped_and_counted_once() {
    let company = |id: &str| {
        json!({"type": "company", "id": id, "company_id": format!("ext-{id}"), "name": id,
               "created_at": 1_700_000_000, "updated_at": 1_700_000_100,
               "tags": {"type": "tag.list", "tags": []}})
    };
    let scroll = vec![company("k3"), company("k4")];
    let app = Router::new()
        .route(
            "/companies/scroll",
            axum::routing::get(move |uri: Uri| {
                let scroll = scroll.clone();
                async move {
                    if uri.query().is_some_and(|q| q.contains("scroll_param")) {
                        ok(json!({"type": "list", "data": [], "scroll_param": "s1"}))
                    } else {
                        ok(json!({"type": "list", "data": scroll, "scroll_param": "s1"}))
                    }
                }
            }),
        )
        .route(
            "/companies/k3/segments",
            axum::routing::get(|| async { html(StatusCode::NOT_FOUND) }),
        )
        .route(
            "/companies/k4/segments",
            axum::routing::get(|| async {
                ok(json!({"type": "list", "data": [
                    {"type": "segment", "id": "s9", "name": "Active", "person_type": "user",
                     "created_at": 1_600_000_000, "updated_at": 1_600_000_000}
                ]}))
            }),
        )
        // Second case: a conversation listed by the search, then gone.
        .route(
            "/conversations/search",
            axum::routing::post(|| async {
                ok(json!({"type": "conversation.list", "total_count": 2,
                          "pages": {"type": "pages", "next": null}, "conversations": [
                    {"type": "conversation", "id": "cv1", "created_at": 1_700_000_000, "updated_at": 1_700_000_100},
                    {"type": "conversation", "id": "cv2", "created_at": 1_700_000_000, "updated_at": 1_700_000_200}
                ]}))
            }),
        )
        .route(
            "/conversations/{id}",
            axum::routing::get(|axum::extract::Path(id): axum::extract::Path<String>| async move {
                if id == "cv1" {
                    return html(StatusCode::NOT_FOUND);
                }
                ok(json!({"type": "conversation", "id": id, "created_at": 1_700_000_000,
                          "updated_at": 1_700_000_200,
                          "conversation_parts": {"type": "conversation_part.list", "total_count": 1,
                              "conversation_parts": [{"type": "conversation_part", "id": "p1",
                                  "part_type": "comment", "body": "<p>hi</p>",
                                  "created_at": 1_700_000_150, "updated_at": 1_700_000_150,
                                  "author": {"type": "admin", "id": "a1"}}]}}))
            }),
        );
    let fake = Fake::start(app).await;
    let out = fake.sync("company_segments,conversation_parts").await;
    assert_ok(&out);
    for (report, endpoint, sample, rows) in [
        ("company_segments", "GET /companies/{id}/segments", "k3", 1),
        ("conversation_parts", "GET /conversations/{id}", "cv1", 1),
    ] {
        let s = fake.report_summary(report);
        assert_eq!(s["skipped_children"], 1, "{report}: {s}");
        assert_eq!(s["rows"], rows, "{report}: {s}");
        assert_eq!(s["anomalies"][0]["detail"], endpoint, "{report}: {s}");
        assert_eq!(
            s["anomalies"][0]["samples"],
            json!([sample]),
            "{report}: {s}"
        );
    }
    // The log says it once per report, with the sample.
    let err = stderr(&out);
    assert_eq!(
        err.matches("child resource(s) were gone (404) and skipped")
            .count(),
        2,
        "{err}"
    );
    let segments = all_rows(&fake.output(), "company_segments");
    assert_eq!(segments.len(), 1);
    assert_eq!(segments[0]["company_id"], "k4");
    assert_eq!(segments[0]["segment_id"], "s9");
}

// --- Item 6: a search page that always times out ------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_pages_that_always_time_out_are_read_smaller_and_finish() {
    let world = World::start(SimConfig {
        contacts: 200,
        conversations: 150,
        ..skeleton_world()
    })
    .await;
    // Every search page asking for more than 20 records: 504 with HTML.
    world
        .sim_post("faults", json!({"search_max_per_page": 20}))
        .await;
    let config = world.dir.path().join("config.toml");
    std::fs::write(
        &config,
        "page_size = 150\nmax_retries = 1\nmax_retry_secs = 5\n",
    )
    .expect("config");
    let summary = world.dir.path().join("summary.json");
    let out = world
        .sync(&[
            "--config",
            &config.display().to_string(),
            "--reports",
            "conversations,users",
            "--summary-json",
            &summary.display().to_string(),
        ])
        .await;
    assert_ok(&out);
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).expect("summary")).expect("json");
    for (report, role, dataset, endpoint) in [
        (
            "conversations",
            None,
            "conversations",
            "POST /conversations/search",
        ),
        ("users", Some("user"), "contacts", "POST /contacts/search"),
    ] {
        let truth = truth_map(&world.truth(dataset).await, role);
        let dirs = run_dirs(&world.output(), report);
        assert_eq!(dirs.len(), 1, "{report}");
        let exported = unique_map(&ids_and_updated(&read_parquet_dir(&dirs[0])));
        assert_eq!(exported, truth, "{report}: every record, once");
        let r = json["reports"]
            .as_array()
            .expect("reports")
            .iter()
            .find(|r| r["report"] == report)
            .expect("report in summary");
        assert!(
            r["degraded_windows"].as_u64().unwrap_or(0) >= 1,
            "{report}: {r}"
        );
        assert!(
            r["anomalies"]
                .as_array()
                .expect("list")
                .iter()
                .any(|a| a["kind"] == "degraded_windows" && a["detail"] == endpoint),
            "{report}: {r}"
        );
    }
}

// --- Item 7: a reset far in the future ----------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_asked_by_headers_are_bounded_to_one_window() {
    // The first search answers 429 with a reset 120 s out, the second 429
    // with `Retry-After: 600`; then the page.
    let calls = Arc::new(Mutex::new(0u32));
    let app = Router::new().route(
        "/conversations/search",
        axum::routing::post(move || {
            let n = {
                let mut c = calls.lock().expect("lock");
                *c += 1;
                *c
            };
            async move {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .expect("clock")
                    .as_secs();
                let mut headers = HeaderMap::new();
                let limited = |headers: &mut HeaderMap, reset: u64| {
                    headers.insert("x-ratelimit-limit", "167".parse().expect("h"));
                    headers.insert("x-ratelimit-remaining", "0".parse().expect("h"));
                    headers.insert("x-ratelimit-reset", reset.to_string().parse().expect("h"));
                };
                let body = json!({"type": "error.list", "errors": [
                    {"code": "rate_limit_exceeded", "message": "Exceeded rate limit"}]});
                match n {
                    1 => {
                        limited(&mut headers, now + 120);
                        (StatusCode::TOO_MANY_REQUESTS, headers, axum::Json(body)).into_response()
                    }
                    2 => {
                        headers.insert("retry-after", "600".parse().expect("h"));
                        (StatusCode::TOO_MANY_REQUESTS, headers, axum::Json(body)).into_response()
                    }
                    _ => ok(json!({"type": "conversation.list", "total_count": 1,
                                   "pages": {"type": "pages", "next": null}, "conversations": [
                        {"type": "conversation", "id": "cv1", "created_at": 1_700_000_000,
                         "updated_at": 1_700_000_100}]})),
                }
            }
        }),
    );
    let fake = Fake::start(app).await;
    let out = fake.sync("conversations").await;
    assert_ok(&out);
    let dirs = run_dirs(&fake.output(), "conversations");
    assert_eq!(
        ids_and_updated(&read_parquet_dir(&dirs[0])),
        vec![("cv1".to_string(), 1_700_000_100)]
    );
    // The waits the client computed from those headers, as it logged them.
    let err = stderr(&out);
    let waits: Vec<u64> = err
        .lines()
        .filter(|l| l.contains("retrying request"))
        .filter_map(|l| {
            let rest = l.split("wait_ms=").nth(1)?;
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .collect();
    assert_eq!(waits.len(), 2, "two retries: {err}");
    assert!(
        waits.iter().all(|w| *w <= 12_000),
        "no wait beyond one window plus a margin: {waits:?}"
    );
}

// --- Item 8: custom attribute columns that change names ---------------------

/// `state show --json` of a world's state.
async fn state_show(world: &World) -> Value {
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
    serde_json::from_str(&stdout(&out)).expect("state show json")
}

/// (model, attribute) → column, from `state show --json`.
fn custom_columns(show: &Value) -> BTreeMap<(String, String), String> {
    show["custom_columns"]
        .as_array()
        .unwrap_or_else(|| panic!("custom_columns in {show}"))
        .iter()
        .map(|c| {
            (
                (
                    c["model"].as_str().expect("model").to_string(),
                    c["attribute"].as_str().expect("attribute").to_string(),
                ),
                c["column"].as_str().expect("column").to_string(),
            )
        })
        .collect()
}

/// Column names of the Parquet files under `dir`.
fn parquet_columns(dir: &Path) -> BTreeSet<String> {
    read_parquet_dir(dir)
        .iter()
        .flat_map(|b| {
            b.schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_attribute_columns_keep_their_names_forever() {
    let world = World::start(SimConfig {
        contacts: 150,
        conversations: 20,
        ..skeleton_world()
    })
    .await;
    let declare = |model: &'static str, name: &'static str| json!({"model": model, "name": name, "data_type": "string"});
    world
        .sim_post("data_attributes", declare("company", "Company Name"))
        .await;
    world
        .sim_post("data_attributes", declare("company", "company_name"))
        .await;
    assert_ok(&world.sync(&["--reports", "companies,users"]).await);
    let first = custom_columns(&state_show(&world).await);
    let col = |m: &BTreeMap<(String, String), String>, model: &str, attr: &str| {
        m.get(&(model.to_string(), attr.to_string())).cloned()
    };
    assert_eq!(
        col(&first, "company", "Company Name").as_deref(),
        Some("custom_company_name")
    );
    assert_eq!(
        col(&first, "company", "company_name").as_deref(),
        Some("custom_company_name_2")
    );
    assert_eq!(
        col(&first, "contact", "plan").as_deref(),
        Some("custom_plan")
    );
    let companies = run_dirs(&world.output(), "companies");
    let names = parquet_columns(&companies[0]);
    assert!(
        names.contains("custom_company_name") && names.contains("custom_company_name_2"),
        "{names:?}"
    );

    // Declared later: `Company-Name` sorts between the two, and the
    // contact attribute `Plan` sorts before the world's `plan`.
    world
        .sim_post("data_attributes", declare("company", "Company-Name"))
        .await;
    world
        .sim_post("data_attributes", declare("contact", "Plan"))
        .await;
    world.sim_post("advance", json!({"seconds": 86_400})).await;
    assert_ok(&world.sync(&["--reports", "companies,users"]).await);
    let second = custom_columns(&state_show(&world).await);
    for (key, column) in &first {
        assert_eq!(second.get(key), Some(column), "{key:?} kept its column");
    }
    assert_eq!(
        col(&second, "company", "Company-Name").as_deref(),
        Some("custom_company_name_3")
    );
    assert_eq!(
        col(&second, "contact", "Plan").as_deref(),
        Some("custom_plan_2")
    );
    // `custom_plan` still holds the world's `plan` values in the new files.
    let users = run_dirs(&world.output(), "users");
    assert_eq!(users.len(), 2, "the advance changed some users");
    let rows = json_rows(&read_parquet_dir(&users[1]));
    let truth: BTreeMap<String, Value> = world
        .truth("contacts")
        .await
        .into_iter()
        .map(|c| {
            (
                c["id"].as_str().expect("id").to_string(),
                c["custom_attributes"]["plan"].clone(),
            )
        })
        .collect();
    assert!(!rows.is_empty());
    let mut with_plan = 0;
    for r in &rows {
        let id = r["id"].as_str().expect("id");
        let want = truth.get(id).cloned().unwrap_or(Value::Null);
        let got = r.get("custom_plan").cloned().unwrap_or(Value::Null);
        assert_eq!(got, want, "custom_plan of {id}");
        assert!(r.get("custom_plan_2").is_none(), "Plan has no values");
        with_plan += usize::from(!got.is_null());
    }
    assert!(with_plan > 0, "some users have a plan");
    let names = parquet_columns(&users[1]);
    assert!(names.contains("custom_plan_2"), "{names:?}");
}
