//! The `/__sim` control plane (no auth): clock, advance, ground truth, stats.
//!
//! * `POST /__sim/advance` `{"seconds": N}` → advance summary
//! * `GET /__sim/clock` → `{"now": unix_seconds}`
//! * `GET /__sim/truth/<dataset>` → NDJSON, one record per line in its
//!   canonical form: the 2.16 shapes (`0` for an unassigned admin or team,
//!   Intercom's "none" sentinel), timestamps in unix seconds. The API sends the recorded wire variants of
//!   a share of records instead (see `shapes`); an exporter must read them
//!   back to these values. In creation order, streamed in chunks.
//!   Datasets: `contacts` (live ones, as in search results), `companies`,
//!   `conversations` (as `GET /conversations/{id}`, with parts),
//!   `conversation_parts` (the parts that endpoint returns, each with its
//!   `conversation_id`), `notes`, `events` (only the listable last 90 days),
//!   `tickets`, `deleted_conversations`, `admins`, `teams`, `tags`,
//!   `segments` (with `count`), `data_attributes` (contact and company),
//!   `ticket_types`, and `deletions`: every contact, company and
//!   conversation that is gone, `{"object_type", "id", "deleted_at" (unix
//!   seconds, null where `advance` removed a contact or company), "how"
//!   ("deleted" or "merged"), "merged_into" (the surviving contact's id or
//!   null)}`, contacts first, then companies, then conversations. The
//!   datasets of tickets' histories, the help center and the activity log
//!   (`ticket_parts`, `ticket_contacts`, `lifecycle_events`,
//!   `part_attachments`, `activity_logs`, `help_centers`, `collections`,
//!   `articles`) are described in `routes/truth_more.rs`. Merged, deleted and lagging records are handled as the
//!   API does: gone records are absent, lagging ones present. If the world is advanced while a
//!   truth stream is in flight, the stream is aborted (the client sees a body
//!   error) rather than mixing two states.
//! * `GET /__sim/stats`, `POST /__sim/reset-stats`
//! * `POST /__sim/data_attributes` `{"model": "contact"|"company", "name":
//!   N, "data_type": "string"|"integer"|"float"|"boolean"|"date"}` declares
//!   a custom attribute from now on (listed by `GET /data_attributes` after
//!   the world's own; records carry no value for it); answers the attribute.
//!   `GET /__sim/data_attributes` lists those declared so.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::{Value, json};

use super::super::Simulator;
use super::super::error::ApiError;
use super::super::shapes::contact::{self, ContactJson};
use super::super::shapes::{company, conversation, event, note, snapshot, ticket};
use super::super::vocab::TEAMS;
use super::super::world::{DELETED, LIVE, World};
use super::truth_more;

/// Records rendered per streamed chunk.
const CHUNK: u32 = 256;

pub(super) fn router(sim: Arc<Simulator>) -> Router {
    Router::new()
        .route("/__sim/advance", post(advance))
        .route("/__sim/clock", get(clock))
        .route("/__sim/truth/{dataset}", get(truth_named))
        .route("/__sim/stats", get(stats))
        .route("/__sim/reset-stats", post(reset_stats))
        .route(
            "/__sim/data_attributes",
            get(declared_attributes).post(declare_attribute),
        )
        .with_state(sim)
}

async fn declared_attributes(State(sim): State<Arc<Simulator>>) -> axum::Json<Value> {
    let list = sim
        .declared_attributes
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    axum::Json(json!({ "type": "list", "data": list }))
}

async fn declare_attribute(
    State(sim): State<Arc<Simulator>>,
    body: Bytes,
) -> Result<axum::Json<Value>, ApiError> {
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(format!("request body is not valid JSON: {e}")))?;
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let model = text("model")
        .filter(|m| m == "contact" || m == "company")
        .ok_or_else(|| ApiError::invalid("model must be \"contact\" or \"company\""))?;
    let name = text("name")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::invalid("name must be a non-empty string"))?;
    let data_type = text("data_type").unwrap_or_else(|| "string".into());
    if !["string", "integer", "float", "boolean", "date"].contains(&data_type.as_str()) {
        return Err(ApiError::invalid(
            "data_type must be string, integer, float, boolean or date",
        ));
    }
    let now = sim.now();
    let mut declared = sim
        .declared_attributes
        .write()
        .unwrap_or_else(|e| e.into_inner());
    if declared
        .iter()
        .any(|a| a["model"] == model.as_str() && a["name"] == name.as_str())
    {
        return Err(ApiError::invalid(format!(
            "{model} attribute {name:?} is already declared"
        )));
    }
    let attribute = json!({
        "type": "data_attribute",
        "id": 14_000_000 + declared.len() as i64,
        "model": model,
        "name": name,
        "full_name": format!("custom_attributes.{name}"),
        "label": name,
        "description": "Declared through /__sim/data_attributes",
        "data_type": data_type,
        "options": [],
        "api_writable": true,
        "messenger_writable": false,
        "ui_writable": true,
        "custom": true,
        "archived": false,
        "created_at": now,
        "updated_at": now,
    });
    declared.push(attribute.clone());
    Ok(axum::Json(attribute))
}

async fn advance(State(sim): State<Arc<Simulator>>, body: Bytes) -> Result<Response, ApiError> {
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(format!("request body is not valid JSON: {e}")))?;
    let seconds = v
        .get("seconds")
        .and_then(Value::as_i64)
        .filter(|s| *s >= 0)
        .ok_or_else(|| {
            ApiError::invalid("body must be {\"seconds\": N} with N a non-negative integer")
        })?;
    let summary = tokio::task::spawn_blocking(move || sim.advance(seconds))
        .await
        .map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                format!("advance failed: {e}"),
            )
        })?;
    Ok(axum::Json(summary).into_response())
}

async fn clock(State(sim): State<Arc<Simulator>>) -> axum::Json<Value> {
    axum::Json(json!({ "now": sim.now() }))
}

async fn stats(State(sim): State<Arc<Simulator>>) -> axum::Json<Value> {
    axum::Json(sim.stats())
}

async fn reset_stats(State(sim): State<Arc<Simulator>>) -> axum::Json<Value> {
    sim.reset_stats();
    axum::Json(sim.stats())
}

/// A `/__sim/truth/<name>` dataset. Each is streamed in units (a contact,
/// a conversation, ...); a unit renders zero or more lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Truth {
    Contacts,
    Companies,
    Conversations,
    ConversationParts,
    Notes,
    Events,
    Tickets,
    DeletedConversations,
    Admins,
    Teams,
    Tags,
    Segments,
    DataAttributes,
    TicketTypes,
    Deletions,
    /// Tickets' histories, the help center and the activity log.
    More(truth_more::More),
}

impl Truth {
    fn from_name(name: &str) -> Option<Truth> {
        Some(match name {
            "contacts" => Truth::Contacts,
            "companies" => Truth::Companies,
            "conversations" => Truth::Conversations,
            "conversation_parts" => Truth::ConversationParts,
            "notes" => Truth::Notes,
            "events" => Truth::Events,
            "tickets" => Truth::Tickets,
            "deleted_conversations" => Truth::DeletedConversations,
            "admins" => Truth::Admins,
            "teams" => Truth::Teams,
            "tags" => Truth::Tags,
            "segments" => Truth::Segments,
            "data_attributes" => Truth::DataAttributes,
            "ticket_types" => Truth::TicketTypes,
            "deletions" => Truth::Deletions,
            other => Truth::More(truth_more::More::from_name(other)?),
        })
    }

    fn units(self, w: &World) -> usize {
        match self {
            Truth::More(m) => m.units(w),
            Truth::Contacts | Truth::Notes | Truth::Events => w.contacts.len(),
            Truth::Companies => w.companies.len(),
            Truth::Conversations | Truth::ConversationParts => w.conversations.len(),
            Truth::Tickets => w.tickets.len(),
            Truth::DeletedConversations => w.deleted_conversations.len(),
            Truth::Admins => w.admins.len(),
            Truth::Teams => TEAMS.len(),
            Truth::Tags => w.tags.len(),
            Truth::Segments => w.segments,
            Truth::DataAttributes => 2,
            Truth::TicketTypes => snapshot::TICKET_TYPES.len(),
            Truth::Deletions => {
                w.contacts.len() + w.companies.len() + w.deleted_conversations.len()
            }
        }
    }

    /// Appends unit `i` as JSON lines (serializing into a Vec cannot fail).
    fn render(self, w: &World, i: u32, now: i64, buf: &mut Vec<u8>) {
        let line = |buf: &mut Vec<u8>, v: &dyn erased::Ser| {
            v.write(buf);
            buf.push(b'\n');
        };
        match self {
            Truth::Contacts => {
                if w.contact_live(i) {
                    line(buf, &ContactJson::new(w, i));
                }
            }
            Truth::Companies => {
                if !w.companies[i as usize].deleted {
                    line(buf, &company::json(w, i));
                }
            }
            Truth::Conversations => {
                if w.conversations[i as usize].deleted_at == 0 {
                    line(buf, &conversation::json(w, i, Some(false)));
                }
            }
            Truth::ConversationParts => {
                if w.conversations[i as usize].deleted_at != 0 {
                    return;
                }
                let mut c = conversation::json(w, i, Some(false));
                let id = c["id"].clone();
                if let Value::Array(parts) = c["conversation_parts"]["conversation_parts"].take() {
                    for mut p in parts {
                        if let Value::Object(m) = &mut p {
                            m.insert("conversation_id".into(), id.clone());
                        }
                        line(buf, &p);
                    }
                }
            }
            Truth::Notes => {
                if w.contact_live(i) {
                    for n in note::of_contact(w, i, false) {
                        line(buf, &n);
                    }
                }
            }
            Truth::Events => {
                if w.contact_live(i) {
                    let ident = contact::identity(w, i);
                    let ids = (
                        ident.id.as_str(),
                        ident.external_id.as_deref(),
                        ident.email.as_str(),
                    );
                    for e in event::of_contact(w, i) {
                        if e.0 > now - event::LISTABLE_SECS {
                            line(buf, &event::json(w, i, e, ids));
                        }
                    }
                }
            }
            Truth::Tickets => line(buf, &ticket::json(w, i, false)),
            Truth::DeletedConversations => {
                let c = w.deleted_conversations[i as usize];
                line(
                    buf,
                    &json!({
                        "type": "conversation",
                        "id": w.conversation_id(c).to_string(),
                        "metrics_retained": !c.is_multiple_of(3),
                        "deleted_at": w.conversations[c as usize].deleted_at,
                    }),
                );
            }
            Truth::Admins => line(buf, &snapshot::admin(w, i as usize, false)),
            Truth::Teams => line(buf, &snapshot::team(w, i as usize)),
            Truth::Tags => line(buf, &snapshot::tag(w, i as usize)),
            Truth::Segments => line(buf, &snapshot::segment(w, i as usize, true)),
            Truth::DataAttributes => {
                for a in snapshot::data_attributes(w, ["contact", "company"][i as usize]) {
                    line(buf, &a);
                }
            }
            Truth::TicketTypes => line(buf, &snapshot::ticket_type(w, i as usize, false)),
            Truth::Deletions => {
                if let Some(d) = deletion(w, i as usize) {
                    line(buf, &d);
                }
            }
            Truth::More(m) => {
                for v in m.render(w, i) {
                    line(buf, &v);
                }
            }
        }
    }
}

/// Unit `i` of `/__sim/truth/deletions`, if that record is gone.
fn deletion(w: &World, i: usize) -> Option<Value> {
    let (nc, nm) = (w.contacts.len(), w.companies.len());
    if i < nc {
        let gone = w.contacts[i].gone;
        if gone == LIVE {
            return None;
        }
        let deleted_at = w
            .writes
            .deleted_contacts
            .get(&(i as u32))
            .map(|d| d.deleted_at);
        let merged_into = (gone != DELETED).then(|| w.contact_id(gone));
        return Some(json!({
            "object_type": "contact",
            "id": w.contact_id(i as u32),
            "deleted_at": deleted_at,
            "how": if gone == DELETED { "deleted" } else { "merged" },
            "merged_into": merged_into,
        }));
    }
    if i < nc + nm {
        let c = i - nc;
        return w.companies[c].deleted.then(|| {
            json!({
                "object_type": "company", "id": w.company_id(c as u32),
                "deleted_at": null, "how": "deleted", "merged_into": null,
            })
        });
    }
    let c = *w.deleted_conversations.get(i - nc - nm)?;
    Some(json!({
        "object_type": "conversation",
        "id": w.conversation_id(c).to_string(),
        "deleted_at": w.conversations[c as usize].deleted_at,
        "how": "deleted",
        "merged_into": null,
    }))
}

/// Object-safe serialization into a buffer.
mod erased {
    pub(super) trait Ser {
        fn write(&self, buf: &mut Vec<u8>);
    }

    impl<T: serde::Serialize> Ser for T {
        fn write(&self, buf: &mut Vec<u8>) {
            let _ = serde_json::to_writer(buf, self);
        }
    }
}

async fn truth_named(
    State(sim): State<Arc<Simulator>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let ds = Truth::from_name(&name).ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "no truth dataset {name:?}; use contacts, companies, conversations, \
                 conversation_parts, notes, events, tickets, deleted_conversations, \
                 admins, teams, tags, segments, data_attributes, ticket_types, deletions, \
                 ticket_parts, ticket_contacts, lifecycle_events, activity_logs, \
                 help_centers, collections, articles or part_attachments"
            ),
        )
    })?;
    Ok(truth(sim, ds))
}

/// Renders units `from..from+CHUNK` as NDJSON, or `None` at the end.
fn chunk(
    sim: &Simulator,
    ds: Truth,
    from: u32,
    generation: u64,
) -> Option<Result<(Bytes, u32), std::io::Error>> {
    let w = sim.read_world();
    if w.generation != generation {
        return Some(Err(std::io::Error::other(
            "the world changed while the truth was streaming; request it again",
        )));
    }
    let n = ds.units(&w) as u32;
    if from >= n {
        return None;
    }
    let end = n.min(from.saturating_add(CHUNK));
    let now = sim.now();
    let mut buf = Vec::with_capacity((end - from) as usize * 2048);
    for i in from..end {
        ds.render(&w, i, now, &mut buf);
    }
    Some(Ok((Bytes::from(buf), end)))
}

fn truth(sim: Arc<Simulator>, ds: Truth) -> Response {
    let generation = sim.read_world().generation;
    let stream = futures::stream::unfold(Some(0u32), move |state| {
        let sim = Arc::clone(&sim);
        async move {
            let from = state?;
            match chunk(&sim, ds, from, generation)? {
                Ok((bytes, next)) => Some((Ok(bytes), Some(next))),
                Err(e) => Some((Err(e), None)),
            }
        }
    });
    (
        [(CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response()
}
