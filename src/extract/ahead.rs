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
//! workspace of the process together ([`AheadBudget::process`]): a window
//! ahead sends its next request only when the budget has room for one more
//! page (the largest page seen so far; [`FIRST_PAGE_GUESS`] before any), and
//! holds that room ([`Held`]) while the answer waits and while its pages are
//! kept in memory; a page written to disk or handed to the writer gives it
//! back. The head never waits for the budget, so every read progresses; when
//! the budget is full, windows ahead wait (the head reads on at full speed).
//! What the budget holds may pass its total by the pages that turned out
//! larger than the guess they were sent with.
//!
//! Sizes are the exact length of the records' text ([`page_bytes`]); no
//! walk over decoded values.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use serde_json::value::RawValue;

/// The process's budget for search pages held ahead of their turn, in bytes
/// of their JSON text: about 16 pages of 150 contacts (≈ 48 MiB once
/// decoded), a few more than the 32 MiB of decoded pages it replaces held,
/// so windows ahead read at least as far as before in half the memory.
pub const AHEAD_BUDGET_BYTES: usize = 16 * 1024 * 1024;

/// The room a request of a window ahead takes before any page was seen.
pub const FIRST_PAGE_GUESS: usize = 1024 * 1024;

/// A byte budget shared by its clones (see the module docs).
#[derive(Debug, Clone)]
pub struct AheadBudget {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    total: usize,
    used: AtomicUsize,
    /// The most `used` reached.
    peak: AtomicUsize,
    /// The largest page seen (bytes), the room a next request takes.
    page: AtomicUsize,
    /// Requests of windows ahead not sent because the budget was full.
    waits: AtomicU64,
}

impl AheadBudget {
    /// A budget of `total` bytes.
    pub fn new(total: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                total,
                used: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
                page: AtomicUsize::new(0),
                waits: AtomicU64::new(0),
            }),
        }
    }

    /// The process's one budget of [`AHEAD_BUDGET_BYTES`]: every search of
    /// every report and workspace running in this process shares it, since
    /// they share its memory.
    pub fn process() -> Self {
        static ONE: OnceLock<AheadBudget> = OnceLock::new();
        ONE.get_or_init(|| AheadBudget::new(AHEAD_BUDGET_BYTES))
            .clone()
    }

    /// The total, in bytes.
    pub fn total(&self) -> usize {
        self.inner.total
    }

    /// Bytes held now.
    pub fn used(&self) -> usize {
        self.inner.used.load(Ordering::SeqCst)
    }

    /// The most bytes held at once so far.
    pub fn peak(&self) -> usize {
        self.inner.peak.load(Ordering::SeqCst)
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

    /// Room for one more page ([`Self::page_guess`]), or `None` (counted as
    /// a wait) when it does not fit beside what is held. An empty budget
    /// always grants one, however large, so a window ahead can always read.
    pub fn try_reserve_page(&self) -> Option<Held> {
        let want = self.page_guess();
        let granted = self
            .inner
            .used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                (used == 0 || used + want <= self.inner.total).then_some(used + want)
            });
        match granted {
            Ok(before) => {
                self.inner.peak.fetch_max(before + want, Ordering::SeqCst);
                Some(Held {
                    budget: self.clone(),
                    bytes: want,
                })
            }
            Err(_) => {
                self.inner.waits.fetch_add(1, Ordering::SeqCst);
                None
            }
        }
    }

    /// An empty hold, to be resized.
    pub fn hold(&self) -> Held {
        Held {
            budget: self.clone(),
            bytes: 0,
        }
    }

    /// A page of `bytes` was read: later requests take at least that room.
    pub fn saw_page(&self, bytes: usize) {
        self.inner.page.fetch_max(bytes, Ordering::SeqCst);
    }
}

/// Room held in an [`AheadBudget`], given back when dropped.
#[derive(Debug)]
pub struct Held {
    budget: AheadBudget,
    bytes: usize,
}

impl Held {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Hold `bytes` instead (a page's real size instead of the guess it was
    /// requested with); growing never fails (the page is here already).
    pub fn resize(&mut self, bytes: usize) {
        let inner = &self.budget.inner;
        if bytes >= self.bytes {
            let now = inner.used.fetch_add(bytes - self.bytes, Ordering::SeqCst);
            inner
                .peak
                .fetch_max(now + bytes - self.bytes, Ordering::SeqCst);
        } else {
            inner.used.fetch_sub(self.bytes - bytes, Ordering::SeqCst);
        }
        self.bytes = bytes;
    }

    /// Take over `other`'s room (both are of the same budget).
    pub fn absorb(&mut self, mut other: Held) {
        self.bytes += std::mem::take(&mut other.bytes);
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget
            .inner
            .used
            .fetch_sub(self.bytes, Ordering::SeqCst);
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
    fn a_page_counts_the_exact_length_of_its_records_text() {
        let records: Vec<Box<RawValue>> = [r#"{"id":"1","updated_at":5}"#, r#"{"id": "22"}"#]
            .into_iter()
            .map(|t| RawValue::from_string(t.to_string()).expect("json"))
            .collect();
        assert_eq!(page_bytes(&records), 25 + 12);
        assert_eq!(page_bytes(&[]), 0);
    }
}
