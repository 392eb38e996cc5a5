//! Pacing: use the workspace's rate limit fully without tripping it.
//!
//! Intercom allows N calls per fixed 10-second window per workspace and says
//! so on every response (`X-RateLimit-Limit`, `-Remaining`, `-Reset`). A
//! token bucket cannot express "R calls left until T", so the primary gate
//! follows the headers: the freshest response (the one *sent* last) says
//! `R` were left when the server counted it; every call sent after it may
//! have used one more, so `R − (calls sent since)` are certainly left. While
//! that is positive a call goes at once (never a sleep when the headers say
//! there is room); at zero the caller sleeps until the window's reset. Once
//! the reset passes, a fresh window of `Limit` calls is presumed until a
//! response from it corrects the count.
//!
//! A `governor` limiter enforces the optional user ceiling
//! (`max_requests_per_minute`, for apps that share the quota); it is polled
//! with `check()` and slept on with `tokio::time::sleep`, because governor's
//! own `until_ready` uses futures-timer and ignores tokio's paused clock.
//!
//! One [`Pacer`] per client, i.e. per workspace token.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use governor::clock::{Clock, DefaultClock};
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

/// What the pacer knows about the current window.
#[derive(Debug, Default)]
struct Window {
    /// Calls per window (from the last headers), `None` until seen.
    limit: Option<u32>,
    /// End of the known (or presumed) window, unix milliseconds.
    reset_ms: i64,
    /// Calls left according to the freshest response of this window...
    remaining: i64,
    /// ...which was the `base_seq`-th call sent.
    base_seq: u64,
    /// Calls let through so far (the next call's sequence number).
    sent: u64,
}

impl Window {
    /// Calls certainly left now.
    fn room(&self) -> i64 {
        self.remaining - (self.sent - self.base_seq) as i64
    }

    /// Let one call through at `now_ms`, or say how long to wait.
    fn try_take(&mut self, now_ms: i64) -> Result<u64, Duration> {
        if let Some(limit) = self.limit {
            if now_ms >= self.reset_ms + RESET_MARGIN_MS {
                // The window is over: presume a fresh one until told otherwise.
                let windows_passed = (now_ms - self.reset_ms) / 10_000 + 1;
                self.reset_ms += windows_passed * 10_000;
                self.remaining = i64::from(limit);
                self.base_seq = self.sent;
            }
            if self.room() <= 0 {
                let wait = self.reset_ms + RESET_MARGIN_MS - now_ms;
                return Err(Duration::from_millis(wait.max(1) as u64));
            }
        }
        let seq = self.sent;
        self.sent += 1;
        Ok(seq)
    }

    /// Learn from the headers of the response to call `seq`.
    fn observe(&mut self, seq: u64, h: RateLimitHeaders) {
        let reset_ms = h.reset.saturating_mul(1000);
        let newer_window = reset_ms > self.reset_ms;
        if self.limit.is_none() || newer_window {
            self.reset_ms = reset_ms;
            self.remaining = i64::from(h.remaining);
            self.base_seq = seq + 1;
        } else if reset_ms == self.reset_ms {
            // Same window: fresher news wins; older news only if it is
            // more pessimistic than what we know.
            let candidate = i64::from(h.remaining) - (self.sent - (seq + 1)) as i64;
            if seq + 1 > self.base_seq || candidate < self.room() {
                self.remaining = i64::from(h.remaining);
                self.base_seq = seq + 1;
            }
        }
        self.limit = Some(h.limit);
    }
}

/// Per-workspace pacing (see the module docs).
#[derive(Debug)]
pub struct Pacer {
    window: Mutex<Window>,
    ceiling: Option<DefaultDirectRateLimiter>,
}

/// A call let through by [`Pacer::acquire`]; hand it back with the response.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

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
    pub async fn acquire(&self) -> Ticket {
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
                Ok(seq) => return Ticket(seq),
                Err(wait) => {
                    tracing::debug!(
                        wait_ms = wait.as_millis() as u64,
                        "rate-limit window used up; waiting for its reset"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Learn from a response's headers.
    pub fn observe(&self, ticket: Ticket, headers: &HeaderMap) {
        if let Some(h) = RateLimitHeaders::parse(headers) {
            let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
            w.observe(ticket.0, h);
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
    use reqwest::header::HeaderValue;

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

    #[test]
    fn headers_parse_only_when_complete_and_numeric() {
        assert_eq!(
            RateLimitHeaders::parse(&headers("100", "42", "1700000010")),
            Some(RateLimitHeaders {
                limit: 100,
                remaining: 42,
                reset: 1_700_000_010
            })
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
        let mut w = Window::default();
        for i in 0..1000 {
            assert_eq!(w.try_take(0), Ok(i));
        }
    }

    #[test]
    fn follows_the_headers_and_waits_for_the_reset() {
        let t0 = 1_700_000_000_000;
        let reset = 1_700_000_010;
        let mut w = Window::default();
        let first = w.try_take(t0).expect("first call goes");
        w.observe(
            first,
            RateLimitHeaders {
                limit: 3,
                remaining: 2,
                reset,
            },
        );
        // Two left: both go without waiting, even while unanswered.
        let a = w.try_take(t0 + 1).expect("room");
        let b = w.try_take(t0 + 2).expect("room");
        let wait = w.try_take(t0 + 3).expect_err("window used up");
        assert_eq!(
            wait,
            Duration::from_millis(10_000 - 3 + RESET_MARGIN_MS as u64)
        );
        // A stale answer (sent before b) cannot reopen the window.
        w.observe(
            a,
            RateLimitHeaders {
                limit: 3,
                remaining: 1,
                reset,
            },
        );
        assert!(w.try_take(t0 + 4).is_err());
        w.observe(
            b,
            RateLimitHeaders {
                limit: 3,
                remaining: 0,
                reset,
            },
        );
        assert!(w.try_take(t0 + 5).is_err());
        // After the reset: a presumed fresh window of 3.
        let after = t0 + 10_000 + RESET_MARGIN_MS;
        for _ in 0..3 {
            w.try_take(after).expect("fresh window");
        }
        assert!(w.try_take(after).is_err());
    }

    #[test]
    fn another_client_using_the_quota_shows_in_the_headers() {
        let t0 = 1_700_000_000_000;
        let mut w = Window::default();
        let s = w.try_take(t0).expect("go");
        // Someone else used 99 of 100: one call left.
        w.observe(
            s,
            RateLimitHeaders {
                limit: 100,
                remaining: 1,
                reset: 1_700_000_010,
            },
        );
        assert!(w.try_take(t0 + 1).is_ok());
        assert!(w.try_take(t0 + 2).is_err());
    }

    #[tokio::test]
    async fn the_ceiling_spreads_calls() {
        let p = Pacer::new(Some(6000)); // 100 per second, bursts of 1000
        for _ in 0..50 {
            p.acquire().await;
        }
        let limiter = p.ceiling.as_ref().expect("ceiling");
        assert!(limiter.check().is_ok(), "within the burst");
    }
}
