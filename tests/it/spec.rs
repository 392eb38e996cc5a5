//! Spec conformance: every endpoint the simulator serves answers with a body
//! that validates against Intercom's OpenAPI response schema, for 2.16 and
//! (where the endpoint exists) 2.11.
//!
//! The schemas are extracted from the official descriptions into
//! `tests/data/openapi/intercom-<version>.schemas.json` by
//! `scripts/extract-openapi-schemas.py` (source: intercom/Intercom-OpenAPI at
//! 8889625a, MIT; see `tests/data/openapi/LICENSE-intercom-openapi.txt`).
//! Where the spec is known to be wrong (API notes §8), the deviation is
//! listed in [`EXCEPTIONS`] with the reason, and every exception must still
//! be needed, so the list cannot go stale.

use std::collections::BTreeSet;

use intercom_export::simulator::{self, SimConfig, SimHandle};
use serde_json::{Value, json};

const SPEC_216: &str = include_str!("../data/openapi/intercom-2.16.schemas.json");
const SPEC_211: &str = include_str!("../data/openapi/intercom-2.11.schemas.json");

/// Known differences between the simulator and the description: the places
/// where the wire wins (each with its capture) and the description's own
/// errors, in one list in the simulator (`shapes/wire.rs`). A validation
/// error is excused when the version and endpoint match (`*` / empty: any),
/// its instance path starts with the prefix (an exception without an
/// endpoint: contains it) and its message contains the fragment.
const EXCEPTIONS: &[simulator::WireException] = simulator::WIRE_EXCEPTIONS;

async fn start() -> SimHandle {
    simulator::spawn(SimConfig {
        seed: 3,
        contacts: 300,
        conversations: 60,
        companies: 40,
        tickets: 12,
        parts: 3,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// Requests one response per served endpoint: (endpoint, method, path, body).
fn requests(
    contact: &str,
    company: &str,
    conversation: &str,
    ticket: &str,
) -> Vec<(String, &'static str, String, Value)> {
    // Pages large enough to hold the wire variants a share of records has.
    let search = json!({"query": {"field": "created_at", "operator": ">", "value": 0},
                        "pagination": {"per_page": 60}});
    let mut r = vec![
        ("GET /me", "GET", "/me".to_owned(), Value::Null),
        (
            "GET /contacts",
            "GET",
            "/contacts?per_page=60".into(),
            Value::Null,
        ),
        (
            "POST /contacts/search",
            "POST",
            "/contacts/search".into(),
            search.clone(),
        ),
        (
            "GET /contacts/{}",
            "GET",
            format!("/contacts/{contact}"),
            Value::Null,
        ),
        (
            "GET /contacts/{}/notes",
            "GET",
            format!("/contacts/{contact}/notes"),
            Value::Null,
        ),
        (
            "GET /contacts/{}/tags",
            "GET",
            format!("/contacts/{contact}/tags"),
            Value::Null,
        ),
        (
            "GET /contacts/{}/companies",
            "GET",
            format!("/contacts/{contact}/companies?per_page=5"),
            Value::Null,
        ),
        (
            "GET /contacts/{}/segments",
            "GET",
            format!("/contacts/{contact}/segments"),
            Value::Null,
        ),
        (
            "GET /conversations",
            "GET",
            "/conversations?per_page=60".into(),
            Value::Null,
        ),
        (
            "POST /conversations/search",
            "POST",
            "/conversations/search".into(),
            search.clone(),
        ),
        (
            "GET /conversations/{}",
            "GET",
            format!("/conversations/{conversation}"),
            Value::Null,
        ),
        (
            "GET /conversations/deleted",
            "GET",
            "/conversations/deleted?per_page=2".into(),
            Value::Null,
        ),
        ("GET /admins", "GET", "/admins".into(), Value::Null),
        ("GET /teams", "GET", "/teams".into(), Value::Null),
        ("GET /tags", "GET", "/tags".into(), Value::Null),
        (
            "GET /segments",
            "GET",
            "/segments?include_count=true".into(),
            Value::Null,
        ),
        (
            "GET /data_attributes",
            "GET",
            "/data_attributes?model=contact".into(),
            Value::Null,
        ),
        (
            "GET /ticket_types",
            "GET",
            "/ticket_types".into(),
            Value::Null,
        ),
        (
            "GET /companies",
            "GET",
            "/companies?per_page=3".into(),
            Value::Null,
        ),
        (
            "GET /companies/scroll",
            "GET",
            "/companies/scroll".into(),
            Value::Null,
        ),
        (
            "POST /companies/list",
            "POST",
            "/companies/list?per_page=3".into(),
            Value::Null,
        ),
        (
            "GET /companies/{}",
            "GET",
            format!("/companies/{company}"),
            Value::Null,
        ),
        (
            "GET /companies/{}/contacts",
            "GET",
            format!("/companies/{company}/contacts?per_page=2"),
            Value::Null,
        ),
        (
            "GET /companies/{}/segments",
            "GET",
            format!("/companies/{company}/segments"),
            Value::Null,
        ),
        (
            "GET /events",
            "GET",
            format!("/events?type=user&intercom_user_id={contact}&per_page=2"),
            Value::Null,
        ),
        (
            "POST /tickets/search",
            "POST",
            "/tickets/search".into(),
            search,
        ),
        (
            "GET /conversations/attributes",
            "GET",
            "/conversations/attributes".into(),
            Value::Null,
        ),
        (
            "GET /tickets/{}",
            "GET",
            format!("/tickets/{ticket}"),
            Value::Null,
        ),
        (
            "GET /admins/activity_logs",
            "GET",
            "/admins/activity_logs?created_at_after=0&per_page=40".into(),
            Value::Null,
        ),
        (
            "GET /help_center/help_centers",
            "GET",
            "/help_center/help_centers".into(),
            Value::Null,
        ),
        (
            "GET /help_center/collections",
            "GET",
            "/help_center/collections?per_page=10".into(),
            Value::Null,
        ),
        (
            "GET /articles",
            "GET",
            "/articles?per_page=40".into(),
            Value::Null,
        ),
        (
            "error",
            "GET",
            "/contacts/000000000000000000000000".into(),
            Value::Null,
        ),
        // A 403 for a missing scope (the tickets family denied around it).
        ("error", "GET", "/ticket_types".into(), Value::Null),
    ];
    r.drain(..)
        .map(|(e, m, p, b)| (e.to_owned(), m, p, b))
        .collect()
}

async fn check_version(
    sim: &SimHandle,
    version: &str,
    spec: &str,
    used: &mut BTreeSet<usize>,
) -> Vec<String> {
    let doc: Value = serde_json::from_str(spec).expect("schema file is JSON");
    let http = reqwest::Client::new();
    let truth = |what: &'static str| {
        let http = http.clone();
        let url = format!("{}/__sim/truth/{what}", sim.base_url());
        async move {
            let text = http.get(url).send().await.unwrap().text().await.unwrap();
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        }
    };
    // A contact with notes, tags and companies (every 50th from the 11th
    // has a dozen companies; index 11 exists in this small world).
    let contacts = truth("contacts").await;
    let contact = contacts
        .iter()
        .find(|c| {
            c["companies"]["total_count"].as_u64().unwrap_or(0) > 0
                && c["notes"]["total_count"].as_u64().unwrap_or(0) > 0
        })
        .or_else(|| {
            contacts
                .iter()
                .find(|c| c["companies"]["total_count"].as_u64().unwrap_or(0) > 0)
        })
        .expect("a contact with companies");
    let company = truth("companies")
        .await
        .into_iter()
        .find(|c| c["user_count"].as_i64().unwrap_or(0) > 0)
        .expect("a company with contacts");
    let conversation = truth("conversations").await.remove(0);
    // The ticket with the most parts (assignments, state changes, replies).
    let ticket = truth("tickets")
        .await
        .into_iter()
        .max_by_key(|t| t["ticket_parts"]["total_count"].as_u64().unwrap_or(0))
        .expect("a ticket");
    let mut failures = Vec::new();
    for (endpoint, method, path, body) in requests(
        contact["id"].as_str().unwrap(),
        company["id"].as_str().unwrap(),
        conversation["id"].as_str().unwrap(),
        ticket["id"].as_str().unwrap(),
    ) {
        let Some(schema) = doc["endpoints"].get(&endpoint).map(|e| e["schema"].clone()) else {
            assert!(
                version == "2.11"
                    && [
                        "GET /conversations/deleted",
                        "GET /conversations/attributes"
                    ]
                    .contains(&endpoint.as_str()),
                "only the 2.16 endpoints are missing from a spec: {version} {endpoint}"
            );
            continue;
        };
        let denied = endpoint == "error" && path == "/ticket_types";
        if denied {
            set_denied(&http, sim, &["tickets"]).await;
        }
        let url = format!("{}{path}", sim.base_url());
        let req = if method == "POST" {
            http.post(url).json(&body)
        } else {
            http.get(url)
        };
        let resp = req
            .bearer_auth("spec-test")
            .header("Intercom-Version", version)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let value: Value = resp.json().await.expect("json body");
        if denied {
            set_denied(&http, sim, &[]).await;
            assert_eq!(status, 403, "{value}");
            assert_eq!(value["errors"][0]["code"], "forbidden");
        } else if endpoint == "error" {
            assert_eq!(status, 404);
        } else {
            assert_eq!(status, 200, "{version} {endpoint}: {value}");
        }
        if endpoint == "GET /companies/scroll" {
            // Close the scroll so a later run can open one.
            let p = value["scroll_param"].as_str().unwrap();
            loop {
                let page: Value = http
                    .get(format!(
                        "{}/companies/scroll?scroll_param={p}",
                        sim.base_url()
                    ))
                    .bearer_auth("spec-test")
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if page["data"].as_array().is_none_or(Vec::is_empty) {
                    break;
                }
            }
        }
        validate(
            &doc,
            version,
            &endpoint,
            schema,
            &value,
            used,
            &mut failures,
        );
    }
    failures
}

/// Checks `value` against `schema` (of `doc`), adding each violation the
/// [`EXCEPTIONS`] do not excuse to `failures` once (ids and numbers aside).
fn validate(
    doc: &Value,
    version: &str,
    endpoint: &str,
    schema: Value,
    value: &Value,
    used: &mut BTreeSet<usize>,
    failures: &mut Vec<String>,
) {
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": doc["components"],
        "allOf": [schema],
    });
    let validator = jsonschema::validator_for(&root).expect("schema compiles");
    for e in validator.iter_errors(value) {
        let at = e.instance_path().to_string();
        let text = e.to_string();
        let excused = EXCEPTIONS.iter().position(|x| {
            (x.version == "*" || x.version == version)
                && text.contains(x.message)
                && if x.endpoint.is_empty() {
                    at.contains(x.path)
                } else {
                    x.endpoint == endpoint && at.starts_with(x.path)
                }
        });
        match excused {
            Some(i) => {
                used.insert(i);
            }
            None => {
                let msg = format!("{version} {endpoint} at {at:?}: {e}");
                let generic: String = msg.chars().filter(|c| !c.is_ascii_digit()).collect();
                if !failures.iter().any(|f: &String| {
                    f.chars()
                        .filter(|c| !c.is_ascii_digit())
                        .collect::<String>()
                        == generic
                }) {
                    failures.push(msg);
                }
            }
        }
    }
}

/// Deny (or, with none, allow again) scope families through `/__sim/faults`.
async fn set_denied(http: &reqwest::Client, sim: &SimHandle, families: &[&str]) {
    let resp = http
        .post(format!("{}/__sim/faults", sim.base_url()))
        .json(&json!({ "denied_scopes": families }))
        .send()
        .await
        .expect("faults");
    assert!(resp.status().is_success());
}

#[tokio::test]
async fn responses_match_the_openapi_schemas() {
    let sim = start().await;
    let mut used = BTreeSet::new();
    let mut failures = check_version(&sim, "2.16", SPEC_216, &mut used).await;
    failures.extend(check_version(&sim, "2.11", SPEC_211, &mut used).await);
    assert!(
        failures.is_empty(),
        "{} schema violations:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let stale: Vec<&str> = (0..EXCEPTIONS.len())
        .filter(|i| !used.contains(i))
        .map(|i| EXCEPTIONS[i].reason)
        .collect();
    assert!(stale.is_empty(), "exceptions no longer needed: {stale:?}");
}

/// The write endpoints' success and error responses (2.16), in the order a
/// story needs them; each `(endpoint, method, path, body, status)`.
#[tokio::test]
async fn write_responses_match_the_openapi_schemas() {
    let sim = start().await;
    let doc: Value = serde_json::from_str(SPEC_216).expect("schema file is JSON");
    let http = reqwest::Client::new();
    let call = |method: &'static str, path: String, body: Value| {
        let http = http.clone();
        let url = format!("{}{path}", sim.base_url());
        async move {
            let req = match method {
                "POST" => http.post(url).json(&body),
                "PUT" => http.put(url).json(&body),
                "DELETE" => http.delete(url),
                _ => http.get(url),
            };
            let resp = req
                .bearer_auth("spec-test")
                .header("Intercom-Version", "2.16")
                .send()
                .await
                .expect("request");
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.expect("json body"))
        }
    };
    let mut used = BTreeSet::new();
    let mut failures = Vec::new();
    let mut check = |endpoint: &str, status: u16, want: u16, value: &Value| {
        assert_eq!(status, want, "{endpoint}: {value}");
        let schema = doc["endpoints"][endpoint]["schema"].clone();
        assert!(!schema.is_null(), "no schema for {endpoint}");
        validate(
            &doc,
            "2.16",
            endpoint,
            schema,
            value,
            &mut used,
            &mut failures,
        );
    };
    let admin = call("GET", "/admins".into(), Value::Null).await.1["admins"][0]["id"].clone();
    let (s, user) = call(
        "POST",
        "/contacts".into(),
        json!({"email": "spec@example.org", "external_id": "spec-1", "name": "Spec",
               "custom_attributes": {"plan": "pro", "renewal date": 1_790_000_000}}),
    )
    .await;
    check("POST /contacts", s, 200, &user);
    let uid = user["id"].as_str().expect("id").to_owned();
    let (s, v) = call(
        "PUT",
        format!("/contacts/{uid}"),
        json!({"phone": "+1 555 0100", "owner_id": admin, "custom_attributes": {"seats": 4}}),
    )
    .await;
    check("PUT /contacts/{}", s, 200, &v);
    let (s, v) = call("GET", format!("/contacts/{uid}"), Value::Null).await;
    check("GET /contacts/{}", s, 200, &v);
    let (s, company) = call(
        "POST",
        "/companies".into(),
        json!({"company_id": "spec-co", "name": "Spec Co", "plan": "Gold", "monthly_spend": 9.5}),
    )
    .await;
    check("POST /companies", s, 200, &company);
    let cid = company["id"].as_str().expect("id").to_owned();
    let (s, v) = call("GET", format!("/companies/{cid}"), Value::Null).await;
    check("GET /companies/{}", s, 200, &v);
    let (s, v) = call(
        "POST",
        format!("/contacts/{uid}/companies"),
        json!({ "id": cid }),
    )
    .await;
    check("POST /contacts/{}/companies", s, 200, &v);
    let conv = call("GET", "/conversations?per_page=1".into(), Value::Null)
        .await
        .1["conversations"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (s, v) = call(
        "POST",
        format!("/conversations/{conv}/reply"),
        json!({"type": "admin", "message_type": "note", "admin_id": admin, "body": "<p>n</p>",
               "attachment_urls": ["https://example.com/a.png"]}),
    )
    .await;
    check("POST /conversations/{}/reply", s, 200, &v);
    let ticket_type =
        call("GET", "/ticket_types".into(), Value::Null).await.1["data"][0]["id"].clone();
    let (s, ticket) = call(
        "POST",
        "/tickets".into(),
        json!({"ticket_type_id": ticket_type, "contacts": [{"id": uid}],
               "ticket_attributes": {"_default_title_": "t"}, "conversation_to_link_id": conv}),
    )
    .await;
    check("POST /tickets", s, 200, &ticket);
    let tid = ticket["id"].as_str().expect("id").to_owned();
    let (s, v) = call("GET", format!("/tickets/{tid}"), Value::Null).await;
    check("GET /tickets/{}", s, 200, &v);
    for (kind, subject) in [("in_app", Value::Null), ("email", json!("Hello"))] {
        let (s, msg) = call(
            "POST",
            "/messages".into(),
            json!({"message_type": kind, "subject": subject, "body": "<p>Hi</p>",
                   "from": {"type": "admin", "id": admin}, "to": {"type": "user", "id": uid}}),
        )
        .await;
        check("POST /messages", s, 200, &msg);
        let conv = msg["conversation_id"].as_str().expect("id");
        let (s, v) = call("GET", format!("/conversations/{conv}"), Value::Null).await;
        check("GET /conversations/{}", s, 200, &v);
    }
    let (_, lead) = call("POST", "/contacts".into(), json!({"role": "lead"})).await;
    let lead = lead["id"].as_str().expect("id").to_owned();
    let (s, v) = call("GET", format!("/contacts/{lead}"), Value::Null).await;
    check("GET /contacts/{}", s, 200, &v);
    let (s, v) = call("DELETE", format!("/contacts/{lead}"), Value::Null).await;
    check("DELETE /contacts/{}", s, 200, &v);
    // Errors.
    let errors: Vec<(&str, String, Value, u16)> = vec![
        ("POST", "/contacts".into(), json!({}), 400),
        (
            "POST",
            "/contacts".into(),
            json!({"email": "a@b.c", "custom_attributes": {"x": 1}}),
            400,
        ),
        (
            "POST",
            "/contacts".into(),
            json!({"external_id": "spec-1"}),
            409,
        ),
        (
            "PUT",
            format!("/contacts/{lead}"),
            json!({"name": "x"}),
            404,
        ),
        (
            "POST",
            format!("/contacts/{uid}/companies"),
            json!({"id": "nope"}),
            404,
        ),
        (
            "POST",
            "/messages".into(),
            json!({"message_type": "email", "body": "b",
            "from": {"type": "admin", "id": admin}, "to": {"type": "user", "id": uid}}),
            422,
        ),
        (
            "POST",
            "/tickets".into(),
            json!({"ticket_type_id": "1"}),
            400,
        ),
    ];
    for (method, path, body, want) in errors {
        let (s, v) = call(method, path, body).await;
        check("error", s, want, &v);
    }
    assert!(
        failures.is_empty(),
        "{} schema violations:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
