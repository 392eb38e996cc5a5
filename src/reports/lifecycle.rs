//! `lifecycle_events`: one row per lifecycle event of a conversation or a
//! ticket, derived from what the run reads (the read over both searches,
//! shared with `part_attachments`, is in [`crate::reports::both_parents`]).
//!
//! **Events** (`event`; the source of `occurred_at`; `admin_id`):
//!
//! | event | one per | `occurred_at` | `admin_id` |
//! |---|---|---|---|
//! | `conversation_created` | conversation | `created_at` | `source.author.id` when `source.author.type` is `admin` |
//! | `conversation_replied` | part with `part_type` `comment` by an `admin` author | the part's `created_at` | `author.id` |
//! | `conversation_closed` | part with `part_type` `close` | the part's `created_at` | `author.id` when an admin |
//! | `conversation_rated` | `conversation_rating` | `conversation_rating.created_at` | `conversation_rating.teammate.id` |
//! | `ticket_created` | ticket | `created_at` | null |
//! | `ticket_submitted` | ticket part `ticket_state_updated_by_admin` with `ticket_state` `submitted` | the part's `created_at` | `author.id` when an admin |
//! | `ticket_replied` | ticket part `comment` by an `admin` author | the part's `created_at` | `author.id` |
//! | `ticket_pending` | ticket part `ticket_state_updated_by_admin` with `ticket_state` `waiting_on_customer` | the part's `created_at` | as `ticket_submitted` |
//! | `ticket_resolved` | ticket part `ticket_state_updated_by_admin` with `ticket_state` `resolved` | the part's `created_at` | as `ticket_submitted` |
//!
//! `contact_ids` are the parent's `contacts.contacts[].id` (for
//! `conversation_rated`: the rating's `contact.id`); `rating` and `remark`
//! are the rating's. `event_key` is `<event>:<part id>` for part events,
//! `<event>:<conversation or ticket id>` for the `_created` events and
//! `conversation_rated:<conversation id>:<rating created_at>`: the primary
//! key, stable across reads.
//!
//! **Read**: the conversations changed since the cursor
//! (`POST /conversations/search`, each read with `GET /conversations/{id}`
//! for its parts and rating: one request per run shared with
//! `conversation_parts` and `part_attachments`, see
//! [`crate::extract::shared_conversations`]), then the changed tickets
//! (`POST /tickets/search`, parts inline when complete, else
//! `GET /tickets/{id}`), one fan-out after the other, each checkpointed at
//! its search's windows. The cursor holds both searches' positions
//! ([`PairCursor`]).
//!
//! **Once per event**: a changed parent is read whole, so its earlier
//! events are read again. Only events whose `occurred_at` is after the
//! version of the parent last exported are written (the part cutoff of
//! `conversation_parts`, see [`PartsCursor`]), and an `event_key` already
//! written in the run is not written again.

use serde_json::{Value, json};

use crate::output::schema::{ColType::*, Column, timestamp_secs};
use crate::reports::both_parents::{Kind, extract_both, id_text, parts};
use crate::reports::conversation_parts::PartCutoff;
use crate::reports::spec::{ExtractCtx, ExtractFuture, Plan, Probe, ReportSpec};
use crate::reports::{ReportName, conversations, keys, ticket_parts, tickets};

/// `lifecycle_events`: events derived from changed conversations and tickets.
pub static LIFECYCLE_EVENTS: ReportSpec = ReportSpec {
    name: "lifecycle_events",
    description: "Lifecycle events of conversations and tickets (created, replied, closed, rated; created, submitted, replied, pending, resolved), from changed conversations (GET /conversations/{id}) and tickets (POST /tickets/search)",
    model: None,
    columns: COLUMNS,
    expandable: &[],
    options: &[],
    default_enabled: true,
    min_version: None,
    keys: keys::ReportKeys {
        primary_key: &["event_key"],
        nullable_key_columns: &[],
        entity_key: &["event_key"],
        version_column: "occurred_at",
        current: keys::Current::Every,
        repeats_versions: false,
        foreign_keys: &[keys::TO_CONVERSATION, ticket_parts::TO_TICKET, ADMIN],
    },
    probes: PROBES,
    skip_failed_option: None,
    // Two searches: no single parent range to backfill by.
    plan: |_| Ok(Plan::FanOut { run, parents: None }),
};

/// `admin_id` → `admins.id`.
const ADMIN: keys::ForeignKey = keys::fk(&["admin_id"], &[ReportName::Admins], &["id"]);

/// The searches both-parent reports read.
pub(crate) const PROBES: &[Probe] = &[
    Probe::Search(|_| Ok(conversations::search_spec("all", "updated_at"))),
    // Without the tickets scope, the report exports its conversation half.
    Probe::HalfSearch(|_| Ok(tickets::search_spec())),
];

#[allow(non_upper_case_globals)]
impl ReportName {
    /// `lifecycle_events` ([`LIFECYCLE_EVENTS`]).
    pub const LifecycleEvents: ReportName = ReportName::of(&LIFECYCLE_EVENTS);
}

/// Output columns.
#[rustfmt::skip]
pub static COLUMNS: &[Column] = &[
    Column::new("event_key", Str, "/event_key", "<event>:<part id>, <event>:<conversation or ticket id> for the _created events, conversation_rated:<conversation id>:<rating created_at>; the primary key"),
    Column::new("event", Str, "/event", "conversation_created, conversation_replied, conversation_closed, conversation_rated, ticket_created, ticket_submitted, ticket_replied, ticket_pending, ticket_resolved"),
    Column::new("occurred_at", Timestamp, "/occurred_at", "When: the parent's created_at (_created), the part's created_at (part events), conversation_rating.created_at (conversation_rated)"),
    Column::new("object_type", Str, "/object_type", "conversation or ticket"),
    Column::new("conversation_id", Str, "/conversation_id", "The conversation (conversation events; else null)"),
    Column::new("ticket_id", Str, "/ticket_id", "The ticket (ticket events; the API's id; else null)"),
    Column::new("part_id", Str, "/part_id", "The conversation or ticket part the event comes from (null for _created and conversation_rated)"),
    Column::list("contact_ids", "/contact_ids", "", "The parent's contacts (contacts.contacts[].id); for conversation_rated the rating's contact"),
    Column::new("admin_id", Str, "/admin_id", "The teammate: the part's author when an admin, source.author for conversation_created, conversation_rating.teammate for conversation_rated"),
    Column::new("rating", Int, "/rating", "conversation_rating.rating (1-5), conversation_rated only"),
    Column::new("remark", Str, "/remark", "conversation_rating.remark, conversation_rated only"),
];

fn run(c: ExtractCtx<'_>) -> ExtractFuture<'_> {
    Box::pin(extract_both(
        c,
        LIFECYCLE_EVENTS.name,
        events,
        Some("event_key"),
    ))
}

/// The lifecycle events of one parent, after `cutoff` (by `occurred_at`).
fn events(kind: Kind, parent: &Value, cutoff: PartCutoff) -> Vec<Value> {
    let id = id_text(&parent["id"]).unwrap_or_default();
    let contacts: Vec<Value> = parent
        .pointer("/contacts/contacts")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| id_text(&c["id"]))
                .map(Value::from)
                .collect()
        })
        .unwrap_or_default();
    let admin = |author: &Value| {
        if author["type"] == "admin" {
            id_text(&author["id"]).map_or(Value::Null, Value::from)
        } else {
            Value::Null
        }
    };
    let event =
        |name: &str, key: String, at: &Value, part: Value, contacts: Vec<Value>, admin: Value| {
            let (conversation_id, ticket_id) = match kind {
                Kind::Conversation => (Value::from(id.as_str()), Value::Null),
                Kind::Ticket => (Value::Null, Value::from(id.as_str())),
            };
            json!({
                "event_key": key,
                "event": name,
                "occurred_at": at,
                "object_type": kind.name(),
                "conversation_id": conversation_id,
                "ticket_id": ticket_id,
                "part_id": part,
                "contact_ids": contacts,
                "admin_id": admin,
            })
        };
    let mut out = Vec::new();
    let created = match kind {
        Kind::Conversation => "conversation_created",
        Kind::Ticket => "ticket_created",
    };
    let creator = match kind {
        Kind::Conversation => admin(&parent["source"]["author"]),
        Kind::Ticket => Value::Null,
    };
    out.push(event(
        created,
        format!("{created}:{id}"),
        &parent["created_at"],
        Value::Null,
        contacts.clone(),
        creator,
    ));
    for p in parts(kind, parent) {
        let part_type = p["part_type"].as_str();
        let by_admin = p["author"]["type"] == "admin";
        let name = match (kind, part_type, p["ticket_state"].as_str()) {
            (Kind::Conversation, Some("comment"), _) if by_admin => "conversation_replied",
            (Kind::Conversation, Some("close"), _) => "conversation_closed",
            (Kind::Ticket, Some("ticket_state_updated_by_admin"), Some("submitted")) => {
                "ticket_submitted"
            }
            (Kind::Ticket, Some("ticket_state_updated_by_admin"), Some("waiting_on_customer")) => {
                "ticket_pending"
            }
            (Kind::Ticket, Some("ticket_state_updated_by_admin"), Some("resolved")) => {
                "ticket_resolved"
            }
            (Kind::Ticket, Some("comment"), _) if by_admin => "ticket_replied",
            _ => continue,
        };
        let Some(part_id) = id_text(&p["id"]) else {
            continue;
        };
        out.push(event(
            name,
            format!("{name}:{part_id}"),
            &p["created_at"],
            Value::from(part_id),
            contacts.clone(),
            admin(&p["author"]),
        ));
    }
    let rating = &parent["conversation_rating"];
    if kind == Kind::Conversation && rating.is_object() && !rating["created_at"].is_null() {
        let at = timestamp_secs(&rating["created_at"])
            .map_or_else(|| rating["created_at"].to_string(), |t| t.to_string());
        let contact: Vec<Value> = id_text(&rating["contact"]["id"])
            .map(Value::from)
            .into_iter()
            .collect();
        let mut e = event(
            "conversation_rated",
            format!("conversation_rated:{id}:{at}"),
            &rating["created_at"],
            Value::Null,
            contact,
            id_text(&rating["teammate"]["id"]).map_or(Value::Null, Value::from),
        );
        e["rating"] = rating["rating"].clone();
        e["remark"] = rating["remark"].clone();
        out.push(e);
    }
    out.retain(|e| timestamp_secs(&e["occurred_at"]).is_some_and(|t| cutoff.admits(t)));
    out
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
