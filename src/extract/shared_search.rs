//! One search page per run, shared by every report that asks for it: the
//! conversation and ticket searches (`POST /conversations/search`,
//! `POST /tickets/search`) that `conversations`, `conversation_parts`, the
//! conversation mapping tables, `lifecycle_events`, `part_attachments`,
//! `tickets`, `ticket_parts` and `ticket_contacts` each read.
//!
//! Each of those reports searches from its own cursor, and reports of a
//! run run side by side (`pipeline::side`). After a sync, their cursors
//! stand at the same record, so the next sync's reports build the same
//! request bodies (the same `updated_at` bounds, page size and sort: see
//! [`crate::extract::search`]): an hourly sync with one window sent the
//! same probe page once per report. The store keys an answer by the
//! workspace's client ([`IntercomClient::workspace_key`]), the path and
//! the exact request body (query, pagination and sort, as JSON text):
//!
//! - **single flight**: the first report to ask sends the request (on its
//!   own client: the request counts for that report, as the companies
//!   scroll does); a report asking while it is in flight awaits the same
//!   answer; a later one gets the kept answer without a request.
//! - **kept as sent**: the JSON text the server sent (a
//!   [`RawValue`], decoded by each report as it reads it), least recently
//!   used dropped first once the kept pages pass the byte budget
//!   ([`BUDGET_BYTES`], for the whole run). A report asking for a dropped
//!   page asks the API again: correct, only slower.
//! - **failures**: an error answer is not kept: each report asking meets
//!   it with a request of its own, under its own retries and degradation
//!   (smaller pages, split windows), as before.
//! - Other searches (contacts) are not kept ([`SHARED_PATHS`]): each ask is
//!   a request of its own.
//!
//! One store per run, in [`super::ExtractOptions::searches`], cloned into
//! every export; a new run (the next `sync` of `schedule`) starts empty.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::OnceCell;

use crate::http::{HttpError, IntercomClient};

/// Bytes of kept pages (their JSON text) at most, for the whole run: a
/// page of 150 conversations is 100–500 KB, so a handful of windows' pages.
pub const BUDGET_BYTES: usize = 4 * 1024 * 1024;

/// The search paths whose pages are shared: the ones several reports of a
/// run read with the same bodies. (Contact searches are read by reports
/// with different filters, `users` and `leads`, in the largest runs: kept
/// pages would only cost memory there.)
pub const SHARED_PATHS: &[&str] = &["conversations/search", "tickets/search"];

/// A search answer as the server sent it, shared by the reports reading it.
pub type SharedPage = Arc<Box<RawValue>>;

/// `(workspace client, path, body as JSON text)`.
type Key = (usize, &'static str, String);

/// The run's search pages (cheap to clone: one handle per run).
#[derive(Clone)]
pub struct SharedSearch {
    inner: Arc<Mutex<Inner>>,
    budget: usize,
}

impl Default for SharedSearch {
    fn default() -> Self {
        SharedSearch::with_budget(BUDGET_BYTES)
    }
}

impl std::fmt::Debug for SharedSearch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedSearch")
    }
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Key, Entry>,
    /// Bytes of the pages kept (answers in `entries`).
    bytes: usize,
    /// A use counter: the entry with the smallest `used` goes first.
    clock: u64,
}

struct Entry {
    /// Empty while the first ask is in flight (or after it failed).
    cell: Arc<OnceCell<SharedPage>>,
    /// The kept answer's length, once counted in `Inner::bytes`.
    bytes: usize,
    used: u64,
}

impl SharedSearch {
    /// A store keeping at most `budget` bytes of pages (tests; the run's is
    /// [`BUDGET_BYTES`]).
    pub fn with_budget(budget: usize) -> SharedSearch {
        SharedSearch {
            inner: Arc::default(),
            budget,
        }
    }

    /// Bytes of the pages kept now.
    pub fn kept_bytes(&self) -> usize {
        self.inner.lock().map_or(0, |i| i.bytes)
    }

    /// `POST /{path}` with `body`, as the server answered: this run's kept
    /// answer to the same request of the same workspace, the answer of that
    /// request in flight for another report, or a request of `client`'s
    /// own (kept for the others). Paths not in [`SHARED_PATHS`] are always
    /// a request of their own.
    pub(crate) async fn post(
        &self,
        client: &IntercomClient,
        path: &'static str,
        body: &Value,
    ) -> Result<SharedPage, HttpError> {
        if !SHARED_PATHS.contains(&path) {
            return Ok(Arc::new(client.post::<Box<RawValue>>(path, body).await?));
        }
        let key: Key = (client.workspace_key(), path, body.to_string());
        self.get_or_fetch(key, || async {
            client.post::<Box<RawValue>>(path, body).await.map(Arc::new)
        })
        .await
    }

    /// The kept answer of `key`, the answer of its `fetch` in flight, or
    /// `fetch`'s own answer (kept when it is one; see the module docs).
    async fn get_or_fetch<E, Fut>(
        &self,
        key: Key,
        fetch: impl FnOnce() -> Fut,
    ) -> Result<SharedPage, E>
    where
        Fut: Future<Output = Result<SharedPage, E>>,
    {
        let Some(cell) = self.cell(&key) else {
            // A poisoned lock (a panic elsewhere): ask on our own.
            return fetch().await;
        };
        let mut sent = false;
        let answer = cell
            .get_or_try_init(|| {
                sent = true;
                fetch()
            })
            .await;
        match answer {
            Ok(page) => {
                let page = page.clone();
                if sent {
                    self.kept(&key, &cell, page.get().len());
                }
                Ok(page)
            }
            Err(e) => {
                self.forget_failed(&key, &cell);
                Err(e)
            }
        }
    }

    /// The entry of `key` (made empty when there is none), marked as used.
    fn cell(&self, key: &Key) -> Option<Arc<OnceCell<SharedPage>>> {
        let mut inner = self.inner.lock().ok()?;
        inner.clock += 1;
        let used = inner.clock;
        let entry = inner.entries.entry(key.clone()).or_insert_with(|| Entry {
            cell: Arc::new(OnceCell::new()),
            bytes: 0,
            used,
        });
        entry.used = used;
        Some(entry.cell.clone())
    }

    /// Count the answer just kept under `key`, then drop the least recently
    /// used answers (other than it) until the kept bytes fit the budget; an
    /// answer larger than the budget on its own is not kept.
    fn kept(&self, key: &Key, cell: &Arc<OnceCell<SharedPage>>, bytes: usize) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let Some(entry) = inner.entries.get_mut(key) else {
            return;
        };
        if !Arc::ptr_eq(&entry.cell, cell) {
            return;
        }
        if bytes > self.budget {
            inner.entries.remove(key);
            return;
        }
        entry.bytes = bytes;
        inner.bytes += bytes;
        while inner.bytes > self.budget {
            let oldest = inner
                .entries
                .iter()
                .filter(|(k, e)| e.bytes > 0 && *k != key)
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone());
            let Some(oldest) = oldest else { break };
            if let Some(gone) = inner.entries.remove(&oldest) {
                inner.bytes -= gone.bytes;
            }
        }
    }

    /// After a failed ask: remove the empty entry unless another report
    /// waits on it (that one asks next) or filled or replaced it.
    fn forget_failed(&self, key: &Key, cell: &Arc<OnceCell<SharedPage>>) {
        if let Ok(mut inner) = self.inner.lock()
            && inner.entries.get(key).is_some_and(|e| {
                Arc::ptr_eq(&e.cell, cell)
                    && !e.cell.initialized()
                    // The store's handle and ours: nobody else waits.
                    && Arc::strong_count(cell) <= 2
            })
        {
            inner.entries.remove(key);
        }
    }
}

#[cfg(test)]
#[path = "shared_search_tests.rs"]
mod tests;
