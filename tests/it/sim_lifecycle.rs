//! The simulator's tickets with their histories, conversation ratings, part
//! attachments, the admins' activity log and the help center (issue #17),
//! each checked against `/__sim/truth/<dataset>` by paging the endpoints,
//! before and after the clock moves.

use std::collections::{BTreeMap, BTreeSet};

use intercom_export::simulator::{self, SimConfig, SimHandle};
use serde_json::{Value, json};

const TOKEN: &str = "sim-lifecycle-token";
const DAY: i64 = 86_400;

async fn start(config: SimConfig) -> SimHandle {
    simulator::spawn(config).await.expect("simulator starts")
}

fn small() -> SimConfig {
    SimConfig {
        seed: 17,
        contacts: 300,
        conversations: 80,
        companies: 20,
        tickets: 60,
        parts: 4,
        ..SimConfig::default()
    }
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    fn new(sim: &SimHandle) -> Api {
        Api {
            base: sim.base_url(),
            http: reqwest::Client::new(),
        }
    }

    /// GET `path` (or a full URL) with `Intercom-Version: version`.
    async fn get_v(&self, path: &str, version: &str) -> (u16, Value) {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let r = self
            .http
            .get(url)
            .bearer_auth(TOKEN)
            .header("Intercom-Version", version)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.expect("json body"))
    }

    async fn get(&self, path: &str) -> Value {
        let (status, v) = self.get_v(path, "2.16").await;
        assert_eq!(status, 200, "{path}: {v}");
        v
    }

    async fn post(&self, path: &str, body: &Value) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status().as_u16(), 200, "{path}");
        r.json().await.expect("json body")
    }

    async fn truth(&self, what: &str) -> Vec<Value> {
        let text = self
            .http
            .get(format!("{}/__sim/truth/{what}", self.base))
            .send()
            .await
            .expect("request")
            .text()
            .await
            .expect("body");
        text.lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect()
    }

    async fn advance(&self, seconds: i64) -> Value {
        self.http
            .post(format!("{}/__sim/advance", self.base))
            .json(&json!({ "seconds": seconds }))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json")
    }

    /// Every item of a page-numbered list, following `pages.next` URLs.
    async fn pages(&self, first: &str, key: &str, version: &str) -> Vec<Value> {
        let (status, mut page) = self.get_v(first, version).await;
        assert_eq!(status, 200, "{first}: {page}");
        let mut out = Vec::new();
        for _ in 0..1000 {
            out.extend(page[key].as_array().expect("the list").iter().cloned());
            match page["pages"]["next"].as_str() {
                Some(next) => page = self.get_v(next, version).await.1,
                None => return out,
            }
        }
        panic!("{first}: more than 1000 pages");
    }

    /// Every ticket whose `updated_at` is above `after`, by search.
    async fn search_tickets(&self, after: i64) -> Vec<Value> {
        let q = json!({"query": {"field": "updated_at", "operator": ">", "value": after},
                       "pagination": {"per_page": 25}});
        let mut page = self.post("/tickets/search", &q).await;
        let mut out = Vec::new();
        loop {
            out.extend(page["tickets"].as_array().unwrap().iter().cloned());
            match page["pages"]["next"]["starting_after"].as_str() {
                Some(c) => {
                    let mut body = q.clone();
                    body["pagination"]["starting_after"] = json!(c);
                    page = self.post("/tickets/search", &body).await;
                }
                None => return out,
            }
        }
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("string id").to_owned()
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}"))
}

/// A truth `ticket_parts` line without the two fields the truth adds.
fn wire_part(mut p: Value) -> Value {
    let m = p.as_object_mut().unwrap();
    m.remove("ticket_id");
    m.remove("ticket_updated_at");
    p
}

/// What a ticket's parts say its current state, assignee and last change
/// are: every ticket's fields must agree with its own history.
fn assert_consistent(t: &Value) {
    let parts = t["ticket_parts"]["ticket_parts"].as_array().unwrap();
    let first = &parts[0];
    assert_eq!(first["part_type"], "ticket_state_updated_by_admin", "{t}");
    assert_eq!(
        (&first["previous_ticket_state"], &first["ticket_state"]),
        (&json!("submitted"), &json!("submitted"))
    );
    assert_eq!(first["created_at"], t["created_at"], "opening part");
    let last = parts.iter().map(|p| int(&p["created_at"])).max().unwrap();
    assert_eq!(int(&t["updated_at"]), last, "updated_at is the last part");
    let times: Vec<i64> = parts.iter().map(|p| int(&p["created_at"])).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "parts in time order"
    );
    let state = parts
        .iter()
        .rev()
        .find_map(|p| p["ticket_state"].as_str())
        .unwrap();
    assert_eq!(
        t["ticket_state"]["category"], state,
        "state of the last change"
    );
    assert_eq!(t["open"], state != "resolved");
    let mut prev = "submitted";
    for p in parts.iter().filter(|p| p["ticket_state"].is_string()) {
        assert_eq!(p["previous_ticket_state"], prev, "chained states: {p}");
        prev = p["ticket_state"].as_str().unwrap();
    }
    let assignee = parts
        .iter()
        .rev()
        .find(|p| p["part_type"] == "assignment")
        .map_or(0, |p| {
            p["assigned_to"]["id"]
                .as_str()
                .unwrap()
                .parse::<i64>()
                .unwrap()
        });
    assert_eq!(int(&t["admin_assignee_id"]), assignee, "last assignment");
    for p in parts {
        assert_eq!(p["type"], "ticket_part");
        let kind = p["part_type"].as_str().unwrap();
        assert_eq!(p.get("body").is_some(), kind == "comment" || kind == "note");
        assert_eq!(p.get("assigned_to").is_some(), kind == "assignment");
        assert_eq!(
            p.get("ticket_state").is_some(),
            kind == "ticket_state_updated_by_admin"
        );
        let author = &p["author"];
        assert!(["admin", "bot", "user"].contains(&author["type"].as_str().unwrap()));
        assert!(
            author["id"].is_string() && author["email"].is_string(),
            "{p}"
        );
        assert!(p["attachments"].is_array() && p["redacted"] == false);
    }
}

#[tokio::test]
async fn tickets_answer_with_their_parts_and_contacts_as_the_truth_says() {
    let sim = start(small()).await;
    let api = Api::new(&sim);
    let truth = api.truth("tickets").await;
    let truth_parts = api.truth("ticket_parts").await;
    let truth_contacts = api.truth("ticket_contacts").await;
    assert_eq!(truth.len(), 60);

    let searched = api.search_tickets(0).await;
    let searched: BTreeMap<String, Value> = searched.into_iter().map(|t| (id(&t), t)).collect();
    assert_eq!(searched.len(), truth.len(), "search finds every ticket");
    let mut parts = Vec::new();
    let mut contacts = Vec::new();
    for t in &truth {
        let got = api.get(&format!("/tickets/{}", id(t))).await;
        assert_eq!(&got, t, "GET /tickets/{{id}} is the canonical ticket");
        // Search results carry the same ticket_parts, as recorded.
        assert_eq!(searched[&id(t)]["ticket_parts"], got["ticket_parts"]);
        assert_consistent(&got);
        let list = got["ticket_parts"]["ticket_parts"].as_array().unwrap();
        assert_eq!(int(&got["ticket_parts"]["total_count"]), list.len() as i64);
        parts.extend(list.iter().cloned());
        for c in got["contacts"]["contacts"].as_array().unwrap() {
            contacts.push((id(&got), id(c)));
        }
    }
    let truth_wire: Vec<Value> = truth_parts.iter().cloned().map(wire_part).collect();
    assert_eq!(
        truth_wire, parts,
        "truth ticket_parts are the parts the API sends"
    );
    for p in &truth_parts {
        let t = truth.iter().find(|t| t["id"] == p["ticket_id"]).unwrap();
        assert_eq!(p["ticket_updated_at"], t["updated_at"]);
    }
    let truth_pairs: Vec<(String, String)> = truth_contacts
        .iter()
        .map(|c| {
            (
                c["ticket_id"].as_str().unwrap().to_owned(),
                c["contact_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        truth_pairs, contacts,
        "ticket_contacts: one per (ticket, contact)"
    );

    // The world has what the exporter needs to see.
    let kinds: BTreeSet<&str> = parts
        .iter()
        .map(|p| p["part_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "assignment",
            "comment",
            "note",
            "ticket_state_updated_by_admin"
        ])
    );
    let states: BTreeSet<&str> = truth
        .iter()
        .map(|t| t["ticket_state"]["category"].as_str().unwrap())
        .collect();
    assert_eq!(states.len(), 4, "tickets in every state: {states:?}");
    let per_ticket = truth_contacts.iter().fold(BTreeMap::new(), |mut m, c| {
        *m.entry(c["ticket_id"].to_string()).or_insert(0) += 1;
        m
    });
    assert!(
        per_ticket.values().any(|&n| n > 1),
        "some tickets have several contacts"
    );
    assert!(
        parts
            .iter()
            .any(|p| p["author"]["type"] == "user" && p["part_type"] == "comment"),
        "customers reply"
    );
}

#[tokio::test]
async fn tickets_move_through_their_states_as_the_clock_advances() {
    let sim = start(small()).await;
    let api = Api::new(&sim);
    let before: BTreeMap<String, Value> = api
        .truth("tickets")
        .await
        .into_iter()
        .map(|t| (id(&t), t))
        .collect();
    let old_now = sim.sim.now();
    let summary = api.advance(3 * DAY).await;
    let new_now = sim.sim.now();
    assert!(int(&summary["updated"]["tickets"]) > 0, "{summary}");
    assert!(int(&summary["created"]["tickets"]) > 0, "{summary}");
    let after: BTreeMap<String, Value> = api
        .truth("tickets")
        .await
        .into_iter()
        .map(|t| (id(&t), t))
        .collect();
    assert_eq!(
        after.len() - before.len(),
        int(&summary["created"]["tickets"]) as usize
    );
    let mut moved = 0;
    let mut state_changes = 0;
    let mut changed = BTreeSet::new();
    for (tid, t) in &after {
        assert_consistent(t);
        let new_parts = t["ticket_parts"]["ticket_parts"].as_array().unwrap();
        match before.get(tid) {
            None => {
                assert!(int(&t["created_at"]) > old_now && int(&t["created_at"]) <= new_now);
                changed.insert(tid.clone());
            }
            Some(old) if old == t => {}
            Some(old) => {
                moved += 1;
                changed.insert(tid.clone());
                let old_parts = old["ticket_parts"]["ticket_parts"].as_array().unwrap();
                assert_eq!(
                    &new_parts[..old_parts.len()],
                    &old_parts[..],
                    "history kept"
                );
                assert!(new_parts.len() > old_parts.len(), "a move adds parts");
                for p in &new_parts[old_parts.len()..] {
                    let at = int(&p["created_at"]);
                    assert!(at > old_now && at <= new_now, "new part in the interval");
                }
                assert!(int(&t["updated_at"]) > old_now);
                if old["ticket_state"] != t["ticket_state"] {
                    state_changes += 1;
                }
            }
        }
    }
    assert_eq!(moved, int(&summary["updated"]["tickets"]));
    assert!(state_changes > 0, "some tickets changed state");
    // An incremental search finds exactly the changed and new tickets, and
    // the wire sends their new parts.
    let found = api.search_tickets(old_now).await;
    let found_ids: BTreeSet<String> = found.iter().map(id).collect();
    assert_eq!(found_ids, changed);
    for t in &found {
        assert_eq!(
            t,
            &after[&id(t)],
            "search sends the moved ticket with its parts"
        );
    }
    // New lifecycle events of tickets are the new parts' events.
    let events = api.truth("lifecycle_events").await;
    let new_ticket_events: Vec<&Value> = events
        .iter()
        .filter(|e| e["object_type"] == "ticket" && int(&e["occurred_at"]) > old_now)
        .collect();
    assert!(!new_ticket_events.is_empty());
    for e in new_ticket_events {
        let t = &after[e["ticket_id"].as_str().unwrap()];
        if e["event"] == "ticket_created" {
            assert_eq!(e["occurred_at"], t["created_at"]);
            continue;
        }
        let part = t["ticket_parts"]["ticket_parts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == e["part_id"])
            .unwrap_or_else(|| panic!("event of a part the API sends: {e}"));
        assert_eq!(part["created_at"], e["occurred_at"]);
    }
}

/// The events of one conversation or ticket by the documented rules
/// (`shapes/lifecycle.rs`), derived here independently from the truth's
/// conversations and tickets: `(event_key, event, occurred_at, admin_id,
/// contact_ids, rating, remark)`.
fn expected_events(convs: &[Value], tickets: &[Value]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut add = |key: String,
                   event: &str,
                   at: &Value,
                   admin: &Value,
                   contacts: Value,
                   rating: (&Value, &Value)| {
        out.insert(json!([key, event, at, admin, contacts, rating.0, rating.1]).to_string());
    };
    let admin = |a: &Value| {
        if a["type"] == "admin" {
            a["id"].clone()
        } else {
            Value::Null
        }
    };
    let ids = |v: &Value| {
        Value::Array(
            v["contacts"]["contacts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].clone())
                .collect(),
        )
    };
    let none = (&Value::Null, &Value::Null);
    for c in convs {
        let cid = id(c);
        add(
            format!("conversation_created:{cid}"),
            "conversation_created",
            &c["created_at"],
            &admin(&c["source"]["author"]),
            ids(c),
            none,
        );
        for p in c["conversation_parts"]["conversation_parts"]
            .as_array()
            .unwrap()
        {
            let ev = match (
                p["part_type"].as_str().unwrap(),
                p["author"]["type"].as_str().unwrap(),
            ) {
                ("comment", "admin") => "conversation_replied",
                ("close", _) => "conversation_closed",
                _ => continue,
            };
            add(
                format!("{ev}:{}", id(p)),
                ev,
                &p["created_at"],
                &admin(&p["author"]),
                ids(c),
                none,
            );
        }
        let r = &c["conversation_rating"];
        if r.is_object() {
            add(
                format!("conversation_rated:{cid}:{}", r["created_at"]),
                "conversation_rated",
                &r["created_at"],
                &r["teammate"]["id"],
                json!([r["contact"]["id"]]),
                (&r["rating"], &r["remark"]),
            );
        }
    }
    for t in tickets {
        let tid = id(t);
        add(
            format!("ticket_created:{tid}"),
            "ticket_created",
            &t["created_at"],
            &Value::Null,
            ids(t),
            none,
        );
        for p in t["ticket_parts"]["ticket_parts"].as_array().unwrap() {
            let ev = match (
                p["part_type"].as_str().unwrap(),
                p["ticket_state"].as_str(),
                p["author"]["type"].as_str().unwrap(),
            ) {
                ("ticket_state_updated_by_admin", Some("submitted"), _) => "ticket_submitted",
                ("ticket_state_updated_by_admin", Some("waiting_on_customer"), _) => {
                    "ticket_pending"
                }
                ("ticket_state_updated_by_admin", Some("resolved"), _) => "ticket_resolved",
                ("comment", _, "admin") => "ticket_replied",
                _ => continue,
            };
            add(
                format!("{ev}:{}", id(p)),
                ev,
                &p["created_at"],
                &admin(&p["author"]),
                ids(t),
                none,
            );
        }
    }
    out
}

fn event_rows(events: &[Value]) -> BTreeSet<String> {
    events
        .iter()
        .map(|e| {
            json!([
                e["event_key"],
                e["event"],
                e["occurred_at"],
                e["admin_id"],
                e["contact_ids"],
                e["rating"],
                e["remark"]
            ])
            .to_string()
        })
        .collect()
}

#[tokio::test]
async fn every_lifecycle_event_kind_occurs_by_the_documented_rules() {
    let sim = start(SimConfig::default()).await;
    let api = Api::new(&sim);
    let events = api.truth("lifecycle_events").await;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for e in &events {
        *counts
            .entry(e["event"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let kinds = [
        "conversation_created",
        "conversation_rated",
        "conversation_replied",
        "conversation_closed",
        "ticket_created",
        "ticket_submitted",
        "ticket_replied",
        "ticket_pending",
        "ticket_resolved",
    ];
    for k in kinds {
        assert!(
            counts.get(k).copied().unwrap_or(0) > 0,
            "no {k} in a default world: {counts:?}"
        );
    }
    assert_eq!(counts.len(), kinds.len(), "{counts:?}");
    let keys: BTreeSet<&str> = events
        .iter()
        .map(|e| e["event_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), events.len(), "event_key is unique");
    let convs = api.truth("conversations").await;
    let tickets = api.truth("tickets").await;
    assert_eq!(counts["conversation_created"], convs.len());
    assert_eq!(counts["ticket_created"], tickets.len());
    assert_eq!(event_rows(&events), expected_events(&convs, &tickets));
    for e in events.iter().filter(|e| e["event"] == "conversation_rated") {
        let r = int(&e["rating"]);
        assert!((1..=5).contains(&r), "{e}");
        let c = convs
            .iter()
            .find(|c| c["id"] == e["conversation_id"])
            .unwrap();
        // A rating follows the conversation's first close (it may be open
        // again since): rated then, once.
        assert_eq!(
            e["occurred_at"], c["statistics"]["first_close_at"],
            "a rating is made at the first close: {e} {c}"
        );
    }
    let rated_before: BTreeSet<String> = events
        .iter()
        .filter(|e| e["event"] == "conversation_rated")
        .map(|e| e["event_key"].as_str().unwrap().to_string())
        .collect();
    // Again after the clock moves: ratings, replies and ticket moves appear.
    let old_now = sim.sim.now();
    api.advance(2 * DAY).await;
    let events = api.truth("lifecycle_events").await;
    let convs = api.truth("conversations").await;
    let tickets = api.truth("tickets").await;
    assert_eq!(event_rows(&events), expected_events(&convs, &tickets));
    let fresh: BTreeSet<&str> = events
        .iter()
        .filter(|e| int(&e["occurred_at"]) > old_now)
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for k in kinds {
        assert!(fresh.contains(k), "no new {k} after two days: {fresh:?}");
    }
    // A rating keeps its time when its conversation is reopened or closed
    // again: no rating event of before is replaced by another.
    let rated_after: BTreeSet<String> = events
        .iter()
        .filter(|e| e["event"] == "conversation_rated")
        .map(|e| e["event_key"].as_str().unwrap().to_string())
        .collect();
    let still_there = |key: &&String| {
        let id = key.split(':').nth(1).unwrap_or_default();
        convs.iter().any(|c| c["id"] == id)
    };
    let moved: Vec<&String> = rated_before
        .difference(&rated_after)
        .filter(still_there)
        .collect();
    assert!(moved.is_empty(), "ratings that moved: {moved:?}");
}

#[tokio::test]
async fn part_attachments_are_the_attachments_of_the_parts_the_api_sends() {
    let sim = start(small()).await;
    let api = Api::new(&sim);
    let mut expected = Vec::new();
    for (dataset, parent, parent_type) in [
        ("conversation_parts", "conversation_id", "conversation"),
        ("ticket_parts", "ticket_id", "ticket"),
    ] {
        for p in api.truth(dataset).await {
            for a in p["attachments"].as_array().unwrap() {
                expected.push(json!({
                    "part_id": p["id"], "parent_type": parent_type, "parent_id": p[parent],
                    "part_created_at": p["created_at"], "type": a["type"], "name": a["name"],
                    "url": a["url"], "content_type": a["content_type"], "filesize": a["filesize"],
                    "width": a.get("width").cloned().unwrap_or(Value::Null),
                    "height": a.get("height").cloned().unwrap_or(Value::Null),
                }));
            }
        }
    }
    let truth = api.truth("part_attachments").await;
    assert_eq!(truth, expected);
    for parent_type in ["conversation", "ticket"] {
        assert!(
            truth.iter().any(|a| a["parent_type"] == parent_type),
            "{parent_type} parts have attachments"
        );
    }
    for a in &truth {
        assert!(int(&a["filesize"]) > 0 && a["url"].as_str().unwrap().starts_with("https://"));
        let image = a["content_type"] == "image/png";
        assert_eq!(a["width"].is_u64() && a["height"].is_u64(), image, "{a}");
    }
    assert!(truth.iter().any(|a| a["content_type"] == "application/pdf"));
}

#[tokio::test]
async fn activity_logs_page_by_window_and_accrue_as_the_clock_moves() {
    let sim = start(SimConfig {
        history_days: 30,
        ..small()
    })
    .await;
    let api = Api::new(&sim);
    let truth = api.truth("activity_logs").await;
    assert!(
        truth.len() > 50,
        "about one every three hours: {}",
        truth.len()
    );
    let ids_of = |v: &[Value]| v.iter().map(id).collect::<Vec<_>>();
    let unique: BTreeSet<String> = truth.iter().map(id).collect();
    assert_eq!(unique.len(), truth.len(), "ids are unique");
    // A window, both bounds inclusive, newest first, in pages of 7.
    let from = int(&truth[truth.len() / 4]["created_at"]);
    let to = int(&truth[truth.len() / 2]["created_at"]);
    let got = api
        .pages(
            &format!(
                "/admins/activity_logs?created_at_after={from}&created_at_before={to}&per_page=7"
            ),
            "activity_logs",
            "2.16",
        )
        .await;
    let mut want: Vec<Value> = truth
        .iter()
        .filter(|l| (from..=to).contains(&int(&l["created_at"])))
        .cloned()
        .collect();
    want.reverse();
    assert!(want.len() > 7, "more than one page");
    assert_eq!(ids_of(&got), ids_of(&want));
    assert_eq!(got, want);
    for l in &got {
        assert_eq!(l["performed_by"]["type"], "admin");
        assert!(l["activity_type"].is_string() && l["activity_description"].is_string());
    }
    // Everything since the start, without an upper bound.
    let all = api
        .pages(
            "/admins/activity_logs?created_at_after=0&per_page=150",
            "activity_logs",
            "2.16",
        )
        .await;
    assert_eq!(all.len(), truth.len());
    // Bad windows.
    for (path, code) in [
        ("/admins/activity_logs", "parameter_missing"),
        (
            "/admins/activity_logs?created_at_after=yesterday",
            "parameter_invalid",
        ),
    ] {
        let (status, body) = api.get_v(path, "2.16").await;
        assert_eq!(status, 400, "{path}");
        assert_eq!(body["errors"][0]["code"], code, "{body}");
    }
    // The clock moves: old logs stay, new ones are in the elapsed interval.
    let old_now = sim.sim.now();
    api.advance(DAY).await;
    let later = api.truth("activity_logs").await;
    assert_eq!(&later[..truth.len()], &truth[..]);
    let new = &later[truth.len()..];
    assert!(!new.is_empty(), "a day adds logs");
    assert!(new.iter().all(|l| int(&l["created_at"]) > old_now));
    let got = api
        .pages(
            &format!("/admins/activity_logs?created_at_after={}", old_now + 1),
            "activity_logs",
            "2.16",
        )
        .await;
    let mut want = new.to_vec();
    want.reverse();
    assert_eq!(got, want);
}

#[tokio::test]
async fn help_center_lists_page_to_the_truth_and_articles_are_edited_over_time() {
    let sim = start(small()).await;
    let api = Api::new(&sim);
    let centers = api.get("/help_center/help_centers").await;
    assert_eq!(centers["type"], "list");
    assert_eq!(
        centers["data"].as_array().unwrap(),
        &api.truth("help_centers").await
    );

    let check = |items: &[Value], truth: &[Value]| {
        let mut want = truth.to_vec();
        want.sort_by_key(|x| {
            std::cmp::Reverse((int(&x["updated_at"]), id(x).parse::<u64>().unwrap()))
        });
        assert_eq!(items, &want[..], "updated_at descending");
    };
    let collections = api.truth("collections").await;
    let got = api
        .pages("/help_center/collections?per_page=5", "data", "2.16")
        .await;
    check(&got, &collections);
    assert!(
        collections.iter().any(|c| c["parent_id"].is_string()),
        "sections"
    );
    let first = api.get("/help_center/collections?per_page=5").await;
    assert_eq!(int(&first["total_count"]), collections.len() as i64);

    let articles = api.truth("articles").await;
    let got = api.pages("/articles?per_page=7", "data", "2.16").await;
    check(&got, &articles);
    let first = api.get("/articles").await;
    assert_eq!(
        first["data"].as_array().unwrap().len(),
        25,
        "default page size"
    );
    assert_eq!(int(&first["total_count"]), articles.len() as i64);
    // 2.11 adds what its description requires, nothing else changes.
    let v211 = api.pages("/articles?per_page=50", "data", "2.11").await;
    for (a, b) in v211.iter().zip(&got) {
        assert_eq!(a["default_locale"], "en");
        assert_eq!(
            a["parent_id"],
            b["parent_ids"].get(0).cloned().unwrap_or(Value::Null)
        );
        assert_eq!(a["updated_at"], b["updated_at"]);
    }

    // Ten days later: some articles were edited, a few are new.
    let old_now = sim.sim.now();
    api.advance(10 * DAY).await;
    let later = api.truth("articles").await;
    let old: BTreeMap<String, &Value> = articles.iter().map(|a| (id(a), a)).collect();
    let (mut edited, mut created) = (0, 0);
    for a in &later {
        match old.get(&id(a)) {
            None => {
                assert!(int(&a["created_at"]) > old_now);
                created += 1;
            }
            Some(o) if *o == a => assert!(int(&a["updated_at"]) <= old_now),
            Some(o) => {
                edited += 1;
                assert!(int(&a["updated_at"]) > old_now, "an edit moves updated_at");
                assert_eq!(a["title"], o["title"]);
                assert_eq!(a["created_at"], o["created_at"]);
            }
        }
    }
    assert!(
        edited > 0 && created > 0,
        "edited {edited}, created {created}"
    );
    let got = api.pages("/articles?per_page=150", "data", "2.16").await;
    check(&got, &later);
}

#[tokio::test]
async fn stats_count_the_new_endpoints() {
    let sim = start(small()).await;
    let api = Api::new(&sim);
    let ticket = api.truth("tickets").await.remove(0);
    api.get(&format!("/tickets/{}", id(&ticket))).await;
    api.get("/admins/activity_logs?created_at_after=0").await;
    api.get("/help_center/help_centers").await;
    api.get("/help_center/collections").await;
    api.get("/articles").await;
    api.get("/articles").await;
    let stats = sim.sim.stats();
    let by = &stats["by_endpoint"];
    assert_eq!(by["GET /tickets/{id}"], 1, "{stats}");
    assert_eq!(by["GET /admins/activity_logs"], 1);
    assert_eq!(by["GET /help_center/help_centers"], 1);
    assert_eq!(by["GET /help_center/collections"], 1);
    assert_eq!(by["GET /articles"], 2);
}

#[tokio::test]
async fn an_unknown_truth_dataset_names_the_new_ones() {
    let sim = start(small()).await;
    let resp = reqwest::get(format!("{}/__sim/truth/ticket_history", sim.base_url()))
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 404);
    let body: Value = resp.json().await.expect("json");
    let message = body["errors"][0]["message"].as_str().unwrap();
    for name in [
        "ticket_parts",
        "ticket_contacts",
        "lifecycle_events",
        "activity_logs",
        "help_centers",
        "collections",
        "articles",
        "part_attachments",
    ] {
        assert!(message.contains(name), "{message}");
    }
}
