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
//!   ([`fanout`](super::fanout)).
//!
//! Notes come from `GET /contacts/{id}/notes`, page by page (contacts inline
//! at most 10). A contact whose notes still fail after retries is a failed
//! item (`CONTACT@UPDATED_AT`) fetched first by the next run.

use std::collections::HashSet;
use std::fmt;

use futures::{StreamExt, stream};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::anomalies::{Anomalies, AnomalyKind};
use crate::api::query::leaf;
use crate::error::{Error, Result};
use crate::http::{HttpError, IntercomClient};
use crate::output::schema::{ColType::*, Column};
use crate::reports::keys::{self, Current, ReportKeys};
use crate::reports::options::OptionSpec;
use crate::reports::search::{self, CursorTracker, Granularity, SearchCursor, SearchSpec};
use crate::reports::spec::{ExtractCtx, ExtractFuture, Plan, Probe, ReportSpec, list};
use crate::reports::{ExtractOptions, Extracted, ReportName, contacts, conversation_parts, fanout};

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
    plan: |_| Ok(Plan::FanOut(run)),
};

#[allow(non_upper_case_globals)]
impl ReportName {
    /// `notes_by_user` ([`NOTES_BY_USER`]).
    pub const NotesByUser: ReportName = ReportName::of(&NOTES_BY_USER);
}

/// [`extract`] as the plan's extractor.
fn run(c: ExtractCtx<'_>) -> ExtractFuture<'_> {
    let ids = c.report_options.list(&CONTACT_IDS);
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

/// A contact whose notes are fetched.
#[derive(Debug, Clone)]
struct Contact {
    id: String,
    updated_at: i64,
}

/// Failed items are named `CONTACT@UPDATED_AT`.
impl fmt::Display for Contact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.id, self.updated_at)
    }
}

impl Contact {
    fn parse(item: &str) -> Option<Contact> {
        let (id, t) = item.split_once('@')?;
        Some(Contact {
            id: id.to_string(),
            updated_at: t.parse().ok()?,
        })
    }
}

/// Contacts of either role, by `updated_at`.
fn contact_search() -> SearchSpec {
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
    tx: mpsc::Sender<Vec<Value>>,
) -> Result<Extracted> {
    if !contact_ids.is_empty() {
        return given_contacts(client, options, contact_ids, cursor, tx).await;
    }
    let retried: Vec<Contact> = retry.iter().filter_map(|r| Contact::parse(r)).collect();
    let retried_ids: HashSet<String> = retried.iter().map(|c| c.id.clone()).collect();
    let (contact_tx, contact_rx) = mpsc::channel::<Vec<Value>>(2);
    let per_page = options.per_page;
    let lookback = options.lookback_secs;
    let searching = async move {
        let contact_tx = contact_tx;
        let spec = contact_search();
        search::extract_with_lookback(client, &spec, options, lookback, cursor, &contact_tx, None)
            .await
    };
    let searched = fanout::receiver_stream(contact_rx)
        .flat_map(stream::iter)
        .filter_map(|c| {
            let contact = search::identity("POST /contacts/search", &c)
                .ok()
                .filter(|(id, _)| !retried_ids.contains(*id))
                .map(|(id, updated_at)| Contact {
                    id: id.to_string(),
                    updated_at,
                });
            std::future::ready(contact)
        });
    let contacts = stream::iter(retried.clone()).chain(searched);
    let fetching = fanout::fanout(
        contacts,
        options.concurrency,
        |c: Contact| async move { contact_notes(client, &c, per_page, &options.anomalies).await },
        &tx,
    );
    let (searched, fetched) = tokio::join!(searching, fetching);
    let fetched = fetched?;
    let cursor = searched?.cursor.map(|c| json!(c).to_string());
    Ok(fetched.into_extracted(retry, cursor))
}

/// The `contact_ids` option: each contact, when changed since the cursor.
async fn given_contacts(
    client: &IntercomClient,
    options: &ExtractOptions,
    contact_ids: &[String],
    cursor: Option<SearchCursor>,
    tx: mpsc::Sender<Vec<Value>>,
) -> Result<Extracted> {
    let per_page = options.per_page;
    let mut tracker = CursorTracker::new(cursor);
    let mut rows = 0u64;
    let mut seen = HashSet::new();
    for id in contact_ids {
        check_id(id).map_err(|_| {
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
        let notes = contact_notes(client, &contact, per_page, &options.anomalies).await?;
        if !notes.is_empty() {
            rows += notes.len() as u64;
            crate::reports::send_rows(&tx, notes).await?;
        }
    }
    Ok(Extracted {
        rows,
        cursor: tracker.finish().cursor.map(|c| json!(c).to_string()),
        ..Extracted::default()
    })
}

fn check_id(id: &str) -> Result<()> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Error::Protocol {
            endpoint: "POST /contacts/search".into(),
            message: format!("a contact id that cannot go in a URL: {id:?}"),
        });
    }
    Ok(())
}

/// Every note of one contact, as rows. A contact gone since (404, 410) has
/// none, and is counted as a skipped child.
async fn contact_notes(
    client: &IntercomClient,
    contact: &Contact,
    per_page: u32,
    anomalies: &Anomalies,
) -> Result<Vec<Value>> {
    check_id(&contact.id)?;
    let mut rows = Vec::new();
    for page in 1u32.. {
        let path = format!(
            "contacts/{}/notes?page={page}&per_page={per_page}",
            contact.id
        );
        let body: Value = match client.get(&path).await {
            Ok(v) => v,
            Err(HttpError::Status {
                status: 404 | 410, ..
            }) => {
                anomalies.record(
                    AnomalyKind::SkippedChild,
                    "GET /contacts/{id}/notes",
                    Some(&contact.id),
                );
                return Ok(Vec::new());
            }
            Err(e) => return Err(e.into()),
        };
        let data = body
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::Protocol {
                endpoint: "GET /contacts/{id}/notes".into(),
                message: "the answer has no data list".into(),
            })?;
        rows.extend(data.iter().map(|n| note_row(n, contact)));
        if page == 1 && data.is_empty() {
            // No notes: one row saying so (null note columns).
            return Ok(vec![no_notes_row(contact)]);
        }
        let total_pages = body
            .pointer("/pages/total_pages")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let has_next = body
            .pointer("/pages/next")
            .is_some_and(|n| !n.is_null() && n.as_str() != Some(""));
        if data.is_empty() || (u64::from(page) >= total_pages && !has_next) {
            break;
        }
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
        let item = c.to_string();
        let back = Contact::parse(&item).expect("parses");
        assert_eq!((back.id.as_str(), back.updated_at), ("c1", 7));
    }
}
