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
//! # Windows read at once, and checkpoints
//!
//! A first sync, or a catch-up over many pages, reads several windows at
//! once: up to `concurrency` of them (an upper bound; the HTTP client keeps
//! what is really in flight), planned at about [`PARALLEL_WINDOW_PAGES`]
//! pages each and at least two per reader when there are pages enough (see
//! [`crate::extract::windows_parallel`]). Their records still reach the
//! sink oldest window first: the head window streams, windows ahead of it
//! hold a few pages in memory and write the rest to a temporary file until
//! their turn, so they never wait for it. Contacts are
//! cut no finer than [`MIN_DAY_WINDOW`] (14 days) in time: a window at that
//! width holding more than one reader's share of the rows is cut by
//! `created_at` instead, into parts read side by side
//! ([`crate::extract::window::Part`]; issue #15: the newest 14 days of a
//! million contacts were 380 pages of one reader).
//! Contact windows read at once are cut from the oldest contact (one
//! request sorted `updated_at` ascending), not from the epoch a first sync
//! starts at: at 1,000,000 contacts over three years, 78 windows of 14 days
//! rather than over a thousand cut from 1970, nearly all of them empty.
//! A fan-out's parents (`Sink::parents_ahead`) are read several windows at
//! once too, but hold only a few pages ahead, in memory
//! ([`crate::extract::fanout::ReadAhead`]): their children are fetched and
//! checkpointed window by window, and a crash re-reads the parent pages
//! read ahead.
//!
//! So when a window completes, the cursor of the rows accepted so far
//! covers every record up to its upper bound. A long
//! sync hands that cursor to its sink (`Sink`) after a completed window (at most
//! once per `checkpoint_every`): the pipeline then makes the files written so
//! far durable and commits them with that cursor. An interrupted sync
//! restarts from the last committed window; the windows before it are not
//! read again, the ones after it (read ahead or not) are.
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

use std::time::Duration;

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
use crate::extract::windows_parallel::{
    PARALLEL_WINDOW_PAGES, Schedule, Sent, ahead_budget, deliver, keep_new, read_windows_in_parts,
};

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

    /// A fan-out's parents: how many windows read at once and how many
    /// pages they hold ahead, in memory only
    /// ([`crate::extract::fanout::ReadAhead`]). `None` (other sinks): up to
    /// `concurrency` windows, pages past the ahead budget go to disk.
    fn parents_ahead(&self, _concurrency: usize) -> Option<crate::extract::fanout::ReadAhead> {
        None
    }

    /// The top-level keys of a record this sink reads, when it reads only
    /// some ([`crate::extract::record_keys::Projected`]: a search report's
    /// writer); `None` (other sinks): records are decoded whole.
    fn record_keys(&self) -> Option<std::sync::Arc<crate::extract::record_keys::RecordKeys>> {
        None
    }
}

/// Run one incremental search, sending pages of new records to `tx`.
///
/// A first request (sorted newest first) probes the range: when it holds
/// everything new (its last page, or it reaches below the cursor), that one
/// request is the whole sync. Otherwise its newest `updated_at` becomes `hi`
/// (the server's clock, not ours) and `(lo, hi]` is read window by window,
/// several at once, delivered oldest first
/// ([`read_windows_in_parts`](crate::extract::windows_parallel::read_windows_in_parts)); a
/// window whose `total_count` exceeds its page budget is split first.
///
/// It re-reads `lookback_secs` below the cursor (see the module
/// docs), and hands `tx` a checkpoint after a completed window when
/// `checkpoint_every` has passed since the last one (`None`: never). Page
/// size, how many windows read at once (`concurrency`) and anomaly counters
/// come from `options`.
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
    let mut tracker = if lookback > 0 {
        CursorTracker::with_lookback(cursor, lookback)
    } else {
        CursorTracker::new(cursor)
    };
    let everything = Window {
        lo,
        hi: i64::MAX / 4,
    };
    read_search(
        client,
        spec,
        options,
        everything,
        &mut tracker,
        tx,
        checkpoint_every,
    )
    .await?;
    Ok(tracker.finish())
}

/// Read every record of `spec` in `everything` new to `tracker` into `tx`:
/// the probe, then, when it does not hold them all, windows planned from its
/// `total_count` and read several at once. Shared by incremental syncs and
/// backfill ranges ([`extract_range`]).
pub(crate) async fn read_search(
    client: &IntercomClient,
    spec: &SearchSpec,
    options: &ExtractOptions,
    everything: Window,
    tracker: &mut CursorTracker,
    tx: &impl Sink,
    checkpoint_every: Option<Duration>,
) -> Result<()> {
    let g = spec.granularity;
    let lo = everything.lo;
    let mut reader = Reader {
        client,
        spec,
        anomalies: &options.anomalies,
        min_day: MIN_DAY_WINDOW,
        searches: &options.searches,
    };
    let mut per_page = options.per_page.max(1);
    let probe = reader
        .probe(query(spec, everything, g), &mut per_page)
        .await?;
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
        let kept = keep_new(spec.path, everything, probe.data, &mut Sent::new())?;
        return deliver(spec.path, kept, tracker, tx).await;
    }
    let total = probe.total_count.unwrap_or(0);
    // A fan-out's parents are read several windows at once within a small
    // in-memory bound (`fanout::ReadAhead`): checkpoints still follow the
    // completed windows in order, so a crash redoes the children of the
    // windows after the last one and re-reads the parent pages read ahead.
    // A shared search (conversations, tickets): one plan for every reader,
    // so the run sends its pages once (`extract::plan`); else per sink below.
    let shared_plan = crate::extract::plan::shared_plan(
        &reader,
        lo,
        everything.hi,
        newest,
        total,
        per_page,
        options.concurrency,
    )
    .await;
    let min_windows = tx.min_windows(total.div_ceil(u64::from(per_page.max(1))));
    let parents_ahead = tx.parents_ahead(options.concurrency.max(1));
    let parallel = parents_ahead.map_or(options.concurrency.max(1), |a| a.windows.max(1));
    let per_page_rows = u64::from(per_page);
    // Read one at a time, windows of up to the page budget; several at
    // once, smaller windows (each reader's pages fit the ahead budget) split
    // at twice their planned size.
    let (window_rows, split_rows) = if parallel > 1 {
        let rows = PARALLEL_WINDOW_PAGES * per_page_rows;
        (rows, (2 * rows).min(WINDOW_PAGE_BUDGET * per_page_rows))
    } else {
        let rows = WINDOW_PAGE_BUDGET * per_page_rows;
        (rows, rows)
    };
    // A fan-out's parents: about `min_windows` windows of at most 1/n of
    // the total each (a checkpoint each; a crash redoes at most one), down
    // to one day for day-granular searches.
    let (window_rows, split_rows) = if min_windows > 1 {
        reader.min_day = DAY;
        let cap = total.div_ceil(min_windows).max(per_page_rows);
        (window_rows.min(cap), split_rows.min(cap))
    } else {
        (window_rows, split_rows)
    };
    // Enough windows to keep `parallel` readers busy twice over, when there
    // are pages enough for two a window.
    let pages = total.div_ceil(per_page_rows);
    let busy = if parallel > 1 {
        (parallel as u64 * 2).min(pages / 2)
    } else {
        1
    };
    let hi = newest.min(everything.hi);
    let n = total.div_ceil(window_rows).max(min_windows).max(busy);
    let windows = if let Some(plan) = &shared_plan {
        plan.windows.clone()
    } else if min_windows > 1 && lo == 0 {
        // A fan-out's parents from nothing: windows from the oldest parent,
        // and `(lo, start]` first (see `fanout::plan_start`).
        let start = crate::extract::fanout::plan_start(&reader, lo).await;
        let mut windows = plan_windows_to(start, hi, n, g, reader.min_day);
        if start > lo {
            windows.insert(0, Window { lo, hi: start });
        }
        windows
    } else if g == Granularity::Day && parallel > 1 && n > 1 {
        // Contacts read in parallel: cut from the oldest record, not from
        // `lo` (the epoch on a first sync), so the windows are as many as
        // the records need (at least 14 days each) and none is empty.
        let start = reader.oldest(spec, everything).await.map_or(lo, |t| {
            let t = t.saturating_sub(1);
            if t > lo && t < hi { t } else { lo }
        });
        let mut windows = plan_windows_to(start, hi, n, g, reader.min_day);
        // The first window still reaches down to `lo`: the windows tile the
        // whole range whatever the probe said.
        if let Some(first) = windows.first_mut() {
            first.lo = lo;
        }
        windows
    } else {
        plan_windows_to(lo, hi, n, g, reader.min_day)
    };
    let split_rows = shared_plan.map_or(split_rows, |p| p.split_rows);
    let schedule = Schedule {
        parallel,
        ahead_pages: parents_ahead.map_or(ahead_budget(parallel), |a| a.pages),
        spill: parents_ahead.is_none(),
        spill_dir: None,
        split_rows,
        per_page,
        checkpoint_every,
        budget: crate::extract::ahead::AheadBudget::process(),
    };
    // A window more than one reader's share of the rows (that no time cut
    // can shrink) is read in `created_at` parts: with one reader, never.
    let band_rows = total.div_ceil(parallel as u64).max(split_rows);
    let stats =
        read_windows_in_parts(&reader, &reader, windows, &schedule, band_rows, tracker, tx).await?;
    tracing::debug!(endpoint = spec.path, ?stats, "windows read");
    Ok(())
}

fn query(spec: &SearchSpec, window: Window, g: Granularity) -> Value {
    with_filter(spec.filter.as_ref(), window.filters(g))
}

/// Can smaller pages or a narrower window help? A 5xx (or 408), a timeout or
/// lost connection, or a body that broke off, after the client's retries.
pub(crate) fn degradable(e: &Error) -> bool {
    match e {
        Error::Http(HttpError::Status { status, .. }) => *status == 408 || *status >= 500,
        // No connection at all: smaller pages would not help.
        Error::Http(h @ HttpError::Transport { .. }) => !h.is_connect_failure(),
        Error::Http(HttpError::Body { .. }) => true,
        _ => false,
    }
}

#[path = "search_reader.rs"]
mod reader;
pub(crate) use reader::Reader;

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

#[cfg(test)]
#[path = "search_tests.rs"]
mod tests;
