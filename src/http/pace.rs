//! Pacing: use the workspace's rate limit fully without tripping it.
//!
//! Intercom allows N calls per fixed 10-second window per workspace and says
//! so on every response (`X-RateLimit-Limit`, `-Remaining`, `-Reset`). One
//! [`Pacer`] per client (i.e. per workspace token) combines two gates:
//!
//! - **A `governor` limiter sized from `X-RateLimit-Limit`**: `Limit` calls
//!   per 10 seconds with bursts of `Limit`. It is built when the first
//!   response states the limit, rebuilt when the stated limit changes, and
//!   re-synchronised when a response opens a new server window (a fresh
//!   limiter with `Limit − Remaining` cells already taken), so it starts each
//!   window from the server's own count. It sets the pace while the headers
//!   cannot: in a window the pacer only presumes (the reset passed, no
//!   response from the new window yet). Every call let through takes a cell.
//! - **The headers of the current window**, which override the limiter both
//!   ways. A token bucket cannot express "R calls left until T", so: a
//!   response says `R` calls were left when the server counted it; every
//!   call not yet answered may have used one more. While that is positive a
//!   call goes at once, whatever the limiter says (never a sleep when the
//!   headers say there is room); at zero the caller sleeps until the
//!   window's reset, whatever the limiter says (another integration may be
//!   using the quota). Once the reset passes, a fresh window of `Limit` calls
//!   is presumed, paced by the limiter, until a response from it corrects the
//!   count.
//!
//! Calls overtake each other between client and server, so "the freshest
//! response" is taken as the lowest `Remaining` answered in the window (the
//! last call the server counted among those answered), and every call still
//! in flight is presumed to use one more: `room = min(Remaining) − in
//! flight`, exact once nothing is in flight. Near a window's end the last
//! few calls wait for answers rather than guess.
//!
//! A second `governor` limiter enforces the optional user ceiling
//! (`max_requests_per_minute`, for apps that share the quota). Both are
//! polled with `check()` and slept on with `tokio::time::sleep`, because
//! governor's own `until_ready` uses futures-timer and ignores tokio's
//! paused clock.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::HeaderMap;

/// Slack after a window's reset before calling again: covers clock skew and
/// the reset header's one-second resolution... on the early side only.
const RESET_MARGIN_MS: i64 = 100;

/// The three rate-limit headers of one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitHeaders {
    /// Calls per window.
    pub limit: u32,
    /// Calls left in the window after this one.
    pub remaining: u32,
    /// End of the window, unix seconds (wall clock).
    pub reset: i64,
}

impl RateLimitHeaders {
    /// Parse `X-RateLimit-Limit/Remaining/Reset`; `None` unless all three are
    /// present and numeric (Intercom omits them on some errors).
    pub fn parse(headers: &HeaderMap) -> Option<Self> {
        let get = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<i64>().ok();
        let limit = get("x-ratelimit-limit")?;
        let remaining = get("x-ratelimit-remaining")?;
        let reset = get("x-ratelimit-reset")?;
        Some(RateLimitHeaders {
            limit: u32::try_from(limit).ok().filter(|l| *l > 0)?,
            remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
            reset,
        })
    }
}

/// While calls sent *before* the freshest answered one are still in flight,
/// the server may have counted them after it; rather than guess, wait this
/// long for their answers when the count is that close to zero.
const INFLIGHT_POLL: Duration = Duration::from_millis(5);

/// The length of Intercom's rate-limit window.
const WINDOW: Duration = Duration::from_secs(10);

/// The longest any header (`X-RateLimit-Reset`, `Retry-After`) can make a
/// caller wait: one rate-limit window plus a margin. Intercom's windows are
/// 10 seconds, so a reset further out is clock skew or a bad header; past
/// this, callers back off normally (and the pacer presumes a fresh window).
pub const MAX_HEADER_WAIT: Duration = Duration::from_secs(12);

/// `wait`, as asked by a server header, bounded by [`MAX_HEADER_WAIT`].
pub fn bound_header_wait(wait: Duration) -> Duration {
    wait.min(MAX_HEADER_WAIT)
}

/// A direct governor limiter on clock `C` (a fake clock in unit tests).
type Limiter<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// What the pacer knows about the current window.
#[derive(Debug, Default)]
struct Window<C: Clock = DefaultClock> {
    /// Calls per window (from the last headers), `None` until seen.
    limit: Option<u32>,
    /// End of the known (or presumed) window, unix milliseconds: when a
    /// caller may go again. At most [`MAX_HEADER_WAIT`] after the response
    /// that stated it.
    reset_ms: i64,
    /// `X-RateLimit-Reset` as last stated (unix milliseconds), unbounded:
    /// it names the server's window, which answers belong to.
    stated_reset_ms: i64,
    /// The lowest `X-RateLimit-Remaining` answered in this window: the
    /// server's count after the last call it counted among those answered.
    min_remaining: i64,
    /// Calls let through so far (the next call's sequence number).
    sent: u64,
    /// Sequence numbers of calls not answered yet; each may still be
    /// counted against `min_remaining`.
    in_flight: BTreeSet<u64>,
    /// A response from the current window was seen; otherwise the window
    /// is presumed (its predecessor's reset passed) and the limiter paces.
    confirmed: bool,
    /// `limit` calls per window, bursts of `limit`; `None` until the limit
    /// is known.
    limiter: Option<Limiter<C>>,
    clock: C,
}

impl<C: Clock + Clone> Window<C> {
    /// Calls certainly left now.
    fn room(&self) -> i64 {
        self.min_remaining - self.in_flight.len() as i64
    }

    /// Let one call through at `now_ms`, or say how long to wait.
    fn try_take(&mut self, now_ms: i64) -> Result<u64, Duration> {
        if let Some(limit) = self.limit {
            if now_ms >= self.reset_ms + RESET_MARGIN_MS {
                // The window is over: presume a fresh one until told otherwise.
                let windows_passed = (now_ms - self.reset_ms) / 10_000 + 1;
                self.reset_ms += windows_passed * 10_000;
                self.min_remaining = i64::from(limit);
                self.confirmed = false;
            }
            if self.room() <= 0 {
                if self.min_remaining > 0 {
                    // Calls in flight may or may not use the last slots:
                    // their answers will tell, in a moment.
                    return Err(INFLIGHT_POLL);
                }
                let wait = self.reset_ms + RESET_MARGIN_MS - now_ms;
                return Err(Duration::from_millis(wait.max(1) as u64));
            }
            if let Some(limiter) = &self.limiter {
                let paced = limiter.check();
                if !self.confirmed
                    && let Err(not_until) = paced
                {
                    // A presumed window: the limiter sets the pace.
                    let wait = not_until.wait_time_from(self.clock.now());
                    return Err(wait.max(Duration::from_millis(1)));
                }
                // Headers say there is room: go; the cell counts the call.
            }
        }
        let seq = self.sent;
        self.sent += 1;
        self.in_flight.insert(seq);
        Ok(seq)
    }

    /// A call ended (answered or not).
    fn done(&mut self, seq: u64) {
        self.in_flight.remove(&seq);
    }

    /// Learn from the headers of an answered call, at `now_ms`. A reset
    /// further out than [`MAX_HEADER_WAIT`] is taken as that far.
    fn observe(&mut self, h: RateLimitHeaders, now_ms: i64) {
        let stated = h.reset.saturating_mul(1000);
        let new_window = self.limit.is_none() || stated > self.stated_reset_ms;
        if new_window {
            let latest =
                now_ms.saturating_add(MAX_HEADER_WAIT.as_millis() as i64 - RESET_MARGIN_MS);
            if stated > latest {
                tracing::debug!(
                    reset = h.reset,
                    "X-RateLimit-Reset is further out than one window; not waiting for it"
                );
            }
            self.stated_reset_ms = stated;
            self.reset_ms = stated.min(latest);
            self.min_remaining = i64::from(h.remaining);
        } else if stated == self.stated_reset_ms {
            self.min_remaining = self.min_remaining.min(i64::from(h.remaining));
        }
        // (An answer from an older window tells nothing about this one.)
        if stated == self.stated_reset_ms {
            self.confirmed = true;
        }
        let resized = self.limit != Some(h.limit);
        self.limit = Some(h.limit);
        if resized || new_window {
            self.resync(h.limit, h.remaining);
        }
    }

    /// A limiter of `limit` calls per window that has `limit − remaining`
    /// of them taken, as the server counts.
    fn resync(&mut self, limit: u32, remaining: u32) {
        let Some(burst) = NonZeroU32::new(limit) else {
            return;
        };
        let quota = Quota::with_period(WINDOW / limit)
            .unwrap_or_else(|| Quota::per_second(burst))
            .allow_burst(burst);
        let limiter = RateLimiter::direct_with_clock(quota, self.clock.clone());
        if let Some(used) = NonZeroU32::new(limit.saturating_sub(remaining)) {
            // `used <= burst`: always has the capacity.
            let _ = limiter.check_n(used);
        }
        self.limiter = Some(limiter);
    }
}

/// Per-workspace pacing (see the module docs).
#[derive(Debug)]
pub struct Pacer {
    window: Mutex<Window>,
    ceiling: Option<DefaultDirectRateLimiter>,
}

/// A call let through by [`Pacer::acquire`]; [`CallPermit::observe`] the
/// response's headers. Dropping it marks the call as ended (also when it
/// failed without a response).
#[derive(Debug)]
pub struct CallPermit<'a> {
    pacer: &'a Pacer,
    seq: u64,
}

impl CallPermit<'_> {
    /// Learn from a response's headers.
    pub fn observe(&self, headers: &HeaderMap) {
        if let Some(h) = RateLimitHeaders::parse(headers) {
            let mut w = self.pacer.window.lock().unwrap_or_else(|e| e.into_inner());
            w.done(self.seq);
            w.observe(h, now_ms());
        }
    }
}

impl Drop for CallPermit<'_> {
    fn drop(&mut self) {
        let mut w = self.pacer.window.lock().unwrap_or_else(|e| e.into_inner());
        w.done(self.seq);
    }
}

impl Pacer {
    /// A pacer with an optional ceiling in calls per minute.
    pub fn new(max_requests_per_minute: Option<u32>) -> Self {
        let ceiling = max_requests_per_minute.and_then(NonZeroU32::new).map(|m| {
            // At most a 10-second share at once, evenly spread after that.
            let burst = NonZeroU32::new((m.get() / 6).max(1)).unwrap_or(NonZeroU32::MIN);
            let period = Duration::from_secs(60) / m.get();
            let quota = Quota::with_period(period)
                .unwrap_or_else(|| Quota::per_minute(m))
                .allow_burst(burst);
            RateLimiter::direct(quota)
        });
        Pacer {
            window: Mutex::new(Window::default()),
            ceiling,
        }
    }

    /// Wait until a call may go.
    pub async fn acquire(&self) -> CallPermit<'_> {
        if let Some(limiter) = &self.ceiling {
            while let Err(not_until) = limiter.check() {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                tokio::time::sleep(wait).await;
            }
        }
        loop {
            let taken = {
                let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
                w.try_take(now_ms())
            };
            match taken {
                Ok(seq) => return CallPermit { pacer: self, seq },
                Err(wait) if wait == INFLIGHT_POLL => tokio::time::sleep(wait).await,
                Err(wait) => {
                    tracing::debug!(
                        wait_ms = wait.as_millis() as u64,
                        "rate limit reached; waiting (window reset or limiter pace)"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
#[path = "pace_tests.rs"]
mod tests;
