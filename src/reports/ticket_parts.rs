//! `ticket_parts`: one row per part of every ticket changed since the
//! cursor (its history: state changes, assignments, replies, notes), each
//! carrying its ticket's id and `updated_at` (`ticket_updated_at`), like
//! `conversation_parts` does for conversations.
//!
//! The changed tickets come from `POST /tickets/search` on `updated_at`
//! (this report's own cursor). Ticket search results carry `ticket_parts`
//! (`ticket_part.list`: the 500 most recent parts and their `total_count`);
//! when that list is complete (`total_count` = the parts sent) the parts are
//! taken from it, otherwise the ticket is read with `GET /tickets/{id}`
//! (up to `concurrency` at a time while the search streams).
//!
//! Only parts not exported before are written, by the rule of
//! `conversation_parts` ([`PartCutoff`]): parts updated after the version
//! of the ticket last exported (the cursor's second when the ticket was
//! exported there, its newest version within the lookback margin, the
//! bottom of the margin, or the cursor); after an interrupted run, a ticket
//! beyond its checkpoint is cut where that run started
//! ([`PartsCursor`], `reports::part_cursor`). So `(ticket_id, id,
//! updated_at)` is unique across runs. The search checkpoints after completed windows (a
//! fan-out, [`crate::extract::fanout`]); a ticket whose GET still fails
//! after retries is a failed item `TICKET@SINCE` fetched again by the next
//! run; one gone since the search listed it (404) is skipped and counted.
//!
//! When a ticket holds more than the 500 parts Intercom returns, every row
//! of it has `parts_truncated = true` and `parts_total` = the true count.

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::error::Result;
use crate::extract::fanout::{self, FanOut, Feed, ItemKey, Job, Parents};
use crate::extract::{WriterHandle, url_safe_id};
use crate::http::IntercomClient;
use crate::output::schema::{ColType::*, Column};
use crate::reports::conversation_parts::{PartCutoff, rows_of_parts};
use crate::reports::part_cursor::{PartsCursor, map_checkpoints};
use crate::reports::search::identity;
use crate::reports::spec::{ExtractCtx, ExtractFuture, Plan, Probe, ReportSpec};
use crate::reports::{ExtractOptions, Extracted, ReportName, keys, tickets};

/// `ticket_id` → `tickets.id`.
pub const TO_TICKET: keys::ForeignKey = keys::fk(&["ticket_id"], &[ReportName::Tickets], &["id"]);

/// `ticket_parts`: a fan-out over the ticket search; parts from the search
/// result when complete, else `GET /tickets/{id}`.
pub static TICKET_PARTS: ReportSpec = ReportSpec {
    name: "ticket_parts",
    description: "Ticket history: one row per part of every changed ticket (POST /tickets/search, GET /tickets/{id} when the inline parts are cut short)",
    model: None,
    columns: COLUMNS,
    expandable: &[],
    options: &[],
    default_enabled: true,
    min_version: None,
    keys: keys::ReportKeys {
        primary_key: &["ticket_id", "id", "updated_at"],
        entity_key: &["ticket_id", "id"],
        foreign_keys: &[TO_TICKET],
        ..keys::VERSIONED
    },
    probes: &[Probe::Search(|_| Ok(tickets::search_spec()))],
    skip_failed_option: None,
    plan: |_| {
        Ok(Plan::FanOut {
            run,
            parents: Some(tickets::search_spec()),
        })
    },
};

#[allow(non_upper_case_globals)]
impl ReportName {
    /// `ticket_parts` ([`TICKET_PARTS`]).
    pub const TicketParts: ReportName = ReportName::of(&TICKET_PARTS);
}

/// Output columns (each part as `ticket_part` sends it, plus its ticket's).
#[rustfmt::skip]
pub static COLUMNS: &[Column] = &[
    Column::new("id", Str, "/id", "Part id (ticket_part.id)"),
    Column::new("ticket_id", Str, "/ticket_id", "The ticket this part belongs to (ticket.id, the API's id)"),
    Column::new("ticket_updated_at", Timestamp, "/ticket_updated_at", "The ticket's updated_at when this row was read"),
    Column::new("part_type", Str, "/part_type", "ticket_state_updated_by_admin, assignment, comment, note, ... (any value Intercom sends)"),
    Column::new("previous_ticket_state", Str, "/previous_ticket_state", "For state changes: the state category before (submitted, in_progress, waiting_on_customer, resolved)"),
    Column::new("ticket_state", Str, "/ticket_state", "For state changes: the state category after"),
    Column::new("body", Str, "/body", "Body as HTML (comments and notes)"),
    Column::new("body_text", Str, "/body_text", "Body as plain text (converted from the HTML as in conversation_parts)"),
    Column::new("author_type", Str, "/author/type", "admin, user, lead, bot, team"),
    Column::new("author_id", Str, "/author/id", "Author id"),
    Column::new("author_name", Str, "/author/name", "Author name"),
    Column::new("author_email", Str, "/author/email", "Author email"),
    Column::new("assigned_to_type", Str, "/assigned_to/type", "Assignee type on assignment parts"),
    Column::new("assigned_to_id", Str, "/assigned_to/id", "Assignee id on assignment parts"),
    Column::new("created_at", Timestamp, "/created_at", "When the part was created"),
    Column::new("updated_at", Timestamp, "/updated_at", "Last change of the part; with ticket_id and id, the key of a row version"),
    Column::new("attachment_count", Int, "/attachment_count", "Number of attachments (see part_attachments)"),
    Column::new("redacted", Bool, "/redacted", "Whether the part was redacted"),
    Column::new("parts_truncated", Bool, "/parts_truncated", "Intercom returned fewer parts than the ticket has (its 500-part cap)"),
    Column::new("parts_total", Int, "/parts_total", "How many parts the ticket has in all (ticket_parts.total_count)"),
];

/// [`extract_from`] as the plan's extractor.
fn run(c: ExtractCtx<'_>) -> ExtractFuture<'_> {
    Box::pin(async move {
        let saved = PartsCursor::read(TICKET_PARTS.name, c.saved_cursor)?;
        let parents = match c.range {
            Some((from, until)) => Parents::Range { from, until },
            None => Parents::Since(saved.as_ref().map(|s| s.search.clone())),
        };
        extract_from(c.client, c.options, parents, saved, c.retry, c.tx).await
    })
}

/// The ticket search, as messages name it.
pub(crate) const SEARCH: &str = "POST /tickets/search";
/// The per-ticket read.
pub(crate) const GET: &str = "GET /tickets/{id}";

/// Run the report over `parents`: changed since the cursor `saved` (whose
/// search part `parents` carries), or a backfill window (every part of the
/// tickets updated in it; `saved` is then `None`). `retry`: failed items of
/// earlier runs (`TICKET@SINCE`).
pub async fn extract_from(
    client: &IntercomClient,
    options: &ExtractOptions,
    parents: Parents,
    saved: Option<PartsCursor>,
    retry: &[String],
    tx: mpsc::Sender<crate::reports::WriterMsg>,
) -> Result<Extracted> {
    let pipe = WriterHandle {
        tx: &tx,
        progress: &options.progress,
    };
    let lookback = i64::try_from(options.lookback_secs).unwrap_or(i64::MAX / 4);
    let start = PartsCursor::run_start(saved.as_ref());
    let spec = tickets::search_spec();
    let (feed, jobs) = Feed::channel(|ticket: Value| {
        let (id, updated_at) = identity(SEARCH, &ticket)?;
        let cutoff = PartsCursor::cutoff(saved.as_ref(), id, updated_at, lookback);
        let key = ItemKey::at(id, cutoff.failed_since());
        // What `with_parts` and `part_rows` read of it.
        let ticket = fanout::only_keys(ticket, &["id", "updated_at", "ticket_parts"]);
        Ok(Some(Job {
            key,
            parent: (ticket, cutoff),
        }))
    });
    let feed = feed.reading(&["ticket_parts"]);
    let searching = fanout::read_parents(client, &spec, options, parents, feed);
    let jobs = map_checkpoints(jobs, |search| {
        Ok(PartsCursor::checkpoint(search, &start)?.to_json())
    });
    let retry = retry_jobs(retry);
    let fan = FanOut {
        endpoint: GET,
        concurrency: options.concurrency,
        anomalies: &options.anomalies,
        out: &pipe,
    };
    let fetching = fan.run(
        jobs,
        retry,
        |(ticket, cutoff): (Value, PartCutoff)| async move {
            let ticket = with_parts(client, ticket).await?;
            Ok(part_rows(ticket, cutoff))
        },
    );
    let (searched, fetched) = tokio::join!(searching, fetching);
    let fetched = fetched?;
    let cursor = PartsCursor::finished(searched?.as_deref(), saved.as_ref())?;
    Ok(fetched.into_extracted(cursor.map(|c| c.to_json())))
}

/// Jobs for failed items `TICKET@SINCE`: a bare ticket (no inline parts, so
/// it is read with `GET /tickets/{id}`) and the parts after SINCE.
fn retry_jobs(retry: &[String]) -> Vec<Job<(Value, PartCutoff)>> {
    retry
        .iter()
        .filter_map(|k| ItemKey::parse(k))
        .map(|key| Job {
            parent: (
                json!({"id": key.id}),
                PartCutoff {
                    since: key.at.unwrap_or(i64::MIN),
                    include_since: false,
                },
            ),
            key,
        })
        .collect()
}

/// Whether a ticket's inline `ticket_parts` holds all its parts: present,
/// and `total_count` (when given) no more than the parts listed.
pub(crate) fn parts_complete(ticket: &Value) -> bool {
    let Some(list) = ticket.get("ticket_parts").filter(|v| v.is_object()) else {
        return false;
    };
    let Some(parts) = list.get("ticket_parts").and_then(Value::as_array) else {
        return false;
    };
    list.get("total_count")
        .and_then(Value::as_u64)
        .is_none_or(|total| total <= parts.len() as u64)
}

/// `ticket` with its parts: as given when its inline list is complete
/// ([`parts_complete`]), else `GET /tickets/{id}` (a 404 is the fan-out's
/// to skip).
pub(crate) async fn with_parts(client: &IntercomClient, ticket: Value) -> Result<Value> {
    if parts_complete(&ticket) {
        return Ok(ticket);
    }
    let id = ticket.get("id").and_then(Value::as_str).unwrap_or_default();
    let id = url_safe_id(id, SEARCH)?;
    Ok(client.get(&format!("tickets/{id}")).await?)
}

/// The rows for the parts of one ticket that pass `cutoff`.
fn part_rows(mut ticket: Value, cutoff: PartCutoff) -> Vec<Value> {
    let mut list = ticket
        .get_mut("ticket_parts")
        .map(Value::take)
        .unwrap_or_default();
    let parts = match list.get_mut("ticket_parts").map(Value::take) {
        Some(Value::Array(parts)) => parts,
        _ => Vec::new(),
    };
    let sent = parts.len() as u64;
    let total = list["total_count"].as_u64().unwrap_or(sent).max(sent);
    let parent = [
        ("ticket_id", &ticket["id"]),
        ("ticket_updated_at", &ticket["updated_at"]),
    ];
    rows_of_parts(parts, total, cutoff, &parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(total: u64) -> Value {
        json!({"id": "70", "created_at": 10, "updated_at": 30, "ticket_parts": {
            "type": "ticket_part.list", "total_count": total, "ticket_parts": [
            {"id": "p1", "part_type": "ticket_state_updated_by_admin", "previous_ticket_state": "submitted",
             "ticket_state": "submitted", "created_at": 10, "updated_at": 10, "author": {"type": "bot", "id": "9"}},
            {"id": "p2", "part_type": "comment", "body": "<p>Hi &amp; bye</p>", "created_at": 20, "updated_at": 20,
             "attachments": [{"type": "upload"}]},
            {"id": "p3", "part_type": "assignment", "assigned_to": {"type": "admin", "id": "5"},
             "created_at": 30, "updated_at": 30},
        ]}})
    }

    #[test]
    fn rows_carry_the_ticket_and_plain_text() {
        let rows = part_rows(ticket(3), PartCutoff::ALL);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1]["ticket_id"], "70");
        assert_eq!(rows[1]["ticket_updated_at"], 30);
        assert_eq!(rows[1]["body_text"], "Hi & bye");
        assert_eq!(rows[1]["attachment_count"], 1);
        assert_eq!(rows[0]["body_text"], Value::Null);
        assert!(rows.iter().all(|r| r["parts_truncated"] == false));
        let rows = part_rows(ticket(700), PartCutoff::ALL);
        assert!(
            rows.iter()
                .all(|r| r["parts_truncated"] == true && r["parts_total"] == 700)
        );
    }

    #[test]
    fn only_parts_after_the_cutoff() {
        let cut = PartCutoff {
            since: 20,
            include_since: false,
        };
        let ids: Vec<_> = part_rows(ticket(3), cut)
            .iter()
            .map(|r| r["id"].clone())
            .collect();
        assert_eq!(ids, vec![json!("p3")]);
    }

    #[test]
    fn inline_parts_are_used_only_when_complete() {
        assert!(parts_complete(&ticket(3)));
        assert!(
            !parts_complete(&ticket(4)),
            "total_count above the parts sent"
        );
        assert!(!parts_complete(&json!({"id": "1"})), "no inline list");
        assert!(!parts_complete(&json!({"id": "1", "ticket_parts": null})));
    }
}
