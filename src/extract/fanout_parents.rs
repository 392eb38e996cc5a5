//! A fan-out's parents: the items to fetch ([`Job`], [`Step`]), the parent
//! search read as a [`Feed`] of items and checkpoints, how many windows it
//! plans and reads ahead ([`ChildRequests`], [`ReadAhead`], [`plan_start`])
//! and which parents a run reads ([`Parents`]).
//!
//! # Parent windows read ahead
//!
//! The parent search is read several windows at once
//! ([`crate::extract::windows_parallel::read_windows`]) while the fan-out
//! fetches children and checkpoints in window order: the head window
//! streams its parents to the fan-out, windows ahead of it keep the pages
//! they read **in memory** ([`ReadAhead::pages`] at most, never on disk) and
//! wait when that bound is full. A checkpoint still comes only after a
//! completed window whose children have all been fetched (the fan-out's
//! barrier), so a crash redoes the children of the windows after the last
//! checkpoint, as before; the parent pages read ahead are read again, and
//! they are cheap (ids and small inline fields, 150 parents a page). So a
//! fan-out whose children are few (`contact_tags`, `contact_companies`: the
//! search pages are most of its requests) no longer waits a whole page
//! latency between its pages.

use std::sync::Arc;

use super::*;
use crate::extract::record_keys::RecordKeys;

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

/// The parent read's end of the fan-out: a search [`Sink`] that turns each
/// parent record into its fan-out [`Job`] as soon as its page is decoded,
/// and forwards the jobs and checkpoints, in order, to the fan-out.
///
/// The channel between them holds a few pages' jobs: `P` is what a child
/// request and its rows need of the parent (an id, `updated_at`, a cutoff,
/// at most an inline list), tens of bytes a parent, where the decoded
/// record is several KB (a contact: ~3 KB of JSON, 2–3 × that as a
/// `serde_json::Value`). Each report's `job` keeps only those fields
/// ([`only_keys`] for a parent kept as JSON).
pub(crate) struct Feed<P, J> {
    tx: mpsc::Sender<Vec<Result<Step<P>>>>,
    children: ChildRequests,
    /// A record → its job (`None` drops it; an error ends the fan-out
    /// when the fan-out gets to it, after the jobs before it).
    job: J,
    /// The top-level keys `job` reads of a parent ([`Feed::reading`]);
    /// `None`: parents are decoded whole.
    keys: Option<Arc<RecordKeys>>,
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

/// How a fan-out's parent search reads ahead of the window whose children
/// are being fetched (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadAhead {
    /// Windows reading pages at once, the head included (at least 1).
    pub windows: usize,
    /// Search pages the windows ahead of the head hold in memory at most
    /// (a page: up to `per_page` parents, 150 by default); a window ahead
    /// waits while they are full. Nothing goes to disk.
    pub pages: usize,
}

/// Parent search pages a fan-out whose children are few holds ahead: half
/// of what a search read for its own rows holds
/// ([`crate::extract::windows_parallel::MAX_AHEAD_PAGES`]); at 150 contacts
/// a page a few MB of parsed JSON. Enough to keep its search several pages
/// in flight (the 5,000-contact bench: `contact_tags` 57 s → 17 s with 8,
/// while the run's longest report took 77 s), little enough that eight
/// reports side by side do not add up to much.
pub const FEW_CHILDREN_AHEAD_PAGES: usize = 4;

/// Parent search pages a fan-out with a request per parent holds ahead:
/// its children are most of its requests, so the parents only need to be
/// there when the fan-out gets to them (the next window's first page
/// without a page latency's wait); a window of such a fan-out is at most a
/// fortieth of the search.
pub const EACH_PARENT_AHEAD_PAGES: usize = 1;

impl ChildRequests {
    /// How the parent search reads ahead with the `concurrency` setting
    /// (an upper bound: the client's in-flight gate decides what goes):
    /// [`ChildRequests::Few`] reads up to `concurrency` windows at once
    /// (at least 2, at most [`FEW_CHILDREN_AHEAD_PAGES`]: more could not
    /// hold a page each) within [`FEW_CHILDREN_AHEAD_PAGES`];
    /// [`ChildRequests::EachParent`] two within
    /// [`EACH_PARENT_AHEAD_PAGES`]. `concurrency = 1` reads one window at a
    /// time, as before.
    pub fn read_ahead(self, concurrency: usize) -> ReadAhead {
        if concurrency <= 1 {
            return ReadAhead {
                windows: 1,
                pages: 0,
            };
        }
        match self {
            ChildRequests::Few => ReadAhead {
                windows: concurrency.clamp(2, FEW_CHILDREN_AHEAD_PAGES),
                pages: FEW_CHILDREN_AHEAD_PAGES,
            },
            ChildRequests::EachParent => ReadAhead {
                windows: 2,
                pages: EACH_PARENT_AHEAD_PAGES,
            },
        }
    }

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

/// Parent windows a search plans at least, when it feeds a fan-out that
/// makes a request per parent (fewer for one that makes few: see
/// [`ChildRequests::min_windows`]): a
/// crash then loses about 1/40 of a first sync's child requests per window
/// not yet committed (one, plus what `checkpoint_every` and a committer
/// that lags under load let accumulate: the crash test measured up to
/// 2.7 windows of 20 on a loaded machine, hence 40).
pub const FANOUT_MIN_WINDOWS: u64 = 40;

/// Pages of parent jobs the feed channel holds (besides the one being
/// handed over): enough that the parent read does not wait for the fan-out
/// to pull each page; the pages are jobs, not records (see [`Feed`]).
pub(crate) const FEED_PAGES: usize = 2;

impl<P, J> Feed<P, J>
where
    J: Fn(Value) -> Result<Option<Job<P>>>,
{
    /// A feed and the fan-out's steps from it, for a fan-out that makes a
    /// request per parent ([`ChildRequests::EachParent`]); `job` makes a
    /// record's job.
    pub(crate) fn channel(job: J) -> (Self, impl Stream<Item = Result<Step<P>>>) {
        Feed::channel_for(ChildRequests::EachParent, job)
    }

    /// A feed and the fan-out's steps from it, for a fan-out whose parents
    /// make `children` requests; `job` makes a record's job (see [`Feed`]).
    pub(crate) fn channel_for(
        children: ChildRequests,
        job: J,
    ) -> (Self, impl Stream<Item = Result<Step<P>>>) {
        let (tx, rx) = mpsc::channel::<Vec<Result<Step<P>>>>(FEED_PAGES);
        let stream =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) })
                .flat_map(futures::stream::iter);
        (
            Feed {
                tx,
                children,
                job,
                keys: None,
            },
            stream,
        )
    }

    /// Parents are decoded with only `keys` (and the engine's own: `id`,
    /// `updated_at`, `created_at`), the top-level keys `job` reads: a
    /// conversation's parts only need its identity, a mapping table its
    /// inline list ([`crate::extract::record_keys`]).
    pub(crate) fn reading(mut self, keys: &[&str]) -> Self {
        self.keys = Some(Arc::new(RecordKeys::of([], keys)));
        self
    }

    /// Hand the fan-out parent `records` (also for a parent read that is not
    /// a search, e.g. the company scroll): each becomes its job here, so the
    /// records are dropped before the jobs wait in the channel.
    pub(crate) async fn records(&self, records: Vec<Value>) -> Result<()> {
        let steps: Vec<Result<Step<P>>> = records
            .into_iter()
            .filter_map(|r| (self.job)(r).transpose())
            .map(|j| j.map(Step::Item))
            .collect();
        if steps.is_empty() {
            return Ok(());
        }
        self.send(steps).await
    }

    async fn send(&self, steps: Vec<Result<Step<P>>>) -> Result<()> {
        // The fan-out stopped: its own error is the one reported.
        self.tx
            .send(steps)
            .await
            .map_err(|_| crate::extract::writer_stopped())
    }
}

impl<P, J> Sink for Feed<P, J>
where
    J: Fn(Value) -> Result<Option<Job<P>>>,
{
    async fn rows(&self, rows: Vec<Value>) -> Result<()> {
        self.records(rows).await
    }

    async fn checkpoint(&self, cursor: &SearchCursor) -> Result<()> {
        let cursor = serde_json::json!(cursor).to_string();
        self.send(vec![Ok(Step::Checkpoint(cursor))]).await
    }

    fn min_windows(&self, pages: u64) -> u64 {
        self.children.min_windows(pages)
    }

    fn parents_ahead(&self, concurrency: usize) -> Option<ReadAhead> {
        Some(self.children.read_ahead(concurrency))
    }

    fn record_keys(&self) -> Option<Arc<RecordKeys>> {
        self.keys.clone()
    }
}

/// `record` with only its `keys` (a fan-out parent kept as JSON, before it
/// waits in the feed: see [`Feed`]); a record that is not an object is
/// returned as it is (the report's own checks say what is wrong with it).
pub fn only_keys(record: Value, keys: &[&str]) -> Value {
    match record {
        Value::Object(mut all) => {
            Value::Object(keys.iter().filter_map(|k| all.remove_entry(*k)).collect())
        }
        other => other,
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
pub(crate) async fn read_parents<P, J>(
    client: &crate::http::IntercomClient,
    spec: &crate::extract::search::SearchSpec,
    options: &crate::extract::ExtractOptions,
    parents: Parents,
    feed: Feed<P, J>,
) -> Result<Option<String>>
where
    J: Fn(Value) -> Result<Option<Job<P>>>,
{
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
