//! The contact pass of a reconciliation: list every contact id
//! (`GET /contacts`), confirm each known id the listing lacks
//! (`GET /contacts/{id}`: 404 deleted, 410 merged), write their tombstones.

use std::collections::HashSet;

use futures::{StreamExt, stream};
use serde_json::Value;
use tokio::sync::mpsc;

use super::{Passes, send, tombstone};
use crate::api::Page;
use crate::error::{Error, Result};
use crate::http::{HttpError, IntercomClient};
use crate::reports::{Extracted, FailedItem};

/// The endpoint of the contact listing, as messages name it.
const LIST: &str = "GET /contacts";

/// Every contact id, from `GET /contacts?per_page=150`.
async fn list_contact_ids(client: &IntercomClient) -> Result<HashSet<String>> {
    let mut ids = HashSet::new();
    let mut after: Option<String> = None;
    let mut cursors: HashSet<String> = HashSet::new();
    loop {
        let path = match &after {
            None => "contacts?per_page=150".to_string(),
            Some(c) => format!(
                "contacts?per_page=150&starting_after={}",
                url::form_urlencoded::byte_serialize(c.as_bytes()).collect::<String>()
            ),
        };
        let body: Value = client.get(&path).await?;
        let page = Page::decode(LIST, "data", body)?;
        page.check_complete(LIST, after.is_none())?;
        for contact in &page.data {
            let id = contact
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::Protocol {
                    endpoint: LIST.into(),
                    message: "a contact without a string id".into(),
                })?;
            ids.insert(id.to_string());
        }
        match page.next_cursor() {
            Some(next) if !page.data.is_empty() => {
                if !cursors.insert(next.clone()) {
                    return Err(Error::Protocol {
                        endpoint: LIST.into(),
                        message: format!(
                            "pages.next repeats an earlier cursor ({next}); the listing cannot \
                             be read to its end, so no contact tombstones were written"
                        ),
                    });
                }
                after = Some(next);
            }
            _ => return Ok(ids),
        }
    }
}

/// What `GET /contacts/{id}` says about a candidate.
enum Fate {
    Alive,
    Deleted,
    Merged(Option<String>),
    Unknown(String),
}

/// The contact id in a `Link` target: `/contacts/ID` or a full URL.
pub(super) fn contact_in_link(target: &str) -> Option<String> {
    let path = target.split(['?', '#']).next().unwrap_or(target);
    let id = path.trim_end_matches('/').rsplit('/').next()?;
    (!id.is_empty() && path.contains("contacts/")).then(|| id.to_string())
}

async fn confirm(client: &IntercomClient, id: &str) -> Result<Fate> {
    let path = format!(
        "contacts/{}",
        url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
    );
    match client.get::<Value>(&path).await {
        Ok(_) => Ok(Fate::Alive),
        Err(HttpError::Status { status: 404, .. }) => Ok(Fate::Deleted),
        Err(HttpError::Status {
            status: 410,
            canonical,
            ..
        }) => Ok(Fate::Merged(canonical.as_deref().and_then(contact_in_link))),
        Err(e) if e.is_auth() => Err(e.into()),
        Err(e) => Ok(Fate::Unknown(e.to_string())),
    }
}

/// The contact pass: list every id, confirm each known id not listed.
/// Returns the ids to keep known.
pub(super) async fn contacts(
    p: &Passes<'_>,
    tx: &mpsc::Sender<Vec<Value>>,
    out: &mut Extracted,
) -> Result<Vec<String>> {
    let known = p.state.known_ids("contact").await?;
    let listed = list_contact_ids(p.client).await?;
    let listed_count = listed.len();
    let candidates: Vec<&String> = known.iter().filter(|id| !listed.contains(*id)).collect();
    let fates: Vec<(&String, Result<Fate>)> = stream::iter(candidates.iter().copied())
        .map(|id| async move { (id, confirm(p.client, id).await) })
        // Up to the bound; the client's in-flight gate decides how many go at once.
        .buffer_unordered(p.options.concurrency.max(1))
        .collect()
        .await;
    let mut keep: Vec<String> = listed.into_iter().collect();
    let mut gone = Vec::new();
    let mut alive = 0usize;
    for (id, fate) in fates {
        match fate? {
            Fate::Alive => {
                alive += 1;
                keep.push(id.clone());
            }
            Fate::Deleted => gone.push(tombstone("contact", id, p.now, None, "api_deleted", None)),
            Fate::Merged(into) => gone.push(tombstone(
                "contact",
                id,
                p.now,
                None,
                "merged",
                into.as_deref(),
            )),
            Fate::Unknown(error) => {
                keep.push(id.clone());
                out.failed.push(FailedItem {
                    id: id.clone(),
                    error,
                });
            }
        }
    }
    tracing::info!(
        known = known.len(),
        listed = listed_count,
        candidates = candidates.len(),
        alive,
        gone = gone.len(),
        unconfirmed = out.failed.len(),
        "deletions: contacts reconciled"
    );
    gone.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    send(tx, &mut out.rows, gone).await?;
    Ok(keep)
}
