//! `conversation_parts` (Conversation Details): one row per part of every
//! conversation changed since the cursor, each carrying its conversation's
//! id, `created_at` and `updated_at`.
//!
//! The changed conversations come from the same incremental search as the
//! `conversations` report (its own cursor); each is fetched with
//! `GET /conversations/{id}`, up to `concurrency` at a time while the search
//! pages keep streaming. Only parts not exported before are written: those
//! updated after the cursor, or at the cursor's second when their
//! conversation was not exported at that second. So `(id, updated_at)` is
//! unique across runs, as for every report.
//!
//! Intercom returns only the 500 most recent parts of a conversation; when it
//! holds more, every row of that conversation has `parts_truncated = true`
//! and `parts_total` = the true count, so nothing is cut off silently.
//!
//! A conversation whose GET still fails after retries is returned as a
//! [`FailedItem`] (id `CONVERSATION@SINCE`, where SINCE is the part cutoff of
//! that run) and the run goes on; the next run retries it first, exporting
//! its parts updated after SINCE.

use std::collections::HashSet;

use futures::{StreamExt, stream};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::anomalies::AnomalyKind;
use crate::error::{Error, Result};
use crate::http::{HttpError, IntercomClient};
use crate::output::schema::{ColType::*, Column};
use crate::reports::options::OptionSpec;
use crate::reports::search::{self, SearchCursor};
use crate::reports::spec::{ExtractCtx, ExtractFuture, Plan, Probe, ReportSpec, behaviour};
use crate::reports::{ExtractOptions, Extracted, FailedItem, ReportName, conversations, keys};

/// Option `skip_failed_conversations`: failed conversations do not make the
/// run partial.
const SKIP_FAILED: OptionSpec = behaviour(
    "skip_failed_conversations",
    &["false", "true"],
    "false",
    "A conversation that still fails after retries does not make the run partial (it is retried next run either way)",
);

/// `conversation_parts`: a fan-out over the conversation search, one
/// `GET /conversations/{id}` per changed conversation.
pub static CONVERSATION_PARTS: ReportSpec = ReportSpec {
    name: "conversation_parts",
    description: "Conversation Details: one row per part of every changed conversation (GET /conversations/{id})",
    model: None,
    columns: COLUMNS,
    expandable: &[],
    options: &[SKIP_FAILED],
    default_enabled: true,
    min_version: None,
    keys: keys::ReportKeys {
        primary_key: &["conversation_id", "id", "updated_at"],
        entity_key: &["conversation_id", "id"],
        foreign_keys: &[keys::TO_CONVERSATION],
        ..keys::VERSIONED
    },
    probes: &[Probe::Search(|_| {
        Ok(conversations::search_spec("all", "updated_at"))
    })],
    skip_failed_option: Some(&SKIP_FAILED),
    plan: |_| Ok(Plan::FanOut(run)),
};

/// [`extract`] as the plan's extractor.
fn run(c: ExtractCtx<'_>) -> ExtractFuture<'_> {
    Box::pin(extract(c.client, c.options, c.cursor, c.retry, c.tx))
}

#[allow(non_upper_case_globals)]
impl ReportName {
    /// `conversation_parts` ([`CONVERSATION_PARTS`]).
    pub const ConversationParts: ReportName = ReportName::of(&CONVERSATION_PARTS);
}

/// Output columns.
#[rustfmt::skip]
pub static COLUMNS: &[Column] = &[
    Column::new("id", Str, "/id", "Part id"),
    Column::new("conversation_id", Str, "/conversation_id", "The conversation this part belongs to"),
    Column::new("conversation_created_at", Timestamp, "/conversation_created_at", "The conversation's created_at"),
    Column::new("conversation_updated_at", Timestamp, "/conversation_updated_at", "The conversation's updated_at when this row was read"),
    Column::new("part_type", Str, "/part_type", "comment, note, assignment, open, close, snoozed, ... (any value Intercom sends)"),
    Column::new("body", Str, "/body", "Body as HTML"),
    Column::new("body_text", Str, "/body_text", "Body as plain text (converted from the HTML)"),
    Column::new("created_at", Timestamp, "/created_at", "When the part was created"),
    Column::new("updated_at", Timestamp, "/updated_at", "Last change of the part; with id, the key of a row version"),
    Column::new("notified_at", Timestamp, "/notified_at", "When the recipient was notified"),
    Column::new("author_type", Str, "/author/type", "admin, user, lead, bot, team"),
    Column::new("author_id", Str, "/author/id", "Author id"),
    Column::new("author_name", Str, "/author/name", "Author name"),
    Column::new("author_email", Str, "/author/email", "Author email"),
    Column::new("assigned_to_type", Str, "/assigned_to/type", "Assignee type on assignment parts"),
    Column::new("assigned_to_id", Str, "/assigned_to/id", "Assignee id on assignment parts"),
    Column::new("attachment_count", Int, "/attachment_count", "Number of attachments"),
    Column::new("external_id", Str, "/external_id", "External id, if set"),
    Column::new("redacted", Bool, "/redacted", "Whether the part was redacted"),
    Column::new("state", Str, "/state", "Conversation state after this part (2.16)"),
    Column::new("parts_truncated", Bool, "/parts_truncated", "Intercom returned fewer parts than the conversation has (its 500-part cap)"),
    Column::new("parts_total", Int, "/parts_total", "How many parts the conversation has in all"),
];

/// Cursor of this report: the conversation search cursor.
type Cursor = SearchCursor;

/// Which parts of a conversation are new: those after `since`, or at
/// `since` when the conversation was not exported at that second.
#[derive(Debug, Clone, Copy)]
struct PartCutoff {
    since: i64,
    include_since: bool,
}

impl PartCutoff {
    const ALL: PartCutoff = PartCutoff {
        since: i64::MIN,
        include_since: true,
    };

    fn admits(self, updated_at: i64) -> bool {
        updated_at > self.since || (self.include_since && updated_at == self.since)
    }
}

/// Run the report. See the module docs.
pub async fn extract(
    client: &IntercomClient,
    options: &ExtractOptions,
    cursor: Option<Cursor>,
    retry: &[String],
    tx: mpsc::Sender<Vec<Value>>,
) -> Result<Extracted> {
    let mut out = Extracted::default();

    // 1. Conversations that failed in earlier runs.
    let retried: Vec<(String, i64)> = retry.iter().filter_map(|item| parse_item(item)).collect();
    let retried_ids: HashSet<String> = retried.iter().map(|(id, _)| id.clone()).collect();
    let results = stream::iter(retried.iter().map(|(id, since)| {
        let cutoff = PartCutoff {
            since: *since,
            include_since: false,
        };
        async move { (id, *since, fetch_parts(client, id, cutoff).await) }
    }))
    .buffer_unordered(options.concurrency.max(1))
    .collect::<Vec<_>>()
    .await;
    for (id, since, result) in results {
        match result {
            Ok(Some(rows)) => {
                out.recovered.push(item_key(id, since));
                send(&tx, &mut out.rows, rows).await?;
            }
            // Deleted since: nothing left to export.
            Ok(None) => {
                skipped(options, id);
                out.recovered.push(item_key(id, since));
            }
            Err(e) if is_per_item(&e) => out.failed.push(FailedItem {
                id: item_key(id, since),
                error: e.to_string(),
            }),
            Err(e) => return Err(e),
        }
    }

    // 2. Conversations changed since the cursor, fetched while the search streams.
    let spec = conversations::search_spec("all", "updated_at");
    let (conv_tx, conv_rx) = mpsc::channel::<Vec<Value>>(2);
    let old = cursor.clone();
    // Owns the sender, so the fan-out sees the end of the stream when the search ends.
    let searching = async move {
        let conv_tx = conv_tx;
        search::extract(client, &spec, options, cursor, &conv_tx).await
    };
    let conversations = stream::unfold(conv_rx, |mut rx| async move {
        rx.recv().await.map(|page| (stream::iter(page), rx))
    })
    .flatten()
    .filter(|conv| {
        let id = conv.get("id").and_then(Value::as_str).unwrap_or_default();
        std::future::ready(!retried_ids.contains(id))
    });
    let fetching = async {
        let fetches = conversations
            .map(|conv| {
                let old = old.as_ref();
                async move {
                    let id = conv
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    let cutoff = match old {
                        None => PartCutoff::ALL,
                        Some(c) => PartCutoff {
                            since: c.updated_at,
                            include_since: !c.ids_at.contains(&id),
                        },
                    };
                    let result = fetch_parts(client, &id, cutoff).await;
                    (id, cutoff, result)
                }
            })
            .buffer_unordered(options.concurrency.max(1));
        let mut fetches = std::pin::pin!(fetches);
        let mut rows = 0u64;
        let mut failed = Vec::new();
        while let Some((id, cutoff, result)) = fetches.next().await {
            match result {
                Ok(Some(parts)) => send(&tx, &mut rows, parts).await?,
                Ok(None) => skipped(options, &id),
                Err(e) if is_per_item(&e) => {
                    tracing::warn!(conversation = %id, error = %e, "conversation failed; it will be retried next run");
                    failed.push(FailedItem {
                        id: item_key(
                            &id,
                            // First run: since is i64::MIN (all parts); must not overflow.
                            if cutoff.include_since {
                                cutoff.since.saturating_sub(1)
                            } else {
                                cutoff.since
                            },
                        ),
                        error: e.to_string(),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Ok::<_, Error>((rows, failed))
    };
    let (searched, fetched) = tokio::join!(searching, fetching);
    let (rows, failed) = fetched?;
    let searched = searched?;
    out.rows += rows;
    out.failed.extend(failed);
    out.cursor = searched.cursor.map(|c| serde_json::json!(c).to_string());
    Ok(out)
}

/// A conversation the search listed is gone (404): skipped, and counted
/// (one warning per report, with sample ids).
fn skipped(options: &ExtractOptions, id: &str) {
    options.anomalies.record(
        AnomalyKind::SkippedChild,
        "GET /conversations/{id}",
        Some(id),
    );
}

/// Failures that concern one conversation, not the whole run.
fn is_per_item(e: &Error) -> bool {
    matches!(
        e,
        Error::Http(
            HttpError::Status { .. } | HttpError::Transport { .. } | HttpError::Body { .. }
        ) | Error::Protocol { .. }
    )
}

async fn send(tx: &mpsc::Sender<Vec<Value>>, rows: &mut u64, parts: Vec<Value>) -> Result<()> {
    if parts.is_empty() {
        return Ok(());
    }
    *rows += parts.len() as u64;
    crate::reports::send_rows(tx, parts).await
}

/// `GET /conversations/{id}` and turn its parts into rows. `None` if the
/// conversation no longer exists.
async fn fetch_parts(
    client: &IntercomClient,
    id: &str,
    cutoff: PartCutoff,
) -> Result<Option<Vec<Value>>> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Error::Protocol {
            endpoint: "POST /conversations/search".into(),
            message: format!("a conversation id that cannot go in a URL: {id:?}"),
        });
    }
    let conversation: PartsOnly = match client.get(&format!("conversations/{id}")).await {
        Ok(v) => v,
        Err(HttpError::Status { status: 404, .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(Some(part_rows(conversation.into_value(), cutoff)))
}

/// The fields of `GET /conversations/{id}` this report reads. Decoding only
/// these skips building JSON values for the rest of the conversation
/// (source, contacts, tags, custom attributes, ...), which the parser then
/// passes over without allocating.
#[derive(serde::Deserialize)]
struct PartsOnly {
    #[serde(default)]
    id: Value,
    #[serde(default)]
    created_at: Value,
    #[serde(default)]
    updated_at: Value,
    #[serde(default)]
    statistics: Value,
    #[serde(default)]
    conversation_parts: Value,
}

impl PartsOnly {
    /// The same fields as a conversation object (what [`part_rows`] reads).
    fn into_value(self) -> Value {
        let mut map = serde_json::Map::new();
        map.insert("id".into(), self.id);
        map.insert("created_at".into(), self.created_at);
        map.insert("updated_at".into(), self.updated_at);
        map.insert("statistics".into(), self.statistics);
        map.insert("conversation_parts".into(), self.conversation_parts);
        Value::Object(map)
    }
}

/// The rows for the parts of one conversation that pass `cutoff`. Takes the
/// conversation by value: each part's map becomes its row as it is (moved,
/// not cloned; bodies are the bulk of a conversation).
fn part_rows(mut conversation: Value, cutoff: PartCutoff) -> Vec<Value> {
    let mut parts_list = conversation
        .get_mut("conversation_parts")
        .map(Value::take)
        .unwrap_or_default();
    let parts = match parts_list.get_mut("conversation_parts").map(Value::take) {
        Some(Value::Array(parts)) => parts,
        _ => Vec::new(),
    };
    let total = parts_list["total_count"]
        .as_u64()
        .or_else(|| {
            conversation
                .pointer("/statistics/count_conversation_parts")
                .and_then(Value::as_u64)
        })
        .unwrap_or(parts.len() as u64)
        .max(parts.len() as u64);
    let truncated = total > parts.len() as u64;
    parts
        .into_iter()
        .filter(|p| {
            p.get("updated_at")
                .and_then(crate::output::schema::timestamp_secs)
                .is_some_and(|t| cutoff.admits(t))
        })
        .filter_map(|p| match p {
            Value::Object(row) => Some(row),
            _ => None,
        })
        .map(|mut row| {
            let text = row.get("body").and_then(Value::as_str).map(plain_text);
            let attachments = row
                .get("attachments")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            row.insert("conversation_id".into(), conversation["id"].clone());
            row.insert(
                "conversation_created_at".into(),
                conversation["created_at"].clone(),
            );
            row.insert(
                "conversation_updated_at".into(),
                conversation["updated_at"].clone(),
            );
            row.insert(
                "body_text".into(),
                text.map(Value::from).unwrap_or(Value::Null),
            );
            row.insert("attachment_count".into(), Value::from(attachments));
            row.insert("parts_truncated".into(), Value::from(truncated));
            row.insert("parts_total".into(), Value::from(total));
            Value::Object(row)
        })
        .collect()
}

/// HTML body → plain text: paragraphs and breaks become `\n`, entities decoded.
pub(crate) fn plain_text(html: &str) -> String {
    let text = nanohtml2text::html2text(html).replace("\r\n", "\n");
    text.trim_end().to_string()
}

/// A failed item: `CONVERSATION@SINCE`.
fn item_key(id: &str, since: i64) -> String {
    format!("{id}@{since}")
}

fn parse_item(item: &str) -> Option<(String, i64)> {
    let (id, since) = item.split_once('@')?;
    Some((id.to_string(), since.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conversation(total: u64) -> Value {
        json!({"id": "42", "created_at": 10, "updated_at": 30, "conversation_parts": {
        "type": "conversation_part.list", "total_count": total, "conversation_parts": [
            {"id": "p1", "part_type": "comment", "body": "<p>Hi &amp; bye</p>", "created_at": 10, "updated_at": 10,
             "attachments": [{"type": "upload"}]},
            {"id": "p2", "part_type": "close", "body": null, "created_at": 20, "updated_at": 20},
            {"id": "p3", "part_type": "note", "body": "<b>x</b>", "created_at": 30, "updated_at": 30},
        ]}})
    }

    #[test]
    fn rows_carry_the_conversation_and_flag_truncation() {
        let rows = part_rows(conversation(3), PartCutoff::ALL);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0]["conversation_id"], "42");
        assert_eq!(rows[0]["conversation_updated_at"], 30);
        assert_eq!(rows[0]["body_text"], "Hi & bye");
        assert_eq!(rows[0]["attachment_count"], 1);
        assert_eq!(rows[0]["parts_truncated"], false);
        let rows = part_rows(conversation(900), PartCutoff::ALL);
        assert!(
            rows.iter()
                .all(|r| r["parts_truncated"] == true && r["parts_total"] == 900)
        );
    }

    #[test]
    fn only_parts_after_the_cutoff() {
        let strict = PartCutoff {
            since: 20,
            include_since: false,
        };
        let ids = |c| {
            part_rows(conversation(3), c)
                .iter()
                .map(|r| r["id"].clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(strict), vec![json!("p3")]);
        let tie = PartCutoff {
            since: 20,
            include_since: true,
        };
        assert_eq!(ids(tie), vec![json!("p2"), json!("p3")]);
    }

    #[test]
    fn failed_item_keys_round_trip() {
        assert_eq!(parse_item(&item_key("123", -5)), Some(("123".into(), -5)));
        assert_eq!(parse_item("garbage"), None);
    }
}
