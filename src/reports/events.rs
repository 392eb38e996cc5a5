//! `events`: the data events of every contact changed since the cursor, one
//! row per event (`GET /events?type=user&intercom_user_id=…`).
//!
//! Option `event_type` (Domo's "Event Type") chooses whose events: `user`
//! (the default), `lead`, or `all` contacts. The contacts come from the same
//! incremental contact search as the `users` / `leads` reports (`role`
//! filter, none for `all`; `updated_at`; this report keeps its own cursor of
//! that search, one per `event_type`): every contact on the first run, then
//! those updated since. Intercom bumps a contact's `updated_at` when it is
//! seen or changed, so "updated or seen since the cursor" is one search.
//! `GET /events` takes `type=user` for every contact; leads are read by their
//! Intercom id (`intercom_user_id`), which works for both roles. Each
//! contact's events are fetched while the search streams, up to
//! `concurrency` contacts at a time ([`fanout`]), and followed through
//! `pages.next`, a full URL that must have the configured base URL's origin
//! (the token is never sent anywhere else). Every row says the contact's
//! role in `contact_role`.
//!
//! Intercom lists only events younger than 90 days; older ones are not
//! returned and so not exported. Events have no unique id: a contact changed
//! again in a later run has its (still listable) events exported again, so
//! de-duplicate on `event_key`, a hash of `(intercom_user_id, event_name,
//! created_at, metadata)`.
//!
//! A contact whose events still fail after retries is a [`FailedItem`] (its
//! contact id) and the run goes on; the next run fetches it again after its
//! search, looking its role up with `GET /contacts/{id}` (gone: no events).
//! A 401, 403 or a foreign `pages.next` fails the whole report instead, and
//! so does a run in which no contact's events could be read.
//!
//! [`fanout`]: crate::extract::fanout
//! [`FailedItem`]: super::FailedItem

use serde_json::Value;
use tokio::sync::mpsc;

use crate::anomalies::{Anomalies, AnomalyKind};
use crate::error::{Error, Result};
use crate::extract::fanout::{self, FanOut, Feed, ItemKey, Job, Parents};
use crate::extract::list::{List, Style};
use crate::extract::{WriterHandle, url_safe_id};
use crate::http::{HttpError, IntercomClient};
use crate::output::schema::{ColType::*, Column};
use crate::reports::keys::{self, Current, ReportKeys};
use crate::reports::options::OptionSpec;
use crate::reports::search::{SearchCursor, SearchSpec, identity};
use crate::reports::spec::{ExtractCtx, ExtractFuture, Plan, Probe, ReportSpec};
use crate::reports::{ExtractOptions, Extracted, ReportName, WriterMsg, contacts};

/// `events`: a fan-out over the contact search, `GET /events` per contact.
pub static EVENTS: ReportSpec = ReportSpec {
    name: "events",
    description: "Data events of users (or leads, or both) changed since the last run, last 90 days (GET /events per contact)",
    model: None,
    columns: COLUMNS,
    expandable: &[],
    options: OPTIONS,
    default_enabled: true,
    min_version: None,
    keys: ReportKeys {
        primary_key: &["event_key"],
        nullable_key_columns: &[],
        entity_key: &["event_key"],
        version_column: "_extracted_at",
        current: Current::Every,
        repeats_versions: true,
        foreign_keys: &[keys::EVENT_USER],
    },
    // The users come from the contact search; their events need the events
    // scope too. An unknown user answers 404 (readable), a missing scope 403.
    probes: &[
        Probe::Search(|_| Ok(contacts::search_spec("user", None))),
        Probe::GetUnknown("events?type=user&intercom_user_id=0&per_page=1"),
    ],
    skip_failed_option: None,
    plan: |o| {
        let event_type = EventType::parse(o.get(&EVENT_TYPE))?;
        Ok(Plan::FanOut {
            run,
            parents: Some(event_type.search_spec()),
        })
    },
};

#[allow(non_upper_case_globals)]
impl ReportName {
    /// `events` ([`EVENTS`]).
    pub const Events: ReportName = ReportName::of(&EVENTS);
}

/// [`extract`] as the plan's extractor.
fn run(c: ExtractCtx<'_>) -> ExtractFuture<'_> {
    Box::pin(async move {
        let event_type = EventType::parse(c.report_options.get(&EVENT_TYPE))?;
        let parents = c.parents();
        extract_from(c.client, c.options, event_type, parents, c.retry, c.tx).await
    })
}

/// Option `event_type`: whose events are read. It selects rows, so each
/// value keeps its own cursor.
pub const EVENT_TYPE: OptionSpec = OptionSpec {
    key: "event_type",
    choices: &["user", "lead", "all"],
    default: "user",
    doc: "Whose events: users, leads (by their Intercom id) or all contacts",
    selects: true,
};

/// The options of the `events` report.
pub static OPTIONS: &[OptionSpec] = &[EVENT_TYPE];

/// Whose events the report reads (option `event_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EventType {
    /// Contacts with role `user` (the default).
    #[default]
    User,
    /// Contacts with role `lead`.
    Lead,
    /// Every contact, users and leads.
    All,
}

impl EventType {
    /// Parse the option's value (`user`, `lead` or `all`); anything else is
    /// a usage error naming the choices.
    pub fn parse(value: &str) -> Result<Self> {
        match value.trim() {
            "user" => Ok(EventType::User),
            "lead" => Ok(EventType::Lead),
            "all" => Ok(EventType::All),
            other => Err(Error::Config(format!(
                "option events.event_type = {other:?} is not one of: {}",
                EVENT_TYPE.choices.join(", ")
            ))),
        }
    }

    /// The contact search listing the contacts whose events are read:
    /// `role = user` / `role = lead`, or every contact.
    pub fn search_spec(self) -> SearchSpec {
        match self {
            EventType::User => contacts::search_spec("user", None),
            EventType::Lead => contacts::search_spec("lead", None),
            EventType::All => SearchSpec {
                filter: None,
                ..contacts::search_spec("user", None)
            },
        }
    }

    /// The role every listed contact has, when the search filters on one.
    fn role(self) -> Option<&'static str> {
        match self {
            EventType::User => Some("user"),
            EventType::Lead => Some("lead"),
            EventType::All => None,
        }
    }
}

/// A contact whose events are read: its Intercom id, and its role when
/// known (a contact retried from an earlier run's failures has its role
/// looked up). Failed items name it by its id.
#[derive(Debug, Clone)]
struct Contact {
    id: String,
    role: Option<String>,
}

/// Output columns.
#[rustfmt::skip]
pub static COLUMNS: &[Column] = &[
    Column::new("event_name", Str, "/event_name", "Event name"),
    Column::new("created_at", Timestamp, "/created_at", "When the event happened"),
    Column::new("intercom_user_id", Str, "/intercom_user_id", "The contact's Intercom id"),
    Column::new("user_id", Str, "/user_id", "The contact's external id (user_id), if set"),
    Column::new("email", Str, "/email", "The contact's email"),
    Column::new("id", Str, "/id", "Event id, when Intercom sends one (events have no unique id)"),
    Column::new("metadata", Json, "/metadata", "The event's metadata object as JSON text"),
    Column::new("event_key", Str, "/event_key", "Stable key of the event (hash of user, name, time and metadata): de-duplicate on it"),
    Column::new("contact_role", Str, "/contact_role", "Role of the contact the event was read for, user or lead (the contact search's role; GET /contacts/{id} for a contact retried from an earlier run)"),
];

/// Run the report for the contacts `event_type` selects. See the module docs.
pub async fn extract(
    client: &IntercomClient,
    options: &ExtractOptions,
    event_type: EventType,
    cursor: Option<SearchCursor>,
    retry: &[String],
    tx: mpsc::Sender<WriterMsg>,
) -> Result<Extracted> {
    extract_from(
        client,
        options,
        event_type,
        Parents::Since(cursor),
        retry,
        tx,
    )
    .await
}

/// Run the report over `parents`: contacts changed since a cursor, or
/// updated in a backfill window.
pub async fn extract_from(
    client: &IntercomClient,
    options: &ExtractOptions,
    event_type: EventType,
    parents: Parents,
    retry: &[String],
    tx: mpsc::Sender<WriterMsg>,
) -> Result<Extracted> {
    let pipe = WriterHandle {
        tx: &tx,
        progress: &options.progress,
    };
    let spec = event_type.search_spec();
    let (feed, jobs) = Feed::channel(|contact: Value| {
        let (id, _) = identity(SEARCH, &contact)?;
        let role = event_type
            .role()
            .or_else(|| contact.get("role").and_then(Value::as_str))
            .map(str::to_string);
        Ok(Some(Job {
            key: ItemKey::id(id),
            parent: Contact {
                id: id.to_string(),
                role,
            },
        }))
    });
    let feed = feed.reading(&["role"]);
    let searching = fanout::read_parents(client, &spec, options, parents, feed);
    let retry = retry
        .iter()
        .filter_map(|k| ItemKey::parse(k))
        .map(|key| Job {
            parent: Contact {
                id: key.id.clone(),
                role: None,
            },
            key,
        })
        .collect();
    let fan = FanOut {
        endpoint: "GET /events",
        concurrency: options.concurrency,
        anomalies: &options.anomalies,
        out: &pipe,
    };
    let fetching = fan.run(jobs, retry, |contact: Contact| async move {
        contact_events(client, contact, options).await
    });
    let (searched, fetched) = tokio::join!(searching, fetching);
    let fetched = fetched?;
    Ok(fetched.into_extracted(searched?))
}

/// The contact search, as messages name it.
const SEARCH: &str = "POST /contacts/search";

/// The events of one contact, each row with the contact's role (looked up
/// for a contact retried from an earlier run).
async fn contact_events(
    client: &IntercomClient,
    contact: Contact,
    options: &ExtractOptions,
) -> Result<Vec<Value>> {
    let id = url_safe_id(&contact.id, SEARCH)?;
    let role = match contact.role {
        Some(role) => role,
        None => match contact_role(client, id, &options.anomalies).await? {
            Some(role) => role,
            None => return Ok(Vec::new()),
        },
    };
    let mut rows = user_events(client, id, options.per_page, &options.anomalies).await?;
    for row in &mut rows {
        if let Value::Object(m) = row {
            m.insert("contact_role".into(), role.as_str().into());
        }
    }
    Ok(rows)
}

/// The role (`user` or `lead`) of a contact retried from an earlier run
/// (`GET /contacts/{id}`, field `role`), or `None` when it is gone (404, or
/// 410 for a merged contact): a gone contact has no events to read, and is
/// counted as a skipped child.
async fn contact_role(
    client: &IntercomClient,
    id: &str,
    anomalies: &Anomalies,
) -> Result<Option<String>> {
    let contact: Value = match client.get(&format!("contacts/{id}")).await {
        Ok(v) => v,
        Err(HttpError::Status {
            status: 404 | 410, ..
        }) => {
            anomalies.record(AnomalyKind::SkippedChild, "GET /contacts/{id}", Some(id));
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    match contact.get("role").and_then(Value::as_str) {
        Some(role @ ("user" | "lead")) => Ok(Some(role.to_string())),
        other => Err(Error::Protocol {
            endpoint: "GET /contacts/{id}".into(),
            message: format!("contact {id} has role {other:?}, expected user or lead"),
        }),
    }
}

/// Every listable event of one contact (user or lead: `type=user` with its
/// Intercom id serves both), following `pages.next`. A contact that no
/// longer exists (404) is the fan-out's to skip and count.
async fn user_events(
    client: &IntercomClient,
    id: &str,
    per_page: u32,
    anomalies: &Anomalies,
) -> Result<Vec<Value>> {
    let mut rows = Vec::new();
    List {
        client,
        path: format!("events?type=user&intercom_user_id={id}"),
        endpoint: "GET /events",
        keys: &["events"],
        style: Style::NextUrl,
        per_page,
        anomalies,
    }
    .read(async |events: Vec<Value>| {
        rows.extend(events.iter().map(|e| event_row(e, id)));
        Ok(true)
    })
    .await?;
    Ok(rows)
}

/// One event as a row; the contact id is filled in if Intercom left it out,
/// and `event_key` added.
fn event_row(event: &Value, contact_id: &str) -> Value {
    let mut row = event.clone();
    if let Value::Object(m) = &mut row {
        if m.get("intercom_user_id").is_none_or(Value::is_null) {
            m.insert("intercom_user_id".into(), contact_id.into());
        }
        let key = event_key(m);
        m.insert("event_key".into(), key.into());
    }
    row
}

/// Events have no unique id, and a user changed again has its listable
/// events exported again: this key names one event across runs, so loading
/// keeps one row per key. It is the first 128 bits, in hex, of the SHA-256 of
/// the user's Intercom id, the event name, `created_at` and the metadata as
/// JSON with sorted keys, separated by newlines.
fn event_key(event: &serde_json::Map<String, Value>) -> String {
    use sha2::{Digest, Sha256};
    let text = |k: &str| match event.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    // serde_json's maps are sorted by key (no `preserve_order`), so the
    // metadata's JSON text is canonical.
    let metadata = event
        .get("metadata")
        .map(Value::to_string)
        .unwrap_or_default();
    let mut hasher = Sha256::new();
    for part in [
        text("intercom_user_id"),
        text("event_name"),
        text("created_at"),
        metadata,
    ] {
        hasher.update(part.as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(&hasher.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_name_their_user() {
        let row = event_row(
            &json!({"event_name": "x", "created_at": 5, "metadata": {"a": 1}}),
            "abc",
        );
        assert_eq!(row["intercom_user_id"], "abc");
        let row = event_row(&json!({"event_name": "x", "intercom_user_id": "z"}), "abc");
        assert_eq!(row["intercom_user_id"], "z");
    }

    #[test]
    fn event_keys_ignore_metadata_key_order_and_tell_events_apart() {
        let a = event_row(
            &json!({"event_name": "x", "created_at": 5, "metadata": {"a": 1, "b": 2}}),
            "u",
        );
        let b = event_row(
            &serde_json::from_str(
                r#"{"metadata": {"b": 2, "a": 1}, "created_at": 5, "event_name": "x"}"#,
            )
            .expect("json"),
            "u",
        );
        assert_eq!(a["event_key"], b["event_key"]);
        assert_eq!(a["event_key"].as_str().map(str::len), Some(32));
        let later = event_row(
            &json!({"event_name": "x", "created_at": 6, "metadata": {"a": 1, "b": 2}}),
            "u",
        );
        let other_user = event_row(
            &json!({"event_name": "x", "created_at": 5, "metadata": {"a": 1, "b": 2}}),
            "v",
        );
        assert_ne!(a["event_key"], later["event_key"]);
        assert_ne!(a["event_key"], other_user["event_key"]);
    }
}
