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

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

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
        if let Some(limit) = limit_per_10s.filter(|l| *l > 0) {
            self.limit_per_10s = Some(limit);
        }
        let sample = latency.as_secs_f64();
        self.latency_secs = Some(match self.latency_secs {
            None => sample,
            Some(mean) => mean + EWMA_WEIGHT * (sample - mean),
        });
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
}

/// One client's in-flight gate (shared by its clones: one per workspace
/// token). See the module docs.
#[derive(Debug)]
pub struct Gate {
    slots: Semaphore,
    inner: Mutex<Inner>,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
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
            }),
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
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
        Slot { gate: self, permit }
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
        let target = inner.controller.target();
        if target > inner.capacity {
            self.slots.add_permits(target - inner.capacity);
            inner.capacity = target;
        } else if target < inner.capacity {
            // Free permits go now; held ones when their calls end.
            inner.capacity -= self.slots.forget_permits(inner.capacity - target);
        }
    }
}

/// A slot in the gate, held while one call is out.
#[derive(Debug)]
pub struct Slot<'a> {
    gate: &'a Gate,
    permit: Option<SemaphorePermit<'a>>,
}

impl Slot<'_> {
    /// The call was answered (any status but 429) `latency` after it was
    /// sent, stating `limit_per_10s` if it carried `X-RateLimit-Limit`.
    pub fn answered(&self, latency: Duration, limit_per_10s: Option<u32>) {
        self.gate
            .learn(|c| c.answered(latency, limit_per_10s, Instant::now()));
    }

    /// The call was answered with 429.
    pub fn throttled(&self, limit_per_10s: Option<u32>) {
        self.gate
            .learn(|c| c.throttled(limit_per_10s, Instant::now()));
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.gate.in_flight.fetch_sub(1, Ordering::Relaxed);
        let Some(permit) = self.permit.take() else {
            return;
        };
        let mut inner = self.gate.lock();
        if inner.capacity > inner.controller.target() {
            // The target shrank while this call was out: retire its permit.
            permit.forget();
            inner.capacity -= 1;
        } else {
            drop(permit);
        }
    }
}

#[cfg(test)]
#[path = "inflight_tests.rs"]
mod tests;
