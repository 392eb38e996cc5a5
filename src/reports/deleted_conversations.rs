//! `deleted_conversations`: ids of deleted conversations with when they were
//! deleted, from `GET /conversations/deleted` (Intercom-Version 2.16 or
//! later; older versions answer 400 `intercom_version_invalid`).
//!
//! The endpoint pages by number, newest first (`order=desc`); the report
//! reads until it reaches the cursor (highest `deleted_at` exported plus the
//! ids at that second), so each deletion is exported once. Use it to delete
//! or flag conversations in the warehouse.

use std::collections::HashSet;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::http::{HttpError, IntercomClient};
use crate::output::schema::{ColType::*, Column};
use crate::reports::keys::{Current, ReportKeys};
use crate::reports::search::{CursorTracker, SearchCursor};
use crate::reports::spec::{ExtractCtx, ExtractFuture, Plan, Probe, ReportSpec};
use crate::reports::{Extracted, ReportName};

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
    Box::pin(extract(c.client, &c.options.anomalies, c.cursor, c.tx))
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
    anomalies: &crate::anomalies::Anomalies,
    cursor: Option<SearchCursor>,
    tx: mpsc::Sender<Vec<Value>>,
) -> Result<Extracted> {
    let from = cursor.as_ref().map_or(i64::MIN, |c| c.updated_at);
    let mut tracker = CursorTracker::new(cursor);
    let mut seen: HashSet<String> = HashSet::new();
    let mut rows = 0u64;
    let mut total = None;
    let mut complete = true;
    for page in 1u32.. {
        let path = format!("conversations/deleted?order=desc&per_page={PER_PAGE}&page={page}");
        let body: Value = match client.get(&path).await {
            Ok(v) => v,
            Err(HttpError::Status {
                status: 400, code, ..
            }) if code == "intercom_version_invalid" => {
                return Err(Error::Config(
                    "deleted_conversations needs Intercom-Version 2.16 or later; set \
                     intercom_version = \"2.16\" or leave the report out"
                        .into(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let total_pages = body
            .pointer("/pages/total_pages")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        total = body.get("total_count").and_then(Value::as_u64).or(total);
        // A page without its `conversations` list is an error, never an
        // empty page.
        let items = crate::api::list_in(ENDPOINT, body, &["conversations"])?;
        let mut fresh = Vec::new();
        let mut oldest = i64::MAX;
        for item in &items {
            let id = item.get("id").and_then(Value::as_str);
            let deleted_at = item
                .get("deleted_at")
                .and_then(crate::output::schema::timestamp_secs);
            let (Some(id), Some(deleted_at)) = (id, deleted_at) else {
                return Err(Error::Protocol {
                    endpoint: ENDPOINT.into(),
                    message:
                        "an item without a string id or a deleted_at timestamp (unix seconds, \
                              milliseconds or ISO-8601)"
                            .into(),
                });
            };
            oldest = oldest.min(deleted_at);
            // Pages shift when conversations are deleted while we read.
            if seen.insert(id.to_string()) && tracker.accept(id, deleted_at) {
                fresh.push(item.clone());
            }
        }
        if !fresh.is_empty() {
            rows += fresh.len() as u64;
            crate::reports::send_rows(&tx, fresh).await?;
        }
        if oldest < from {
            // Stopped at the cursor: the rest is older, not read.
            complete = false;
            break;
        }
        if items.is_empty() || u64::from(page) >= total_pages {
            break;
        }
    }
    // A listing read to its end that gave fewer conversations than it said.
    if complete
        && let Some(total) = total
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
