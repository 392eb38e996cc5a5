//! Small dimensions read in full on every run: `admins`, `teams`, `tags`,
//! `segments`, `data_attributes`, `ticket_types`.
//!
//! The whole list is fetched (no pagination exists for these endpoints),
//! hashed, and written only when the hash differs from the last run's (kept
//! as the cursor). So each written run is a complete snapshot, and an hourly
//! sync with nothing changed writes nothing. In the warehouse, the rows of
//! the latest `_run_id` are the current list.
//!
//! Every list is read through the run's [`RunLists`], at most once per run.
//! `data_attributes` reads `GET /data_attributes` without `model`: contact
//! and company attributes in 2.16, and conversation attributes too in 2.11
//! (the API's notes §3.17; 2.16 moved those to `GET
//! /conversations/attributes`, which it then reads, and answers
//! `model=conversation` with a 422). So it makes two requests on every run
//! in 2.16, also when nothing changed, and one in 2.11 (before: one per
//! model, three); the reports with custom-attribute columns reuse these
//! answers in the same run. Rows come in model order (contact, company,
//! conversation), as the lists per model gave them.

use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::extract::run_lists::RunLists;
use crate::http::{HttpError, IntercomClient};
use crate::output::schema::{ColType::*, Column};
use crate::reports::keys::{self, ReportKeys};
use crate::reports::spec::{Plan, Probe, ReportSpec, undeclared_plan};
use crate::reports::{Extracted, ReportName};

/// What every snapshot report shares.
const SNAPSHOT_REPORT: ReportSpec = ReportSpec {
    name: "",
    description: "",
    model: None,
    columns: &[],
    expandable: &[],
    options: &[],
    default_enabled: true,
    min_version: None,
    keys: keys::SNAPSHOT,
    probes: &[],
    skip_failed_option: None,
    plan: undeclared_plan,
};

/// `admins`: the whole list on every run, written when it changed.
pub static ADMINS: ReportSpec = ReportSpec {
    name: "admins",
    description: "Teammates (GET /admins); snapshot, written when it changed",
    columns: ADMIN_COLUMNS,
    probes: &[Probe::Get("admins")],
    plan: |_| Ok(Plan::Snapshot(ADMIN_LISTS)),
    ..SNAPSHOT_REPORT
};

/// `teams`: the whole list on every run, written when it changed.
pub static TEAMS: ReportSpec = ReportSpec {
    name: "teams",
    description: "Teams (GET /teams); snapshot, written when it changed",
    columns: TEAM_COLUMNS,
    probes: &[Probe::Get("teams")],
    plan: |_| Ok(Plan::Snapshot(TEAM_LISTS)),
    ..SNAPSHOT_REPORT
};

/// `tags`: the whole list on every run, written when it changed.
pub static TAGS: ReportSpec = ReportSpec {
    name: "tags",
    description: "Tags (GET /tags); snapshot, written when it changed",
    columns: TAG_COLUMNS,
    probes: &[Probe::Get("tags")],
    plan: |_| Ok(Plan::Snapshot(TAG_LISTS)),
    ..SNAPSHOT_REPORT
};

/// `segments`: the whole list on every run, written when it changed.
pub static SEGMENTS: ReportSpec = ReportSpec {
    name: "segments",
    description: "Segments with their counts (GET /segments); snapshot, written when it changed",
    columns: SEGMENT_COLUMNS,
    probes: &[Probe::Get("segments?include_count=true")],
    plan: |_| Ok(Plan::Snapshot(SEGMENT_LISTS)),
    ..SNAPSHOT_REPORT
};

/// `data_attributes`: the whole list on every run, written when it changed.
pub static DATA_ATTRIBUTES: ReportSpec = ReportSpec {
    name: "data_attributes",
    description: "Contact, company and conversation attributes (GET /data_attributes, /conversations/attributes); snapshot",
    columns: DATA_ATTRIBUTE_COLUMNS,
    // Built-in attributes have no id; `full_name` is unique per model.
    keys: ReportKeys {
        primary_key: &["_run_id", "model", "full_name"],
        entity_key: &["model", "full_name"],
        ..keys::SNAPSHOT
    },
    probes: &[Probe::Get("data_attributes?model=contact")],
    plan: |_| Ok(Plan::Snapshot(DATA_ATTRIBUTE_LISTS)),
    ..SNAPSHOT_REPORT
};

/// `ticket_types`: the whole list on every run, written when it changed.
pub static TICKET_TYPES: ReportSpec = ReportSpec {
    name: "ticket_types",
    description: "Ticket types (GET /ticket_types); snapshot, written when it changed",
    columns: TICKET_TYPE_COLUMNS,
    probes: &[Probe::Get("ticket_types")],
    plan: |_| Ok(Plan::Snapshot(TICKET_TYPE_LISTS)),
    ..SNAPSHOT_REPORT
};

#[allow(non_upper_case_globals)]
impl ReportName {
    /// `admins` ([`ADMINS`]).
    pub const Admins: ReportName = ReportName::of(&ADMINS);
    /// `teams` ([`TEAMS`]).
    pub const Teams: ReportName = ReportName::of(&TEAMS);
    /// `tags` ([`TAGS`]).
    pub const Tags: ReportName = ReportName::of(&TAGS);
    /// `segments` ([`SEGMENTS`]).
    pub const Segments: ReportName = ReportName::of(&SEGMENTS);
    /// `data_attributes` ([`DATA_ATTRIBUTES`]).
    pub const DataAttributes: ReportName = ReportName::of(&DATA_ATTRIBUTES);
    /// `ticket_types` ([`TICKET_TYPES`]).
    pub const TicketTypes: ReportName = ReportName::of(&TICKET_TYPES);
}

/// One request of a snapshot: the path and the key holding the records.
#[derive(Debug, Clone, Copy)]
pub struct ListRequest {
    pub path: &'static str,
    /// Keys to look for, in order (Intercom's envelopes differ by version).
    pub keys: &'static [&'static str],
    /// A 422 here means the API version does not serve it: skip, don't fail.
    pub optional: bool,
    /// Reshapes each record into the report's common shape.
    pub adapt: Option<fn(Value) -> Value>,
    /// Not asked when the list at this path was served in this read (the
    /// older endpoint of the same records).
    pub unless_served: Option<&'static str>,
    /// Not asked when a record read before it in this read has this
    /// `(field, value)` (the records it would list are there already).
    pub unless_listed: Option<(&'static str, &'static str)>,
}

const fn req(path: &'static str, keys: &'static [&'static str]) -> ListRequest {
    ListRequest {
        path,
        keys,
        optional: false,
        adapt: None,
        unless_served: None,
        unless_listed: None,
    }
}

/// The requests of `admins`.
pub static ADMIN_LISTS: &[ListRequest] = &[req("admins", &["admins"])];
/// The requests of `teams`.
pub static TEAM_LISTS: &[ListRequest] = &[req("teams", &["teams"])];
/// The requests of `tags`.
pub static TAG_LISTS: &[ListRequest] = &[req("tags", &["data", "tags"])];
/// The requests of `segments`.
pub static SEGMENT_LISTS: &[ListRequest] =
    &[req("segments?include_count=true", &["segments", "data"])];
/// The requests of `ticket_types`.
pub static TICKET_TYPE_LISTS: &[ListRequest] = &[req("ticket_types", &["data", "ticket_types"])];
/// The requests of `data_attributes`.
pub static DATA_ATTRIBUTE_LISTS: &[ListRequest] = &[
    // Every model's attributes the version lists without `model`: contact
    // and company (2.16), and conversation (2.11).
    req(super::custom::ALL_DATA_ATTRIBUTES, &["data"]),
    // Conversation attributes, when that list had none: GET
    // /conversations/attributes (2.16; 404 before 2.12) ...
    ListRequest {
        path: super::custom::CONVERSATION_ATTRIBUTES,
        keys: &["data"],
        optional: true,
        adapt: Some(conversation_attribute),
        unless_served: None,
        unless_listed: Some(("model", "conversation")),
    },
    // ... or, where that is not served either, `model=conversation`
    // (2.16 answers 422 here).
    ListRequest {
        path: "data_attributes?model=conversation",
        keys: &["data"],
        optional: true,
        adapt: None,
        unless_served: Some(super::custom::CONVERSATION_ATTRIBUTES),
        unless_listed: Some(("model", "conversation")),
    },
];

/// Where a data attribute's `model` puts it among the snapshot's rows:
/// contact, company, conversation, in the order the lists per model gave
/// them (so the snapshot's hash, its cursor, stays as before).
fn model_rank(record: &Value) -> u8 {
    match record.get("model").and_then(Value::as_str) {
        Some("company") => 1,
        Some("conversation") => 2,
        _ => 0,
    }
}

/// A 2.16 `conversation_attribute` as a `data_attribute` row: model
/// `conversation`, `full_name` `custom_attributes.<name>`, custom, the name
/// as label, option labels as the options.
fn conversation_attribute(mut record: Value) -> Value {
    let Value::Object(m) = &mut record else {
        return record;
    };
    let name = m.get("name").cloned().unwrap_or(Value::Null);
    m.insert("model".into(), "conversation".into());
    if let Some(n) = name.as_str() {
        m.insert("full_name".into(), format!("custom_attributes.{n}").into());
    }
    m.entry("label").or_insert(name);
    m.insert("custom".into(), true.into());
    if let Some(Value::Array(options)) = m.get("options") {
        let labels: Vec<Value> = options
            .iter()
            .map(|o| o.get("label").cloned().unwrap_or_else(|| o.clone()))
            .collect();
        m.insert("options".into(), labels.into());
    }
    record
}

/// Fetch every list of a snapshot report (through the run's `lists`);
/// write it if it changed.
pub async fn extract(
    client: &IntercomClient,
    lists: &RunLists,
    requests: &[ListRequest],
    cursor: Option<&str>,
    tx: mpsc::Sender<crate::reports::WriterMsg>,
) -> Result<Extracted> {
    let mut records = Vec::new();
    let mut served: Vec<&str> = Vec::new();
    for r in requests {
        if r.unless_served.is_some_and(|other| served.contains(&other))
            || r.unless_listed.is_some_and(|(field, value)| {
                records
                    .iter()
                    .any(|v: &Value| v.get(field).and_then(Value::as_str) == Some(value))
            })
        {
            continue;
        }
        let body = match lists.get(client, r.path).await {
            Ok(v) => v,
            Err(HttpError::Status {
                status: 422 | 400 | 404,
                ..
            }) if r.optional => {
                tracing::debug!(path = r.path, "not served by this API version; skipped");
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        served.push(r.path);
        let list = r
            .keys
            .iter()
            .find_map(|k| body.get(*k).and_then(Value::as_array))
            .ok_or_else(|| Error::Protocol {
                endpoint: format!("GET /{}", r.path),
                message: format!("no list under {:?}", r.keys),
            })?;
        records.extend(list.iter().cloned().map(|v| match r.adapt {
            Some(adapt) => adapt(v),
            None => v,
        }));
    }
    if std::ptr::eq(requests, DATA_ATTRIBUTE_LISTS) {
        records.sort_by_key(model_rank);
    }
    let mut hasher = Sha256::new();
    for record in &records {
        hasher.update(record.to_string().as_bytes());
        hasher.update(b"\n");
    }
    let hash = format!("\"{}\"", hex::encode(hasher.finalize()));
    if cursor == Some(hash.as_str()) {
        return Ok(Extracted::default());
    }
    let rows = records.len() as u64;
    for chunk in records.chunks(1000) {
        crate::reports::send_rows(&tx, chunk.to_vec()).await?;
    }
    Ok(Extracted {
        rows,
        cursor: Some(hash),
        ..Extracted::default()
    })
}

#[rustfmt::skip]
pub static ADMIN_COLUMNS: &[Column] = &[
    Column::new("id", Str, "/id", "Admin id"),
    Column::new("name", Str, "/name", "Name"),
    Column::new("email", Str, "/email", "Email"),
    Column::new("job_title", Str, "/job_title", "Job title"),
    Column::new("away_mode_enabled", Bool, "/away_mode_enabled", "In away mode"),
    Column::new("away_mode_reassign", Bool, "/away_mode_reassign", "Reassigns conversations while away"),
    Column::new("has_inbox_seat", Bool, "/has_inbox_seat", "Has a paid inbox seat"),
    Column::list("team_ids", "/team_ids", "", "Teams the admin belongs to"),
    Column::new("avatar", Str, "/avatar", "Avatar URL: `avatar` as a string (2.16), else `avatar.image_url` (the 2.11 object)").or(&["/avatar/image_url"]),
];

#[rustfmt::skip]
pub static TEAM_COLUMNS: &[Column] = &[
    Column::new("id", Str, "/id", "Team id"),
    Column::new("name", Str, "/name", "Name"),
    Column::list("admin_ids", "/admin_ids", "", "Admins in the team"),
    Column::new("assignment_limit", Int, "/assignment_limit", "Assignment limit (2.16)"),
    Column::new("distribution_method", Str, "/distribution_method", "Distribution method (2.16)"),
];

#[rustfmt::skip]
pub static TAG_COLUMNS: &[Column] = &[
    Column::new("id", Str, "/id", "Tag id"),
    Column::new("name", Str, "/name", "Name"),
];

#[rustfmt::skip]
pub static SEGMENT_COLUMNS: &[Column] = &[
    Column::new("id", Str, "/id", "Segment id"),
    Column::new("name", Str, "/name", "Name"),
    Column::new("person_type", Str, "/person_type", "contact or user"),
    Column::new("created_at", Timestamp, "/created_at", "Created"),
    Column::new("updated_at", Timestamp, "/updated_at", "Last changed"),
    Column::new("count", Int, "/count", "Contacts in the segment"),
];

#[rustfmt::skip]
pub static DATA_ATTRIBUTE_COLUMNS: &[Column] = &[
    Column::new("model", Str, "/model", "contact, company or conversation"),
    Column::new("name", Str, "/name", "Name"),
    Column::new("full_name", Str, "/full_name", "Full (dotted) name; with model, the key"),
    Column::new("id", Str, "/id", "Id (custom attributes only)"),
    Column::new("label", Str, "/label", "Label shown in Intercom"),
    Column::new("description", Str, "/description", "Description"),
    Column::new("data_type", Str, "/data_type", "string, integer, float, boolean, date (conversations in 2.16: also list, decimal, datetime, ...)"),
    Column::list("options", "/options", "", "Allowed values, for list attributes"),
    Column::new("custom", Bool, "/custom", "Custom (true) or built-in"),
    Column::new("archived", Bool, "/archived", "Archived"),
    Column::new("api_writable", Bool, "/api_writable", "Writable through the API"),
    Column::new("messenger_writable", Bool, "/messenger_writable", "Writable by the Messenger"),
    Column::new("ui_writable", Bool, "/ui_writable", "Writable in the UI"),
    Column::new("created_at", Timestamp, "/created_at", "Created"),
    Column::new("updated_at", Timestamp, "/updated_at", "Last changed"),
    Column::new("admin_id", Str, "/admin_id", "Admin who created it"),
];

#[rustfmt::skip]
pub static TICKET_TYPE_COLUMNS: &[Column] = &[
    Column::new("id", Str, "/id", "Ticket type id"),
    Column::new("name", Str, "/name", "Name"),
    Column::new("description", Str, "/description", "Description"),
    Column::new("category", Str, "/category", "Customer, Back-office or Tracker"),
    Column::new("icon", Str, "/icon", "Icon"),
    Column::new("workspace_id", Str, "/workspace_id", "Workspace"),
    Column::new("archived", Bool, "/archived", "Archived"),
    Column::new("is_internal", Bool, "/is_internal", "Internal"),
    Column::new("created_at", Timestamp, "/created_at", "Created"),
    Column::new("updated_at", Timestamp, "/updated_at", "Last changed"),
    Column::new("attributes", Json, "/ticket_type_attributes/data", "The type's attributes as a JSON array: `ticket_type_attributes.data` (what Intercom sends), else `ticket_type_attributes.ticket_type_attributes` (the 2.11 OpenAPI schema's key)").or(&["/ticket_type_attributes/ticket_type_attributes"]),
];
