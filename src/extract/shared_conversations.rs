//! One `GET /conversations/{id}` per changed conversation per run, shared
//! by the reports that read conversation details: `conversation_parts`,
//! `lifecycle_events` and `part_attachments` (the run's *consumers*, known
//! when the run is planned).
//!
//! Each of those reports searches the conversations changed since its own
//! cursor and reads every one it finds whole. Reports of a run run side by
//! side (`pipeline::side`), so without sharing a default sync sent the
//! same GET three times. The store keys an answer by the conversation's id
//! and the `updated_at` the asking report's search saw (a conversation
//! changed since is another key, read again):
//!
//! - **single flight**: the first consumer to ask sends the GET (on its own
//!   client: the request counts for that report); a consumer asking while
//!   it is in flight awaits the same answer; a later one gets the kept
//!   answer without a request.
//! - **kept for the consumers that have not taken it**: as raw body bytes
//!   (the JSON text, 5–10× smaller than a decoded `serde_json::Value`), in
//!   memory up to [`MEMORY_BUDGET_BYTES`], past that in unnamed temporary
//!   files (segments of [`SEGMENT_BYTES`], removed by the system when
//!   closed, also when the process is killed) with an offset index in
//!   memory, up to [`DISK_BUDGET_BYTES`]; past both it is not kept and the
//!   later consumers read it themselves, as before.
//! - **dropped** as soon as every consumer still running has taken it. A
//!   consumer that ends (done, failed, cancelled; `lifecycle_events` and
//!   `part_attachments` at the end of their conversation side) releases
//!   its claim: nothing is kept for it from then on, and what was kept only
//!   for it goes. A segment file goes when nothing in it is kept. So memory
//!   stays within the budget whatever the workspace's size, and the disk
//!   holds at most what was read ahead of the slowest consumer.
//! - **failures**: an error answer is not kept: each consumer meets it with
//!   a request of its own, under its own failure rule and retries, as
//!   before. A 404/410 (deleted since the search listed it) is kept as
//!   that answer, and every consumer skips the conversation as it did.
//! - Earlier runs' failed items (retried with no search `updated_at`) are
//!   read by each report itself, as before.
//!
//! One store per run ([`SharedConversations::for_run`], in
//! [`super::ExtractOptions::conversations`]); a store made with `Default`
//! plans no consumer (the tap, tests): each ask is then a request of its
//! own and nothing is kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::value::RawValue;
use tokio::sync::watch;

use crate::http::{HttpError, IntercomClient};

/// Bytes of kept bodies held in memory at most, for the whole run.
pub const MEMORY_BUDGET_BYTES: usize = 8 * 1024 * 1024;

/// Bytes of kept bodies on disk at most (past it, answers are not kept).
pub const DISK_BUDGET_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// Size at which a temporary file stops taking bodies and the next one
/// starts: a file is removed once nothing in it is kept, so the disk frees
/// up while the slowest consumer catches up.
pub const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

/// The endpoint, as messages and statistics name it.
pub const ENDPOINT: &str = "GET /conversations/{id}";

/// The body of `GET /conversations/{id}` as sent: JSON text.
pub type Body = Arc<str>;

/// The run's store of conversation details (cheap to clone: one per run).
#[derive(Clone, Default)]
pub struct SharedConversations(Arc<Shared>);

impl std::fmt::Debug for SharedConversations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedConversations")
            .field(&self.0.lock().consumers)
            .finish()
    }
}

struct Shared {
    inner: Mutex<Inner>,
    memory_budget: usize,
    disk_budget: u64,
    segment_bytes: u64,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            inner: Mutex::default(),
            memory_budget: MEMORY_BUDGET_BYTES,
            disk_budget: DISK_BUDGET_BYTES,
            segment_bytes: SEGMENT_BYTES,
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A conversation's id and the `updated_at` its search saw.
type Key = (String, i64);

#[derive(Default)]
struct Inner {
    /// The run's consumers (report names); a consumer's bit is its index.
    consumers: Vec<&'static str>,
    /// Bits of the consumers that have not released their claim.
    live: u32,
    entries: HashMap<Key, Entry>,
    memory: usize,
    disk: Disk,
    counts: SharedStats,
}

enum Entry {
    /// A consumer sends the GET now; the receiver sees its sender dropped
    /// when the answer is in (or the asker was cancelled).
    InFlight(watch::Receiver<()>),
    /// The answer, and the consumers (bits) that took it.
    Ready { answer: Kept, taken: u32 },
}

/// A kept answer.
enum Kept {
    Memory(Body),
    Disk {
        segment: u64,
        offset: u64,
        len: usize,
    },
    /// 404 or 410: the conversation is gone.
    Gone(Gone),
}

/// A 404/410 answer, as [`HttpError::Status`] holds it.
#[derive(Clone)]
struct Gone {
    endpoint: String,
    status: u16,
    code: String,
    message: String,
}

/// What the store did in this run (for tests and debugging).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SharedStats {
    /// GETs sent through the store.
    pub requests: u64,
    /// Answers a consumer got without a request of its own (kept or in
    /// flight).
    pub shared: u64,
    /// Answers kept now.
    pub entries: u64,
    /// Bytes of kept bodies in memory now.
    pub memory_bytes: u64,
    /// Bytes of the temporary files now.
    pub disk_bytes: u64,
    /// Bodies written to a temporary file so far.
    pub spilled: u64,
}

impl SharedConversations {
    /// The store of a run whose consumers (reports that read conversation
    /// details) are `consumers` (at most 32).
    pub fn for_run(consumers: impl IntoIterator<Item = &'static str>) -> Self {
        Self::with_budgets(consumers, MEMORY_BUDGET_BYTES, DISK_BUDGET_BYTES)
    }

    /// [`for_run`](Self::for_run) with other budgets (bytes), for tests.
    pub fn with_budgets(
        consumers: impl IntoIterator<Item = &'static str>,
        memory_budget: usize,
        disk_budget: u64,
    ) -> Self {
        let mut names: Vec<&'static str> = consumers.into_iter().collect();
        names.dedup();
        names.truncate(32);
        let live = names
            .iter()
            .enumerate()
            .fold(0u32, |bits, (i, _)| bits | 1 << i);
        let shared = Shared {
            inner: Mutex::new(Inner {
                consumers: names,
                live,
                ..Inner::default()
            }),
            memory_budget,
            disk_budget,
            segment_bytes: SEGMENT_BYTES.min(disk_budget.max(1)),
        };
        SharedConversations(Arc::new(shared))
    }

    /// The claim of consumer `report` for this run: what it asks goes
    /// through it, and dropping it releases the report's claim (nothing is
    /// kept for it after). A report this run did not plan as a consumer
    /// gets a claim that only shares (nothing is kept for it).
    pub fn claim(&self, report: &str) -> Claim {
        let slot = self.0.lock().consumers.iter().position(|c| *c == report);
        Claim {
            store: self.clone(),
            slot,
        }
    }

    /// Release `report`'s claim (idempotent): it takes nothing more this
    /// run (ended, or never started), so nothing is kept for it, and what
    /// was kept only for it is dropped.
    pub fn release(&self, report: &str) {
        let mut inner = self.0.lock();
        if let Some(slot) = inner.consumers.iter().position(|c| *c == report) {
            inner.release(slot);
        }
    }

    /// What the store did and holds now.
    pub fn stats(&self) -> SharedStats {
        let inner = self.0.lock();
        SharedStats {
            entries: inner
                .entries
                .values()
                .filter(|e| matches!(e, Entry::Ready { .. }))
                .count() as u64,
            memory_bytes: inner.memory as u64,
            disk_bytes: inner.disk.bytes(),
            ..inner.counts
        }
    }
}

/// One consumer's claim on the run's store (see [`SharedConversations::claim`]).
pub struct Claim {
    store: SharedConversations,
    /// The consumer's bit; `None` for a report not planned as a consumer.
    slot: Option<usize>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            self.store.0.lock().release(slot);
        }
    }
}

impl Claim {
    /// The body of `GET /conversations/{id}` (`id` already checked
    /// URL-safe) for the version `updated_at` its search saw, sent at most
    /// once per run for all consumers (see the module docs); `None` (an
    /// earlier run's failed item) always sends it.
    pub async fn get(
        &self,
        client: &IntercomClient,
        id: &str,
        updated_at: Option<i64>,
    ) -> Result<Body, HttpError> {
        let fetch = || async {
            let raw: Box<RawValue> = client.get(&format!("conversations/{id}")).await?;
            let text: Box<str> = raw.into();
            Ok(Body::from(text))
        };
        match updated_at {
            None => fetch().await,
            Some(t) => self.get_or_fetch((id.to_string(), t), fetch).await,
        }
    }

    /// The kept answer of `key`, the answer of the request in flight for
    /// it, or `fetch`'s (kept for the consumers that have not taken it).
    async fn get_or_fetch<F, Fut>(&self, key: Key, fetch: F) -> Result<Body, HttpError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Body, HttpError>>,
    {
        let shared = &self.store.0;
        let sender = loop {
            let mut wait = {
                let mut inner = shared.lock();
                match inner.entries.get(&key) {
                    None => {
                        let (tx, rx) = watch::channel(());
                        inner.entries.insert(key.clone(), Entry::InFlight(rx));
                        break tx;
                    }
                    Some(Entry::InFlight(rx)) => rx.clone(),
                    Some(Entry::Ready { .. }) => {
                        inner.counts.shared += 1;
                        return inner.take(&key, self.slot);
                    }
                }
            };
            // Ends when the sender is dropped: answered, failed (not kept:
            // this consumer then asks itself) or cancelled.
            while wait.changed().await.is_ok() {}
        };
        let pending = Pending {
            shared,
            key: &key,
            _sender: sender,
        };
        let answer = fetch().await;
        let mut inner = shared.lock();
        inner.counts.requests += 1;
        let kept = match &answer {
            Ok(body) => Some(Kept::Memory(body.clone())),
            Err(HttpError::Status {
                endpoint,
                status: status @ (404 | 410),
                code,
                message,
                ..
            }) => Some(Kept::Gone(Gone {
                endpoint: endpoint.clone(),
                status: *status,
                code: code.clone(),
                message: message.clone(),
            })),
            Err(_) => None,
        };
        inner.entries.remove(&key);
        if let Some(kept) = kept {
            inner.keep(shared, key.clone(), kept, self.slot);
        }
        drop(inner);
        drop(pending);
        answer
    }
}

/// The in-flight mark of a key while its asker sends the GET: dropped
/// (answered or cancelled), it removes the mark if still there and wakes
/// the waiters (they find the answer, or ask themselves).
struct Pending<'a> {
    shared: &'a Shared,
    key: &'a Key,
    _sender: watch::Sender<()>,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        let mut inner = self.shared.lock();
        if matches!(inner.entries.get(self.key), Some(Entry::InFlight(_))) {
            inner.entries.remove(self.key);
        }
    }
}

fn bit(slot: Option<usize>) -> u32 {
    slot.map_or(0, |s| 1 << s)
}

impl Inner {
    /// Keep `answer` of `key` for the live consumers other than the one in
    /// `slot` (which has it): in memory within the budget, else on disk
    /// within its budget, else not at all.
    fn keep(&mut self, shared: &Shared, key: Key, answer: Kept, slot: Option<usize>) {
        let taken = bit(slot);
        if self.live & !taken == 0 {
            return;
        }
        let answer = match answer {
            Kept::Memory(body) if self.memory + body.len() <= shared.memory_budget => {
                self.memory += body.len();
                Kept::Memory(body)
            }
            Kept::Memory(body) => {
                match self
                    .disk
                    .write(body.as_bytes(), shared.disk_budget, shared.segment_bytes)
                {
                    Some((segment, offset)) => {
                        self.counts.spilled += 1;
                        Kept::Disk {
                            segment,
                            offset,
                            len: body.len(),
                        }
                    }
                    None => return,
                }
            }
            other => other,
        };
        self.entries.insert(key, Entry::Ready { answer, taken });
    }

    /// Consumer `slot` takes the kept answer of `key`; dropped once every
    /// live consumer has.
    fn take(&mut self, key: &Key, slot: Option<usize>) -> Result<Body, HttpError> {
        let live = self.live;
        let Some(Entry::Ready { answer, taken }) = self.entries.get_mut(key) else {
            return Err(internal(key, "the kept answer vanished"));
        };
        *taken |= bit(slot);
        let all_taken = live & !*taken == 0;
        let out = match answer {
            Kept::Memory(body) => Ok(body.clone()),
            Kept::Disk {
                segment,
                offset,
                len,
            } => self.disk.read(*segment, *offset, *len).map_err(|e| {
                internal(
                    key,
                    &format!("reading it back from a temporary file failed: {e}"),
                )
            }),
            Kept::Gone(g) => Err(HttpError::Status {
                endpoint: g.endpoint.clone(),
                status: g.status,
                code: g.code.clone(),
                message: g.message.clone(),
                retry_after: None,
                canonical: None,
            }),
        };
        if all_taken || out.is_err() {
            self.drop_entry(key);
        }
        out
    }

    /// Forget `key`'s answer and free its bytes.
    fn drop_entry(&mut self, key: &Key) {
        match self.entries.remove(key) {
            Some(Entry::Ready {
                answer: Kept::Memory(body),
                ..
            }) => self.memory -= body.len(),
            Some(Entry::Ready {
                answer: Kept::Disk { segment, .. },
                ..
            }) => self.disk.free(segment),
            _ => {}
        }
    }

    /// Consumer `slot` takes nothing more: drop what no live consumer
    /// still needs.
    fn release(&mut self, slot: usize) {
        self.live &= !(1 << slot);
        let live = self.live;
        let done: Vec<Key> = self
            .entries
            .iter()
            .filter(|(_, e)| matches!(e, Entry::Ready { taken, .. } if live & !taken == 0))
            .map(|(k, _)| k.clone())
            .collect();
        for key in done {
            self.drop_entry(&key);
        }
    }
}

/// A kept body that cannot be given back: the item fails (its report
/// retries it next run), with a message saying why.
fn internal(key: &Key, what: &str) -> HttpError {
    HttpError::Body {
        endpoint: format!("GET /conversations/{}", key.0),
        message: format!("this run's shared copy of the conversation: {what}"),
    }
}

// The temporary files of bodies past the memory budget (`Disk`).
#[path = "shared_conversations_disk.rs"]
mod disk;
use disk::Disk;

#[cfg(test)]
#[path = "shared_conversations_tests.rs"]
mod tests;
