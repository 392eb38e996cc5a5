//! One byte budget for the search pages the process holds ahead of their
//! turn.
//!
//! Search windows are read several at once ([`crate::extract::windows_parallel`]);
//! only the oldest (the head) goes straight to the writer, and the pages of
//! the windows ahead of it wait, kept as the JSON text the server sent
//! (decoded only when delivered: a page of 150 contacts is about 1 MB of
//! JSON and 2–3 MB decoded as `serde_json::Value`s). Counting them in pages
//! let memory grow with the page
//! size × the windows reading × the reports running: every window ahead had
//! one request in flight, and all their answers were kept while the head
//! waited for its writer (up to `concurrency` pages a report, 64 by
//! default; ~680 MB at 100,000 contacts and 150 ms a call).
//!
//! [`AheadBudget`] bounds them by bytes instead, for every report and
//! workspace of the process together ([`AheadBudget::process`]), in two
//! pools:
//!
//! - **held**: the pages windows ahead keep in memory until their turn
//!   ([`AheadBudget::try_hold`], the page's exact size). A page that finds
//!   no room there goes to the window's spill file as soon as it arrives
//!   (writing text is cheap), so a full pool never holds a request back;
//! - **arriving**: the answers of requests in flight of windows ahead
//!   ([`AheadBudget::try_reserve_arriving`], room for one more page: the
//!   largest page seen so far; [`FIRST_PAGE_GUESS`] before any). A request
//!   in flight holds no body until it answers, but answers can pile up
//!   while the head waits for its writer; this pool bounds them. It is
//!   sized for the calls in flight that the rate limit needs (Little's law:
//!   166 calls a second × 150 ms ≈ 25–32), so that the windows ahead are
//!   never starved of requests by the pages held (issue #15: with one pool,
//!   two reports' 8 held pages each filled it, and only the heads read:
//!   ~7 calls in flight instead of ~30, 2.28 × the floor at 1,000,000
//!   contacts).
//!
//! Reads that cannot spill (a fan-out's parents, or after a spill file
//! could not be written) reserve the room of their answers in the held
//! pool before sending ([`AheadBudget::try_reserve_page`]): their pages
//! stay in memory whatever comes. The head never waits for the budget, so
//! every read progresses; when a pool is full, windows ahead wait (the head
//! reads on at full speed). What a pool holds may pass its total by the
//! pages that turned out larger than the guess they were sent with.
//!
//! Sizes are the exact length of the records' text ([`page_bytes`]); no
//! walk over decoded values.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use serde_json::value::RawValue;

/// The process's budget for search pages held ahead of their turn, in bytes
/// of their JSON text: about 12 pages of 150 contacts (≈ 36 MiB once
/// decoded; 16 MiB before, lowered with the writers' row groups to keep
/// 1,000,000 contacts under 150 MB): pages past it go to the spill file,
/// so windows ahead read as far as before.
pub const AHEAD_BUDGET_BYTES: usize = 12 * 1024 * 1024;

/// The process's budget for the answers of requests in flight of windows
/// ahead that may spill (the arriving pool, see the module docs), in bytes
/// of their JSON text: 40 pages of 1 MiB, more than the ~32 calls in flight
/// that 1,666 calls per 10 s at 150 ms need (see
/// [`crate::http::inflight`]), shared by every report of the process.
pub const ARRIVING_BUDGET_BYTES: usize = 40 * 1024 * 1024;

/// The room a request of a window ahead takes before any page was seen.
pub const FIRST_PAGE_GUESS: usize = 1024 * 1024;

/// A byte budget shared by its clones (see the module docs).
#[derive(Debug, Clone)]
pub struct AheadBudget {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Pages kept in memory (and, for reads that cannot spill, their
    /// requests in flight).
    held: Pool,
    /// Requests in flight of windows ahead that may spill.
    arriving: Pool,
    /// The largest page seen (bytes), the room a next request takes.
    page: AtomicUsize,
    /// Requests of windows ahead not sent because the budget was full.
    waits: AtomicU64,
}

/// One pool of an [`AheadBudget`]: bytes used of a total.
#[derive(Debug)]
struct Pool {
    total: usize,
    used: AtomicUsize,
    /// The most `used` reached.
    peak: AtomicUsize,
}

impl Pool {
    fn new(total: usize) -> Pool {
        Pool {
            total,
            used: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    /// Take `want` bytes if they fit beside what is used (an empty pool
    /// always grants them).
    fn try_take(&self, want: usize) -> bool {
        let granted = self
            .used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                (used == 0 || used + want <= self.total).then_some(used + want)
            });
        match granted {
            Ok(before) => {
                self.peak.fetch_max(before + want, Ordering::SeqCst);
                true
            }
            Err(_) => false,
        }
    }

    /// Take `bytes` whatever is used (never fails).
    fn take(&self, bytes: usize) {
        let now = self.used.fetch_add(bytes, Ordering::SeqCst);
        self.peak.fetch_max(now + bytes, Ordering::SeqCst);
    }

    fn give(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::SeqCst);
    }
}

/// Which pool a [`Held`] is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Held,
    Arriving,
}

impl AheadBudget {
    /// A budget of `total` bytes for pages held, and as many for answers
    /// arriving.
    pub fn new(total: usize) -> Self {
        Self::with_arriving(total, total)
    }

    /// A budget of `held` bytes for pages kept in memory and `arriving`
    /// bytes for the answers of requests in flight that may spill.
    pub fn with_arriving(held: usize, arriving: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                held: Pool::new(held),
                arriving: Pool::new(arriving),
                page: AtomicUsize::new(0),
                waits: AtomicU64::new(0),
            }),
        }
    }

    /// The process's one budget of [`AHEAD_BUDGET_BYTES`] held and
    /// [`ARRIVING_BUDGET_BYTES`] arriving: every search of every report and
    /// workspace running in this process shares it, since they share its
    /// memory.
    pub fn process() -> Self {
        static ONE: OnceLock<AheadBudget> = OnceLock::new();
        ONE.get_or_init(|| AheadBudget::with_arriving(AHEAD_BUDGET_BYTES, ARRIVING_BUDGET_BYTES))
            .clone()
    }

    /// The held pool's total, in bytes.
    pub fn total(&self) -> usize {
        self.inner.held.total
    }

    /// Bytes of the held pool used now.
    pub fn used(&self) -> usize {
        self.inner.held.used.load(Ordering::SeqCst)
    }

    /// The most bytes of the held pool used at once so far.
    pub fn peak(&self) -> usize {
        self.inner.held.peak.load(Ordering::SeqCst)
    }

    /// The arriving pool's total, in bytes.
    pub fn arriving_total(&self) -> usize {
        self.inner.arriving.total
    }

    /// Bytes of the arriving pool used now (requests in flight).
    pub fn arriving_used(&self) -> usize {
        self.inner.arriving.used.load(Ordering::SeqCst)
    }

    /// The most bytes of the arriving pool used at once so far.
    pub fn arriving_peak(&self) -> usize {
        self.inner.arriving.peak.load(Ordering::SeqCst)
    }

    /// Requests of windows ahead that waited because the budget was full.
    pub fn waits(&self) -> u64 {
        self.inner.waits.load(Ordering::SeqCst)
    }

    /// The room one more page takes: the largest page seen so far, or
    /// [`FIRST_PAGE_GUESS`].
    pub fn page_guess(&self) -> usize {
        match self.inner.page.load(Ordering::SeqCst) {
            0 => FIRST_PAGE_GUESS,
            n => n,
        }
    }

    /// Room in the held pool for the answer of a request that cannot spill
    /// (one more page, [`Self::page_guess`]), or `None` (counted as a wait)
    /// when it does not fit beside what is held. An empty pool always
    /// grants one, however large, so a window ahead can always read.
    pub fn try_reserve_page(&self) -> Option<Held> {
        self.try_in(Kind::Held, self.page_guess())
    }

    /// Room in the arriving pool for the answer of a request of a window
    /// ahead that may spill ([`Self::page_guess`]), or `None` (counted as a
    /// wait) when the answers already awaited fill it. Pages held do not
    /// count here. An empty pool always grants one.
    pub fn try_reserve_arriving(&self) -> Option<Held> {
        self.try_in(Kind::Arriving, self.page_guess())
    }

    /// Room in the held pool for a page of `bytes` that arrived, or `None`
    /// (not counted as a wait: the page goes to disk instead) when it does
    /// not fit beside what is held. An empty pool always grants it.
    pub fn try_hold(&self, bytes: usize) -> Option<Held> {
        self.pool(Kind::Held).try_take(bytes).then(|| Held {
            budget: self.clone(),
            bytes,
            kind: Kind::Held,
        })
    }

    fn try_in(&self, kind: Kind, want: usize) -> Option<Held> {
        if self.pool(kind).try_take(want) {
            Some(Held {
                budget: self.clone(),
                bytes: want,
                kind,
            })
        } else {
            self.inner.waits.fetch_add(1, Ordering::SeqCst);
            None
        }
    }

    fn pool(&self, kind: Kind) -> &Pool {
        match kind {
            Kind::Held => &self.inner.held,
            Kind::Arriving => &self.inner.arriving,
        }
    }

    /// An empty hold in the held pool, to be resized.
    pub fn hold(&self) -> Held {
        Held {
            budget: self.clone(),
            bytes: 0,
            kind: Kind::Held,
        }
    }

    /// A page of `bytes` was read: later requests take at least that room.
    pub fn saw_page(&self, bytes: usize) {
        self.inner.page.fetch_max(bytes, Ordering::SeqCst);
    }
}

/// Room held in one pool of an [`AheadBudget`], given back when dropped.
#[derive(Debug)]
pub struct Held {
    budget: AheadBudget,
    bytes: usize,
    kind: Kind,
}

impl Held {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Hold `bytes` instead (a page's real size instead of the guess it was
    /// requested with); growing never fails (the page is here already).
    pub fn resize(&mut self, bytes: usize) {
        let pool = self.budget.pool(self.kind);
        if bytes >= self.bytes {
            pool.take(bytes - self.bytes);
        } else {
            pool.give(self.bytes - bytes);
        }
        self.bytes = bytes;
    }

    /// Take over `other`'s room (both are of the same budget). Room of the
    /// other pool moves into this one's (it may pass its total: the page is
    /// here already).
    pub fn absorb(&mut self, mut other: Held) {
        let bytes = std::mem::take(&mut other.bytes);
        if other.kind != self.kind {
            self.budget.pool(other.kind).give(bytes);
            self.budget.pool(self.kind).take(bytes);
        }
        self.bytes += bytes;
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.pool(self.kind).give(self.bytes);
    }
}

/// The bytes a page kept as text takes: its records' JSON text, exactly
/// (plus a box per record, not counted).
pub fn page_bytes(records: &[Box<RawValue>]) -> usize {
    records.iter().map(|r| r.get().len()).sum()
}

/// Give the memory the process just freed back to the operating system,
/// at most once every [`GIVE_BACK_EVERY`] unless `now` (Linux with glibc;
/// elsewhere nothing). glibc keeps freed heap in its arenas for reuse, and
/// after a burst (decoded pages, a Parquet row group) RSS stays at the
/// burst's height while the live heap is much lower: 53–64 MB live against
/// RSS creeping from 100 to 178 MiB at 100,000 contacts (issue #15).
/// `malloc_trim(0)` returns the free pages of every arena. Called after a
/// report ends (`now`) and after a checkpoint is committed; it costs a walk
/// of the arenas (milliseconds), hence the rate limit.
pub fn give_back_freed_memory(now: bool) {
    static LAST: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);
    let Ok(mut last) = LAST.lock() else {
        return;
    };
    if !now && last.is_some_and(|t| t.elapsed() < GIVE_BACK_EVERY) {
        return;
    }
    *last = Some(std::time::Instant::now());
    drop(last);
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only reorganises glibc's own free lists; it takes
    // the arenas' locks and has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The least time between two [`give_back_freed_memory`] calls after
/// checkpoints.
pub const GIVE_BACK_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_wait_once_the_budget_is_full_and_room_comes_back_when_dropped() {
        let budget = AheadBudget::new(1000);
        budget.saw_page(300);
        let a = budget.try_reserve_page().expect("300 of 1000");
        let b = budget.try_reserve_page().expect("600 of 1000");
        let c = budget.try_reserve_page().expect("900 of 1000");
        assert_eq!(budget.used(), 900);
        assert!(budget.try_reserve_page().is_none(), "1200 > 1000");
        assert_eq!(budget.waits(), 1);
        drop(b);
        assert_eq!(budget.used(), 600);
        let d = budget.try_reserve_page().expect("room again");
        drop((a, c, d));
        assert_eq!(budget.used(), 0, "everything given back");
        assert_eq!(budget.peak(), 900);
    }

    #[test]
    fn an_empty_budget_grants_a_page_larger_than_itself_and_holds_real_sizes() {
        let budget = AheadBudget::new(100);
        assert_eq!(budget.page_guess(), FIRST_PAGE_GUESS);
        let mut big = budget.try_reserve_page().expect("empty: granted");
        assert!(budget.try_reserve_page().is_none(), "full");
        big.resize(40);
        assert_eq!(budget.used(), 40);
        budget.saw_page(50);
        let mut more = budget.try_reserve_page().expect("40 + 50 <= 100");
        more.resize(70);
        assert_eq!(budget.used(), 110, "a larger page than guessed is held");
        let mut slot = budget.hold();
        slot.absorb(big);
        slot.absorb(more);
        assert_eq!(slot.bytes(), 110);
        assert_eq!(budget.used(), 110, "absorbing moves room, not adds it");
        drop(slot);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn answers_arriving_and_pages_held_take_room_of_their_own_pools() {
        // Room for 2 pages held, 3 answers arriving, pages of 100 bytes.
        let budget = AheadBudget::with_arriving(200, 300);
        budget.saw_page(100);
        let held: Vec<Held> = (0..2)
            .map(|_| budget.try_hold(100).expect("room held"))
            .collect();
        assert!(budget.try_hold(100).is_none(), "the held pool is full");
        assert_eq!(budget.waits(), 0, "a page that goes to disk is no wait");
        // Held pages at their limit: requests still get room to arrive.
        let arriving: Vec<Held> = (0..3)
            .map(|_| budget.try_reserve_arriving().expect("room arriving"))
            .collect();
        assert_eq!((budget.used(), budget.arriving_used()), (200, 300));
        assert!(budget.try_reserve_arriving().is_none(), "3 answers awaited");
        assert!(budget.try_reserve_page().is_none(), "the held pool is full");
        assert_eq!(budget.waits(), 2);
        // An answer that must stay in memory moves its room to the held
        // pool (past its total: the page is here already).
        let mut kept = budget.hold();
        let mut arriving = arriving.into_iter();
        kept.absorb(arriving.next().expect("one"));
        assert_eq!((budget.used(), budget.arriving_used()), (300, 200));
        assert!(budget.try_reserve_arriving().is_some(), "room came back");
        drop((held, kept, arriving));
        assert_eq!((budget.used(), budget.arriving_used()), (0, 0));
        assert_eq!((budget.peak(), budget.arriving_peak()), (300, 300));
    }

    #[test]
    fn a_page_counts_the_exact_length_of_its_records_text() {
        let records: Vec<Box<RawValue>> = [r#"{"id":"1","updated_at":5}"#, r#"{"id": "22"}"#]
            .into_iter()
            .map(|t| RawValue::from_string(t.to_string()).expect("json"))
            .collect();
        assert_eq!(page_bytes(&records), 25 + 12);
        assert_eq!(page_bytes(&[]), 0);
    }
}
