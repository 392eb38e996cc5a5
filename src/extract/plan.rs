//! One plan per shared search, whoever reads it (issue #14, shared
//! parents).
//!
//! The conversation and ticket searches ([`SHARED_PATHS`]) are read by
//! several reports of a run: the plain `conversations` search, the
//! fan-outs that read each conversation (`conversation_parts`,
//! `lifecycle_events`, `part_attachments`) and the mapping tables (few
//! child requests); `tickets`, `ticket_parts`, `ticket_contacts`. The run
//! sends each search page once for all of them
//! ([`crate::extract::shared_search`]), but only when their requests are the
//! same: the same windows, page size and sort. So a read over several
//! pages (a first sync, a catch-up) of a shared search that two or more
//! reports of the run read ([`READERS`]) plans its windows from the search
//! alone (`shared_plan`): the path and filter, the lower
//! bound `lo` (the cursor), the probe's `total_count` and newest record, the
//! oldest record (one request, shared too) and the page size and
//! `concurrency` settings (the same for every report of a run), never from
//! the sink (plain search or fan-out) that reads it.
//!
//! The plan is the finer of what each kind of reader wants
//! ([`plan_shared_windows`]):
//!
//! - a fan-out that makes a request per parent wants at least
//!   [`FANOUT_MIN_WINDOWS`](crate::extract::fanout::FANOUT_MIN_WINDOWS)
//!   windows, a checkpoint each (a crash redoes at most about one of
//!   them); a mapping table wants fewer ([`ChildRequests::min_windows`]),
//!   so the most is `FANOUT_MIN_WINDOWS`, but never more windows than the
//!   search has pages: below 40 pages (6,000 conversations at 150 a page)
//!   a window is about a page, where a fan-out alone cuts 40 smaller ones
//!   (a crash of a run of several readers then redoes up to a page of
//!   children, 150 conversations, instead of a fortieth);
//! - the plain search wants windows of about [`PARALLEL_WINDOW_PAGES`]
//!   pages, enough of them to keep `concurrency` readers busy twice over;
//! - a first sync (`lo` = 0) plans from the oldest record
//!   (`fanout::plan_start`), with `(lo, start]` first as a
//!   window of its own (empty unless the server ignored the sort).
//!
//! A report that reads the search alone in its run keeps its own plan
//! (fewer windows for the plain search and the mapping tables).
//!
//! So every reader of a first sync reads the same windows (a fan-out's as
//! alone from 40 pages on, coarser below; the plain search's and the
//! mapping tables' finer: each window costs at most one partly filled
//! page, at most twice the pages, and a checkpoint each). A
//! window over the split size is still split when it is read, on the
//! first page's `total_count` (the same shared answer for every reader, so
//! the same halves); splits after failures may differ per reader.
//!
//! Day-granular searches (contacts) keep their per-sink plan in
//! `search::read_search`.

use crate::extract::fanout::ChildRequests;
use crate::extract::search::{Granularity, Reader, WINDOW_PAGE_BUDGET};
use crate::extract::shared_search::SHARED_PATHS;
use crate::extract::window::{DAY, Window, plan_windows_to};
use crate::extract::windows_parallel::PARALLEL_WINDOW_PAGES;

/// The reports of each search `shared_plan` plans for (report names):
/// when two or more of them run together, they plan alike; a report that
/// reads the search alone in its run keeps its own plan (the plain search's
/// windows of about [`PARALLEL_WINDOW_PAGES`] pages, a mapping table's
/// fewer, as before), so it does not pay for windows no other reader needs.
pub const READERS: &[(&str, &[&str])] = &[
    (
        "conversations/search",
        &[
            "conversations",
            "conversation_parts",
            "conversation_tags",
            "conversation_contacts",
            "lifecycle_events",
            "part_attachments",
        ],
    ),
    (
        "tickets/search",
        &[
            "tickets",
            "ticket_parts",
            "ticket_contacts",
            "lifecycle_events",
            "part_attachments",
        ],
    ),
];

/// The windows of a read over several pages and the size past which a
/// window is split when read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPlan {
    /// `(lo, hi]` cut into windows, oldest first, tiling it without gap or
    /// overlap.
    pub windows: Vec<Window>,
    /// A window whose first page states a larger `total_count` (records)
    /// is split in two.
    pub split_rows: u64,
}

/// What a probe told about a search, the plan's only inputs besides the
/// run's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probed {
    /// Exclusive lower bound (unix seconds): the cursor less the lookback,
    /// 0 on a first sync.
    pub lo: i64,
    /// Inclusive upper bound: the probe's newest `updated_at` (the server's
    /// clock), within the range read.
    pub hi: i64,
    /// The probe's `total_count`: records in `(lo, hi]` and newer.
    pub total: u64,
    /// Records per page (`per_page` of the requests).
    pub per_page: u32,
    /// The `concurrency` setting (windows read at once at most).
    pub concurrency: usize,
}

/// The plan of a shared, second-granular search (see the module docs):
/// `start` is where the windows are cut from (the oldest record less one
/// second, or `lo` when it is not known or not asked); `(lo, start]` is the
/// first window when `start` is inside `(lo, hi)`.
pub fn plan_shared_windows(probed: Probed, start: i64) -> SearchPlan {
    let Probed {
        lo,
        hi,
        total,
        per_page,
        concurrency,
    } = probed;
    let per_page_rows = u64::from(per_page.max(1));
    let pages = total.div_ceil(per_page_rows);
    let parallel = concurrency.max(1) as u64;
    // The plain search's windows (see `search::read_search`).
    let (window_rows, split_rows) = if parallel > 1 {
        let rows = PARALLEL_WINDOW_PAGES * per_page_rows;
        (rows, (2 * rows).min(WINDOW_PAGE_BUDGET * per_page_rows))
    } else {
        let rows = WINDOW_PAGE_BUDGET * per_page_rows;
        (rows, rows)
    };
    // The fan-outs' windows: the most any of them plans at least, but no
    // more than the pages (a window of less than a page costs every reader
    // a request more and saves a fan-out less than a page of children).
    let min_windows = ChildRequests::EachParent
        .min_windows(pages)
        .max(ChildRequests::Few.min_windows(pages))
        .min(pages)
        .max(1);
    let cap = total.div_ceil(min_windows).max(per_page_rows);
    let (window_rows, split_rows) = (window_rows.min(cap), split_rows.min(cap));
    let busy = if parallel > 1 {
        (parallel * 2).min(pages / 2)
    } else {
        1
    };
    let n = total.div_ceil(window_rows).max(min_windows).max(busy);
    let g = Granularity::Second;
    let windows = if start > lo && start < hi {
        let mut windows = vec![Window { lo, hi: start }];
        windows.extend(plan_windows_to(start, hi, n, g, DAY));
        windows
    } else {
        plan_windows_to(lo, hi, n, g, DAY)
    };
    SearchPlan {
        windows,
        split_rows,
    }
}

/// The plan of `reader`'s search when it is a shared one
/// ([`SHARED_PATHS`], second-granular) that two or more reports of the run
/// read ([`READERS`], [`crate::extract::shared_search::SharedSearch::plans_alike`];
/// `None` otherwise: the caller plans per sink): on a first sync (`lo` = 0), one one-record request for the
/// oldest record first (the same body for every reader, so sent once a
/// run). `everything_hi` is the range's upper bound, `newest` the probe's
/// newest `updated_at`.
pub(crate) async fn shared_plan(
    reader: &Reader<'_>,
    lo: i64,
    everything_hi: i64,
    newest: i64,
    total: u64,
    per_page: u32,
    concurrency: usize,
) -> Option<SearchPlan> {
    let spec = reader.spec;
    if spec.granularity != Granularity::Second
        || !SHARED_PATHS.contains(&spec.path)
        || !reader.searches.plans_alike(spec.path)
    {
        return None;
    }
    let start = if lo == 0 {
        crate::extract::fanout::plan_start(reader, lo).await
    } else {
        lo
    };
    let probed = Probed {
        lo,
        hi: newest.min(everything_hi),
        total,
        per_page,
        concurrency,
    };
    Some(plan_shared_windows(probed, start))
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
