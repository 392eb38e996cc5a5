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

/// A call let through by [`Pacer::acquire`]; [`Ticket::observe`] the
/// response's headers. Dropping it marks the call as ended (also when it
/// failed without a response).
#[derive(Debug)]
pub struct Ticket<'a> {
    pacer: &'a Pacer,
    seq: u64,
}

impl Ticket<'_> {
    /// Learn from a response's headers.
    pub fn observe(&self, headers: &HeaderMap) {
        if let Some(h) = RateLimitHeaders::parse(headers) {
            let mut w = self.pacer.window.lock().unwrap_or_else(|e| e.into_inner());
            w.done(self.seq);
            w.observe(h, now_ms());
        }
    }
}

impl Drop for Ticket<'_> {
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
    pub async fn acquire(&self) -> Ticket<'_> {
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
                Ok(seq) => return Ticket { pacer: self, seq },
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
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;
    use reqwest::header::HeaderValue;

    /// A window whose limiter runs on a clock the test advances.
    fn window() -> (Window<FakeRelativeClock>, FakeRelativeClock) {
        let w = Window::<FakeRelativeClock>::default();
        let clock = w.clock.clone();
        (w, clock)
    }

    fn headers(limit: &str, remaining: &str, reset: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "x-ratelimit-limit",
            HeaderValue::from_str(limit).expect("v"),
        );
        h.insert(
            "x-ratelimit-remaining",
            HeaderValue::from_str(remaining).expect("v"),
        );
        h.insert(
            "x-ratelimit-reset",
            HeaderValue::from_str(reset).expect("v"),
        );
        h
    }

    /// "Now" for observed headers: the tests' windows reset at most 20 s after it.
    const T0: i64 = 1_700_000_000_000;

    fn hdr(limit: u32, remaining: u32, reset: i64) -> RateLimitHeaders {
        RateLimitHeaders {
            limit,
            remaining,
            reset,
        }
    }

    #[test]
    fn headers_parse_only_when_complete_and_numeric() {
        assert_eq!(
            RateLimitHeaders::parse(&headers("100", "42", "1700000010")),
            Some(hdr(100, 42, 1_700_000_010))
        );
        assert_eq!(RateLimitHeaders::parse(&headers("100", "x", "1")), None);
        assert_eq!(RateLimitHeaders::parse(&headers("0", "0", "1")), None);
        assert_eq!(
            RateLimitHeaders::parse(&headers(" 5 ", "-1", "9")).map(|h| (h.limit, h.remaining)),
            Some((5, 0))
        );
        let mut partial = headers("100", "1", "2");
        partial.remove("x-ratelimit-reset");
        assert_eq!(RateLimitHeaders::parse(&partial), None);
    }

    #[test]
    fn unknown_limit_never_waits() {
        let (mut w, _) = window();
        for i in 0..1000 {
            assert_eq!(w.try_take(0), Ok(i));
        }
    }

    #[test]
    fn follows_the_headers_and_waits_for_the_reset() {
        let t0 = 1_700_000_000_000;
        let reset = 1_700_000_010;
        let (mut w, clock) = window();
        let first = w.try_take(t0).expect("first call goes");
        w.done(first);
        w.observe(hdr(3, 2, reset), T0);
        // Two left: both go without waiting.
        let a = w.try_take(t0 + 1).expect("room");
        let b = w.try_take(t0 + 2).expect("room");
        // Both in flight: none certainly left, but they may not all count:
        // wait for their answers, briefly.
        assert_eq!(w.try_take(t0 + 3), Err(INFLIGHT_POLL));
        // b overtook a at the server: its count is the older one.
        w.done(b);
        w.observe(hdr(3, 1, reset), T0);
        w.done(a);
        w.observe(hdr(3, 0, reset), T0);
        let wait = w.try_take(t0 + 3).expect_err("window used up");
        assert_eq!(
            wait,
            Duration::from_millis(10_000 - 3 + RESET_MARGIN_MS as u64)
        );
        // A stale, more optimistic answer cannot reopen the window.
        w.observe(hdr(3, 2, reset), T0);
        assert!(w.try_take(t0 + 4).is_err());
        // After the reset: a presumed fresh window of 3 (the limiter, 3 per
        // 10 s, has refilled in the meantime).
        clock.advance(Duration::from_millis(10_000 + RESET_MARGIN_MS as u64));
        let after = t0 + 10_000 + RESET_MARGIN_MS;
        let calls: Vec<u64> = (0..3).map(|_| w.try_take(after).expect("fresh")).collect();
        assert_eq!(w.try_take(after), Err(INFLIGHT_POLL));
        for c in calls {
            w.done(c);
        }
        w.observe(hdr(3, 0, reset + 10), after);
        assert!(w.try_take(after).expect_err("used up") > INFLIGHT_POLL);
    }

    #[test]
    fn overtaking_calls_never_overshoot() {
        // The sequence that tripped a sent-order estimate: later calls
        // counted earlier by the server.
        let t0 = 1_700_000_000_000;
        let reset = 1_700_000_010;
        let (mut w, _) = window();
        let s = w.try_take(t0).expect("go");
        w.done(s);
        w.observe(hdr(100, 6, reset), T0);
        let calls: Vec<u64> = (0..5).map(|_| w.try_take(t0).expect("room")).collect();
        // Answers in an order unrelated to sending; remaining 1..=5.
        for (i, (c, r)) in calls.iter().zip([3, 5, 1, 4, 2]).enumerate() {
            if i == 2 {
                // min 3, 3 in flight: they may take the last three.
                assert_eq!(w.try_take(t0), Err(INFLIGHT_POLL));
            }
            w.done(*c);
            w.observe(hdr(100, r, reset), T0);
        }
        let last = w.try_take(t0).expect("exactly one left");
        assert_eq!(w.try_take(t0), Err(INFLIGHT_POLL));
        w.done(last);
        w.observe(hdr(100, 0, reset), T0);
        assert!(w.try_take(t0).expect_err("none left") > INFLIGHT_POLL);
    }

    #[test]
    fn another_client_using_the_quota_shows_in_the_headers() {
        let t0 = 1_700_000_000_000;
        let (mut w, _) = window();
        let s = w.try_take(t0).expect("go");
        w.done(s);
        // Someone else used 99 of 100: one call left.
        w.observe(hdr(100, 1, 1_700_000_010), T0);
        assert!(w.try_take(t0 + 1).is_ok());
        assert!(w.try_take(t0 + 2).is_err());
    }

    #[test]
    fn the_limiter_is_sized_from_the_limit_and_resized_when_it_changes() {
        let t0 = 1_700_000_000_000;
        let (mut w, _) = window();
        assert!(w.limiter.is_none(), "no limiter before the limit is known");
        let s = w.try_take(t0).expect("go");
        w.done(s);
        w.observe(hdr(10, 9, 1_700_000_010), T0);
        // Sized from the limit, minus what the server counted (1 of 10).
        let cells = |w: &Window<FakeRelativeClock>| {
            let l = w.limiter.as_ref().expect("limiter");
            (0..100).take_while(|_| l.check().is_ok()).count()
        };
        assert_eq!(cells(&w), 9);
        // The same limit in the same window: not rebuilt (it stays used up).
        w.observe(hdr(10, 5, 1_700_000_010), T0);
        assert_eq!(cells(&w), 0);
        // The limit changes: rebuilt at the new size, with the server's count.
        w.observe(hdr(40, 30, 1_700_000_010), T0);
        assert_eq!(cells(&w), 30);
        // A response opening a new window re-synchronises it.
        w.observe(hdr(40, 39, 1_700_000_020), T0 + 10_000);
        assert_eq!(cells(&w), 39);
    }

    #[test]
    fn headers_with_room_override_the_limiter_and_it_paces_presumed_windows() {
        let t0 = 1_700_000_000_000;
        let reset = 1_700_000_010;
        let (mut w, clock) = window();
        let s = w.try_take(t0).expect("go");
        w.done(s);
        w.observe(hdr(4, 3, reset), T0);
        // Use the limiter up while the headers still say there is room.
        let l = w.limiter.as_ref().expect("limiter");
        while l.check().is_ok() {}
        for _ in 0..3 {
            let c = w
                .try_take(t0 + 1)
                .expect("headers say there is room: no wait");
            w.done(c);
        }
        // The window's reset passes, but the limiter (4 per 10 s) has had
        // only half a window to refill: in the presumed window it paces.
        clock.advance(Duration::from_secs(5));
        let after = t0 + 10_000 + RESET_MARGIN_MS;
        let mut went = 0;
        while let Ok(c) = w.try_take(after) {
            w.done(c);
            went += 1;
        }
        assert_eq!(went, 2, "two cells refilled in 5 s");
        let wait = w.try_take(after).expect_err("paced");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(2_500),
            "{wait:?}"
        );
        // A response from the new window confirms room: the limiter is
        // re-synchronised and the headers rule again.
        w.observe(hdr(4, 1, reset + 10), after);
        assert!(w.try_take(after).is_ok());
    }

    #[test]
    fn a_reset_far_in_the_future_waits_one_window_at_most() {
        // The bug report: a 429 with Remaining 0 and a reset 120 s (or
        // 600 s) out made the client sleep that long.
        for ahead in [120, 600, 86_400] {
            let (mut w, clock) = window();
            let s = w.try_take(T0).expect("go");
            w.done(s);
            w.observe(hdr(167, 0, T0 / 1000 + ahead), T0);
            let wait = w.try_take(T0).expect_err("no room: wait");
            assert_eq!(wait, MAX_HEADER_WAIT, "reset {ahead} s out");
            // After that wait a fresh window is presumed and a call goes.
            clock.advance(MAX_HEADER_WAIT);
            let later = T0 + MAX_HEADER_WAIT.as_millis() as i64;
            let call = w
                .try_take(later)
                .expect("a call goes after one bounded wait");
            w.done(call);
            // The same bogus header again: the same server window, which
            // has no room; again at most one bounded wait, never the reset.
            w.observe(hdr(167, 0, T0 / 1000 + ahead), later);
            let again = w.try_take(later).expect_err("still no room");
            assert!(again <= MAX_HEADER_WAIT, "{again:?}");
        }
        // A reset within the window is followed exactly, as before.
        let (mut w, _) = window();
        let s = w.try_take(T0).expect("go");
        w.done(s);
        w.observe(hdr(167, 0, T0 / 1000 + 4), T0);
        assert_eq!(
            w.try_take(T0),
            Err(Duration::from_millis(4_000 + RESET_MARGIN_MS as u64))
        );
        // Retry-After and the reset computed by the client are bounded too.
        assert_eq!(bound_header_wait(Duration::from_secs(600)), MAX_HEADER_WAIT);
        assert_eq!(
            bound_header_wait(Duration::from_secs(3)),
            Duration::from_secs(3)
        );
    }

    #[tokio::test]
    async fn the_ceiling_spreads_calls() {
        let p = Pacer::new(Some(6000)); // 100 per second, bursts of 1000
        for _ in 0..50 {
            drop(p.acquire().await);
        }
        let limiter = p.ceiling.as_ref().expect("ceiling");
        assert!(limiter.check().is_ok(), "within the burst");
    }
}
