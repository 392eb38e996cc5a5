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

/// One item to fetch: its key (failures are recorded under it) and what the
/// fetch needs (`P`).
#[derive(Debug, Clone)]
pub struct Job<P> {
    pub key: ItemKey,
    pub parent: P,
}

/// What the parent read hands the fan-out, in order.
#[derive(Debug)]
pub enum Step<P> {
    /// One parent.
    Item(Job<P>),
    /// Every parent before this is covered by this cursor (opaque JSON).
    Checkpoint(String),
}

/// The parent read's end of the fan-out: a search [`Sink`] that forwards
/// records and checkpoints, in order, to the fan-out's feed.
pub(crate) struct Feed {
    tx: mpsc::Sender<Parent>,
    children: ChildRequests,
}

/// How many of a fan-out's parents need a request of their own, which
/// decides how many windows (checkpoints) its parent search is read in
/// ([`ChildRequests::min_windows`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildRequests {
    /// Every parent (`GET /conversations/{id}` per conversation): the
    /// child requests are the bulk of the work, and a window costs at most
    /// one partly filled search page more.
    EachParent,
    /// Only a few (a mapping table's parent whose inline list is cut
    /// short: `conversation_tags`, `conversation_contacts`, `contact_tags`,
    /// `contact_companies`, `ticket_contacts`): the search pages are the
    /// bulk of the work, and each window adds a partly filled page to them.
    Few,
}

/// Search pages a window of a [`ChildRequests::Few`] fan-out holds at
/// least: fewer windows than [`FANOUT_MIN_WINDOWS`] on a search of fewer
/// than 4 × 40 pages. With 40 windows on a 40-page search each window
/// was about one page and a partly filled one, which doubled the report's
/// requests; with 4 pages a window, the partly filled pages add about an
/// eighth, and a crash still redoes only one window's pages.
pub const FEW_CHILDREN_PAGES_PER_WINDOW: u64 = 4;

impl ChildRequests {
    /// The windows a search of about `pages` pages (its `total_count`
    /// over the page size) plans at least when it feeds such a fan-out:
    /// [`FANOUT_MIN_WINDOWS`] when every parent makes a request; for
    /// [`ChildRequests::Few`], only as many as leave
    /// [`FEW_CHILDREN_PAGES_PER_WINDOW`] pages in each (at least 1).
    pub fn min_windows(self, pages: u64) -> u64 {
        match self {
            ChildRequests::EachParent => FANOUT_MIN_WINDOWS,
            ChildRequests::Few => {
                (pages / FEW_CHILDREN_PAGES_PER_WINDOW).clamp(1, FANOUT_MIN_WINDOWS)
            }
        }
    }
}

/// A parent record, or the parent read's checkpoint.
#[derive(Debug)]
pub(crate) enum Parent {
    Records(Vec<Value>),
    Checkpoint(SearchCursor),
}

/// Parent windows a search plans at least, when it feeds a fan-out that
/// makes a request per parent (fewer for one that makes few: see
/// [`ChildRequests::min_windows`]): a
/// crash then loses about 1/40 of a first sync's child requests per window
/// not yet committed (one, plus what `checkpoint_every` and a committer
/// that lags under load let accumulate: the crash test measured up to
/// 2.7 windows of 20 on a loaded machine, hence 40).
pub const FANOUT_MIN_WINDOWS: u64 = 40;

impl Feed {
    /// A feed and the stream of what it is given, for a fan-out that makes
    /// a request per parent ([`ChildRequests::EachParent`]).
    pub(crate) fn channel() -> (Feed, impl Stream<Item = Parent>) {
        Feed::channel_for(ChildRequests::EachParent)
    }

    /// A feed and the stream of what it is given, for a fan-out whose
    /// parents make `children` requests.
    pub(crate) fn channel_for(children: ChildRequests) -> (Feed, impl Stream<Item = Parent>) {
        let (tx, rx) = mpsc::channel::<Parent>(2);
        let stream =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) });
        (Feed { tx, children }, stream)
    }
}

impl Feed {
    /// Hand the fan-out parents (a parent read that is not a search, e.g.
    /// the company scroll) or a checkpoint.
    pub(crate) async fn send(&self, parent: Parent) -> Result<()> {
        // The fan-out stopped: its own error is the one reported.
        self.tx
            .send(parent)
            .await
            .map_err(|_| super::writer_stopped())
    }
}

impl Sink for Feed {
    async fn rows(&self, rows: Vec<Value>) -> Result<()> {
        self.send(Parent::Records(rows)).await
    }

    async fn checkpoint(&self, cursor: &SearchCursor) -> Result<()> {
        self.send(Parent::Checkpoint(cursor.clone())).await
    }

    fn min_windows(&self, pages: u64) -> u64 {
        self.children.min_windows(pages)
    }
}

/// Where the windows of a fan-out's parent search are planned from on a
/// read from nothing (a first sync: `lo` = 0): the oldest parent's
/// `updated_at` less one second (less two more days for day-granular
/// search, whose queries reach two days past a window), asked for with one
/// one-record page sorted by `updated_at` ascending; `lo` when that page
/// is empty or fails. The caller reads `(lo, start]` first as a window of
/// its own, so a server that ignores the sort (conversation search does
/// not document one) loses nothing: that window is then simply not empty.
///
/// Planned from 1970 instead, [`FANOUT_MIN_WINDOWS`] windows put a
/// workspace's few years of history into one or two of them, whose reads
/// are then over the budget and split in halves, each split reading (and
/// throwing away) a full search page: on a 600-conversation world 19 empty
/// windows and 5 wasted pages, as many records parsed again as the whole
/// search holds.
pub(crate) async fn plan_start(reader: &Reader<'_>, lo: i64) -> i64 {
    let spec = reader.spec;
    let everything = Window {
        lo,
        hi: i64::MAX / 4,
    };
    let q = with_filter(spec.filter.as_ref(), everything.filters(spec.granularity));
    let body = search_body(q, 1, None, Some(("updated_at", "ascending")));
    let oldest = match reader.page(&body).await {
        Ok(page) => page
            .data
            .first()
            .and_then(|r| identity(spec.path, r).ok().map(|(_, t)| t)),
        Err(e) => {
            tracing::debug!(endpoint = spec.path, error = %e, "oldest parent not known; windows planned from the start");
            None
        }
    };
    let margin = match spec.granularity {
        Granularity::Second => 1,
        Granularity::Day => 1 + 2 * DAY,
    };
    oldest.map_or(lo, |t| t.saturating_sub(margin).max(lo))
}

/// Which parents a fan-out reads from its search.
#[derive(Debug, Clone)]
pub enum Parents {
    /// Changed since the cursor (all on a first run), re-reading
    /// `lookback_secs` below it, checkpointing after completed windows.
    Since(Option<SearchCursor>),
    /// Updated in `[from, until)` (a backfill window): no cursor read or
    /// moved, no checkpoint.
    Range { from: i64, until: i64 },
}

impl Parents {
    /// The cursor the fan-out compares parents with (none for a range).
    pub fn cursor(&self) -> Option<&SearchCursor> {
        match self {
            Parents::Since(c) => c.as_ref(),
            Parents::Range { .. } => None,
        }
    }
}

/// Read the parents of a fan-out through `spec` into `feed`; the new cursor
/// (`None` for a range, or when nothing changed).
pub(crate) async fn read_parents(
    client: &crate::http::IntercomClient,
    spec: &crate::extract::search::SearchSpec,
    options: &crate::extract::ExtractOptions,
    parents: Parents,
    feed: Feed,
) -> Result<Option<String>> {
    match parents {
        Parents::Since(cursor) => crate::extract::search::extract_with_lookback(
            client,
            spec,
            options,
            options.lookback_secs,
            cursor,
            &feed,
            Some(options.checkpoint_every),
        )
        .await
        .map(|o| o.cursor.map(|c| serde_json::json!(c).to_string())),
        Parents::Range { from, until } => {
            crate::extract::range::extract_range(client, spec, options, from, until, &feed)
                .await
                .map(|_| None)
        }
    }
}

/// Turn the parent read's records into fan-out steps: `job` makes the job of
/// a record (`None` drops it), checkpoints pass through as JSON.
pub(crate) fn steps<P>(
    parents: impl Stream<Item = Parent>,
    job: impl Fn(Value) -> Result<Option<Job<P>>>,
) -> impl Stream<Item = Result<Step<P>>> {
    parents.flat_map(move |p| {
        let steps: Vec<Result<Step<P>>> = match p {
            Parent::Records(records) => records
                .into_iter()
                .filter_map(|r| job(r).transpose())
                .map(|j| j.map(Step::Item))
                .collect(),
            Parent::Checkpoint(c) => vec![Ok(Step::Checkpoint(serde_json::json!(c).to_string()))],
        };
        futures::stream::iter(steps)
    })
}

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
