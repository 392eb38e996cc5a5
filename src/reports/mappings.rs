//! Mapping tables: one row per (record, related item), for every record
//! changed since the cursor, with the record's `updated_at` (the latest per
//! record is its current list). A record version with no items gets one row
//! with its id and `updated_at` and null item columns, so a set that became
//! empty is written too: the current set of a record is the non-null items
//! of its latest version (README, "Mapping tables").
//!
//! - `conversation_tags`, `conversation_contacts`: from the conversation
//!   search results (conversations carry these lists in full), or, when an
//!   inline list says it holds more (`has_more`, or a `total_count` above
//!   its items), from `GET /conversations/{id}`.
//! - `contact_tags`, `contact_companies`: from the contact's inline list,
//!   or, when Intercom inlined only part of it (`has_more`, or a
//!   `total_count` above the items inlined; at most 10 are), from
//!   `GET /contacts/{id}/tags|companies`.
//! - `contact_segments`: from `GET /contacts/{id}/segments` (contacts carry
//!   no inline segment list).
//!
//! The parents are a fan-out's ([`crate::extract::fanout`]): per-parent
//! requests run a few at a time while the search streams, the search
//! checkpoints after completed windows and re-reads `lookback_secs` below
//! its cursor (a parent version already exported is not written twice). A
//! parent whose sub-resource answers 404 (deleted or merged since the search
//! listed it) is skipped and counted as a skipped child. One that still
//! fails after retries is a failed item (`PARENT@UPDATED_AT`): the run goes
//! on, and the next run fetches that parent's list again after its search,
//! written with that `updated_at`.

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::anomalies::{Anomalies, AnomalyKind};
use crate::api::list_in;
use crate::api::query::leaf;
use crate::error::Result;
use crate::extract::fanout::{self, ChildRequests, FanOut, Feed, ItemKey, Job, Parents};
use crate::extract::{WriterHandle, url_safe_id};
use crate::http::IntercomClient;
use crate::reports::search::{Granularity, SearchCursor, SearchSpec, identity};
use crate::reports::spec::{ExtractCtx, ExtractFuture, Plan, Probe, ReportSpec, undeclared_plan};
use crate::reports::{
    ExtractOptions, Extracted, ReportName, WriterMsg, contacts, conversations, keys,
};

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
    /// The mapping table a report is, if it is one of these five.
    pub fn of(report: crate::reports::ReportName) -> Option<Mapping> {
        use crate::reports::ReportName;
        [
            (ReportName::ConversationTags, Mapping::ConversationTags),
            (
                ReportName::ConversationContacts,
                Mapping::ConversationContacts,
            ),
            (ReportName::ContactTags, Mapping::ContactTags),
            (ReportName::ContactCompanies, Mapping::ContactCompanies),
            (ReportName::ContactSegments, Mapping::ContactSegments),
        ]
        .into_iter()
        .find_map(|(name, mapping)| (name == report).then_some(mapping))
    }

    fn parent(self) -> &'static str {
        match self {
            Mapping::ConversationTags | Mapping::ConversationContacts => "conversation",
            _ => "contact",
        }
    }

    /// The parent's list a mapping row comes from, for anomaly details.
    fn list_name(self) -> &'static str {
        match self {
            Mapping::ConversationTags => "conversation.tags",
            Mapping::ConversationContacts => "conversation.contacts",
            Mapping::ContactTags => "contact.tags",
            Mapping::ContactCompanies => "contact.companies",
            Mapping::ContactSegments => "contact.segments",
        }
    }

    /// The endpoint read per parent when its inline list is not complete.
    fn child_endpoint(self) -> &'static str {
        match self {
            Mapping::ConversationTags | Mapping::ConversationContacts => "GET /conversations/{id}",
            Mapping::ContactTags => "GET /contacts/{id}/tags",
            Mapping::ContactCompanies => "GET /contacts/{id}/companies",
            Mapping::ContactSegments => "GET /contacts/{id}/segments",
        }
    }

    /// How many parents make a request of their own: every contact for
    /// `contact_segments`, only those whose inline list is cut short for
    /// the others (decides how many windows their search is read in).
    fn child_requests(self) -> ChildRequests {
        match self {
            Mapping::ContactSegments => ChildRequests::EachParent,
            _ => ChildRequests::Few,
        }
    }

    /// The fields of a parent search record the table reads: its `id` and
    /// `updated_at` (every row) and the inline list it may take its items
    /// from (`tags`, `companies` or `contacts`; `contact_segments` has
    /// none: contacts carry no segment list).
    fn parent_keys(self) -> &'static [&'static str] {
        match self {
            Mapping::ConversationTags | Mapping::ContactTags => &["id", "updated_at", "tags"],
            Mapping::ConversationContacts => &["id", "updated_at", "contacts"],
            Mapping::ContactCompanies => &["id", "updated_at", "companies"],
            Mapping::ContactSegments => &["id", "updated_at"],
        }
    }

    /// The search listing the parents (also the backfill's).
    pub fn spec(self) -> SearchSpec {
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

/// Run a mapping report from `cursor`; `retry` holds parents that failed
/// in earlier runs (`PARENT@UPDATED_AT`).
pub async fn extract(
    client: &IntercomClient,
    mapping: Mapping,
    options: &ExtractOptions,
    cursor: Option<SearchCursor>,
    retry: &[String],
    tx: mpsc::Sender<WriterMsg>,
) -> Result<Extracted> {
    extract_from(client, mapping, options, Parents::Since(cursor), retry, tx).await
}

/// Run a mapping report over `parents`: changed since a cursor, or updated
/// in a backfill window.
pub async fn extract_from(
    client: &IntercomClient,
    mapping: Mapping,
    options: &ExtractOptions,
    parents: Parents,
    retry: &[String],
    tx: mpsc::Sender<WriterMsg>,
) -> Result<Extracted> {
    let pipe = WriterHandle {
        tx: &tx,
        progress: &options.progress,
    };
    let spec = mapping.spec();
    let search_endpoint = format!("POST /{}", mapping.spec().path);
    let (feed, jobs) = Feed::channel_for(mapping.child_requests(), |parent| {
        parent_job(mapping, &search_endpoint, parent)
    });
    let feed = feed.reading(mapping.parent_keys());
    let searching = fanout::read_parents(client, &spec, options, parents, feed);
    // A retried parent is read from its endpoint (no inline list to trust).
    let retry = retry
        .iter()
        .filter_map(|k| ItemKey::parse(k))
        .filter_map(|key| {
            let parent = json!({"id": key.id, "updated_at": key.at?});
            Some(Job {
                key,
                parent: (parent, true),
            })
        })
        .collect();
    let fan = FanOut {
        endpoint: mapping.child_endpoint(),
        concurrency: options.concurrency,
        anomalies: &options.anomalies,
        out: &pipe,
    };
    let fetching = fan.run(jobs, retry, |(parent, fetch): (Value, bool)| async move {
        let items = items(client, mapping, &parent, fetch).await?;
        let parent_id = parent["id"].as_str().unwrap_or_default();
        let items = distinct_items(items, mapping.list_name(), parent_id, &options.anomalies);
        Ok(rows(mapping, &parent, items))
    });
    let (searched, fetched) = tokio::join!(searching, fetching);
    let fetched = fetched?;
    Ok(fetched.into_extracted(searched?))
}

/// A parent search record's job: keyed `ID@UPDATED_AT`, the parent kept
/// with only what [`items`] and [`rows`] read of it
/// ([`Mapping::parent_keys`]), so the fan-out's feed holds a few fields a
/// parent, not the whole record. A record without an id or `updated_at` is
/// the search's error.
fn parent_job(
    mapping: Mapping,
    search_endpoint: &str,
    parent: Value,
) -> Result<Option<Job<(Value, bool)>>> {
    let (id, updated_at) = identity(search_endpoint, &parent)?;
    let key = ItemKey::at(id, updated_at);
    Ok(Some(Job {
        key,
        parent: (fanout::only_keys(parent, mapping.parent_keys()), false),
    }))
}

/// The list of a parent's `field` (`tags`, `companies`, `contacts`) as
/// inlined in the parent, when it is complete: `None` when Intercom says
/// there is more than it inlined (`has_more`, or a `total_count` above the
/// items listed; contacts inline at most 10). Items are under `items_key`
/// (`data` on contacts, `tags`/`contacts` on conversations). A parent
/// without the field has none.
fn inline(parent: &Value, field: &str, items_key: &str) -> Option<Vec<Value>> {
    let Some(object) = parent.get(field).filter(|v| !v.is_null()) else {
        return Some(Vec::new());
    };
    let items = object
        .get(items_key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let has_more = object.get("has_more").and_then(Value::as_bool) == Some(true);
    let total = object.get("total_count").and_then(Value::as_u64);
    let short = total.is_some_and(|t| t > items.len() as u64);
    (!has_more && !short).then_some(items)
}

/// The related items of one parent record: its inline list when complete
/// (unless `fetch`), else its endpoint's. A 404 (the parent went away since
/// it was listed) is the fan-out's to skip and count.
async fn items(
    client: &IntercomClient,
    mapping: Mapping,
    parent: &Value,
    fetch: bool,
) -> Result<Vec<Value>> {
    let id = parent.get("id").and_then(Value::as_str).unwrap_or_default();
    let inline = |field: &str, items_key: &str| {
        if fetch {
            None
        } else {
            inline(parent, field, items_key)
        }
    };
    let search_endpoint = format!("POST /{}", mapping.spec().path);
    let search = search_endpoint.as_str();
    // A contact's sub-resource list: attached companies come under
    // `companies`, the other lists under `data`.
    let contact_list = |what: &'static str| async move {
        let id = url_safe_id(id, search)?;
        let body: Value = client.get(&format!("contacts/{id}/{what}")).await?;
        list_in(mapping.child_endpoint(), body, &["data", "companies"])
    };
    // A conversation's full list, from `GET /conversations/{id}`.
    let conversation_list = |field: &'static str| async move {
        let id = url_safe_id(id, search)?;
        let body: Value = client.get(&format!("conversations/{id}")).await?;
        // The conversation's own list object, e.g. `tags: {type, tags: [...]}`.
        match body.get(field) {
            Some(object) => list_in("GET /conversations/{id}", object.clone(), &[field]),
            None => Ok(Vec::new()),
        }
    };
    match mapping {
        Mapping::ConversationTags => match inline("tags", "tags") {
            Some(items) => Ok(items),
            None => conversation_list("tags").await,
        },
        Mapping::ConversationContacts => match inline("contacts", "contacts") {
            Some(items) => Ok(items),
            None => conversation_list("contacts").await,
        },
        Mapping::ContactTags => match inline("tags", "data") {
            Some(items) => Ok(items),
            None => contact_list("tags").await,
        },
        Mapping::ContactCompanies => match inline("companies", "data") {
            Some(items) => Ok(items),
            None => contact_list("companies").await,
        },
        Mapping::ContactSegments => contact_list("segments").await,
    }
}

/// `{<parent>_id, <parent>_updated_at, item fields...}` per item; for a
/// parent version with no items, one row with only the parent's columns
/// (the item columns null), so that the latest version of every parent says
/// what its set is now, also when it became empty.
fn rows(mapping: Mapping, parent: &Value, items: Vec<Value>) -> Vec<Value> {
    let parent_name = mapping.parent();
    let row = |item: Option<Value>| {
        let mut row: Map<String, Value> = item
            .and_then(|i| i.as_object().cloned())
            .unwrap_or_default();
        row.insert(format!("{parent_name}_id"), parent["id"].clone());
        row.insert(
            format!("{parent_name}_updated_at"),
            parent["updated_at"].clone(),
        );
        Value::Object(row)
    };
    if items.is_empty() {
        return vec![row(None)];
    }
    items.into_iter().map(|item| row(Some(item))).collect()
}

/// `items` without repeats: the first item of each `id` (a string or a
/// number) is kept, items without an id are all kept. Real Intercom lists
/// the same tag twice in one company's `tags.tags` (once under another
/// name); a mapping row per repeat would break the table's primary key.
/// Repeats are counted as [`AnomalyKind::DuplicateItem`] under `list`
/// (e.g. `company.tags`), with the parent's id as the sample.
pub(crate) fn distinct_items(
    items: Vec<Value>,
    list: &str,
    parent_id: &str,
    anomalies: &Anomalies,
) -> Vec<Value> {
    let mut seen = std::collections::HashSet::new();
    let mut repeats = 0u64;
    let kept: Vec<Value> = items
        .into_iter()
        .filter(|item| {
            let id = match item.get("id") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => return true,
            };
            let first = seen.insert(id);
            repeats += u64::from(!first);
            first
        })
        .collect();
    anomalies.record_n(AnomalyKind::DuplicateItem, list, repeats, Some(parent_id));
    kept
}

/// What the conversation mapping tables share.
const CONVERSATION_MAPPING: ReportSpec = ReportSpec {
    name: "",
    description: "",
    model: None,
    columns: &[],
    expandable: &[],
    options: &[],
    default_enabled: true,
    min_version: None,
    keys: keys::VERSIONED,
    probes: &[Probe::Search(|_| {
        Ok(conversations::search_spec("all", "updated_at"))
    })],
    skip_failed_option: None,
    plan: undeclared_plan,
};

/// What the contact mapping tables share.
const CONTACT_MAPPING: ReportSpec = ReportSpec {
    probes: &[Probe::Search(|_| Ok(contacts::search_spec("user", None)))],
    ..CONVERSATION_MAPPING
};

/// `conversation_tags`: the tags of each changed conversation.
pub static CONVERSATION_TAGS: ReportSpec = ReportSpec {
    name: "conversation_tags",
    description: "Tags of each changed conversation, one row per (conversation, tag)",
    columns: CONVERSATION_TAG_COLUMNS,
    keys: keys::mapping(
        &["conversation_id", "conversation_updated_at", "tag_id"],
        &[keys::TO_CONVERSATION, keys::TAG],
    ),
    plan: |_| Ok(Mapping::ConversationTags.plan(|c| run(c, Mapping::ConversationTags))),
    ..CONVERSATION_MAPPING
};

/// `conversation_contacts`: the contacts of each changed conversation.
pub static CONVERSATION_CONTACTS: ReportSpec = ReportSpec {
    name: "conversation_contacts",
    description: "Contacts of each changed conversation, one row per (conversation, contact)",
    columns: CONVERSATION_CONTACT_COLUMNS,
    keys: keys::mapping(
        &["conversation_id", "conversation_updated_at", "contact_id"],
        &[keys::TO_CONVERSATION, keys::CONTACT_TO_CONTACT],
    ),
    plan: |_| Ok(Mapping::ConversationContacts.plan(|c| run(c, Mapping::ConversationContacts))),
    ..CONVERSATION_MAPPING
};

/// `contact_tags`: the tags of each changed contact.
pub static CONTACT_TAGS: ReportSpec = ReportSpec {
    name: "contact_tags",
    description: "Tags of each changed contact, past the 10 inline (GET /contacts/{id}/tags)",
    columns: CONTACT_TAG_COLUMNS,
    keys: keys::mapping(
        &["contact_id", "contact_updated_at", "tag_id"],
        &[keys::CONTACT_TO_CONTACT, keys::TAG],
    ),
    plan: |_| Ok(Mapping::ContactTags.plan(|c| run(c, Mapping::ContactTags))),
    ..CONTACT_MAPPING
};

/// `contact_companies`: the companies of each changed contact.
pub static CONTACT_COMPANIES: ReportSpec = ReportSpec {
    name: "contact_companies",
    description: "Companies of each changed contact, past the 10 inline (GET /contacts/{id}/companies)",
    columns: CONTACT_COMPANY_COLUMNS,
    keys: keys::mapping(
        &["contact_id", "contact_updated_at", "company_id"],
        &[keys::CONTACT_TO_CONTACT, keys::COMPANY_TO_COMPANY],
    ),
    plan: |_| Ok(Mapping::ContactCompanies.plan(|c| run(c, Mapping::ContactCompanies))),
    ..CONTACT_MAPPING
};

/// `contact_segments`: the segments of each changed contact.
pub static CONTACT_SEGMENTS: ReportSpec = ReportSpec {
    name: "contact_segments",
    description: "Segments of each changed contact (GET /contacts/{id}/segments; one request per contact)",
    columns: CONTACT_SEGMENT_COLUMNS,
    keys: keys::mapping(
        &["contact_id", "contact_updated_at", "segment_id"],
        &[keys::CONTACT_TO_CONTACT, keys::SEGMENT],
    ),
    plan: |_| Ok(Mapping::ContactSegments.plan(|c| run(c, Mapping::ContactSegments))),
    ..CONTACT_MAPPING
};

#[allow(non_upper_case_globals)]
impl ReportName {
    /// `conversation_tags` ([`CONVERSATION_TAGS`]).
    pub const ConversationTags: ReportName = ReportName::of(&CONVERSATION_TAGS);
    /// `conversation_contacts` ([`CONVERSATION_CONTACTS`]).
    pub const ConversationContacts: ReportName = ReportName::of(&CONVERSATION_CONTACTS);
    /// `contact_tags` ([`CONTACT_TAGS`]).
    pub const ContactTags: ReportName = ReportName::of(&CONTACT_TAGS);
    /// `contact_companies` ([`CONTACT_COMPANIES`]).
    pub const ContactCompanies: ReportName = ReportName::of(&CONTACT_COMPANIES);
    /// `contact_segments` ([`CONTACT_SEGMENTS`]).
    pub const ContactSegments: ReportName = ReportName::of(&CONTACT_SEGMENTS);
}

/// [`extract_from`] of one mapping table, as a plan's extractor.
fn run(c: ExtractCtx<'_>, mapping: Mapping) -> ExtractFuture<'_> {
    let parents = c.parents();
    Box::pin(extract_from(
        c.client, mapping, c.options, parents, c.retry, c.tx,
    ))
}

impl Mapping {
    /// The fan-out plan of this mapping table over its parent search.
    fn plan(self, run: crate::reports::spec::Extractor) -> Plan {
        Plan::FanOut {
            run,
            parents: Some(self.spec()),
        }
    }
}

// The five tables' columns (`mappings_columns.rs`).
#[path = "mappings_columns.rs"]
mod columns;
pub use columns::*;

#[cfg(test)]
#[path = "mappings_tests.rs"]
mod tests;
