//! Incremental export through Intercom's search endpoints.
//!
//! The cursor is the highest `updated_at` exported so far plus the ids
//! exported *at* that second ([`SearchCursor`]). The next run asks for
//! records updated at or after that second and drops those ids, so a record
//! updated in the same second as the cursor, but after the run read it, is
//! not lost, and one already exported is not written twice. A sync with
//! nothing new therefore returns only the records of the cursor's second and
//! writes nothing.
//!
//! Two server behaviours are handled ([`Granularity`]):
//! - conversations (and tickets): date filters are exact to the second; the
//!   filter `updated_at > T-1` is exact and every page is read. Nothing
//!   depends on the order of results, which the API does not document.
//! - contacts: date filters are day-granular (`>` starts at the next midnight,
//!   in the workspace's time zone). We ask for everything from two days
//!   before the cursor, sorted by `updated_at` descending (`sort` is part of
//!   the contact search request), filter to the exact cursor on our side, and
//!   stop paging at the first record older than the cursor.
//!
//! # Checkpoints
//!
//! Windows are read oldest first, so when one completes, the cursor of the
//! rows accepted so far covers every record up to its upper bound. A long
//! sync hands that cursor to its sink (`Sink`) after a completed window (at most
//! once per `checkpoint_every`): the pipeline then makes the files written so
//! far durable and commits them with that cursor. An interrupted sync
//! restarts from the last committed window; the windows before it are not
//! read again.
//!
//! # Pages that keep failing, and pages short of their total
//!
//! Every page goes through the client's retries. A page that still fails
//! with a 5xx, a timeout or an unusable body is asked again with smaller
//! pages (`per_page` halved, down to [`MIN_DEGRADED_PER_PAGE`]; the window
//! is read again from its start, rows already sent are not sent twice), then
//! by splitting its window in two (at most [`MAX_FAILURE_SPLITS`] times; the
//! halves skip the rows the failed read already sent), and
//! only then fails the report. Each window read that needed this is counted
//! as a degraded window (`AnomalyKind::DegradedWindow`); the smaller page
//! size stays for the rest of the report.
//!
//! Envelopes are read by [`crate::api::Page::decode`]: a page without the
//! endpoint's list key fails the report, and so does a first page without a
//! next page that lists fewer records than its `total_count`. A window
//! read over several pages that ends with fewer distinct records than its
//! last page's `total_count` is counted as a short read
//! (`AnomalyKind::ShortRead`): a search can legitimately change while it is
//! paged, but a shortfall that is not explained by that is worth a look.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::anomalies::{Anomalies, AnomalyKind};
use crate::api::query::search_body;
use crate::api::{Page, list_key};
use crate::error::{Error, Result};
use crate::extract::ExtractOptions;
use crate::http::{HttpError, IntercomClient};

pub(crate) use crate::extract::cursor::{CursorTracker, identity};
pub use crate::extract::cursor::{SearchCursor, SearchOutcome};
pub(crate) use crate::extract::range::extract_range;
pub(crate) use crate::extract::window::with_filter;
use crate::extract::window::{DAY, plan_windows_to};
pub use crate::extract::window::{MIN_DAY_WINDOW, Window, plan_windows};

/// How the endpoint compares dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// Exact unix seconds (conversation and ticket search).
    Second,
    /// Calendar days (contact search).
    Day,
}

/// What to search.
#[derive(Debug, Clone)]
pub struct SearchSpec {
    /// `contacts/search`, `conversations/search`.
    pub path: &'static str,
    /// Extra filter ANDed with the `updated_at` bound (e.g. `role = user`).
    pub filter: Option<Value>,
    pub granularity: Granularity,
    /// `(field, order)` to sort window pages by (`None`: the endpoint's
    /// default). The probe is always `updated_at` descending.
    pub sort: Option<(&'static str, &'static str)>,
}

/// Pages one window may take before it is split in two: deep pagination
/// of a search is slow and fragile, and a smaller window is a smaller redo.
pub const WINDOW_PAGE_BUDGET: u64 = 20;

/// The smallest `per_page` a read that keeps failing is degraded to before
/// its window is split instead.
pub const MIN_DEGRADED_PER_PAGE: u32 = 10;

/// How many times a window is split because its pages keep failing (after
/// the page size reached [`MIN_DEGRADED_PER_PAGE`]), i.e. down to 1/16 of
/// it, before the report fails: a server that is down fails every half too.
pub const MAX_FAILURE_SPLITS: u8 = 4;

/// Where a search sends what it finds: a plain page channel (a parent
/// listing inside another report), or the pipeline's channel, which also
/// takes checkpoints.
pub(crate) trait Sink {
    /// Hand over records to write.
    async fn rows(&self, rows: Vec<Value>) -> Result<()>;

    /// Every record sent so far is covered by `cursor` (a window completed).
    /// Plain channels ignore it.
    async fn checkpoint(&self, _cursor: &SearchCursor) -> Result<()> {
        Ok(())
    }

    /// About `rows` records are expected in all (for progress). Plain
    /// channels ignore it.
    fn total(&self, _rows: u64) {}

    /// Plan at least this many windows for a read over several pages
    /// (`pages`: about that many; a fan-out's parents: each window is a
    /// checkpoint, and a crash redoes at most one).
    fn min_windows(&self, _pages: u64) -> u64 {
        1
    }
}

/// Run one incremental search, sending pages of new records to `tx`.
///
/// A first request (sorted newest first) probes the range: when it holds
/// everything new (its last page, or it reaches below the cursor), that one
/// request is the whole sync. Otherwise its newest `updated_at` becomes `hi`
/// (the server's clock, not ours) and `(lo, hi]` is read window by window,
/// oldest first; a window whose `total_count` exceeds
/// [`WINDOW_PAGE_BUDGET`] pages is split first.
///
/// It re-reads `lookback_secs` below the cursor (see the module
/// docs), and hands `tx` a checkpoint after a completed window when
/// `checkpoint_every` has passed since the last one (`None`: never). Page
/// size and anomaly counters come from `options`.
pub(crate) async fn extract_with_lookback(
    client: &IntercomClient,
    spec: &SearchSpec,
    options: &ExtractOptions,
    lookback_secs: u64,
    cursor: Option<SearchCursor>,
    tx: &impl Sink,
    checkpoint_every: Option<Duration>,
) -> Result<SearchOutcome> {
    let lookback = i64::try_from(lookback_secs).unwrap_or(i64::MAX / 4);
    let from = cursor.as_ref().map_or(0, |c| c.updated_at);
    // Exclusive lower bound: the cursor's own second is re-read (same-second
    // updates), and the lookback margin below it.
    let lo = if cursor.is_some() {
        (from - 1).saturating_sub(lookback).max(0)
    } else {
        0
    };
    let g = spec.granularity;
    let mut tracker = if lookback > 0 {
        CursorTracker::with_lookback(cursor, lookback)
    } else {
        CursorTracker::new(cursor)
    };

    let everything = Window {
        lo,
        hi: i64::MAX / 4,
    };
    let mut reader = Reader {
        client,
        spec,
        per_page: options.per_page.max(1),
        anomalies: &options.anomalies,
        min_day: MIN_DAY_WINDOW,
    };
    let probe = reader.probe(query(spec, everything, g)).await?;
    // Day-granular probes reach two days below the cursor: their count says
    // little about an incremental sync's rows.
    if let Some(total) = probe.total_count
        && (g == Granularity::Second || tracker.old.is_none())
    {
        tx.total(total);
    }
    let mut newest = i64::MIN;
    let mut oldest = i64::MAX;
    for record in &probe.data {
        let (_, t) = identity(spec.path, record)?;
        newest = newest.max(t);
        oldest = oldest.min(t);
    }
    if probe.next_cursor().is_none() || oldest <= lo {
        // Everything new is on this page.
        let mut seen = HashSet::new();
        send_fresh(spec, everything, probe.data, &mut tracker, &mut seen, tx).await?;
        return Ok(tracker.finish());
    }
    let total = probe.total_count.unwrap_or(0);
    let budget_rows = WINDOW_PAGE_BUDGET * u64::from(reader.per_page);
    // A fan-out's parents: about `min_windows` windows of at most 1/n of
    // the total each (a checkpoint each; a crash redoes at most one), down
    // to one day for day-granular searches.
    let min_windows = tx.min_windows(total.div_ceil(u64::from(reader.per_page)));
    let budget_rows = if min_windows > 1 {
        reader.min_day = DAY;
        budget_rows.min(total.div_ceil(min_windows).max(u64::from(reader.per_page)))
    } else {
        budget_rows
    };
    // A fan-out's parents from nothing: windows from the oldest parent, and
    // `(lo, start]` first (see `fanout::plan_start`).
    let start = if min_windows > 1 && lo == 0 {
        crate::extract::fanout::plan_start(&reader, lo).await
    } else {
        lo
    };
    // Each window with how many times it was split because pages failed,
    // and the records a failed read of it already sent (its halves skip them).
    let mut queue: VecDeque<(Window, u8, Sent)> = plan_windows_to(
        start,
        newest,
        total.div_ceil(budget_rows).max(min_windows),
        g,
        reader.min_day,
    )
    .into_iter()
    .map(|w| (w, 0, Sent::new()))
    .collect();
    if start > lo {
        queue.push_front((Window { lo, hi: start }, 0, Sent::new()));
    }
    let mut last_checkpoint = Instant::now();
    let mut rows_at_checkpoint = 0;
    while let Some((window, failure_splits, sent)) = queue.pop_front() {
        match reader
            .read_window(window, failure_splits, budget_rows, sent, &mut tracker, tx)
            .await?
        {
            WindowRead::Done => {
                tracing::debug!(
                    endpoint = spec.path,
                    lo = window.lo,
                    hi = window.hi,
                    "window done"
                );
                let due = checkpoint_every.is_some_and(|every| last_checkpoint.elapsed() >= every);
                if due
                    && !queue.is_empty()
                    && tracker.rows > rows_at_checkpoint
                    && let Some(cursor) = tracker.clone().finish().cursor
                {
                    tx.checkpoint(&cursor).await?;
                    rows_at_checkpoint = tracker.rows;
                    last_checkpoint = Instant::now();
                }
            }
            WindowRead::TooBig(a, b, sent) => {
                queue.push_front((b, failure_splits, sent.clone()));
                queue.push_front((a, failure_splits, sent));
            }
            WindowRead::Failing(a, b, sent) => {
                queue.push_front((b, failure_splits + 1, sent.clone()));
                queue.push_front((a, failure_splits + 1, sent));
            }
        }
    }
    Ok(tracker.finish())
}

fn query(spec: &SearchSpec, window: Window, g: Granularity) -> Value {
    with_filter(spec.filter.as_ref(), window.filters(g))
}

/// `(id, updated_at)` of the records one window read sent.
type Sent = HashSet<(String, i64)>;

enum WindowRead {
    Done,
    /// More rows than the page budget: read the halves instead (with what
    /// an earlier failed read of the window sent).
    TooBig(Window, Window, Sent),
    /// Pages kept failing even at the smallest page size: read the halves,
    /// skipping what this read already sent before it failed.
    Failing(Window, Window, Sent),
}

/// Can smaller pages or a narrower window help? A 5xx (or 408), a timeout or
/// lost connection, or a body that broke off, after the client's retries.
pub(crate) fn degradable(e: &Error) -> bool {
    match e {
        Error::Http(HttpError::Status { status, .. }) => *status == 408 || *status >= 500,
        Error::Http(HttpError::Transport { .. } | HttpError::Body { .. }) => true,
        _ => false,
    }
}

/// Pages of one search, with the page size it currently asks for.
pub(crate) struct Reader<'a> {
    pub(crate) client: &'a IntercomClient,
    pub(crate) spec: &'a SearchSpec,
    /// Lowered (for the rest of the report) when pages keep failing.
    pub(crate) per_page: u32,
    pub(crate) anomalies: &'a Anomalies,
    /// The narrowest day-granular window (see [`Window::split_to`]).
    pub(crate) min_day: i64,
}

impl Reader<'_> {
    pub(crate) fn endpoint(&self) -> String {
        format!("POST /{}", self.spec.path)
    }

    /// One page, its envelope checked (see [`Page::decode`]).
    pub(crate) async fn page(&self, body: &Value) -> Result<Page> {
        let raw: Value = self.client.post(self.spec.path, body).await?;
        Page::decode(&self.endpoint(), list_key(self.spec.path), raw)
    }

    /// After a page failed for good: halve the page size if it can still
    /// shrink (counting the read as degraded once), and say whether it did.
    pub(crate) fn shrink(&mut self, e: &Error, what: &str, degraded: &mut bool) -> bool {
        if !degradable(e) || self.per_page <= MIN_DEGRADED_PER_PAGE {
            return false;
        }
        let smaller = (self.per_page / 2).max(MIN_DEGRADED_PER_PAGE);
        tracing::warn!(
            endpoint = %self.endpoint(),
            error = %e,
            per_page = self.per_page,
            smaller,
            "{what} keeps failing; asking for smaller pages"
        );
        self.per_page = smaller;
        self.degraded(what, degraded);
        true
    }

    /// Count a degraded read once.
    fn degraded(&self, what: &str, degraded: &mut bool) {
        if !*degraded {
            *degraded = true;
            self.anomalies
                .record(AnomalyKind::DegradedWindow, &self.endpoint(), Some(what));
        }
    }

    /// The first request (newest first), with smaller pages if it keeps
    /// failing. A single-page answer short of its `total_count` is an error.
    async fn probe(&mut self, q: Value) -> Result<Page> {
        let mut degraded = false;
        loop {
            let body = search_body(
                q.clone(),
                self.per_page,
                None,
                Some(("updated_at", "descending")),
            );
            match self.page(&body).await {
                Ok(page) => {
                    page.check_complete(&self.endpoint(), true)?;
                    return Ok(page);
                }
                Err(e) if self.shrink(&e, "the first page", &mut degraded) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Read every page of one window, or report that it must be split.
    /// `sent`: records already sent by a failed read of an enclosing window.
    async fn read_window(
        &mut self,
        window: Window,
        failure_splits: u8,
        budget_rows: u64,
        sent: Sent,
        tracker: &mut CursorTracker,
        tx: &impl Sink,
    ) -> Result<WindowRead> {
        let spec = self.spec;
        let q = query(spec, window, spec.granularity);
        let label = format!("updated_at ({}, {}]", window.lo, window.hi);
        let mut starting_after: Option<String> = None;
        let mut seen = sent;
        // Distinct ids the server listed (inside the window or not).
        let mut listed: HashSet<String> = HashSet::new();
        let mut pages = 0u64;
        let mut degraded = false;
        loop {
            let body = search_body(
                q.clone(),
                self.per_page,
                starting_after.as_deref(),
                spec.sort,
            );
            let page = match self.page(&body).await {
                Ok(page) => page,
                Err(e) if self.shrink(&e, &label, &mut degraded) => {
                    // Start the window again at the smaller size: a cursor
                    // is not meant to survive a change of page size.
                    starting_after = None;
                    pages = 0;
                    continue;
                }
                Err(e) if degradable(&e) && failure_splits < MAX_FAILURE_SPLITS => {
                    let Some((a, b)) = window.split_to(spec.granularity, self.min_day) else {
                        return Err(e);
                    };
                    tracing::warn!(endpoint = %self.endpoint(), error = %e, window = %label, "pages keep failing at the smallest page size; splitting the window");
                    self.degraded(&label, &mut degraded);
                    return Ok(WindowRead::Failing(a, b, seen));
                }
                Err(e) => return Err(e),
            };
            let first = starting_after.is_none();
            if first
                && page.total_count.is_some_and(|t| t > budget_rows)
                && let Some((a, b)) = window.split_to(spec.granularity, self.min_day)
            {
                tracing::debug!(endpoint = spec.path, lo = window.lo, hi = window.hi, total = ?page.total_count, "window over budget; splitting");
                return Ok(WindowRead::TooBig(a, b, seen));
            }
            page.check_complete(&self.endpoint(), first)?;
            pages += 1;
            for record in &page.data {
                if let Some(id) = record.get("id").and_then(Value::as_str)
                    && !listed.contains(id)
                {
                    listed.insert(id.to_string());
                }
            }
            let next = page.next_cursor();
            let total = page.total_count;
            send_fresh(spec, window, page.data, tracker, &mut seen, tx).await?;
            match next {
                Some(c) => starting_after = Some(c),
                None => {
                    if pages > 1 {
                        short_read(
                            self.anomalies,
                            &self.endpoint(),
                            &label,
                            listed.len(),
                            total,
                        );
                    }
                    return Ok(WindowRead::Done);
                }
            }
        }
    }
}

/// Count a listing that ended with fewer distinct records than the
/// `total_count` its last page stated.
pub(crate) fn short_read(
    anomalies: &Anomalies,
    endpoint: &str,
    label: &str,
    listed: usize,
    total: Option<u64>,
) {
    if let Some(total) = total
        && (listed as u64) < total
    {
        tracing::debug!(
            endpoint,
            window = label,
            listed,
            total,
            "listing ended short of its total_count"
        );
        anomalies.record(AnomalyKind::ShortRead, endpoint, Some(label));
    }
}

/// Keep the records inside `window`, new to the cursor and not yet seen in
/// this window (`(id, updated_at)`), and send them.
async fn send_fresh(
    spec: &SearchSpec,
    window: Window,
    records: Vec<Value>,
    tracker: &mut CursorTracker,
    seen: &mut HashSet<(String, i64)>,
    tx: &impl Sink,
) -> Result<()> {
    let mut fresh = Vec::with_capacity(records.len());
    for record in records {
        let (id, t) = identity(spec.path, &record)?;
        if !window.contains(t) || !seen.insert((id.to_string(), t)) {
            continue;
        }
        if tracker.accept(id, t) {
            fresh.push(record);
        }
    }
    if !fresh.is_empty() {
        tx.rows(fresh).await?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "search_tests.rs"]
mod tests;
