//! The client's counters ([`ClientStats`], shared by clones; a counted
//! clone has its own too) and their point-in-time copy for the run summary
//! ([`StatsSnapshot`]).

use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};

use super::inflight;

/// Counters for the run summary.
#[derive(Debug, Default)]
pub struct ClientStats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub rate_limited: AtomicU64,
    /// The latest `X-RateLimit-Limit` seen (calls per 10-second window);
    /// 0 until a response states one.
    pub rate_limit_per_10s: AtomicU32,
    /// Intercom's rate-limit windows the answered calls fell in: each
    /// `X-RateLimit-Reset` (the end of a fixed 10-second window, unix
    /// seconds) later than every one seen before counts one
    /// ([`ClientStats::count_window`]).
    pub rate_windows: AtomicU64,
    /// The latest `X-RateLimit-Reset` seen (unix seconds); 0 before any.
    pub last_reset: AtomicI64,
    /// Some response (any status) came back: the server has been reached.
    pub answered: std::sync::atomic::AtomicBool,
    /// Attempts of any request whose connection could not be opened, while
    /// no response had come back (see [`super::NEVER_REACHED_ATTEMPTS`]).
    pub unreached: AtomicU32,
}

impl ClientStats {
    /// A response said its rate-limit window ends at `reset`
    /// (`X-RateLimit-Reset`, unix seconds): count the window if it is
    /// later than every one seen so far. Answers of calls side by side may
    /// come back out of order; one of an earlier window, arriving after a
    /// later one, was counted with its window's first answer.
    pub fn count_window(&self, reset: i64) {
        let before = self.last_reset.fetch_max(reset, Ordering::Relaxed);
        if reset > before {
            self.rate_windows.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A point-in-time copy of [`ClientStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// HTTP attempts sent (each retry counts).
    pub requests: u64,
    pub retries: u64,
    /// Responses with HTTP 429.
    pub rate_limited: u64,
    /// The latest `X-RateLimit-Limit` a response stated: Intercom's allowed
    /// calls per 10-second window for this token (1,666 for private apps).
    /// `None` while no response has carried the header.
    pub rate_limit_per_10s: Option<u32>,
    /// Intercom's 10-second rate-limit windows the calls were answered in
    /// (distinct `X-RateLimit-Reset` values); 0 while no response carried
    /// the header. The limit allowed `rate_limit_per_10s` calls in each.
    pub rate_windows: u64,
    /// The calls the client allows in flight now ([`inflight::Gate`]:
    /// the allowed rate × the measured latency, within `[1, max_in_flight]`).
    pub in_flight_target: usize,
    /// The most calls the client had in flight at once since it was built.
    pub peak_in_flight: usize,
    /// Calls taken for stalled since the client was built: out far longer
    /// than the recent latency ([`inflight::Controller::stall_after`]), so
    /// they gave their slot to another call while they went on.
    pub stalled_calls: usize,
}

impl StatsSnapshot {
    /// What happened between `earlier` and this snapshot.
    pub fn since(self, earlier: StatsSnapshot) -> StatsSnapshot {
        StatsSnapshot {
            requests: self.requests.saturating_sub(earlier.requests),
            retries: self.retries.saturating_sub(earlier.retries),
            rate_limited: self.rate_limited.saturating_sub(earlier.rate_limited),
            // The limit is a state, not a counter: the later one holds.
            rate_limit_per_10s: self.rate_limit_per_10s.or(earlier.rate_limit_per_10s),
            // The window open at `earlier` may have taken more calls after it.
            rate_windows: self.rate_windows.saturating_sub(earlier.rate_windows)
                + u64::from(earlier.rate_windows > 0 && self.requests > earlier.requests),
            // States too: the client's target now and its peak so far.
            in_flight_target: self.in_flight_target,
            peak_in_flight: self.peak_in_flight,
            stalled_calls: self.stalled_calls,
        }
    }
}

/// `stats` read now, with the client's in-flight target and peak (shared
/// by every clone).
pub(super) fn snapshot(stats: &ClientStats, gate: &inflight::Gate) -> StatsSnapshot {
    StatsSnapshot {
        requests: stats.requests.load(Ordering::Relaxed),
        retries: stats.retries.load(Ordering::Relaxed),
        rate_limited: stats.rate_limited.load(Ordering::Relaxed),
        rate_limit_per_10s: Some(stats.rate_limit_per_10s.load(Ordering::Relaxed))
            .filter(|l| *l > 0),
        rate_windows: stats.rate_windows.load(Ordering::Relaxed),
        in_flight_target: gate.target(),
        peak_in_flight: gate.peak(),
        stalled_calls: gate.stalled(),
    }
}
