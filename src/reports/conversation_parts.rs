//! `conversation_parts` (Conversation Details): one row per part of every
//! conversation changed since the cursor, each carrying its conversation's
//! id, `created_at` and `updated_at`.
//!
//! The changed conversations come from the same incremental search as the
//! `conversations` report (its own cursor); each is fetched with
//! `GET /conversations/{id}`, up to `concurrency` at a time while the search
//! pages keep streaming. That read is shared with the run's other reports
//! that read conversation details (`DETAIL_READERS`): one GET per changed
//! conversation per run ([`crate::extract::shared_conversations`]). Only parts not exported before are written: those
//! updated after the cursor, or at the cursor's second when their
//! conversation was not exported at that second. So `(id, updated_at)` is
//! unique across runs, as for every report.
//!
//! Intercom returns only the 500 most recent parts of a conversation; when it
//! holds more, every row of that conversation has `parts_truncated = true`
//! and `parts_total` = the true count, so nothing is cut off silently.
//!
//! The conversations are the parents of a fan-out
//! ([`crate::extract::fanout`]): the search checkpoints after completed
//! windows (the fan-out lets the conversations in flight finish first), and
//! re-reads `lookback_secs` below the cursor; a conversation found there
//! that was not exported at that version has its parts after the lookback
//! margin (or after its version last exported) written, none twice.
//!
//! A conversation whose GET still fails after retries is a [`FailedItem`]
//! (key `CONVERSATION@SINCE`, where SINCE is the part cutoff of that run) and
//! the run goes on; the next run fetches it again after its search,
//! exporting its parts updated after SINCE. A conversation gone since the
//! search listed it (404) is skipped and counted.
//!
//! [`FailedItem`]: crate::reports::FailedItem

use serde_json::Value;
use tokio::sync::mpsc;

use crate::error::Result;
use crate::extract::fanout::{self, FanOut, Feed, ItemKey, Job, Parents};
use crate::extract::record_keys::{Pruning, RecordKeys};
use crate::extract::shared_conversations::{Claim, SharedConversations};
use crate::extract::{WriterHandle, url_safe_id};
use crate::http::IntercomClient;
use crate::output::schema::{ColType::*, Column};
use crate::reports::options::OptionSpec;
use crate::reports::part_cursor::{PartsCursor, map_checkpoints};
use crate::reports::search::{SearchCursor, identity};
use crate::reports::spec::{ExtractCtx, ExtractFuture, Plan, Probe, ReportSpec, behaviour};
use crate::reports::{ExtractOptions, Extracted, ReportName, WriterMsg, conversations, keys};

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
    plan: |_| {
        Ok(Plan::FanOut {
            run,
            parents: Some(conversations::search_spec("all", "updated_at")),
        })
    },
};

/// The reports that read conversation details (`GET /conversations/{id}`):
/// a run's consumers of its [`SharedConversations`].
pub(crate) const DETAIL_READERS: [ReportName; 3] = [
    ReportName::ConversationParts,
    ReportName::LifecycleEvents,
    ReportName::PartAttachments,
];

/// The store of conversation details of a run of `reports`: its consumers
/// are those of them in [`DETAIL_READERS`].
pub(crate) fn detail_readers(reports: &[ReportName]) -> SharedConversations {
    SharedConversations::for_run(
        reports
            .iter()
            .filter(|r| DETAIL_READERS.contains(r))
            .map(|r| r.as_str()),
    )
}

/// [`extract`] as the plan's extractor.
fn run(c: ExtractCtx<'_>) -> ExtractFuture<'_> {
    Box::pin(async move {
        // The saved cursor as stored: a checkpoint's says where its run
        // started (see `part_cursor`), which the parts of conversations
        // beyond the checkpoint are cut from.
        let saved = PartsCursor::read(CONVERSATION_PARTS.name, c.saved_cursor)?;
        let parents = match c.range {
            Some((from, until)) => Parents::Range { from, until },
            None => Parents::Since(saved.as_ref().map(|s| s.search.clone())),
        };
        resumable(c.client, c.options, parents, saved, c.retry, c.tx).await
    })
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
pub(crate) struct PartCutoff {
    pub(crate) since: i64,
    pub(crate) include_since: bool,
}

impl PartCutoff {
    pub(crate) const ALL: PartCutoff = PartCutoff {
        since: i64::MIN,
        include_since: true,
    };

    pub(crate) fn admits(self, updated_at: i64) -> bool {
        updated_at > self.since || (self.include_since && updated_at == self.since)
    }

    /// The cutoff of conversation `id`, now at `updated_at`, against the
    /// old cursor: parts after the version of it last exported. That is the
    /// cursor's second when it was exported there (`ids_at`), its newest
    /// version within the lookback margin (`recent`), the bottom of the
    /// margin when the lookback found it below the cursor without one, and
    /// otherwise the cursor (its second included).
    pub(crate) fn of(old: Option<&Cursor>, id: &str, updated_at: i64, lookback: i64) -> PartCutoff {
        let Some(c) = old else {
            return PartCutoff::ALL;
        };
        let strict = |since| PartCutoff {
            since,
            include_since: false,
        };
        if c.ids_at.iter().any(|x| x == id) {
            return strict(c.updated_at);
        }
        if let Some(t) = c
            .recent
            .iter()
            .filter(|(x, _)| x == id)
            .map(|(_, t)| *t)
            .max()
        {
            return strict(t);
        }
        if updated_at <= c.updated_at {
            return strict(c.updated_at.saturating_sub(lookback));
        }
        PartCutoff {
            since: c.updated_at,
            include_since: true,
        }
    }

    /// The SINCE of a failed item's key: parts after it are still to export.
    pub(crate) fn failed_since(self) -> i64 {
        // First run: since is i64::MIN (all parts); must not overflow.
        if self.include_since {
            self.since.saturating_sub(1)
        } else {
            self.since
        }
    }
}

/// Run the report. See the module docs.
pub async fn extract(
    client: &IntercomClient,
    options: &ExtractOptions,
    cursor: Option<Cursor>,
    retry: &[String],
    tx: mpsc::Sender<WriterMsg>,
) -> Result<Extracted> {
    let saved = cursor.map(|search| PartsCursor {
        search,
        resume: None,
    });
    let parents = Parents::Since(saved.as_ref().map(|s| s.search.clone()));
    resumable(client, options, parents, saved, retry, tx).await
}

/// Run the report over `parents` (changed since the saved cursor, or a
/// backfill window: every part of the conversations updated in it).
pub async fn extract_from(
    client: &IntercomClient,
    options: &ExtractOptions,
    parents: Parents,
    retry: &[String],
    tx: mpsc::Sender<WriterMsg>,
) -> Result<Extracted> {
    let saved = parents.cursor().map(|search| PartsCursor {
        search: search.clone(),
        resume: None,
    });
    resumable(client, options, parents, saved, retry, tx).await
}

/// Run the report over `parents`, with `saved` the cursor as stored (its
/// `resume` part: where an interrupted run started). Each checkpoint's
/// cursor records this run's start, so a rerun cuts the parts of the
/// conversations beyond the checkpoint from there, not from the checkpoint
/// (their older parts were never written).
async fn resumable(
    client: &IntercomClient,
    options: &ExtractOptions,
    parents: Parents,
    saved: Option<PartsCursor>,
    retry: &[String],
    tx: mpsc::Sender<WriterMsg>,
) -> Result<Extracted> {
    let pipe = WriterHandle {
        tx: &tx,
        progress: &options.progress,
    };
    let lookback = i64::try_from(options.lookback_secs).unwrap_or(i64::MAX / 4);
    let start = PartsCursor::run_start(saved.as_ref());
    let spec = conversations::search_spec("all", "updated_at");
    let (feed, jobs) = Feed::channel(|conversation: Value| {
        let (id, updated_at) = identity(SEARCH, &conversation)?;
        let cutoff = PartsCursor::cutoff(saved.as_ref(), id, updated_at, lookback);
        Ok(Some(Job {
            key: ItemKey::at(id, cutoff.failed_since()),
            parent: (id.to_string(), Some(updated_at), cutoff),
        }))
    });
    // A conversation's identity is all its job reads.
    let feed = feed.reading(&[]);
    let searching = fanout::read_parents(client, &spec, options, parents, feed);
    let jobs = map_checkpoints(jobs, |search| {
        Ok(PartsCursor::checkpoint(search, &start)?.to_json())
    });
    let retry = retry
        .iter()
        .filter_map(|k| ItemKey::parse(k))
        .map(|key| Job {
            parent: (
                key.id.clone(),
                None,
                PartCutoff {
                    since: key.at.unwrap_or(i64::MIN),
                    include_since: false,
                },
            ),
            key,
        })
        .collect();
    let fan = FanOut {
        endpoint: "GET /conversations/{id}",
        concurrency: options.concurrency,
        anomalies: &options.anomalies,
        out: &pipe,
    };
    let claim = options.conversations.claim(CONVERSATION_PARTS.name);
    let claim = &claim;
    let fetching = fan.run(
        jobs,
        retry,
        |(id, updated_at, cutoff): (String, Option<i64>, PartCutoff)| async move {
            fetch_parts(client, claim, &id, updated_at, cutoff).await
        },
    );
    let (searched, fetched) = tokio::join!(searching, fetching);
    let fetched = fetched?;
    let cursor = PartsCursor::finished(searched?.as_deref(), saved.as_ref())?;
    Ok(fetched.into_extracted(cursor.map(|c| c.to_json())))
}

/// The conversation search, as messages name it.
const SEARCH: &str = "POST /conversations/search";

/// `GET /conversations/{id}` (through the run's shared reads: `updated_at`
/// is the version the search saw, `None` for a retried item) and turn its
/// parts into rows. A conversation gone since (404) is the fan-out's to
/// skip.
async fn fetch_parts(
    client: &IntercomClient,
    claim: &Claim,
    id: &str,
    updated_at: Option<i64>,
    cutoff: PartCutoff,
) -> Result<Vec<Value>> {
    let id = url_safe_id(id, SEARCH)?;
    let body = claim.get(client, id, updated_at).await?;
    let conversation: PartsOnly = decode_conversation(id, &body)?;
    Ok(part_rows(conversation.into_value(), cutoff))
}

/// Decode the body of `GET /conversations/{id}` as `T`; a body that does
/// not fit is the item's failure, as the client's own decoding would be.
pub(crate) fn decode_conversation<T: serde::de::DeserializeOwned>(
    id: &str,
    body: &str,
) -> Result<T> {
    serde_json::from_str(body).map_err(|e| {
        crate::http::HttpError::Body {
            endpoint: format!("GET /conversations/{id}"),
            message: e.to_string(),
        }
        .into()
    })
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
    /// Each part with only the keys its row reads ([`PART_KEYS`]): a part's
    /// `type`, `app_package_code`, `tags` and author flags are passed over.
    #[serde(default, deserialize_with = "parts_list")]
    conversation_parts: Value,
}

/// The keys of a part its row reads: its columns' and what
/// [`rows_of_parts`] derives columns from (`body`, `attachments`).
static PART_KEYS: std::sync::LazyLock<RecordKeys> =
    std::sync::LazyLock::new(|| RecordKeys::of(COLUMNS, &["body", "attachments"]));

/// A conversation's `conversation_parts` object, its parts decoded with
/// only [`PART_KEYS`] (anything else as sent).
fn parts_list<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Value, D::Error> {
    serde::de::DeserializeSeed::deserialize(
        Pruning::RecordsUnder("conversation_parts", &PART_KEYS),
        d,
    )
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
    let parent = [
        ("conversation_id", &conversation["id"]),
        ("conversation_created_at", &conversation["created_at"]),
        ("conversation_updated_at", &conversation["updated_at"]),
    ];
    rows_of_parts(parts, total, cutoff, &parent)
}

/// The rows of the `parts` (of a conversation or a ticket) that `cutoff`
/// admits by their `updated_at`: each part with the `parent` columns and the
/// derived ones, `body_text` ([`plain_text`] of `body`), `attachment_count`,
/// `parts_truncated` (`total` above the parts sent: Intercom's 500-part
/// cap) and `parts_total`.
pub(crate) fn rows_of_parts(
    parts: Vec<Value>,
    total: u64,
    cutoff: PartCutoff,
    parent: &[(&str, &Value)],
) -> Vec<Value> {
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
            for (column, value) in parent {
                row.insert((*column).into(), (*value).clone());
            }
            row.insert("body_text".into(), text.map_or(Value::Null, Value::from));
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

#[cfg(test)]
#[path = "conversation_parts_tests.rs"]
mod tests;
