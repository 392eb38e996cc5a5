//! Datasets derived from conversations and tickets as the API returns
//! them, for `/__sim/truth`: lifecycle events, part attachments and ticket
//! contacts.
//!
//! Each is computed from the canonical JSON of `GET /conversations/{id}`
//! and `GET /tickets/{id}` (2.16), so an exporter that reads those
//! endpoints and applies the rules below gets exactly these rows. Parts
//! past the 500-part cap are not returned by the API and yield nothing.
//!
//! **Lifecycle events** (`event`, with the source of `occurred_at`):
//!
//! | event | one per | `occurred_at` | `admin_id` |
//! |---|---|---|---|
//! | `conversation_created` | conversation | `created_at` | `source.author.id` when `source.author.type` is `admin`, else null |
//! | `conversation_replied` | part with `part_type` `comment` and `author.type` `admin` | the part's `created_at` | `author.id` |
//! | `conversation_closed` | part with `part_type` `close` | the part's `created_at` | `author.id` when `author.type` is `admin` |
//! | `conversation_rated` | conversation with a `conversation_rating` | `conversation_rating.created_at` | `conversation_rating.teammate.id` |
//! | `ticket_created` | ticket | `created_at` | null |
//! | `ticket_submitted` | ticket part `ticket_state_updated_by_admin` with `ticket_state` `submitted` | the part's `created_at` | `author.id` when `author.type` is `admin` |
//! | `ticket_replied` | ticket part `comment` with `author.type` `admin` | the part's `created_at` | `author.id` |
//! | `ticket_pending` | ticket part `ticket_state_updated_by_admin` with `ticket_state` `waiting_on_customer` | the part's `created_at` | as `ticket_submitted` |
//! | `ticket_resolved` | ticket part `ticket_state_updated_by_admin` with `ticket_state` `resolved` | the part's `created_at` | as `ticket_submitted` |
//!
//! `contact_ids` is the parent's `contacts.contacts[].id` (for
//! `conversation_rated`: `[conversation_rating.contact.id]`); `rating` and
//! `remark` are `conversation_rating.rating`/`.remark` (null for the other
//! events). `event_key` is `<event>:<part id>` for part events,
//! `<event>:<conversation or ticket id>` for the `_created` events and
//! `conversation_rated:<conversation id>:<rating created_at>`.

use serde_json::{Value, json};

/// The lifecycle events of conversation `c` (canonical JSON with
/// `conversation_parts`), in `occurred_at` order.
pub(crate) fn conversation_events(c: &Value) -> Vec<Value> {
    let id = text(&c["id"]);
    let contacts = contact_ids(c);
    let author = &c["source"]["author"];
    let mut out = vec![event(
        "conversation_created",
        format!("conversation_created:{id}"),
        c["created_at"].clone(),
        ("conversation", &id),
        Value::Null,
        contacts.clone(),
        admin_of(author),
    )];
    for p in parts(c, "conversation_parts") {
        let name = match (p["part_type"].as_str(), p["author"]["type"].as_str()) {
            (Some("comment"), Some("admin")) => "conversation_replied",
            (Some("close"), _) => "conversation_closed",
            _ => continue,
        };
        out.push(event(
            name,
            format!("{name}:{}", text(&p["id"])),
            p["created_at"].clone(),
            ("conversation", &id),
            p["id"].clone(),
            contacts.clone(),
            admin_of(&p["author"]),
        ));
    }
    let rating = &c["conversation_rating"];
    if rating.is_object() {
        let mut e = event(
            "conversation_rated",
            format!("conversation_rated:{id}:{}", rating["created_at"]),
            rating["created_at"].clone(),
            ("conversation", &id),
            Value::Null,
            vec![rating["contact"]["id"].clone()],
            rating["teammate"]["id"].clone(),
        );
        e["rating"] = rating["rating"].clone();
        e["remark"] = rating["remark"].clone();
        out.push(e);
    }
    out.sort_by_key(|e| e["occurred_at"].as_i64().unwrap_or(0));
    out
}

/// The lifecycle events of ticket `t` (canonical JSON), in `occurred_at` order.
pub(crate) fn ticket_events(t: &Value) -> Vec<Value> {
    let id = text(&t["id"]);
    let contacts = contact_ids(t);
    let mut out = vec![event(
        "ticket_created",
        format!("ticket_created:{id}"),
        t["created_at"].clone(),
        ("ticket", &id),
        Value::Null,
        contacts.clone(),
        Value::Null,
    )];
    for p in parts(t, "ticket_parts") {
        let kind = p["part_type"].as_str();
        let name = match (
            kind,
            p["ticket_state"].as_str(),
            p["author"]["type"].as_str(),
        ) {
            (Some("ticket_state_updated_by_admin"), Some("submitted"), _) => "ticket_submitted",
            (Some("ticket_state_updated_by_admin"), Some("waiting_on_customer"), _) => {
                "ticket_pending"
            }
            (Some("ticket_state_updated_by_admin"), Some("resolved"), _) => "ticket_resolved",
            (Some("comment"), _, Some("admin")) => "ticket_replied",
            _ => continue,
        };
        out.push(event(
            name,
            format!("{name}:{}", text(&p["id"])),
            p["created_at"].clone(),
            ("ticket", &id),
            p["id"].clone(),
            contacts.clone(),
            admin_of(&p["author"]),
        ));
    }
    out.sort_by_key(|e| e["occurred_at"].as_i64().unwrap_or(0));
    out
}

/// One `part_attachments` line per attachment of the parts of `parent`
/// (`parent_type` `conversation` or `ticket`; canonical JSON with parts).
pub(crate) fn attachments(parent: &Value, parent_type: &str) -> Vec<Value> {
    let key = if parent_type == "ticket" {
        "ticket_parts"
    } else {
        "conversation_parts"
    };
    let mut out = Vec::new();
    for p in parts(parent, key) {
        for a in p["attachments"].as_array().into_iter().flatten() {
            out.push(json!({
                "part_id": p["id"],
                "parent_type": parent_type,
                "parent_id": parent["id"],
                "part_created_at": p["created_at"],
                "type": a["type"],
                "name": a["name"],
                "url": a["url"],
                "content_type": a["content_type"],
                "filesize": a["filesize"],
                "width": a["width"],
                "height": a["height"],
            }));
        }
    }
    out
}

/// One `ticket_contacts` line per contact of ticket `t` (canonical JSON).
pub(crate) fn ticket_contacts(t: &Value) -> Vec<Value> {
    t["contacts"]["contacts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            json!({
                "ticket_id": t["id"],
                "contact_id": c["id"],
                "external_id": c["external_id"],
                "ticket_updated_at": t["updated_at"],
            })
        })
        .collect()
}

fn parts<'a>(parent: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    parent[key][key].as_array().into_iter().flatten()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn contact_ids(parent: &Value) -> Vec<Value> {
    parent["contacts"]["contacts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["id"].clone())
        .collect()
}

fn admin_of(author: &Value) -> Value {
    if author["type"] == "admin" {
        author["id"].clone()
    } else {
        Value::Null
    }
}

fn event(
    name: &str,
    key: String,
    occurred_at: Value,
    parent: (&str, &str),
    part_id: Value,
    contact_ids: Vec<Value>,
    admin_id: Value,
) -> Value {
    let (kind, id) = parent;
    json!({
        "event_key": key,
        "event": name,
        "occurred_at": occurred_at,
        "object_type": kind,
        "conversation_id": if kind == "conversation" { Value::from(id) } else { Value::Null },
        "ticket_id": if kind == "ticket" { Value::from(id) } else { Value::Null },
        "part_id": part_id,
        "contact_ids": contact_ids,
        "admin_id": admin_id,
        "rating": null,
        "remark": null,
    })
}
