//! `deleted_conversations`: ids of deleted conversations with when they were
//! deleted, from `GET /conversations/deleted` (Intercom-Version 2.16 or
//! later; older versions answer 400 `intercom_version_invalid`).
//!
//! The endpoint pages by number, newest first (`order=desc`); the report
//! reads until it reaches the cursor (highest `deleted_at` exported plus the
//! ids at that second; `lookback_secs` below it, re-read without writing a
//! deletion twice), so each deletion is exported once. Use it to delete
//! or flag conversations in the warehouse.

use std::collections::HashSet;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::extract::list::{List, Style};
use crate::http::{HttpError, IntercomClient};
use crate::output::schema::{ColType::*, Column};
use crate::reports::keys::{Current, ReportKeys};
use crate::reports::search::{CursorTracker, SearchCursor};
use crate::reports::spec::{ExtractCtx, ExtractFuture, Plan, Probe, ReportSpec};
use crate::reports::{ExtractOptions, Extracted, ReportName, WriterMsg};

/// `deleted_conversations`: the deletions listing, page by page down to the
/// cursor.
pub static DELETED_CONVERSATIONS: ReportSpec = ReportSpec {
    name: "deleted_conversations",
    description: "Deleted conversation ids with deleted_at (GET /conversations/deleted, 2.16)",
    model: None,
    columns: COLUMNS,
    expandable: &[],
    options: &[],
    default_enabled: true,
    min_version: Some("2.16"),
    keys: ReportKeys {
        primary_key: &["id"],
        nullable_key_columns: &[],
        entity_key: &["id"],
        version_column: "deleted_at",
        current: Current::Every,
        repeats_versions: false,
        foreign_keys: &[],
    },
    probes: &[Probe::Get("conversations/deleted?per_page=1")],
    skip_failed_option: None,
    plan: |_| Ok(Plan::List(run)),
};

#[allow(non_upper_case_globals)]
impl ReportName {
    /// `deleted_conversations` ([`DELETED_CONVERSATIONS`]).
    pub const DeletedConversations: ReportName = ReportName::of(&DELETED_CONVERSATIONS);
}

/// [`extract`] as the plan's extractor.
fn run(c: ExtractCtx<'_>) -> ExtractFuture<'_> {
    Box::pin(extract(c.client, c.options, c.cursor, c.tx))
}

/// Intercom's maximum page size for this endpoint.
const PER_PAGE: u32 = 60;

#[rustfmt::skip]
pub static COLUMNS: &[Column] = &[
    Column::new("id", Str, "/id", "Conversation id"),
    Column::new("deleted_at", Timestamp, "/deleted_at", "When it was deleted"),
    Column::new("metrics_retained", Bool, "/metrics_retained", "Whether its metrics stay in reports"),
];

const ENDPOINT: &str = "GET /conversations/deleted";

/// Read the deleted conversations (newest first, page numbers) down to the
/// cursor. A page without its `conversations` list fails the report; a
/// listing read to its end with fewer distinct conversations than its
/// `total_count` is counted as a short read in `anomalies`.
pub async fn extract(
    client: &IntercomClient,
    options: &ExtractOptions,
    cursor: Option<SearchCursor>,
    tx: mpsc::Sender<WriterMsg>,
) -> Result<Extracted> {
    let anomalies = &options.anomalies;
    // Read down to the cursor, and `lookback_secs` below it: a deletion
    // listed late is exported, none twice.
    let lookback = i64::try_from(options.lookback_secs).unwrap_or(i64::MAX / 4);
    let from = cursor
        .as_ref()
        .map_or(i64::MIN, |c| c.updated_at.saturating_sub(lookback));
    let mut tracker = CursorTracker::with_lookback_secs(cursor, options.lookback_secs);
    let mut seen: HashSet<String> = HashSet::new();
    let mut rows = 0u64;
    let read = List {
        client,
        path: "conversations/deleted?order=desc".into(),
        endpoint: ENDPOINT,
        keys: &["conversations"],
        style: Style::PageNumber,
        per_page: PER_PAGE,
        anomalies,
    }
    .read(async |items: Vec<Value>| {
        let mut fresh = Vec::new();
        let mut oldest = i64::MAX;
        for item in items {
            let id = item.get("id").and_then(Value::as_str);
            let deleted_at = item
                .get("deleted_at")
                .and_then(crate::output::schema::timestamp_secs);
            let (Some(id), Some(deleted_at)) = (id, deleted_at) else {
                return Err(Error::Protocol {
                    endpoint: ENDPOINT.into(),
                    message: "an item without a string id or a deleted_at timestamp (unix \
                              seconds, milliseconds or ISO-8601)"
                        .into(),
                });
            };
            oldest = oldest.min(deleted_at);
            // Pages shift when conversations are deleted while we read.
            if seen.insert(id.to_string()) && tracker.accept(id, deleted_at) {
                fresh.push(item);
            }
        }
        rows += fresh.len() as u64;
        crate::reports::send_rows(&tx, fresh).await?;
        // Stop at the cursor: the rest is older, not read.
        Ok(oldest >= from)
    })
    .await
    .map_err(|e| match e {
        Error::Http(HttpError::Status {
            status: 400, code, ..
        }) if code == "intercom_version_invalid" => Error::Config(
            "deleted_conversations needs Intercom-Version 2.16 or later; set \
             intercom_version = \"2.16\" or leave the report out"
                .into(),
        ),
        e => e,
    })?;
    // A listing read to its end that gave fewer conversations than it said.
    if read.complete
        && let Some(total) = read.total_count
        && (seen.len() as u64) < total
    {
        anomalies.record(crate::anomalies::AnomalyKind::ShortRead, ENDPOINT, None);
    }
    Ok(Extracted {
        rows,
        cursor: tracker.finish().cursor.map(|c| json!(c).to_string()),
        ..Extracted::default()
    })
}
