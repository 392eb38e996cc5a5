//! One window of [`read_windows`](super::read_windows)'s plan ([`Slot`]):
//! its state, where its read stands, and the pages it read and has not
//! delivered yet ([`Kept`]: in memory and in its spill file).

use super::*;

/// Where a window's read stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// Not started.
    Pending,
    /// Started; its next page is to be asked.
    Ready,
    /// A page request is in flight.
    InFlight,
    /// Every page read.
    Done,
}

/// One window of the plan and its read so far.
pub(super) struct Slot {
    /// The time window and `created_at` band it reads.
    pub(super) part: Part,
    /// Times it (or the window it is half of) was split because pages failed.
    pub(super) failure_splits: u8,
    pub(super) seen: Sent,
    /// Records read and kept in memory as sent, not yet delivered (a
    /// window ahead of the head).
    pub(super) pages: Vec<Vec<RawRecord>>,
    /// Pages read and kept on disk, after `pages[..spill_at]` and before
    /// `pages[spill_at..]` (kept in memory after a failed write).
    pub(super) spill: Option<Spill>,
    pub(super) spill_at: usize,
    /// The budget's room for `pages` (see [`crate::extract::ahead`]).
    pub(super) held: Option<Held>,
    pub(super) state: State,
    pub(super) per_page: u32,
    pub(super) starting_after: Option<String>,
    pub(super) pages_read: u64,
    /// Distinct ids the server listed (inside the window or not).
    pub(super) listed: HashSet<String>,
    /// Counted as a degraded window already.
    pub(super) degraded: bool,
    /// The `created_at` (unix seconds) of the records of its first page: a
    /// sample of the part, where a split by `created_at` cuts
    /// ([`Part::split_band`]).
    pub(super) created: Vec<i64>,
}

impl Slot {
    pub(super) fn new(part: Part, failure_splits: u8, seen: Sent, kept: Kept) -> Slot {
        Slot {
            part,
            failure_splits,
            seen,
            pages: kept.pages,
            spill: kept.spill,
            spill_at: kept.spill_at,
            held: kept.held,
            state: State::Pending,
            per_page: 0,
            starting_after: None,
            pages_read: 0,
            listed: HashSet::new(),
            degraded: false,
            created: Vec::new(),
        }
    }

    pub(super) fn label(&self) -> String {
        self.part.label()
    }

    /// What it read and kept, in memory and on disk.
    pub(super) fn take_kept(&mut self) -> Kept {
        Kept {
            pages: std::mem::take(&mut self.pages),
            spill: self.spill.take(),
            spill_at: std::mem::take(&mut self.spill_at),
            held: self.held.take(),
        }
    }
}

/// A window's pages read and not delivered (see [`Slot::pages`]).
#[derive(Default)]
pub(super) struct Kept {
    pub(super) pages: Vec<Vec<RawRecord>>,
    pub(super) spill: Option<Spill>,
    pub(super) spill_at: usize,
    /// The budget's room for `pages`, given back once they are delivered.
    pub(super) held: Option<Held>,
}

/// A part to be replaced by its halves.
pub(super) struct Split {
    pub(super) a: Part,
    pub(super) b: Part,
    pub(super) failure_splits: u8,
    /// Cut on `created_at` (the window could not be cut finer in time).
    pub(super) axis: Axis,
}
