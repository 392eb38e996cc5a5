//! `ticket_contacts`: a mapping table, one row per (ticket, contact) for
//! every ticket version a run exports, with the ticket's `updated_at`
//! (`ticket_updated_at`; the latest per ticket is its current set). A
//! version without contacts is one row with null contact columns, as in
//! the other mapping tables (README, "Mapping tables").
//!
//! The tickets come from `POST /tickets/search` on `updated_at` (its own
//! cursor, lookback, checkpoints after completed windows: a fan-out,
//! [`crate::extract::fanout`]); the contacts from the search result's
//! `contacts.contacts`, or from `GET /tickets/{id}` when that list says it
//! holds more (`has_more`, or a `total_count` above its items) or is
//! missing. A ticket whose GET still fails after retries is a failed item
//! (`TICKET@UPDATED_AT`) read again by the next run; one gone (404) is
//! skipped and counted.

use serde_json::{Map, Value, json};

use crate::error::Result;
use crate::extract::fanout::{self, ChildRequests, FanOut, Feed, ItemKey, Job};
use crate::extract::{WriterHandle, url_safe_id};
use crate::http::IntercomClient;
use crate::output::schema::{ColType::*, Column};
use crate::reports::mappings::distinct_items;
use crate::reports::search::identity;
use crate::reports::spec::{ExtractCtx, ExtractFuture, Plan, Probe, ReportSpec};
use crate::reports::ticket_parts::{GET, SEARCH, TO_TICKET};
use crate::reports::{Extracted, ReportName, keys, tickets};

/// `ticket_contacts`: the contacts of each changed ticket.
pub static TICKET_CONTACTS: ReportSpec = ReportSpec {
    name: "ticket_contacts",
    description: "Contacts of each changed ticket, one row per (ticket, contact) (POST /tickets/search)",
    model: None,
    columns: COLUMNS,
    expandable: &[],
    options: &[],
    default_enabled: true,
    min_version: None,
    keys: keys::mapping(
        &["ticket_id", "ticket_updated_at", "contact_id"],
        &[TO_TICKET, keys::CONTACT_TO_CONTACT],
    ),
    probes: &[Probe::Search(|_| Ok(tickets::search_spec()))],
    skip_failed_option: None,
    plan: |_| {
        Ok(Plan::FanOut {
            run,
            parents: Some(tickets::search_spec()),
        })
    },
};

#[allow(non_upper_case_globals)]
impl ReportName {
    /// `ticket_contacts` ([`TICKET_CONTACTS`]).
    pub const TicketContacts: ReportName = ReportName::of(&TICKET_CONTACTS);
}

/// Output columns.
#[rustfmt::skip]
pub static COLUMNS: &[Column] = &[
    Column::new("ticket_id", Str, "/ticket_id", "Ticket id (the API's)"),
    Column::new("ticket_updated_at", Timestamp, "/ticket_updated_at", "The ticket's updated_at: the latest per ticket is current"),
    Column::new("contact_id", Str, "/id", "Contact id (contacts.contacts[].id); null on the one row of a version with no contacts"),
    Column::new("external_id", Str, "/external_id", "The contact's external id"),
];

fn run(c: ExtractCtx<'_>) -> ExtractFuture<'_> {
    Box::pin(async move {
        let parents = c.parents();
        let pipe = WriterHandle {
            tx: &c.tx,
            progress: &c.options.progress,
        };
        let client = c.client;
        let anomalies = &c.options.anomalies;
        // Only tickets whose inline contact list is cut short are fetched.
        let spec = tickets::search_spec();
        let (feed, jobs) = Feed::channel_for(ChildRequests::Few, |ticket: Value| {
            let (id, updated_at) = identity(SEARCH, &ticket)?;
            let key = ItemKey::at(id, updated_at);
            // What `contacts` and `rows` read of it.
            let ticket = fanout::only_keys(ticket, &["id", "updated_at", "contacts"]);
            Ok(Some(Job {
                key,
                parent: (ticket, false),
            }))
        });
        let feed = feed.reading(&["contacts"]);
        let searching = fanout::read_parents(client, &spec, c.options, parents, feed);
        // A retried ticket is read from its endpoint, written with the
        // updated_at it failed at.
        let retry = c
            .retry
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
            endpoint: GET,
            concurrency: c.options.concurrency,
            anomalies,
            out: &pipe,
        };
        let fetching = fan.run(jobs, retry, |(ticket, fetch): (Value, bool)| async move {
            let items = contacts(client, &ticket, fetch).await?;
            let id = ticket["id"].as_str().unwrap_or_default();
            let items = distinct_items(items, "ticket.contacts", id, anomalies);
            Ok(rows(&ticket, items))
        });
        let (searched, fetched) = tokio::join!(searching, fetching);
        let fetched = fetched?;
        Ok::<Extracted, crate::Error>(fetched.into_extracted(searched?))
    })
}

/// The ticket's `contacts.contacts` when complete (no `has_more`, no
/// `total_count` above the items), `None` otherwise or when missing.
fn inline(ticket: &Value) -> Option<Vec<Value>> {
    let list = ticket.get("contacts").filter(|v| v.is_object())?;
    let items = list.get("contacts").and_then(Value::as_array)?.clone();
    let has_more = list.get("has_more").and_then(Value::as_bool) == Some(true);
    let short = list
        .get("total_count")
        .and_then(Value::as_u64)
        .is_some_and(|t| t > items.len() as u64);
    (!has_more && !short).then_some(items)
}

/// The contacts of a ticket: inline when complete (unless `fetch`), else
/// from `GET /tickets/{id}` (a 404 is the fan-out's to skip).
async fn contacts(client: &IntercomClient, ticket: &Value, fetch: bool) -> Result<Vec<Value>> {
    if !fetch && let Some(items) = inline(ticket) {
        return Ok(items);
    }
    let id = ticket.get("id").and_then(Value::as_str).unwrap_or_default();
    let id = url_safe_id(id, SEARCH)?;
    let whole: Value = client.get(&format!("tickets/{id}")).await?;
    Ok(whole
        .pointer("/contacts/contacts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

/// One row per contact with the ticket's id and `updated_at`; one row with
/// null contact columns for a version without contacts.
fn rows(ticket: &Value, items: Vec<Value>) -> Vec<Value> {
    let row = |item: Option<Value>| {
        let mut row: Map<String, Value> = item
            .and_then(|i| i.as_object().cloned())
            .unwrap_or_default();
        row.insert("ticket_id".into(), ticket["id"].clone());
        row.insert("ticket_updated_at".into(), ticket["updated_at"].clone());
        Value::Object(row)
    };
    if items.is_empty() {
        return vec![row(None)];
    }
    items.into_iter().map(|i| row(Some(i))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_contacts_when_complete_and_a_row_for_an_empty_set() {
        let t = json!({"id": "70", "updated_at": 5, "contacts": {"type": "contact.list",
            "contacts": [{"type": "contact", "id": "c1", "external_id": "x"}]}});
        let items = inline(&t).expect("complete");
        let r = rows(&t, items);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0]["id"], "c1");
        assert_eq!(r[0]["ticket_id"], "70");
        assert_eq!(r[0]["ticket_updated_at"], 5);
        assert!(inline(&json!({"contacts": {"contacts": [], "has_more": true}})).is_none());
        assert!(
            inline(&json!({"contacts": {"contacts": [{"id": "a"}], "total_count": 2}})).is_none()
        );
        assert!(
            inline(&json!({"id": "1"})).is_none(),
            "missing: read the ticket"
        );
        let empty = rows(&t, Vec::new());
        assert_eq!(empty.len(), 1);
        assert_eq!(empty[0].get("id"), None, "null contact columns");
    }
}
