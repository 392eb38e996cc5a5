//! One search page per run, shared by every report that asks for it: the
//! conversation and ticket searches (`POST /conversations/search`,
//! `POST /tickets/search`) that `conversations`, `conversation_parts`, the
//! conversation mapping tables, `lifecycle_events`, `part_attachments`,
//! `tickets`, `ticket_parts` and `ticket_contacts` each read, and the
//! contact search (`POST /contacts/search`) of the reports that read users
//! (`users`, `events`, the contact mapping tables, `contact_segments`,
//! `notes_by_user`), within a smaller bound ([`MEMORY_ONLY_PATHS`]).
//!
//! Each of those reports searches from its own cursor, and reports of a
//! run run side by side (`pipeline::side`). After a sync, their cursors
//! stand at the same record, so the next sync's reports build the same
//! request bodies (the same `updated_at` bounds, page size and sort: see
//! [`crate::extract::search`]): an hourly sync with one window sent the
//! same probe page once per report. A first sync (or a catch-up) of a
//! conversation or ticket search plans the same windows for every reader
//! ([`crate::extract::plan`]), so its pages are the same requests too. The store keys an answer by the
//! workspace's client ([`IntercomClient::workspace_key`]), the path and
//! the exact request body (query, pagination and sort, as JSON text):
//!
//! - **single flight**: the first report to ask sends the request (on its
//!   own client: the request counts for that report, as the companies
//!   scroll does); a report asking while it is in flight awaits the same
//!   answer; a later one gets the kept answer without a request.
//! - **kept as sent**: the JSON text the server sent (a
//!   [`RawValue`], decoded by each report as it reads it), least recently
//!   used moved out of memory first once the kept pages pass the byte
//!   budget ([`BUDGET_BYTES`], for the whole run).
//! - **on disk past the memory budget**: a page moved out of memory is
//!   appended to the run's temporary file (one a run, unnamed in `TMPDIR`,
//!   removed by the system when the run's store goes, also when the process
//!   is killed; [`DISK_BUDGET_BYTES`] at most), and a later ask reads it
//!   from there. On a first sync the plain `conversations` search runs far
//!   ahead of the fan-outs, which fetch every conversation between their
//!   pages: at 20,000 conversations (134 pages of 100–500 KB) the memory
//!   budget holds a few windows, and the fan-outs' pages would have been
//!   dropped before they asked. The rule is simple: every shared page that
//!   leaves memory goes to disk, whether another report will still ask for
//!   it or not, so the disk holds at most the run's shared search pages
//!   (their JSON text, the size of the search answers: about 2–3 KB a
//!   conversation, 40–60 MB at 20,000 conversations). Past the disk budget,
//!   or when the file cannot be written (warned once), a page leaving memory
//!   is dropped, and a report asking for it asks the API again: correct,
//!   only slower.
//! - **failures**: an error answer is not kept: each report asking meets
//!   it with a request of its own, under its own retries and degradation
//!   (smaller pages, split windows), as before.
//! - **contacts in memory only**: contact pages are kept within
//!   [`MEMORY_ONLY_BYTES`] (inside [`BUDGET_BYTES`]) and never on disk
//!   ([`MEMORY_ONLY_PATHS`]); the contact readers of a sync ask for the
//!   same pages close together, while the largest runs (`users` and
//!   `leads`) share nothing. Other paths are not kept ([`SHARED_PATHS`]):
//!   each ask is a request of its own.
//!
//! One store per run, in [`super::ExtractOptions::searches`], cloned into
//! every export; a new run (the next `sync` of `schedule`) starts empty.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::OnceCell;

use crate::http::{HttpError, IntercomClient};

/// Bytes of kept pages (their JSON text) at most, for the whole run: a
/// page of 150 conversations is 100–500 KB, so a handful of windows' pages.
pub const BUDGET_BYTES: usize = 4 * 1024 * 1024;

/// Bytes of pages kept on disk at most, for the whole run (past it, a page
/// leaving memory is dropped).
pub const DISK_BUDGET_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// The search paths whose pages are shared: the ones several reports of a
/// run read with the same bodies.
pub const SHARED_PATHS: &[&str] = &["conversations/search", "tickets/search", "contacts/search"];

/// Shared paths whose pages are kept within [`MEMORY_ONLY_BYTES`] in
/// memory and never on disk: contact searches. The contact readers of a
/// user (`users`, `events`, `contact_tags`, `contact_companies`,
/// `contact_segments`, `notes_by_user`) ask for the same probe and, the
/// fan-outs among themselves, the same window pages, close together in
/// time; the largest runs read contacts with different filters (`users`
/// and `leads` of 1,000,000 contacts: 3 GB of pages no other report asks
/// for), where a larger share would only cost memory and disk.
pub const MEMORY_ONLY_PATHS: &[&str] = &["contacts/search"];

/// Bytes of pages of a [`MEMORY_ONLY_PATHS`] path kept at most (within
/// [`BUDGET_BYTES`]): two or three contact pages of 150.
pub const MEMORY_ONLY_BYTES: usize = 1024 * 1024;

/// A search answer as the server sent it, shared by the reports reading it.
pub type SharedPage = Arc<Box<RawValue>>;

/// `(workspace client, path, body as JSON text)`.
type Key = (usize, &'static str, String);

/// The run's search pages (cheap to clone: one handle per run).
#[derive(Clone)]
pub struct SharedSearch {
    inner: Arc<Mutex<Inner>>,
    budget: usize,
    /// The shared paths that two or more reports of the run read, which
    /// plan their windows alike ([`crate::extract::plan`]); `None`: the
    /// run's reports are not known (tests, the tap), every shared path.
    alike: Option<Arc<Vec<&'static str>>>,
}

impl Default for SharedSearch {
    fn default() -> Self {
        SharedSearch::with_budgets(BUDGET_BYTES, DISK_BUDGET_BYTES, None)
    }
}

impl std::fmt::Debug for SharedSearch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedSearch")
    }
}

struct Inner {
    entries: HashMap<Key, Entry>,
    /// Bytes of the pages kept in memory (answers in `entries`).
    bytes: usize,
    /// A use counter: the entry with the smallest `used` goes first.
    clock: u64,
    /// The pages moved out of memory.
    disk: Disk,
}

struct Entry {
    /// Empty while the first ask is in flight (or after it failed).
    cell: Arc<OnceCell<SharedPage>>,
    /// The kept answer's length, once counted in `Inner::bytes` (0 on disk).
    bytes: usize,
    used: u64,
    /// Where the answer is in the run's file once it left memory (offset,
    /// length); `cell` is then empty and unused.
    on_disk: Option<(u64, usize)>,
}

impl Inner {
    /// Bytes in memory of `path`'s pages.
    fn path_bytes(&self, path: &str) -> usize {
        self.entries
            .iter()
            .filter(|(k, _)| k.1 == path)
            .map(|(_, e)| e.bytes)
            .sum()
    }

    /// The least recently used answer in memory other than `keep`'s (of
    /// `path` only, when given).
    fn least_recent(&self, keep: &Key, path: Option<&str>) -> Option<Key> {
        self.entries
            .iter()
            .filter(|(k, e)| e.bytes > 0 && *k != keep && path.is_none_or(|p| k.1 == p))
            .min_by_key(|(_, e)| e.used)
            .map(|(k, _)| k.clone())
    }

    /// Move `key`'s answer out of memory: to disk (unless its path is
    /// kept in memory only or the disk does not take it), else dropped.
    fn drop_from_memory(&mut self, key: &Key) {
        let memory_only = MEMORY_ONLY_PATHS.contains(&key.1);
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        self.bytes -= entry.bytes;
        entry.bytes = 0;
        let disk = &mut self.disk;
        let written = entry.cell.get().filter(|_| !memory_only).and_then(|page| {
            let text = page.get().as_bytes();
            disk.write(text).map(|offset| (offset, text.len()))
        });
        match written {
            Some(at) => {
                entry.on_disk = Some(at);
                // The memory goes (readers holding the page keep theirs).
                entry.cell = Arc::new(OnceCell::new());
            }
            None => {
                self.entries.remove(key);
            }
        }
    }
}

/// What the store has for a key.
enum Found {
    /// In memory, in flight, or nothing yet (the cell is then empty).
    Cell(Arc<OnceCell<SharedPage>>),
    /// Read back from the run's file.
    Disk(SharedPage),
}

impl SharedSearch {
    /// A store keeping at most `budget` bytes of pages in memory and none
    /// on disk (tests; the run's is [`SharedSearch::default`]).
    pub fn with_budget(budget: usize) -> SharedSearch {
        SharedSearch::with_budgets(budget, 0, None)
    }

    /// A store keeping at most `memory` bytes of pages in memory and
    /// `disk` bytes in its temporary file, made in `dir` (a named file,
    /// `intercom-export-searches-*`, removed when the store goes: tests
    /// watch it) or, with `None`, unnamed in `TMPDIR`. The run's is
    /// [`SharedSearch::default`]: [`BUDGET_BYTES`], [`DISK_BUDGET_BYTES`],
    /// `TMPDIR`.
    pub fn with_budgets(memory: usize, disk: u64, dir: Option<PathBuf>) -> SharedSearch {
        SharedSearch {
            inner: Arc::new(Mutex::new(Inner {
                entries: HashMap::new(),
                bytes: 0,
                clock: 0,
                disk: Disk::new(disk, dir),
            })),
            budget: memory,
            alike: None,
        }
    }

    /// The store of a run of `reports` (report names): as
    /// [`SharedSearch::default`], and the searches two or more of them
    /// read plan their windows alike ([`crate::extract::plan::READERS`]).
    pub fn for_run<'a>(reports: impl IntoIterator<Item = &'a str>) -> SharedSearch {
        let reports: Vec<&str> = reports.into_iter().collect();
        let alike = crate::extract::plan::READERS
            .iter()
            .filter(|(_, readers)| readers.iter().filter(|r| reports.contains(r)).count() >= 2)
            .map(|(path, _)| *path)
            .collect();
        SharedSearch {
            alike: Some(Arc::new(alike)),
            ..SharedSearch::default()
        }
    }

    /// Do the readers of `path` in this run plan their windows alike (two
    /// or more of them, or the run's reports not known)?
    pub fn plans_alike(&self, path: &str) -> bool {
        self.alike.as_ref().is_none_or(|a| a.contains(&path))
    }

    /// Bytes of the pages kept in memory now.
    pub fn kept_bytes(&self) -> usize {
        self.inner.lock().map_or(0, |i| i.bytes)
    }

    /// Bytes of the pages written to the run's temporary file so far.
    pub fn disk_bytes(&self) -> u64 {
        self.inner.lock().map_or(0, |i| i.disk.bytes())
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
        let cell = match self.cell(&key) {
            Some(Found::Cell(cell)) => cell,
            Some(Found::Disk(page)) => return Ok(page),
            // A poisoned lock (a panic elsewhere): ask on our own.
            None => return fetch().await,
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

    /// The entry of `key` (made empty when there is none), marked as used:
    /// its cell, or its answer read back from disk (an entry whose read
    /// fails is made empty again: the caller asks the API).
    fn cell(&self, key: &Key) -> Option<Found> {
        let mut inner = self.inner.lock().ok()?;
        inner.clock += 1;
        let used = inner.clock;
        if let Some((offset, len)) = inner.entries.get(key).and_then(|e| e.on_disk) {
            match inner.disk.read(offset, len).map(RawValue::from_string) {
                Ok(Ok(page)) => {
                    if let Some(entry) = inner.entries.get_mut(key) {
                        entry.used = used;
                    }
                    return Some(Found::Disk(Arc::new(page)));
                }
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "a search page read back from disk is not JSON; asked again");
                }
                Err(e) => {
                    tracing::debug!(error = %e, "a search page kept on disk cannot be read; asked again");
                }
            }
            inner.entries.remove(key);
        }
        let entry = inner.entries.entry(key.clone()).or_insert_with(|| Entry {
            cell: Arc::new(OnceCell::new()),
            bytes: 0,
            used,
            on_disk: None,
        });
        entry.used = used;
        Some(Found::Cell(entry.cell.clone()))
    }

    /// Count the answer just kept under `key`, then move the least recently
    /// used answers (other than it) out of memory, to disk when it takes
    /// them, until the kept bytes fit the budget; an answer larger than the
    /// budget on its own is not kept.
    fn kept(&self, key: &Key, cell: &Arc<OnceCell<SharedPage>>, bytes: usize) {
        let Ok(mut guard) = self.inner.lock() else {
            return;
        };
        let inner = &mut *guard;
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
        let path = key.1;
        if MEMORY_ONLY_PATHS.contains(&path) {
            // Contact pages: within `MEMORY_ONLY_BYTES`, dropped past it.
            while inner.path_bytes(path) > MEMORY_ONLY_BYTES {
                let Some(oldest) = inner.least_recent(key, Some(path)) else {
                    break;
                };
                inner.drop_from_memory(&oldest);
            }
        }
        while inner.bytes > self.budget {
            let Some(oldest) = inner.least_recent(key, None) else {
                break;
            };
            inner.drop_from_memory(&oldest);
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

// The temporary file of pages past the memory budget (`Disk`).
#[path = "shared_search_disk.rs"]
mod disk;
use disk::Disk;

#[cfg(test)]
#[path = "shared_search_tests.rs"]
mod tests;
