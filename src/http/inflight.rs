//! How many calls a client keeps in flight: found by measurement.
//!
//! The pacer ([`super::pace`]) decides *when* a call may go so the rate
//! stays under Intercom's limit; this gate decides *how many* calls may be
//! out at once, so that the allowed rate can be reached at all. With a
//! fixed number `n` in flight and latency `L`, a client makes at most
//! `n / L` calls per second (8 calls at 150 ms: 53 per second, a third of
//! the 166.6 a private app may make). Little's law gives the number the
//! allowed rate needs:
//!
//! ```text
//! target = ceil(rate × latency × HEADROOM) + MARGIN,   clamped to [1, bound]
//! ```
//!
//! - `rate`: calls per second allowed: `X-RateLimit-Limit` / 10 s, or the
//!   user's `max_requests_per_minute` / 60 s when that is lower.
//! - `latency`: an exponentially weighted mean (weight [`EWMA_WEIGHT`] for
//!   each new sample) of the time a call holds its slot after the pacer let
//!   it go: from sending the request until its body is read. Time spent
//!   waiting for a slot or for the pacer is not latency. The body is
//!   included because the slot is held until it is read: Little's law
//!   needs the time a slot is occupied, not only the time to the headers.
//! - `bound`: the `concurrency` setting, the most calls in flight a user
//!   allows ([`DEFAULT_BOUND`] unless set).
//!
//! It moves with what it measures: a lower value is taken at once, a higher
//! one is approached by one slot per answered call (which doubles the
//! target every round trip, as TCP's slow start). Before a rate is known
//! (no response has stated one, and no ceiling is set) it starts at
//! [`INITIAL_TARGET`] and grows by one per answered call towards `bound`.
//! A 429 halves the target (at most once per [`DECREASE_SPACING`]: the
//! calls sent together answer together) and holds it for [`HOLD_AFTER_429`]
//! before it may grow again. A low `X-RateLimit-Remaining` is not this
//! gate's business: the pacer holds calls back for it.
//!
//! The gate is a tokio [`Semaphore`] whose permits are the target: a larger
//! target adds permits, a smaller one forgets free permits and, for the
//! rest, permits of calls that end while the gate holds more than the
//! target. Waiting calls are served first come, first served.
//!
//! ## Stalled calls
//!
//! A call out far longer than the others ([`Controller::stall_after`]:
//! [`STALL_FACTOR`] × the p90 of the last [`RECENT_SAMPLES`] latencies,
//! at least [`STALL_FLOOR`]) is *stalled*: it keeps running until it is
//! answered or the user's `request_timeout_secs` ends it, but it gives its
//! slot to the next call ([`Slot::watch`]). Without this, a server that
//! answers in a millisecond needs 3 slots, and one hung call held a third
//! of them until its timeout (60 s by default) while every other call
//! waited. Stalled calls still count against the bound: a call gives its
//! slot away only while the calls out, stalled ones included, stay within
//! `concurrency`, so a server that hangs every call is never sent more
//! than that many at once. The time a stalled call held its slot counts in
//! Little's law's latency mean ([`Controller::occupied`]): with 1 % of
//! calls holding a slot 2 s, the mean slot is held 20 ms longer, and the
//! target grows to match; its late answer is no sample (it held no slot
//! then), and neither is the stall in the p90 the threshold is taken from.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

/// The `concurrency` setting's default: the most calls in flight. At 150 ms
/// the 1,666-per-10-s limit needs about 32, at 300 ms about 62.
pub const DEFAULT_BOUND: usize = 64;

/// The target before anything is measured (or `bound`, when lower).
pub const INITIAL_TARGET: usize = 8;

/// Little's law's product is raised by this factor: latency varies, and a
/// call that answers late should not leave the rate unused.
pub const HEADROOM: f64 = 1.2;

/// Calls added to Little's law's product (a call being decoded, a call
/// whose slot is about to be freed).
pub const MARGIN: usize = 2;

/// The weight of each new latency sample in the mean.
pub const EWMA_WEIGHT: f64 = 0.1;

/// After a 429 the target does not grow for this long.
pub const HOLD_AFTER_429: Duration = Duration::from_secs(5);

/// 429s within this time of the last decrease do not decrease again: calls
/// sent before it answer after it.
pub const DECREASE_SPACING: Duration = Duration::from_secs(1);

/// A call out longer than this many times the recent p90 latency is
/// stalled (see the module docs).
pub const STALL_FACTOR: f64 = 4.0;

/// A call is never taken for stalled before this long: far longer than a
/// healthy answer of a server answering in milliseconds (where 4 × the p90
/// would be tiny); for slower servers 4 × their p90 takes over. Taking a
/// slow but healthy call for stalled loses nothing: it goes on, and the
/// request sent again beside it costs one call (trial, 2,050 requests
/// with 1 % hung: 50.8 s with 5 s here, 18.8 s with 2 s, 7.2 s unhung).
pub const STALL_FLOOR: Duration = Duration::from_secs(2);

/// The latencies the p90 of [`Controller::stall_after`] is taken over.
pub const RECENT_SAMPLES: usize = 64;

/// A stalled call that could not give its slot away (the bound was
/// reached) asks again this often.
pub const STALL_RECHECK: Duration = Duration::from_secs(1);

/// The arithmetic of the target (see the module docs), fed with
/// measurements; no clock or I/O of its own, so tests feed it synthetic ones.
#[derive(Debug, Clone)]
pub struct Controller {
    /// The most calls in flight (`concurrency`), at least 1.
    bound: usize,
    /// `max_requests_per_minute` / 60, calls per second.
    ceiling_per_sec: Option<f64>,
    /// The latest `X-RateLimit-Limit` (calls per 10-second window).
    limit_per_10s: Option<u32>,
    /// The latency mean, seconds; `None` until a call was answered.
    latency_secs: Option<f64>,
    /// The current target, in `[1, bound]`.
    target: usize,
    /// No growth before this instant (after a 429).
    hold_until: Option<Instant>,
    /// When a 429 last decreased the target.
    last_decrease: Option<Instant>,
    /// The last [`RECENT_SAMPLES`] latencies, seconds, oldest first.
    recent: VecDeque<f64>,
}

impl Controller {
    /// A controller allowing at most `bound` calls in flight (0 is taken
    /// as 1), under an optional user ceiling in calls per minute.
    pub fn new(bound: usize, max_requests_per_minute: Option<u32>) -> Self {
        let bound = bound.max(1);
        Controller {
            bound,
            ceiling_per_sec: max_requests_per_minute
                .filter(|m| *m > 0)
                .map(|m| f64::from(m) / 60.0),
            limit_per_10s: None,
            latency_secs: None,
            target: INITIAL_TARGET.min(bound),
            hold_until: None,
            last_decrease: None,
            recent: VecDeque::with_capacity(RECENT_SAMPLES),
        }
    }

    /// The 90th percentile of the last [`RECENT_SAMPLES`] latencies; `None`
    /// before any call was answered.
    pub fn recent_p90(&self) -> Option<Duration> {
        if self.recent.is_empty() {
            return None;
        }
        let mut sorted: Vec<f64> = self.recent.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let rank = ((sorted.len() as f64) * 0.9).ceil() as usize;
        let p90 = sorted[rank.clamp(1, sorted.len()) - 1];
        Some(Duration::from_secs_f64(p90))
    }

    /// How long a call may be out before it is taken for stalled:
    /// [`STALL_FACTOR`] × [`recent_p90`](Self::recent_p90), at least
    /// [`STALL_FLOOR`].
    pub fn stall_after(&self) -> Duration {
        self.recent_p90()
            .map_or(STALL_FLOOR, |p90| p90.mul_f64(STALL_FACTOR))
            .max(STALL_FLOOR)
    }

    /// A response stated `limit_per_10s` (`X-RateLimit-Limit`) without a
    /// latency worth learning from (a stalled call's answer).
    pub fn stated(&mut self, limit_per_10s: Option<u32>) {
        if let Some(limit) = limit_per_10s.filter(|l| *l > 0) {
            self.limit_per_10s = Some(limit);
        }
    }

    /// The calls allowed in flight now.
    pub fn target(&self) -> usize {
        self.target
    }

    /// The upper bound (`concurrency`).
    pub fn bound(&self) -> usize {
        self.bound
    }

    /// The smoothed latency, if any call was answered.
    pub fn latency(&self) -> Option<Duration> {
        self.latency_secs.map(Duration::from_secs_f64)
    }

    /// Calls per second allowed: the stated limit per 10 s, or the user's
    /// ceiling when lower; `None` while neither is known.
    pub fn allowed_rate(&self) -> Option<f64> {
        let stated = self.limit_per_10s.map(|l| f64::from(l) / 10.0);
        match (stated, self.ceiling_per_sec) {
            (Some(s), Some(c)) => Some(s.min(c)),
            (s, c) => s.or(c),
        }
    }

    /// What Little's law asks for, clamped to `[1, bound]`: `None` until
    /// both a rate and a latency are known.
    pub fn desired(&self) -> Option<usize> {
        let rate = self.allowed_rate()?;
        let latency = self.latency_secs?;
        let product = (rate * latency * HEADROOM).ceil();
        // `as` saturates: a huge product is clamped to `bound` below.
        let n = (product.max(0.0) as usize).saturating_add(MARGIN);
        Some(n.clamp(1, self.bound))
    }

    /// A call was answered (any status but 429) `latency` after it was
    /// sent, stating `limit_per_10s` if it carried `X-RateLimit-Limit`.
    pub fn answered(&mut self, latency: Duration, limit_per_10s: Option<u32>, now: Instant) {
        self.stated(limit_per_10s);
        let sample = latency.as_secs_f64();
        if self.recent.len() == RECENT_SAMPLES {
            self.recent.pop_front();
        }
        self.recent.push_back(sample);
        self.latency_secs = Some(match self.latency_secs {
            None => sample,
            Some(mean) => mean + EWMA_WEIGHT * (sample - mean),
        });
        self.follow(now);
    }

    /// A call held its slot for `held` and is still out (stalled, see the
    /// module docs): Little's law counts that time, as the slot was
    /// occupied for it, so the target grows to cover such calls; it is not
    /// a sample of [`recent_p90`](Self::recent_p90), which measures
    /// answers, lest the stall threshold follow the stalls.
    pub fn occupied(&mut self, held: Duration, now: Instant) {
        let sample = held.as_secs_f64();
        self.latency_secs = Some(match self.latency_secs {
            None => sample,
            Some(mean) => mean + EWMA_WEIGHT * (sample - mean),
        });
        self.follow(now);
    }

    /// Move the target towards [`desired`](Self::desired): down at once,
    /// up by one (not while held after a 429).
    fn follow(&mut self, now: Instant) {
        let desired = self.desired().unwrap_or(self.bound);
        let held = self.hold_until.is_some_and(|until| now < until);
        if desired < self.target {
            self.target = desired;
        } else if desired > self.target && !held {
            self.target += 1;
        }
    }

    /// A call was answered with 429: halve the target (once per
    /// [`DECREASE_SPACING`]) and hold it for [`HOLD_AFTER_429`].
    pub fn throttled(&mut self, limit_per_10s: Option<u32>, now: Instant) {
        if let Some(limit) = limit_per_10s.filter(|l| *l > 0) {
            self.limit_per_10s = Some(limit);
        }
        let recent = self
            .last_decrease
            .is_some_and(|at| now.saturating_duration_since(at) < DECREASE_SPACING);
        if !recent {
            self.target = (self.target / 2).max(1);
            self.last_decrease = Some(now);
        }
        self.hold_until = Some(now + HOLD_AFTER_429);
    }
}

/// The controller and the permits the semaphore holds, changed together.
#[derive(Debug)]
struct Inner {
    controller: Controller,
    /// Permits in the semaphore, free or held: the target, or more while
    /// calls that began under a larger target are still out.
    capacity: usize,
    /// Stalled calls still out that gave their permit away: with
    /// `capacity`, never more than the bound.
    stalled_out: usize,
}

impl Inner {
    /// The permits the gate may hold: the target, but no more than the
    /// bound leaves beside the stalled calls still out (at least 1).
    fn allowed(&self) -> usize {
        let room = self
            .controller
            .bound()
            .saturating_sub(self.stalled_out)
            .max(1);
        self.controller.target().min(room)
    }
}

/// One client's in-flight gate (shared by its clones: one per workspace
/// token). See the module docs.
#[derive(Debug)]
pub struct Gate {
    slots: Semaphore,
    inner: Mutex<Inner>,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    /// Calls that were taken for stalled and gave their slot away.
    stalled: AtomicUsize,
}

impl Gate {
    /// A gate for at most `bound` calls in flight (the `concurrency`
    /// setting), under an optional ceiling in calls per minute.
    pub fn new(bound: usize, max_requests_per_minute: Option<u32>) -> Self {
        let controller = Controller::new(bound, max_requests_per_minute);
        let capacity = controller.target();
        Gate {
            slots: Semaphore::new(capacity),
            inner: Mutex::new(Inner {
                controller,
                capacity,
                stalled_out: 0,
            }),
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            stalled: AtomicUsize::new(0),
        }
    }

    /// Wait for a slot. Hold the [`Slot`] while the call is out (pacer
    /// included), tell it how the call ended, and drop it.
    pub async fn enter(&self) -> Slot<'_> {
        // The semaphore is never closed, so acquiring cannot fail; should it
        // ever, the call goes without a slot rather than failing.
        let permit = self.slots.acquire().await.ok();
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
        Slot {
            gate: self,
            permit,
            stalled: false,
        }
    }

    /// Calls taken for stalled that gave their slot to another (see the
    /// module docs), since the gate was made.
    pub fn stalled(&self) -> usize {
        self.stalled.load(Ordering::Relaxed)
    }

    /// How long a call may be out now before it is taken for stalled
    /// ([`Controller::stall_after`]).
    pub fn stall_after(&self) -> Duration {
        self.lock().controller.stall_after()
    }

    /// The calls allowed in flight now.
    pub fn target(&self) -> usize {
        self.lock().controller.target()
    }

    /// The most calls that were in flight at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// A copy of the controller (its measurements), for diagnostics.
    pub fn controller(&self) -> Controller {
        self.lock().controller.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Let the controller learn, then match the permits to its target.
    fn learn(&self, learn: impl FnOnce(&mut Controller)) {
        let mut inner = self.lock();
        learn(&mut inner.controller);
        self.match_permits(&mut inner);
    }

    /// Match the permits to the target, less the room stalled calls take
    /// within the bound ([`Inner::allowed`]).
    fn match_permits(&self, inner: &mut Inner) {
        let target = inner.allowed();
        if target > inner.capacity {
            self.slots.add_permits(target - inner.capacity);
            inner.capacity = target;
        } else if target < inner.capacity {
            // Free permits go now; held ones when their calls end.
            inner.capacity -= self.slots.forget_permits(inner.capacity - target);
        }
    }
}

#[path = "inflight_slot.rs"]
mod slot;
pub use slot::Slot;

#[cfg(test)]
#[path = "inflight_tests.rs"]
mod tests;
