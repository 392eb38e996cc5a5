//! Mapping tables: one row per (record, related item), for every record
//! changed since the cursor, with the record's `updated_at` (the latest per
//! record is its current list).
//!
//! - `conversation_tags`, `conversation_contacts`: from the conversation
//!   search results (conversations carry these lists in full).
//! - `contact_tags`, `contact_companies`: from the contact's inline list,
//!   or, when Intercom inlined only the first 10 (`has_more`), from
//!   `GET /contacts/{id}/tags|companies`.
//! - `contact_segments`: from `GET /contacts/{id}/segments` (contacts carry
//!   no inline segment list).
//!
//! Per-contact requests run a few at a time while the search streams. If one
//! still fails after retries, the report fails and its cursor stays, so the
//! next run reads those contacts again: nothing is lost.

use futures::{StreamExt, stream};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::api::query::leaf;
use crate::error::{Error, Result};
use crate::http::IntercomClient;
use crate::output::schema::{ColType::*, Column};
use crate::reports::search::{self, Granularity, SearchCursor, SearchSpec};
use crate::reports::{ExtractOptions, Extracted};

/// Which mapping table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapping {
    ConversationTags,
    ConversationContacts,
    ContactTags,
    ContactCompanies,
    ContactSegments,
}

impl Mapping {
    fn parent(self) -> &'static str {
        match self {
            Mapping::ConversationTags | Mapping::ConversationContacts => "conversation",
            _ => "contact",
        }
    }

    fn spec(self) -> SearchSpec {
        match self.parent() {
            "conversation" => SearchSpec {
                path: "conversations/search",
                filter: None,
                granularity: Granularity::Second,
                sort: None,
            },
            _ => SearchSpec {
                path: "contacts/search",
                filter: Some(
                    json!({"operator": "OR", "value": [leaf("role", "=", "user"), leaf("role", "=", "lead")]}),
                ),
                granularity: Granularity::Day,
                sort: Some(("updated_at", "descending")),
            },
        }
    }
}

/// Run a mapping report from `cursor`.
pub async fn extract(
    client: &IntercomClient,
    mapping: Mapping,
    options: &ExtractOptions,
    cursor: Option<SearchCursor>,
    tx: mpsc::Sender<Vec<Value>>,
) -> Result<Extracted> {
    let spec = mapping.spec();
    let (parent_tx, parent_rx) = mpsc::channel::<Vec<Value>>(2);
    let per_page = options.per_page;
    let searching = async move {
        let parent_tx = parent_tx;
        search::extract(client, &spec, per_page, cursor, &parent_tx).await
    };
    let expanding = async {
        let parents = stream::unfold(parent_rx, |mut rx| async move {
            rx.recv().await.map(|page| (stream::iter(page), rx))
        })
        .flatten();
        let expanded = parents
            .map(|parent| async move {
                items(client, mapping, &parent)
                    .await
                    .map(|items| rows(mapping, &parent, items))
            })
            .buffered(options.concurrency.max(1));
        let mut expanded = std::pin::pin!(expanded);
        let mut count = 0u64;
        while let Some(result) = expanded.next().await {
            let batch = result?;
            if !batch.is_empty() {
                count += batch.len() as u64;
                crate::reports::send_rows(&tx, batch).await?;
            }
        }
        Ok::<_, Error>(count)
    };
    let (searched, expanded) = tokio::join!(searching, expanding);
    let count = expanded?;
    let searched = searched?;
    Ok(Extracted {
        rows: count,
        cursor: searched.cursor.map(|c| json!(c).to_string()),
        ..Extracted::default()
    })
}

/// The related items of one parent record.
async fn items(client: &IntercomClient, mapping: Mapping, parent: &Value) -> Result<Vec<Value>> {
    let list = |pointer: &str| {
        parent
            .pointer(pointer)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let id = parent.get("id").and_then(Value::as_str).unwrap_or_default();
    let fetch = |what: &'static str| async move {
        if !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(Error::Protocol {
                endpoint: "POST /contacts/search".into(),
                message: format!("a contact id that cannot go in a URL: {id:?}"),
            });
        }
        let body: Value = client.get(&format!("contacts/{id}/{what}")).await?;
        // Attached companies come under `companies`, the other lists under `data`.
        let list = ["data", "companies"]
            .into_iter()
            .find_map(|k| body.get(k).and_then(Value::as_array));
        Ok(list.cloned().unwrap_or_default())
    };
    let has_more = |pointer: &str| parent.pointer(pointer).and_then(Value::as_bool) == Some(true);
    match mapping {
        Mapping::ConversationTags => Ok(list("/tags/tags")),
        Mapping::ConversationContacts => Ok(list("/contacts/contacts")),
        Mapping::ContactTags if has_more("/tags/has_more") => fetch("tags").await,
        Mapping::ContactTags => Ok(list("/tags/data")),
        Mapping::ContactCompanies if has_more("/companies/has_more") => fetch("companies").await,
        Mapping::ContactCompanies => Ok(list("/companies/data")),
        Mapping::ContactSegments => fetch("segments").await,
    }
}

/// `{<parent>_id, <parent>_updated_at, item fields...}` per item.
fn rows(mapping: Mapping, parent: &Value, items: Vec<Value>) -> Vec<Value> {
    let parent_name = mapping.parent();
    items
        .into_iter()
        .map(|item| {
            let mut row: Map<String, Value> = item.as_object().cloned().unwrap_or_default();
            row.insert(format!("{parent_name}_id"), parent["id"].clone());
            row.insert(
                format!("{parent_name}_updated_at"),
                parent["updated_at"].clone(),
            );
            Value::Object(row)
        })
        .collect()
}

pub static CONVERSATION_TAG_COLUMNS: &[Column] = &[
    Column::new(
        "conversation_id",
        Str,
        "/conversation_id",
        "Conversation id",
    ),
    Column::new(
        "conversation_updated_at",
        Timestamp,
        "/conversation_updated_at",
        "The conversation's updated_at: the latest per conversation is current",
    ),
    Column::new("tag_id", Str, "/id", "Tag id"),
    Column::new("tag_name", Str, "/name", "Tag name"),
    Column::new(
        "applied_at",
        Timestamp,
        "/applied_at",
        "When the tag was applied",
    ),
    Column::new("applied_by_id", Str, "/applied_by/id", "Who applied it"),
];

pub static CONVERSATION_CONTACT_COLUMNS: &[Column] = &[
    Column::new(
        "conversation_id",
        Str,
        "/conversation_id",
        "Conversation id",
    ),
    Column::new(
        "conversation_updated_at",
        Timestamp,
        "/conversation_updated_at",
        "The conversation's updated_at: the latest per conversation is current",
    ),
    Column::new("contact_id", Str, "/id", "Contact id"),
    Column::new(
        "external_id",
        Str,
        "/external_id",
        "The contact's external id",
    ),
];

pub static CONTACT_TAG_COLUMNS: &[Column] = &[
    Column::new("contact_id", Str, "/contact_id", "Contact id"),
    Column::new(
        "contact_updated_at",
        Timestamp,
        "/contact_updated_at",
        "The contact's updated_at: the latest per contact is current",
    ),
    Column::new("tag_id", Str, "/id", "Tag id"),
    Column::new(
        "tag_name",
        Str,
        "/name",
        "Tag name (when Intercom returns it)",
    ),
];

pub static CONTACT_COMPANY_COLUMNS: &[Column] = &[
    Column::new("contact_id", Str, "/contact_id", "Contact id"),
    Column::new(
        "contact_updated_at",
        Timestamp,
        "/contact_updated_at",
        "The contact's updated_at: the latest per contact is current",
    ),
    Column::new("company_id", Str, "/id", "Company id (Intercom's)"),
    Column::new(
        "company_name",
        Str,
        "/name",
        "Company name (when Intercom returns it)",
    ),
];

pub static CONTACT_SEGMENT_COLUMNS: &[Column] = &[
    Column::new("contact_id", Str, "/contact_id", "Contact id"),
    Column::new(
        "contact_updated_at",
        Timestamp,
        "/contact_updated_at",
        "The contact's updated_at: the latest per contact is current",
    ),
    Column::new("segment_id", Str, "/id", "Segment id"),
    Column::new("segment_name", Str, "/name", "Segment name"),
];
