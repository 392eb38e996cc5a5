//! Several search windows read at once, delivered in window order.
//!
//! A search window is cursor-paginated, so its pages come one after
//! another; at 150–300 ms a search call one window reads 3–6 pages a
//! second. [`read_windows`] keeps up to `parallel` windows reading at once
//! (the report's `concurrency`: an upper bound, the HTTP client decides what
//! is really in flight) while the sink still sees the windows oldest first:
//!
//! - the **head** (the oldest window not yet delivered) streams its pages
//!   straight to the sink and never waits;
//! - windows **ahead** of it keep the pages they read (records inside the
//!   window, not yet seen by it, as the JSON text the server sent: decoded
//!   when delivered) until they become the head, and never wait
//!   for it: all ahead windows together hold at most `ahead_pages` pages in
//!   memory, within the process's byte budget for pages held ahead, and a
//!   window ahead sends a request only when the budget's pool for answers
//!   arriving has room for its answer ([`crate::extract::ahead`]: pages
//!   held never hold requests back); past `ahead_pages` or the held pool, a
//!   window writes its pages to a temporary file
//!   ([`crate::extract::spill`]; one per window, in the system's temporary
//!   directory, or `Schedule::spill_dir`), and keeps writing there until
//!   its turn. So memory stays flat whatever the size of the workspace,
//!   and disk holds at most what was read ahead;
//! - a window that becomes the head hands the sink its pages in the order
//!   they were read (those in memory, then those on disk, whose file is
//!   then removed) and streams the rest live. A file that cannot be
//!   written (a full disk) is warned about once: its whole pages still
//!   replay, and from then on windows ahead wait while the memory budget
//!   is full instead (slower, same rows). Files go with their window on
//!   any exit: read to the end, an error, a dropped read;
//! - a completed head hands the sink a checkpoint (when one is due) whose
//!   cursor covers exactly the completed prefix of windows: a crash redoes
//!   at most the windows after it, and a rerun does not read the prefix
//!   again. A checkpoint is skipped while the rows sent reach past the
//!   completed window (records a failed read of a wider window already sent).
//!
//! Each window keeps the sequential read's rules: a first page whose
//! `total_count` exceeds `split_rows` splits the window in two; a page that
//! keeps failing is asked again with smaller pages (the window restarts;
//! the smaller size is used by every window started after), then by
//! splitting the window (the halves skip what the failed read kept); short
//! reads are counted. Halves take the window's place in the order.
//!
//! Windows are keyed by their lower bound: they tile the range, and a
//! split's halves keep the order (`a.lo` = the window's, `b.lo` = the cut).
//!
//! A window that holds more than `band_rows` ([`read_windows_in_parts`])
//! and cannot be cut finer in time (a day-granular window at its
//! narrowest) is cut by `created_at` instead, recursively (issue #15: the
//! newest 14 days of a million contacts were one reader's 380 pages while
//! every other window was done): its parts ([`Part`]) are read side
//! by side like windows and delivered in the order of their bands, keyed by
//! `(window lo, band lo)`. Only the last part of a window (the band that
//! reaches up) completes it: a checkpoint never follows a part before it,
//! so a crash between parts re-reads the whole window, and the cursor's
//! filter keeps every row exactly once.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::api::list_key;
use crate::api::query::search_body;
use crate::error::{Error, Result};
use crate::extract::ahead::{AheadBudget, Held, page_bytes};
use crate::extract::cursor::{CursorTracker, identity};
use crate::extract::search::{MAX_FAILURE_SPLITS, Reader, Sink, degradable, short_read};
use crate::extract::spill::Spill;
use crate::extract::window::{Axis, Part, Window, with_filter};

/// Pages a window is planned to take when windows are read in parallel:
/// small windows keep many readers busy within the ahead budget, and each
/// costs about one partly filled page more than one big window would.
pub const PARALLEL_WINDOW_PAGES: u64 = 4;

/// The most pages windows ahead of the head hold in memory at once: at 150
/// records a page, 1,200 records (a few MB of JSON text). Further pages they read go to disk (see
/// the module docs); only when that fails do they wait (counting their
/// requests in flight) while this budget is full.
pub const MAX_AHEAD_PAGES: usize = 8;

/// The in-memory ahead budget for `parallel` windows read at once: a
/// planned window ([`PARALLEL_WINDOW_PAGES`]) for each reader besides the
/// head, at most [`MAX_AHEAD_PAGES`]; zero when windows are read one at a
/// time.
pub fn ahead_budget(parallel: usize) -> usize {
    (parallel.saturating_sub(1) * PARALLEL_WINDOW_PAGES as usize).min(MAX_AHEAD_PAGES)
}

pub(crate) use crate::extract::raw_page::{RawPage, RawRecord};

/// Where a window's pages come from: the search endpoint (see the impl for
/// [`Reader`]), or a fake in tests.
pub(crate) trait PageSource {
    /// One page of `window` with `per_page` records, after `starting_after`
    /// (`None`: the first page), its records kept as text.
    async fn window_page(
        &self,
        part: Part,
        per_page: u32,
        starting_after: Option<&str>,
    ) -> Result<RawPage>;
}

impl PageSource for Reader<'_> {
    async fn window_page(
        &self,
        part: Part,
        per_page: u32,
        starting_after: Option<&str>,
    ) -> Result<RawPage> {
        let spec = self.spec;
        let q = with_filter(spec.filter.as_ref(), part.filters(spec.granularity));
        let body = search_body(q, per_page, starting_after, spec.sort);
        let raw = self.post(&body).await?;
        RawPage::decode(&self.endpoint(), list_key(spec.path), &raw)
    }
}

/// How [`read_windows`] reads.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    /// Windows reading at once, the head included (at least 1).
    pub parallel: usize,
    /// Pages windows ahead of the head may hold in memory (see
    /// [`ahead_budget`]); further pages go to disk.
    pub ahead_pages: usize,
    /// Whether pages past `ahead_pages` go to disk; `false`: windows ahead
    /// wait while the memory budget is full (a fan-out's parents, see
    /// [`crate::extract::fanout::ReadAhead`]).
    pub spill: bool,
    /// Where windows ahead write the pages past `ahead_pages`: `None`, an
    /// unnamed file in the system's temporary directory (`TMPDIR`; removed
    /// by the OS even if the process is killed); a directory, a named file
    /// `intercom-export-spill-*.jsonl` there (tests watch it).
    pub spill_dir: Option<PathBuf>,
    /// A window whose first page states a larger `total_count` is split.
    pub split_rows: u64,
    /// Page size of the windows started first (lowered when pages fail).
    pub per_page: u32,
    /// Checkpoint after a completed window once this long passed since the
    /// last one (`None`: never).
    pub checkpoint_every: Option<Duration>,
    /// The bytes of pages held ahead of their turn, shared with every other
    /// read of the process ([`AheadBudget::process`]; tests give their own).
    pub budget: AheadBudget,
}

/// What a read of windows saw, for tests and logs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ReadStats {
    /// The most pages windows ahead of the head held in memory at once.
    pub peak_ahead_pages: usize,
    /// The most page requests in flight at once.
    pub peak_in_flight: usize,
    /// Pages windows ahead wrote to disk (each read back once, in order).
    pub spilled_pages: u64,
    /// The most pages on disk at once.
    pub peak_spilled_pages: u64,
    /// The most bytes on disk at once (JSON lines).
    pub peak_spilled_bytes: u64,
    /// Requests of windows ahead held back because the byte budget was full.
    pub budget_waits: u64,
    /// From the start until the last page was read (the delivery may go on
    /// after).
    pub reading: Duration,
    /// Time the delivery waited for the reading to hand it pages.
    pub delivery_idle: Duration,
    /// Time the delivery waited for pages to decode.
    pub decode_wait: Duration,
    /// Time the delivery spent handing rows to the sink (waiting for its
    /// writer, mostly).
    pub sink_wait: Duration,
    /// Windows (or parts) split by `created_at` because they could not be
    /// cut finer in time (see [`Part::split`]).
    pub created_splits: u64,
}

/// `(id, updated_at)` of the records one window's reads kept.
pub(crate) type Sent = HashSet<(String, i64)>;

/// Where a part sorts in the plan ([`Part::key`]).
type Key = (i64, i64);

/// Read `windows` (contiguous, oldest first), up to `schedule.parallel` at
/// once, and hand the sink their new records in window order (see the
/// module docs); `tracker` filters them against the old cursor and follows
/// the new one.
///
/// The reading and the delivery (decoding, the cursor's filter, the sink,
/// checkpoints) run side by side, joined by a queue of
/// [`DELIVERY_QUEUE`] hand-overs: while the sink waits for its writer,
/// windows go on asking for pages (issue #15: with the delivery awaited
/// inside the reading, no request was sent while a window read ahead was
/// handed over, and the calls in flight fell to a few). Never cut by
/// `created_at` (see [`read_windows_in_parts`], what the searches call).
#[cfg(test)]
pub(crate) async fn read_windows(
    reader: &Reader<'_>,
    source: &impl PageSource,
    windows: Vec<Window>,
    schedule: &Schedule,
    tracker: &mut CursorTracker,
    tx: &impl Sink,
) -> Result<ReadStats> {
    read_windows_in_parts(reader, source, windows, schedule, u64::MAX, tracker, tx).await
}

/// [`read_windows`], and a window that cannot be cut finer in time whose
/// first page states more than `band_rows` records (and more than
/// `schedule.split_rows`) is cut by `created_at` into parts read side by
/// side (see the module docs). `band_rows` is what one reader can page
/// through without becoming the read's tail: about the rows of the whole
/// read over its readers (see `search::read_search`); `u64::MAX`: never.
pub(crate) async fn read_windows_in_parts(
    reader: &Reader<'_>,
    source: &impl PageSource,
    windows: Vec<Window>,
    schedule: &Schedule,
    band_rows: u64,
    tracker: &mut CursorTracker,
    tx: &impl Sink,
) -> Result<ReadStats> {
    let (queue, jobs) = tokio::sync::mpsc::channel(DELIVERY_QUEUE);
    let start = Instant::now();
    let reading = async {
        let read = read(reader, source, windows, schedule, band_rows, queue).await;
        read.map(|stats| ReadStats {
            reading: start.elapsed(),
            ..stats
        })
    };
    let mut times = DeliveryTimes::default();
    let delivering = deliver_jobs(
        reader.spec.path,
        schedule.checkpoint_every,
        jobs,
        tracker,
        tx,
        &mut times,
    );
    let (read, delivered) = futures::future::join(reading, delivering).await;
    // A failed delivery first: the reading then only saw the queue close.
    delivered?;
    read.map(|stats| ReadStats {
        delivery_idle: times.idle,
        decode_wait: times.decode,
        sink_wait: times.sink,
        ..stats
    })
}

// The reading itself (`windows_read.rs`).
#[path = "windows_read.rs"]
mod reading;
use reading::read;

// One window of the plan and what its read kept (`windows_slot.rs`).
#[path = "windows_slot.rs"]
mod slot;
use slot::{Kept, Slot, Split, State};

// What happens to one window's pages: spilled, taken in, delivered
// (`windows_pages.rs`).
#[path = "windows_pages.rs"]
mod pages;
// The hand-overs from the reading to the delivery, and the delivery
// (`windows_delivery.rs`).
#[path = "windows_delivery.rs"]
mod delivery;
pub use delivery::DELIVERY_QUEUE;
use delivery::{DeliveryTimes, Job, deliver_jobs};
pub(crate) use pages::{deliver, keep_new};
use pages::{fetch, spill_last, take_page};

#[cfg(test)]
#[path = "windows_parallel_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "raw_page_tests.rs"]
mod raw_page_tests;
