//! Unit tests of `pace.rs`.

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
