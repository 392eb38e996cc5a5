//! The one fan-out: per-parent child requests while the parent read streams.
//!
//! Reports such as `conversation_parts` read a parent listing (conversation
//! search) and fetch something per parent (`GET /conversations/{id}`).
//! [`FanOut::run`] takes the parents as a stream of [`Step`]s (items, and
//! the parent read's checkpoints), keeps up to `concurrency` items in
//! flight, sends each item's rows to the writer, and:
//!
//! - **leaves the pace to the client**: `concurrency` is the setting's upper
//!   bound, and the client's in-flight gate ([`crate::http::inflight`])
//!   decides how many of these items' calls are out at once (the allowed
//!   rate × the measured latency). An item waiting for a slot holds only
//!   its parent; an answered one its rows until they are sent to the
//!   writer, so memory stays within `concurrency` × one item's rows.
//!
//! - **classifies failures by one rule**, [`Error::scope`]: a child that is
//!   gone (404/410) is skipped and counted as a skipped child; any other
//!   item-scoped failure (5xx or timeout after retries, an unusable body)
//!   makes the item a [`FailedItem`] (counted as a failed child, said once
//!   with sample ids) and the report goes on; a report- or run-scoped
//!   failure (401/403, configuration, local output) ends the fan-out.
//! - **checkpoints**: when the parent read reaches a checkpoint (a completed
//!   search window), no new parent is started, the children in flight
//!   finish (a barrier), then the checkpoint goes to the pipeline with the
//!   parent cursor and the items that failed since the last one, so they
//!   are committed together. A crash loses at most the window in progress.
//! - **retries last**: items that failed in earlier runs (their
//!   [`ItemKey`]s from the state) are fetched after the parent read, and
//!   their results are committed with the report's final commit; a fresh
//!   parent with a retried id is left to the retry. So a crash never
//!   commits a retry's rows without clearing its failed item, or the other
//!   way round.
//! - **fails the report when no item succeeded**: parents were read, and
//!   none of their children could be (at least one failed, or more than one
//!   was gone): the endpoint is broken, not the items
//!   ([`Error::NoItemSucceeded`], exit 4), instead of a success with 0 rows.
//!
//! ```text
//!  parent read ──Step──▶ fan-out: ≤ concurrency × fetch(item) ──WriterMsg──▶ writer
//!    (search windows)       │ barrier at each Checkpoint ─────WriterMsg::Checkpoint(cursor, failed)
//!                           └─ failures by Error::scope()
//! ```

use std::collections::{HashSet, VecDeque};
use std::future::Future;

use futures::stream::FuturesUnordered;
use futures::{Stream, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::anomalies::{Anomalies, AnomalyKind};
use crate::api::query::search_body;
use crate::error::{Error, Result, Scope};
use crate::extract::Extracted;
use crate::extract::search::{
    Granularity, Reader, SearchCursor, Sink, Window, identity, with_filter,
};
use crate::extract::window::DAY;
use crate::extract::{Checkpoint, WriterHandle};
use crate::state::FailedItem;

/// A failed item's key in the state: the item's id, and for reports that
/// need it a number after `@` (`conversation_parts`: the part cutoff of the
/// run it failed in; `notes_by_user`, mapping tables: the parent's
/// `updated_at`). One codec for every report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemKey {
    pub id: String,
    pub at: Option<i64>,
}

impl ItemKey {
    /// A key without a number.
    pub fn id(id: impl Into<String>) -> Self {
        ItemKey {
            id: id.into(),
            at: None,
        }
    }

    /// A key `ID@AT`.
    pub fn at(id: impl Into<String>, at: i64) -> Self {
        ItemKey {
            id: id.into(),
            at: Some(at),
        }
    }

    /// Read a key written by its `Display` form: `ID` or `ID@N`. `None`
    /// for text after `@` that is not a number.
    pub fn parse(key: &str) -> Option<Self> {
        match key.split_once('@') {
            None => Some(ItemKey::id(key)),
            Some((id, at)) => Some(ItemKey::at(id, at.parse().ok()?)),
        }
    }
}

impl std::fmt::Display for ItemKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.at {
            None => f.write_str(&self.id),
            Some(at) => write!(f, "{}@{at}", self.id),
        }
    }
}

// The parents side: jobs and steps, the parent search as a feed with
// checkpoints, how many windows it plans (`fanout_parents.rs`).
#[path = "fanout_parents.rs"]
mod parents;
pub use parents::*;

/// What a fan-out did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FanOutOutcome {
    /// Rows sent to the writer.
    pub rows: u64,
    /// Parents read this run whose children were fetched.
    pub fetched: u64,
    /// Parents read this run whose child was gone (404/410).
    pub gone: u64,
    /// Every item that failed this run (fresh and retried), also those
    /// already handed over with a checkpoint.
    pub failed: Vec<FailedItem>,
    /// Retried items that succeeded (or whose parent is gone) and were not
    /// handed over with a checkpoint.
    pub recovered: Vec<String>,
}

impl FanOutOutcome {
    /// The report's result with the parent read's `cursor`.
    pub fn into_extracted(self, cursor: Option<String>) -> Extracted {
        Extracted {
            rows: self.rows,
            cursor,
            failed: self.failed,
            recovered: self.recovered,
        }
    }
}

/// A fan-out over one child endpoint.
pub struct FanOut<'a> {
    /// The child endpoint pattern, e.g. `GET /conversations/{id}` (anomaly
    /// details, error messages).
    pub endpoint: &'static str,
    /// Items in flight at most (the `concurrency` setting, an upper bound:
    /// the client's in-flight gate decides how many calls actually go).
    pub concurrency: usize,
    pub anomalies: &'a Anomalies,
    pub out: &'a WriterHandle<'a>,
}

impl FanOut<'_> {
    /// Run `fetch` for every item of `feed` and then of `retry` (earlier
    /// failures; a fresh item with a retried id is dropped). See the module
    /// docs for failures, checkpoints and retries.
    pub async fn run<P, F, Fut>(
        &self,
        feed: impl Stream<Item = Result<Step<P>>>,
        retry: Vec<Job<P>>,
        fetch: F,
    ) -> Result<FanOutOutcome>
    where
        F: Fn(P) -> Fut,
        Fut: Future<Output = Result<Vec<Value>>>,
    {
        let retried_ids: HashSet<String> = retry.iter().map(|j| j.key.id.clone()).collect();
        let fresh = feed.filter_map(|s| {
            let next = match s {
                Ok(Step::Item(j)) if retried_ids.contains(&j.key.id) => None,
                Ok(Step::Item(j)) => Some(Ok(Next::Job(j, false))),
                Ok(Step::Checkpoint(c)) => Some(Ok(Next::Barrier(c))),
                Err(e) => Some(Err(e)),
            };
            std::future::ready(next)
        });
        let retries = futures::stream::iter(retry.into_iter().map(|j| Ok(Next::Job(j, true))));
        let mut feed = std::pin::pin!(fresh.chain(retries));
        let concurrency = self.concurrency.max(1);
        let mut in_flight = FuturesUnordered::new();
        let mut feed_done = false;
        let mut barrier: Option<String> = None;
        let mut book = Book::default();
        // Items answered while their rows were being handed over (see
        // [`super::driving`]).
        let mut done = VecDeque::new();
        loop {
            if let Some((key, retried, result)) = done.pop_front() {
                self.settle(key, retried, result, &mut book, &mut in_flight, &mut done)
                    .await?;
                continue;
            }
            let can_pull = barrier.is_none() && !feed_done && in_flight.len() < concurrency;
            if !can_pull && in_flight.is_empty() {
                if let Some(cursor) = barrier.take() {
                    self.out
                        .commit_point(Checkpoint {
                            cursor,
                            failed: std::mem::take(&mut book.pending_failed),
                            recovered: Vec::new(),
                        })
                        .await?;
                    continue;
                }
                if feed_done {
                    break;
                }
            }
            tokio::select! {
                biased;
                Some((key, retried, result)) = in_flight.next(), if !in_flight.is_empty() => {
                    self.settle(key, retried, result, &mut book, &mut in_flight, &mut done)
                        .await?;
                }
                next = feed.next(), if can_pull => match next {
                    None => feed_done = true,
                    Some(Err(e)) => return Err(e),
                    Some(Ok(Next::Barrier(cursor))) => barrier = Some(cursor),
                    Some(Ok(Next::Job(job, retried))) => {
                        let key = job.key;
                        let fut = fetch(job.parent);
                        in_flight.push(async move { (key, retried, fut.await) });
                    }
                },
                else => {}
            }
        }
        let out = book.out;
        if out.fetched == 0
            && (book.failed_fresh > 0 || out.gone > 1)
            && let Some((sample, first)) = book.first_failure.or(book.first_gone)
        {
            return Err(Error::NoItemSucceeded {
                endpoint: self.endpoint.to_string(),
                items: book.failed_fresh + out.gone,
                failed: book.failed_fresh,
                gone: out.gone,
                sample,
                first: Box::new(first),
            });
        }
        Ok(out)
    }

    /// Book one finished item; while its rows are handed over, the items
    /// still in flight are driven (their results go to `done`).
    async fn settle<F>(
        &self,
        key: ItemKey,
        retried: bool,
        result: Result<Vec<Value>>,
        book: &mut Book,
        in_flight: &mut FuturesUnordered<F>,
        done: &mut VecDeque<F::Output>,
    ) -> Result<()>
    where
        F: Future<Output = (ItemKey, bool, Result<Vec<Value>>)>,
    {
        let out = &mut book.out;
        match result {
            Ok(rows) => {
                if retried {
                    out.recovered.push(key.to_string());
                } else {
                    out.fetched += 1;
                }
                out.rows += rows.len() as u64;
                super::driving(super::send_rows(self.out.tx, rows), in_flight, done).await?;
            }
            Err(e) if e.is_gone() => {
                self.anomalies
                    .record(AnomalyKind::SkippedChild, self.endpoint, Some(&key.id));
                if retried {
                    // Nothing left to export.
                    out.recovered.push(key.to_string());
                } else {
                    out.gone += 1;
                    book.first_gone.get_or_insert((key.id, e));
                }
            }
            Err(e) if e.scope() == Scope::Item => {
                self.anomalies
                    .record(AnomalyKind::FailedChild, self.endpoint, Some(&key.id));
                let item = FailedItem {
                    id: key.to_string(),
                    error: e.to_string(),
                };
                out.failed.push(item.clone());
                if !retried {
                    // Retried items are committed with the final commit.
                    book.pending_failed.push(item);
                    book.failed_fresh += 1;
                    book.first_failure.get_or_insert((key.id, e));
                }
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

/// What the fan-out pulls next.
enum Next<P> {
    Job(Job<P>, bool),
    Barrier(String),
}

/// The running tally of a fan-out.
#[derive(Default)]
struct Book {
    out: FanOutOutcome,
    /// Failed since the last checkpoint (fresh items only).
    pending_failed: Vec<FailedItem>,
    failed_fresh: u64,
    first_failure: Option<(String, Error)>,
    first_gone: Option<(String, Error)>,
}

#[cfg(test)]
#[path = "fanout_tests.rs"]
mod tests;
