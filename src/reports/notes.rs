//! `notes_by_user`: the notes of contacts, one row per (contact, note), with
//! the contact's `updated_at` (as the mapping tables: the latest rows per
//! contact are its current notes). A contact version without notes is one
//! row with the contact's columns and null note columns, so a contact whose
//! notes were all deleted has no current notes.
//!
//! Which contacts:
//! - with option `contact_ids`: those contacts (`GET /contacts/{id}` each,
//!   for its `updated_at`), when changed since the cursor (all on the first
//!   run); a contact that no longer exists is skipped with a warning;
//! - without: every contact (user or lead) changed since the cursor, from the
//!   contact search, fetched a few at a time while the search streams
//!   ([`crate::extract::fanout`]: checkpoints after completed search
//!   windows, `lookback_secs` re-read below the cursor).
//!
//! Notes come from `GET /contacts/{id}/notes`, page by page
//! ([`crate::extract::list`]; contacts inline at most 10). A contact whose
//! notes still fail after retries is a failed item (`CONTACT@UPDATED_AT`)
//! fetched again by the next run, after its search.

use std::collections::HashSet;

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::anomalies::{Anomalies, AnomalyKind};
use crate::api::query::leaf;
use crate::error::{Error, Result};
use crate::extract::fanout::{self, FanOut, Feed, ItemKey, Job, Parents};
use crate::extract::list::{List, Style};
use crate::extract::{WriterHandle, url_safe_id};
use crate::http::{HttpError, IntercomClient};
use crate::output::schema::{ColType::*, Column};
use crate::reports::keys::{self, Current, ReportKeys};
use crate::reports::options::OptionSpec;
use crate::reports::search::{self, CursorTracker, Granularity, SearchCursor, SearchSpec};
use crate::reports::spec::{ExtractCtx, ExtractFuture, Plan, Probe, ReportSpec, list};
use crate::reports::{
    ExtractOptions, Extracted, ReportName, WriterMsg, contacts, conversation_parts,
};

/// Option `contact_ids`: whose notes (unset: every changed contact's).
const CONTACT_IDS: OptionSpec = list(
    "contact_ids",
    "Contact ids; without it, every contact changed since the last run",
);

/// `notes_by_user`: a fan-out over the given or changed contacts,
/// `GET /contacts/{id}/notes` each.
pub static NOTES_BY_USER: ReportSpec = ReportSpec {
    name: "notes_by_user",
    description: "Notes of the given contacts, or of every changed contact (GET /contacts/{id}/notes)",
    model: None,
    columns: COLUMNS,
    expandable: &[],
    options: &[CONTACT_IDS],
    default_enabled: false,
    min_version: None,
    keys: ReportKeys {
        primary_key: &["contact_id", "contact_updated_at", "id"],
        // Null on the one row of a contact version without notes.
        nullable_key_columns: &["id"],
        entity_key: &["contact_id"],
        version_column: "contact_updated_at",
        current: Current::LatestParentVersion,
        repeats_versions: false,
        foreign_keys: &[keys::CONTACT_TO_CONTACT, keys::NOTE_AUTHOR],
    },
    probes: &[Probe::Search(|_| Ok(contacts::search_spec("user", None)))],
    skip_failed_option: None,
    plan: |o| {
        // Given contact ids are not a date range: no backfill then.
        let parents = o.list(&CONTACT_IDS).is_empty().then(contact_search);
        Ok(Plan::FanOut { run, parents })
    },
};

#[allow(non_upper_case_globals)]
impl ReportName {
    /// `notes_by_user` ([`NOTES_BY_USER`]).
    pub const NotesByUser: ReportName = ReportName::of(&NOTES_BY_USER);
}

/// [`extract`] as the plan's extractor.
fn run(c: ExtractCtx<'_>) -> ExtractFuture<'_> {
    let ids = c.report_options.list(&CONTACT_IDS);
    if c.range.is_some() {
        let parents = c.parents();
        return Box::pin(extract_from(c.client, c.options, parents, c.retry, c.tx));
    }
    Box::pin(async move { extract(c.client, c.options, &ids, c.cursor, c.retry, c.tx).await })
}

/// Output columns.
#[rustfmt::skip]
pub static COLUMNS: &[Column] = &[
    Column::new("id", Str, "/id", "Note id; null on the one row of a contact version without notes"),
    Column::new("contact_id", Str, "/contact_id", "The contact's id"),
    Column::new("contact_updated_at", Timestamp, "/contact_updated_at", "The contact's updated_at: the latest rows per contact are its current notes"),
    Column::new("body", Str, "/body", "Body as HTML"),
    Column::new("body_text", Str, "/body_text", "Body as plain text (converted from the HTML)"),
    Column::new("author_id", Str, "/author/id", "The admin who wrote the note"),
    Column::new("author_name", Str, "/author/name", "The admin's name"),
    Column::new("author_email", Str, "/author/email", "The admin's email"),
    Column::new("created_at", Timestamp, "/created_at", "When the note was written"),
];

/// A contact whose notes are fetched (failed items: `CONTACT@UPDATED_AT`).
#[derive(Debug, Clone)]
struct Contact {
    id: String,
    updated_at: i64,
}

impl Contact {
    fn key(&self) -> ItemKey {
        ItemKey::at(self.id.clone(), self.updated_at)
    }
}

/// Contacts of either role, by `updated_at` (also the backfill's search).
pub fn contact_search() -> SearchSpec {
    SearchSpec {
        path: "contacts/search",
        filter: Some(
            json!({"operator": "OR", "value": [leaf("role", "=", "user"), leaf("role", "=", "lead")]}),
        ),
        granularity: Granularity::Day,
        sort: Some(("updated_at", "descending")),
    }
}

/// Run the report. See the module docs.
pub async fn extract(
    client: &IntercomClient,
    options: &ExtractOptions,
    contact_ids: &[String],
    cursor: Option<SearchCursor>,
    retry: &[String],
    tx: mpsc::Sender<WriterMsg>,
) -> Result<Extracted> {
    if !contact_ids.is_empty() {
        return given_contacts(client, options, contact_ids, cursor, tx).await;
    }
    extract_from(client, options, Parents::Since(cursor), retry, tx).await
}

/// The notes of every contact of `parents`: changed since a cursor, or
/// updated in a backfill window.
pub async fn extract_from(
    client: &IntercomClient,
    options: &ExtractOptions,
    parents: Parents,
    retry: &[String],
    tx: mpsc::Sender<WriterMsg>,
) -> Result<Extracted> {
    let pipe = WriterHandle {
        tx: &tx,
        progress: &options.progress,
    };
    let spec = contact_search();
    let (feed, jobs) = Feed::channel(|c: Value| {
        let (id, updated_at) = search::identity("POST /contacts/search", &c)?;
        let contact = Contact {
            id: id.to_string(),
            updated_at,
        };
        Ok(Some(Job {
            key: contact.key(),
            parent: contact,
        }))
    });
    let searching = fanout::read_parents(client, &spec, options, parents, feed);
    let retry = retry
        .iter()
        .filter_map(|k| ItemKey::parse(k))
        .filter_map(|key| {
            let contact = Contact {
                id: key.id.clone(),
                updated_at: key.at?,
            };
            Some(Job {
                key,
                parent: contact,
            })
        })
        .collect();
    let fan = FanOut {
        endpoint: NOTES,
        concurrency: options.concurrency,
        anomalies: &options.anomalies,
        out: &pipe,
    };
    let fetching = fan.run(jobs, retry, |c: Contact| async move {
        contact_notes(client, &c, options.per_page, &options.anomalies).await
    });
    let (searched, fetched) = tokio::join!(searching, fetching);
    let fetched = fetched?;
    Ok(fetched.into_extracted(searched?))
}

/// The notes endpoint, as messages name it.
const NOTES: &str = "GET /contacts/{id}/notes";

/// The `contact_ids` option: each contact, when changed since the cursor.
async fn given_contacts(
    client: &IntercomClient,
    options: &ExtractOptions,
    contact_ids: &[String],
    cursor: Option<SearchCursor>,
    tx: mpsc::Sender<WriterMsg>,
) -> Result<Extracted> {
    let per_page = options.per_page;
    let mut tracker = CursorTracker::with_lookback_secs(cursor, options.lookback_secs);
    let mut rows = 0u64;
    let mut seen = HashSet::new();
    for id in contact_ids {
        url_safe_id(id, "notes_by_user.contact_ids").map_err(|_| {
            Error::Config(format!(
                "notes_by_user.contact_ids: {id:?} is not an Intercom contact id"
            ))
        })?;
        if !seen.insert(id.as_str()) {
            continue;
        }
        let contact: Value = match client.get(&format!("contacts/{id}")).await {
            Ok(v) => v,
            Err(HttpError::Status {
                status: 404 | 410, ..
            }) => {
                // Deleted or merged: counted in the summary, said once.
                options
                    .anomalies
                    .record(AnomalyKind::SkippedChild, "GET /contacts/{id}", Some(id));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let (_, updated_at) = search::identity("GET /contacts/{id}", &contact)?;
        if !tracker.accept(id, updated_at) {
            continue;
        }
        let contact = Contact {
            id: id.clone(),
            updated_at,
        };
        let notes = match contact_notes(client, &contact, per_page, &options.anomalies).await {
            Err(e) if e.is_gone() => {
                options
                    .anomalies
                    .record(AnomalyKind::SkippedChild, NOTES, Some(id));
                continue;
            }
            other => other?,
        };
        rows += notes.len() as u64;
        crate::reports::send_rows(&tx, notes).await?;
    }
    Ok(Extracted {
        rows,
        cursor: tracker.finish().cursor.map(|c| json!(c).to_string()),
        ..Extracted::default()
    })
}

/// Every note of one contact, as rows (one row with null note columns when
/// it has none). A contact gone since (404, 410) is an error the caller
/// skips and counts.
async fn contact_notes(
    client: &IntercomClient,
    contact: &Contact,
    per_page: u32,
    anomalies: &Anomalies,
) -> Result<Vec<Value>> {
    let id = url_safe_id(&contact.id, "POST /contacts/search")?;
    let mut rows = Vec::new();
    List {
        client,
        path: format!("contacts/{id}/notes"),
        endpoint: NOTES,
        keys: &["data"],
        style: Style::PageNumber,
        per_page,
        anomalies,
    }
    .read(async |notes: Vec<Value>| {
        rows.extend(notes.iter().map(|n| note_row(n, contact)));
        Ok(true)
    })
    .await?;
    if rows.is_empty() {
        // No notes: one row saying so (null note columns).
        rows.push(no_notes_row(contact));
    }
    Ok(rows)
}

/// The row of a contact version without notes: only `contact_id` and
/// `contact_updated_at`, every note column null.
fn no_notes_row(contact: &Contact) -> Value {
    json!({"contact_id": contact.id, "contact_updated_at": contact.updated_at})
}

/// One note as a row.
fn note_row(note: &Value, contact: &Contact) -> Value {
    let mut row: Map<String, Value> = note.as_object().cloned().unwrap_or_default();
    row.insert("contact_id".into(), contact.id.clone().into());
    row.insert("contact_updated_at".into(), contact.updated_at.into());
    let text = note
        .get("body")
        .and_then(Value::as_str)
        .map(conversation_parts::plain_text);
    row.insert(
        "body_text".into(),
        text.map(Value::from).unwrap_or(Value::Null),
    );
    Value::Object(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_carry_the_contact_and_plain_text() {
        let c = Contact {
            id: "c1".into(),
            updated_at: 7,
        };
        let row = note_row(
            &json!({"id": "n1", "body": "<p>a &amp; b</p>", "author": {"id": "9"}}),
            &c,
        );
        assert_eq!(row["contact_id"], "c1");
        assert_eq!(row["contact_updated_at"], 7);
        assert_eq!(row["body_text"], "a & b");
        let item = c.key().to_string();
        assert_eq!(item, "c1@7");
        assert_eq!(ItemKey::parse(&item), Some(c.key()));
    }
}
