//! The simulator's write API: a story driven through Intercom's endpoints
//! only, then synced, lands in the export exactly as written; bad writes get
//! Intercom's status and error code.

use std::collections::BTreeSet;
use std::path::Path;

use intercom_export::simulator::SimConfig;
use reqwest::StatusCode;
use serde_json::{Map, Value, json};

use crate::harness::{World, assert_ok, json_rows, read_parquet_dir, run_dirs};

const REPORTS: &str = "users,leads,companies,conversations,conversation_parts,tickets,events";

fn small_world() -> SimConfig {
    SimConfig {
        seed: 19,
        contacts: 300,
        conversations: 60,
        companies: 30,
        tickets: 8,
        parts: 3,
        ..SimConfig::default()
    }
}

/// An API client for the simulator (bearer token, Intercom-Version 2.16).
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn new(w: &World) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: w.sim.base_url(),
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(url),
            "POST" => self.http.post(url),
            "PUT" => self.http.put(url),
            "DELETE" => self.http.delete(url),
            other => panic!("method {other}"),
        };
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        let resp = req
            .bearer_auth("story-token")
            .header("Intercom-Version", "2.16")
            .send()
            .await
            .expect("simulator reachable");
        let status = resp.status();
        let v: Value = resp.json().await.expect("JSON body");
        (status, v)
    }

    /// A write or read that must succeed; its body.
    async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method, path, body).await;
        assert_eq!(status, StatusCode::OK, "{method} {path}: {v}");
        v
    }

    /// A request that must fail with `status` and Intercom error `code`.
    async fn fails(&self, method: &str, path: &str, body: Option<Value>, status: u16, code: &str) {
        let (got, v) = self.call(method, path, body).await;
        assert_eq!(got.as_u16(), status, "{method} {path}: {v}");
        assert_eq!(v["type"], "error.list", "{v}");
        assert_eq!(v["errors"][0]["code"], code, "{method} {path}: {v}");
        assert!(v["request_id"].is_string(), "{v}");
        let message = v["errors"][0]["message"].as_str().unwrap_or("");
        assert!(!message.is_empty(), "an error says what is wrong: {v}");
    }
}

/// Rows a report wrote in run directories past the first `before`.
fn rows_since(out: &Path, report: &str, before: usize) -> Vec<Map<String, Value>> {
    run_dirs(out, report)
        .iter()
        .skip(before)
        .flat_map(|d| json_rows(&read_parquet_dir(d)))
        .collect()
}

fn run_counts(out: &Path) -> Vec<(String, usize)> {
    REPORTS
        .split(',')
        .map(|r| (r.to_owned(), run_dirs(out, r).len()))
        .collect()
}

fn before(counts: &[(String, usize)], report: &str) -> usize {
    counts
        .iter()
        .find(|(r, _)| r == report)
        .map_or(0, |(_, n)| *n)
}

fn ids(rows: &[Map<String, Value>], key: &str) -> BTreeSet<String> {
    rows.iter()
        .map(|r| r[key].as_str().expect("id").to_owned())
        .collect()
}

fn one<'a>(rows: &'a [Map<String, Value>], id: &str) -> &'a Map<String, Value> {
    let found: Vec<&Map<String, Value>> = rows.iter().filter(|r| r["id"] == id).collect();
    assert_eq!(found.len(), 1, "one row for {id}");
    found[0]
}

#[tokio::test]
async fn a_story_written_through_the_api_is_what_the_next_sync_exports() {
    let w = World::start(small_world()).await;
    let api = Api::new(&w);
    let out = w.output();
    // The first sync exports the generated workspace.
    assert_ok(&w.sync(&["--reports", REPORTS]).await);
    let counts = run_counts(&out);

    // The story, through the API only.
    let lead = api
        .ok(
            "POST",
            "/contacts",
            Some(json!({"role": "lead", "email": "maya.lead@example.org", "name": "Maya Lead"})),
        )
        .await;
    let lead_id = lead["id"].as_str().expect("lead id").to_owned();
    assert_eq!(lead["role"], "lead");
    let user = api
        .ok(
            "POST",
            "/contacts",
            Some(json!({
                "role": "user", "external_id": "crm-4711", "email": "Ana.Builder@Example.com",
                "name": "Ana Builder", "phone": "+49 30 1234567", "signed_up_at": 1_780_000_000,
                "unsubscribed_from_emails": true,
                "custom_attributes": {"plan": "starter", "seats": 3},
            })),
        )
        .await;
    let user_id = user["id"].as_str().expect("user id").to_owned();
    assert_eq!(user["email_domain"], "example.com");
    assert_eq!(user["custom_attributes"]["seats"], 3);
    assert_eq!(
        user["custom_attributes"]["MRR"],
        Value::Null,
        "a new contact has no generated values"
    );
    assert_eq!(
        user["custom_attributes"]["beta_tester"],
        Value::Null,
        "an unset boolean attribute is null, not false"
    );
    assert_eq!(user["tags"]["data"], json!([]));
    let updated = api
        .ok(
            "PUT",
            &format!("/contacts/{user_id}"),
            Some(json!({"custom_attributes": {"seats": 12, "beta_tester": true}})),
        )
        .await;
    assert_eq!(updated["custom_attributes"]["seats"], 12);
    assert_eq!(updated["custom_attributes"]["plan"], "starter");
    let company = api
        .ok(
            "POST",
            "/companies",
            Some(json!({
                "company_id": "acme-001", "name": "Acme Rockets", "plan": "Pro", "size": 85,
                "website": "https://acme.example", "industry": "Aerospace",
                "monthly_spend": 1234.99, "remote_created_at": 1_700_000_000,
                "custom_attributes": {"account tier": "gold", "churned?": false},
            })),
        )
        .await;
    let company_id = company["id"].as_str().expect("company id").to_owned();
    assert_eq!(
        company["monthly_spend"], 1234,
        "Intercom keeps the integer part"
    );
    let attached = api
        .ok(
            "POST",
            &format!("/contacts/{user_id}/companies"),
            Some(json!({"id": company_id})),
        )
        .await;
    assert_eq!(attached["user_count"], 1);
    let admins = api.ok("GET", "/admins", None).await;
    let admin_id = admins["admins"][1]["id"]
        .as_str()
        .expect("admin id")
        .to_owned();
    // An open conversation from the list.
    let list = api.ok("GET", "/conversations?per_page=50", None).await;
    let conv = list["conversations"]
        .as_array()
        .expect("conversations")
        .iter()
        .find(|c| c["state"] == "open")
        .expect("an open conversation");
    let conv_id = conv["id"].as_str().expect("conversation id").to_owned();
    let parts_before = api
        .ok("GET", &format!("/conversations/{conv_id}"), None)
        .await["conversation_parts"]["total_count"]
        .as_u64()
        .expect("total_count");
    let replied = api
        .ok(
            "POST",
            &format!("/conversations/{conv_id}/reply"),
            Some(json!({
                "type": "admin", "message_type": "comment", "admin_id": admin_id,
                "body": "<p>Refund sent, <b>sorry</b> for the wait.</p>",
                "attachment_urls": ["https://files.example.com/receipt.pdf"],
            })),
        )
        .await;
    let parts = replied["conversation_parts"]["conversation_parts"]
        .as_array()
        .expect("parts");
    assert_eq!(
        replied["conversation_parts"]["total_count"].as_u64(),
        Some(parts_before + 1)
    );
    let new_part = parts.last().expect("the reply");
    let part_id = new_part["id"].as_str().expect("part id").to_owned();
    assert_eq!(new_part["author"]["id"], admin_id.as_str());
    let ticket_types = api.ok("GET", "/ticket_types", None).await;
    let ticket_type = ticket_types["data"][0]["id"]
        .as_str()
        .expect("type id")
        .to_owned();
    let ticket = api
        .ok(
            "POST",
            "/tickets",
            Some(json!({
                "ticket_type_id": ticket_type,
                "contacts": [{"external_id": "crm-4711"}],
                "ticket_attributes": {"_default_title_": "Rocket will not start",
                                      "_default_description_": "Ignition fails at T-3"},
                "conversation_to_link_id": conv_id,
            })),
        )
        .await;
    let ticket_id = ticket["id"].as_str().expect("ticket id").to_owned();
    let got = api.ok("GET", &format!("/tickets/{ticket_id}"), None).await;
    assert_eq!(got, ticket, "GET /tickets/{{id}} answers what POST created");
    let message = api
        .ok(
            "POST",
            "/messages",
            Some(json!({
                "message_type": "email", "subject": "Your launch window",
                "body": "<p>Hi Ana, your slot is confirmed.</p>", "template": "plain",
                "from": {"type": "admin", "id": admin_id.parse::<u64>().expect("numeric")},
                "to": {"type": "user", "id": user_id},
            })),
        )
        .await;
    assert_eq!(message["type"], "admin_message");
    assert_eq!(message["message_type"], "email");
    let message_conv = message["conversation_id"]
        .as_str()
        .expect("conversation id")
        .to_owned();

    // The writes are in the API's reads and the truth right away.
    let got = api.ok("GET", &format!("/contacts/{user_id}"), None).await;
    assert_eq!(got["companies"]["data"][0]["id"], company_id.as_str());
    let found = api
        .ok(
            "POST",
            "/contacts/search",
            Some(json!({"query": {"field": "custom_attributes.seats", "operator": "=", "value": 12}})),
        )
        .await;
    assert!(
        found["data"]
            .as_array()
            .expect("data")
            .iter()
            .any(|c| c["id"] == user_id.as_str()),
        "search sees the written attribute: {found}"
    );
    let truth_user = w
        .truth("contacts")
        .await
        .into_iter()
        .find(|c| c["id"] == user_id.as_str())
        .expect("the user is in the truth");
    assert_eq!(truth_user, got);

    // The next sync exports exactly these changes, with the written values.
    assert_ok(&w.sync(&["--reports", REPORTS]).await);
    let users = rows_since(&out, "users", before(&counts, "users"));
    assert_eq!(ids(&users, "id"), BTreeSet::from([user_id.clone()]));
    let u = one(&users, &user_id);
    assert_eq!(u["external_id"], "crm-4711");
    assert_eq!(u["email"], "Ana.Builder@Example.com");
    assert_eq!(u["name"], "Ana Builder");
    assert_eq!(u["phone"], "+49 30 1234567");
    assert_eq!(u["unsubscribed_from_emails"], true);
    assert_eq!(u["company_ids"], json!([company_id]));
    assert!(u.get("browser").is_none(), "no generated browser: {u:?}");
    let ca: Value =
        serde_json::from_str(u["custom_attributes_json"].as_str().expect("json")).expect("json");
    assert_eq!(ca["seats"], 12);
    assert_eq!(ca["plan"], "starter");
    assert_eq!(ca["beta_tester"], true);
    let leads = rows_since(&out, "leads", before(&counts, "leads"));
    assert_eq!(ids(&leads, "id"), BTreeSet::from([lead_id.clone()]));
    assert_eq!(one(&leads, &lead_id)["email"], "maya.lead@example.org");
    let companies = rows_since(&out, "companies", before(&counts, "companies"));
    assert_eq!(ids(&companies, "id"), BTreeSet::from([company_id.clone()]));
    let c = one(&companies, &company_id);
    assert_eq!(c["company_id"], "acme-001");
    assert_eq!(c["name"], "Acme Rockets");
    assert_eq!(c["plan_name"], "Pro");
    assert_eq!(c["size"], 85);
    assert_eq!(
        c["monthly_spend"].as_f64(),
        Some(1234.0),
        "the integer part"
    );
    assert_eq!(c["industry"], "Aerospace");
    assert_eq!(c["user_count"], 1);
    let conversations = rows_since(&out, "conversations", before(&counts, "conversations"));
    assert_eq!(
        ids(&conversations, "id"),
        BTreeSet::from([conv_id.clone(), message_conv.clone()])
    );
    let m = one(&conversations, &message_conv);
    assert_eq!(m["source_type"], "email");
    assert_eq!(m["source_delivered_as"], "admin_initiated");
    assert_eq!(m["source_subject"], "Your launch window");
    assert_eq!(m["source_body"], "<p>Hi Ana, your slot is confirmed.</p>");
    assert_eq!(m["source_author_id"], admin_id.as_str());
    assert_eq!(m["contact_ids"], json!([user_id]));
    let parts = rows_since(
        &out,
        "conversation_parts",
        before(&counts, "conversation_parts"),
    );
    assert_eq!(
        ids(&parts, "conversation_id"),
        BTreeSet::from([conv_id.clone()]),
        "the message has no parts yet; the replied conversation's parts are read again"
    );
    let p = one(&parts, &part_id);
    assert_eq!(p["part_type"], "comment");
    assert_eq!(p["body"], "<p>Refund sent, <b>sorry</b> for the wait.</p>");
    assert_eq!(p["author_type"], "admin");
    assert_eq!(p["author_id"], admin_id.as_str());
    assert_eq!(p["attachment_count"], 1);
    let tickets = rows_since(&out, "tickets", before(&counts, "tickets"));
    assert_eq!(ids(&tickets, "id"), BTreeSet::from([ticket_id.clone()]));
    let t = one(&tickets, &ticket_id);
    assert_eq!(t["title"], "Rocket will not start");
    assert_eq!(t["description"], "Ignition fails at T-3");
    assert_eq!(t["ticket_type_id"], ticket_type.as_str());
    assert_eq!(t["ticket_state_category"], "submitted");
    assert_eq!(t["contact_ids"], json!([user_id]));
    assert_eq!(t["linked_object_ids"], json!([conv_id]));
    let events = rows_since(&out, "events", before(&counts, "events"));
    assert!(
        events.is_empty(),
        "contacts created through the API have no events: {events:?}"
    );

    // Deleting the lead: gone from reads and search, listed in the truth.
    let deleted = api
        .ok("DELETE", &format!("/contacts/{lead_id}"), None)
        .await;
    assert_eq!(
        deleted,
        json!({"type": "contact", "id": lead_id, "external_id": null, "deleted": true})
    );
    api.fails(
        "GET",
        &format!("/contacts/{lead_id}"),
        None,
        404,
        "not_found",
    )
    .await;
    let found = api
        .ok(
            "POST",
            "/contacts/search",
            Some(json!({"query": {"field": "email", "operator": "=", "value": "maya.lead@example.org"}})),
        )
        .await;
    assert_eq!(found["total_count"], 0, "{found}");
    let now = w.sim_get("clock").await["now"].as_i64().expect("now");
    let deletions = w.truth("deletions").await;
    assert!(
        deletions.contains(&json!({
            "object_type": "contact", "id": lead_id, "deleted_at": now,
            "how": "deleted", "merged_into": null,
        })),
        "the deleted lead is in /__sim/truth/deletions"
    );
    let counts = run_counts(&out);
    assert_ok(&w.sync(&["--reports", REPORTS]).await);
    for (report, n) in &counts {
        let rows = rows_since(&out, report, *n);
        assert!(
            rows.is_empty(),
            "{report} exported again after a delete: {rows:?}"
        );
    }
}

#[tokio::test]
async fn bad_writes_get_intercoms_status_and_error_code() {
    let w = World::start(small_world()).await;
    let api = Api::new(&w);
    let contacts = w.truth("contacts").await;
    let user = contacts
        .iter()
        .find(|c| c["role"] == "user")
        .expect("a user");
    let (uid, ext, email) = (
        user["id"].as_str().expect("id"),
        user["external_id"].as_str().expect("external_id"),
        user["email"].as_str().expect("email"),
    );
    let unknown_contact = "000000000000000000000000";
    // Missing required fields.
    api.fails(
        "POST",
        "/contacts",
        Some(json!({"name": "Nobody"})),
        400,
        "parameter_missing",
    )
    .await;
    api.fails(
        "POST",
        "/companies",
        Some(json!({"name": "No id"})),
        400,
        "parameter_missing",
    )
    .await;
    api.fails(
        "POST",
        "/tickets",
        Some(json!({"contacts": [{"id": uid}]})),
        400,
        "parameter_missing",
    )
    .await;
    // Unknown custom attribute, wrong type, bad values.
    api.fails(
        "POST",
        "/contacts",
        Some(json!({"email": "x@example.org", "custom_attributes": {"favourite_colour": "red"}})),
        400,
        "parameter_invalid",
    )
    .await;
    api.fails(
        "PUT",
        &format!("/contacts/{uid}"),
        Some(json!({"custom_attributes": {"seats": "many"}})),
        400,
        "parameter_invalid",
    )
    .await;
    api.fails(
        "POST",
        "/companies",
        Some(json!({"company_id": "c-1", "custom_attributes": {"nope": 1}})),
        400,
        "parameter_invalid",
    )
    .await;
    api.fails(
        "POST",
        "/contacts",
        Some(json!({"role": "admin"})),
        400,
        "parameter_invalid",
    )
    .await;
    api.fails(
        "POST",
        "/contacts",
        Some(json!("not an object")),
        400,
        "parameter_invalid",
    )
    .await;
    // Duplicates.
    api.fails(
        "POST",
        "/contacts",
        Some(json!({"external_id": ext})),
        409,
        "conflict",
    )
    .await;
    api.fails(
        "POST",
        "/contacts",
        Some(json!({"email": email})),
        409,
        "conflict",
    )
    .await;
    let other = contacts
        .iter()
        .find(|c| c["id"] != uid)
        .and_then(|c| c["id"].as_str())
        .expect("another contact");
    api.fails(
        "PUT",
        &format!("/contacts/{other}"),
        Some(json!({"email": email})),
        409,
        "conflict",
    )
    .await;
    // Unknown ids.
    for (method, path, body) in [
        (
            "PUT",
            format!("/contacts/{unknown_contact}"),
            Some(json!({"name": "x"})),
        ),
        ("DELETE", format!("/contacts/{unknown_contact}"), None),
        (
            "POST",
            "/conversations/1/reply".to_owned(),
            Some(json!({
            "type": "admin", "message_type": "comment", "admin_id": "1", "body": "hi"})),
        ),
    ] {
        api.fails(method, &path, body, 404, "not_found").await;
    }
    api.fails(
        "POST",
        &format!("/contacts/{uid}/companies"),
        Some(json!({"id": "ffffffffffffffffffffffff"})),
        404,
        "company_not_found",
    )
    .await;
    api.fails(
        "POST",
        &format!("/contacts/{uid}/companies"),
        Some(json!({})),
        400,
        "parameter_not_found",
    )
    .await;
    api.fails("GET", "/tickets/12", None, 404, "ticket_not_found")
        .await;
    let conv = w.truth("conversations").await[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    api.fails(
        "POST",
        &format!("/conversations/{conv}/reply"),
        Some(json!({"type": "admin", "message_type": "comment", "admin_id": "42", "body": "hi"})),
        404,
        "admin_not_found",
    )
    .await;
    let admin = api.ok("GET", "/admins", None).await["admins"][0]["id"].clone();
    api.fails(
        "POST",
        &format!("/conversations/{conv}/reply"),
        Some(json!({"type": "admin", "message_type": "comment", "admin_id": admin})),
        400,
        "parameter_invalid",
    )
    .await;
    api.fails(
        "POST",
        "/messages",
        Some(
            json!({"message_type": "email", "body": "hi", "from": {"type": "admin", "id": admin},
                    "to": {"type": "user", "id": uid}}),
        ),
        422,
        "parameter_not_found",
    )
    .await;
    // Nothing of it changed the world: the truth is as before.
    assert_eq!(w.truth("contacts").await, contacts);
    assert!(w.truth("deletions").await.is_empty());
}
