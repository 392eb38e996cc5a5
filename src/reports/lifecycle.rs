//! `lifecycle_events`: one row per lifecycle event of a conversation or a
//! ticket, derived from what the run reads, and the fan-out over both
//! searches that it shares with `part_attachments` ([`extract_both`]).
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
//! for its parts and rating), then the changed tickets
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

use std::collections::HashSet;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::extract::fanout::{self, FanOut, FanOutOutcome, Feed, ItemKey, Job, Parents};
use crate::extract::{Pipe, url_safe_id};
use crate::http::IntercomClient;
use crate::output::schema::{ColType::*, Column, timestamp_secs};
use crate::reports::conversation_parts::PartCutoff;
use crate::reports::part_cursor::{PartsCursor, map_checkpoints};
use crate::reports::search::{SearchSpec, identity};
use crate::reports::spec::{ExtractCtx, ExtractFuture, Plan, Probe, ReportSpec};
use crate::reports::{Extracted, ReportName, conversations, keys, ticket_parts, tickets};

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
    Probe::Search(|_| Ok(tickets::search_spec())),
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

/// A parent of the both-parent reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Conversation,
    Ticket,
}

impl Kind {
    /// `conversation` or `ticket` (`object_type`, `parent_type`, failed
    /// item keys).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Conversation => "conversation",
            Kind::Ticket => "ticket",
        }
    }

    fn spec(self) -> SearchSpec {
        match self {
            Kind::Conversation => conversations::search_spec("all", "updated_at"),
            Kind::Ticket => tickets::search_spec(),
        }
    }

    fn search(self) -> &'static str {
        match self {
            Kind::Conversation => "POST /conversations/search",
            Kind::Ticket => ticket_parts::SEARCH,
        }
    }

    fn child(self) -> &'static str {
        match self {
            Kind::Conversation => "GET /conversations/{id}",
            Kind::Ticket => ticket_parts::GET,
        }
    }

    /// The key of the parent's parts list (and of its items).
    pub(crate) fn parts_key(self) -> &'static str {
        match self {
            Kind::Conversation => "conversation_parts",
            Kind::Ticket => "ticket_parts",
        }
    }
}

/// The rows of one parent (read whole, with its parts) that pass the cutoff.
pub(crate) type RowsOf = fn(Kind, &Value, PartCutoff) -> Vec<Value>;

/// The cursor of a both-parent report: the conversation side's
/// [`PartsCursor`] fields at the top (so it reads as a search cursor too),
/// `tickets` the ticket side's, `pair` marking this form. A plain search
/// cursor (the tap's start cursor) applies to both sides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairCursor {
    #[serde(flatten)]
    pub conversations: PartsCursor,
    #[serde(default)]
    pub tickets: Option<PartsCursor>,
    #[serde(default)]
    pub pair: bool,
}

impl PairCursor {
    /// The two sides of a saved cursor (`None`: that side has none yet).
    fn read(
        report: &str,
        saved: Option<&str>,
    ) -> Result<(Option<PartsCursor>, Option<PartsCursor>)> {
        let Some(saved) = saved else {
            return Ok((None, None));
        };
        let c: PairCursor = serde_json::from_str(saved).map_err(|e| {
            Error::Config(format!(
                "the saved cursor of report {report} is not readable ({e}); reset it with \
                 `intercom-export state reset --report {report}` (the next sync re-exports it in full)"
            ))
        })?;
        if !c.pair {
            return Ok((Some(c.conversations.clone()), Some(c.conversations)));
        }
        Ok((Some(c.conversations), c.tickets))
    }

    fn json(conversations: Option<&PartsCursor>, tickets: Option<&PartsCursor>) -> String {
        json!(PairCursor {
            conversations: conversations.cloned().unwrap_or_default(),
            tickets: tickets.cloned(),
            pair: true,
        })
        .to_string()
    }
}

/// Run a both-parent report: the changed conversations' rows, then the
/// changed tickets' (see the module docs); `dedupe`: a column whose value
/// is written once per run.
pub(crate) async fn extract_both(
    c: ExtractCtx<'_>,
    report: &'static str,
    rows: RowsOf,
    dedupe: Option<&'static str>,
) -> Result<Extracted> {
    let (saved_c, saved_t) = match c.range {
        Some(_) => (None, None),
        None => PairCursor::read(report, c.saved_cursor)?,
    };
    let parents = |saved: &Option<PartsCursor>| match c.range {
        Some((from, until)) => Parents::Range { from, until },
        None => Parents::Since(saved.as_ref().map(|s| s.search.clone())),
    };
    let pipe = Pipe {
        tx: &c.tx,
        progress: &c.options.progress,
    };
    let seen = Mutex::new(HashSet::new());
    let side = Side {
        client: c.client,
        options: c.options,
        pipe: &pipe,
        rows,
        seen: &seen,
        dedupe,
    };
    let retry_of = |kind: Kind| -> Vec<String> {
        let prefix = format!("{}:", kind.name());
        c.retry
            .iter()
            .filter(|k| k.starts_with(&prefix))
            .cloned()
            .collect()
    };
    let (out_c, new_c) = side
        .run(
            Kind::Conversation,
            parents(&saved_c),
            saved_c.as_ref(),
            &retry_of(Kind::Conversation),
            &|conv| PairCursor::json(Some(&conv), saved_t.as_ref()),
        )
        .await?;
    let final_c = PartsCursor::finished(new_c.as_deref(), saved_c.as_ref())?.or(saved_c);
    let (out_t, new_t) = side
        .run(
            Kind::Ticket,
            parents(&saved_t),
            saved_t.as_ref(),
            &retry_of(Kind::Ticket),
            &|tick| PairCursor::json(final_c.as_ref(), Some(&tick)),
        )
        .await?;
    let final_t = PartsCursor::finished(new_t.as_deref(), saved_t.as_ref())?.or(saved_t);
    let cursor = match (&c.range, &final_c, &final_t) {
        (Some(_), _, _) | (None, None, None) => None,
        _ => Some(PairCursor::json(final_c.as_ref(), final_t.as_ref())),
    };
    let mut out = out_c;
    out.rows += out_t.rows;
    out.fetched += out_t.fetched;
    out.gone += out_t.gone;
    out.failed.extend(out_t.failed);
    out.recovered.extend(out_t.recovered);
    Ok(out.into_extracted(cursor))
}

/// What both sides of [`extract_both`] share.
struct Side<'a> {
    client: &'a IntercomClient,
    options: &'a crate::reports::ExtractOptions,
    pipe: &'a Pipe<'a>,
    rows: RowsOf,
    seen: &'a Mutex<HashSet<String>>,
    dedupe: Option<&'static str>,
}

impl Side<'_> {
    /// One side's fan-out: its outcome and its search's new cursor (JSON).
    /// `wrap` makes a checkpoint's [`PartsCursor`] the report's cursor.
    async fn run(
        &self,
        kind: Kind,
        parents: Parents,
        saved: Option<&PartsCursor>,
        retry: &[String],
        wrap: &dyn Fn(PartsCursor) -> String,
    ) -> Result<(FanOutOutcome, Option<String>)> {
        let options = self.options;
        let lookback = i64::try_from(options.lookback_secs).unwrap_or(i64::MAX / 4);
        let start = PartsCursor::run_start(saved);
        let (feed, read) = Feed::channel();
        let spec = kind.spec();
        let searching = fanout::read_parents(self.client, &spec, options, parents, feed);
        let prefix = format!("{}:", kind.name());
        let jobs = fanout::steps(read, |parent| {
            let (id, updated_at) = identity(kind.search(), &parent)?;
            let cutoff = PartsCursor::cutoff(saved, id, updated_at, lookback);
            Ok(Some(Job {
                key: ItemKey::at(format!("{prefix}{id}"), cutoff.failed_since()),
                parent: (parent, cutoff),
            }))
        });
        let jobs = map_checkpoints(jobs, |search| {
            Ok(wrap(PartsCursor::checkpoint(search, &start)?))
        });
        let retry = retry
            .iter()
            .filter_map(|k| ItemKey::parse(k))
            .map(|key| {
                let id = key.id.strip_prefix(&prefix).unwrap_or(&key.id).to_string();
                let cutoff = PartCutoff {
                    since: key.at.unwrap_or(i64::MIN),
                    include_since: false,
                };
                Job {
                    parent: (json!({ "id": id }), cutoff),
                    key,
                }
            })
            .collect();
        let fan = FanOut {
            endpoint: kind.child(),
            concurrency: options.concurrency,
            anomalies: &options.anomalies,
            out: self.pipe,
        };
        let client = self.client;
        let fetching = fan.run(
            jobs,
            retry,
            |(parent, cutoff): (Value, PartCutoff)| async move {
                let whole = read_whole(client, kind, parent).await?;
                Ok(self.once((self.rows)(kind, &whole, cutoff)))
            },
        );
        let (searched, fetched) = tokio::join!(searching, fetching);
        let fetched = fetched?;
        Ok((fetched, searched?))
    }

    /// `rows` without those whose dedupe column was written before in the
    /// run.
    fn once(&self, rows: Vec<Value>) -> Vec<Value> {
        let Some(column) = self.dedupe else {
            return rows;
        };
        let mut seen = match self.seen.lock() {
            Ok(seen) => seen,
            Err(poisoned) => poisoned.into_inner(),
        };
        rows.into_iter()
            .filter(|r| match r.get(column).and_then(Value::as_str) {
                Some(k) => seen.insert(k.to_string()),
                None => true,
            })
            .collect()
    }
}

/// A parent with its parts: a conversation by `GET /conversations/{id}`
/// (search results carry no parts or rating history), a ticket from its
/// search result when its parts are complete, else `GET /tickets/{id}`.
async fn read_whole(client: &IntercomClient, kind: Kind, parent: Value) -> Result<Value> {
    match kind {
        Kind::Ticket => ticket_parts::with_parts(client, parent).await,
        Kind::Conversation => {
            let id = parent.get("id").and_then(Value::as_str).unwrap_or_default();
            let id = url_safe_id(id, kind.search())?;
            Ok(client.get(&format!("conversations/{id}")).await?)
        }
    }
}

/// The parts of a parent read whole (`<kind>_parts.<kind>_parts`).
pub(crate) fn parts(kind: Kind, parent: &Value) -> &[Value] {
    let key = kind.parts_key();
    parent
        .get(key)
        .and_then(|l| l.get(key))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A string id as written (numbers as their digits).
pub(crate) fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
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
