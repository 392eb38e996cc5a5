//! Intercom's rate limit: `--rate-limit N` calls per 10-second window per
//! workspace (here: per bearer token).
//!
//! Windows are fixed and aligned to wall-clock seconds (`floor(t / 10) · 10`),
//! like the `windows` of `GET /__sim/stats`. Every authenticated response
//! carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
//! `X-RateLimit-Reset` (unix seconds, wall clock, of the window's end); a call
//! beyond the limit gets 429 `rate_limit_exceeded` ("Exceeded rate limit of N
//! in 10_seconds"). 401s carry no headers (the `auth` layer answers them
//! before this one runs). Without `--rate-limit` the headers are still sent,
//! as Intercom's are, counting against [`DEFAULT_LIMIT`] (a private app's
//! 1,666 calls per 10 seconds), but nothing is refused: `--rate-limit` only
//! turns enforcement on.
//!
//! Tokens are workspaces: 200 tokens against one simulator get 200 windows,
//! like 200 workspaces against Intercom. [`tokens_layer`] (outermost)
//! counts each token's requests in flight for `GET /__sim/stats`
//! (`tokens`, `peak_tokens_in_flight`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Simulator;
use super::error::ApiError;

/// Length of a rate-limit window, in seconds.
pub const WINDOW_SECS: i64 = 10;

/// Calls per window the headers state without `--rate-limit`: Intercom's
/// default for a private app (10,000 per minute, 1,666 per 10 seconds).
pub const DEFAULT_LIMIT: u32 = 1666;

/// Wall-clock unix milliseconds (the rate limit is about real time, unlike
/// the simulated clock of the world).
pub(crate) fn wall_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Start (unix seconds) of the window holding `millis`.
pub(crate) fn window_start(millis: i64) -> i64 {
    millis.div_euclid(1000 * WINDOW_SECS) * WINDOW_SECS
}

/// Per-token window counters.
#[derive(Debug, Default)]
pub struct RateLimits {
    /// A std mutex: held for one map update, never across an `.await`.
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

/// The outcome of counting one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    pub limit: u32,
    /// Calls left in the window after this one.
    pub remaining: u32,
    /// End of the window, unix seconds.
    pub reset: i64,
    /// False when the call is over the limit (answer 429).
    pub allowed: bool,
}

impl RateLimits {
    /// Counts a call by `token` at wall time `millis` against `limit`.
    pub fn admit(&self, token: &str, limit: u32, millis: i64) -> Admission {
        let start = window_start(millis);
        let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let entry = w.entry(token.to_string()).or_insert((start, 0));
        if entry.0 != start {
            *entry = (start, 0);
        }
        let allowed = entry.1 < limit;
        if allowed {
            entry.1 += 1;
        }
        Admission {
            limit,
            remaining: limit - entry.1,
            reset: start + WINDOW_SECS,
            allowed,
        }
    }
}

/// Middleware (inside `auth`): counts the call, answers 429 beyond the limit
/// (only with `--rate-limit`) and puts the three headers on every response.
pub(crate) async fn layer(State(sim): State<Arc<Simulator>>, req: Request, next: Next) -> Response {
    let enforced = sim.config.rate_limit;
    let limit = enforced.unwrap_or(DEFAULT_LIMIT);
    let token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let a = sim.limits.admit(&token, limit, wall_millis());
    let mut resp = if a.allowed || enforced.is_none() {
        next.run(req).await
    } else {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_exceeded",
            format!("Exceeded rate limit of {limit} in 10_seconds"),
        )
        .into_response()
    };
    if resp.status() != StatusCode::UNAUTHORIZED {
        let h = resp.headers_mut();
        for (name, value) in [
            ("x-ratelimit-limit", i64::from(a.limit)),
            ("x-ratelimit-remaining", i64::from(a.remaining)),
            ("x-ratelimit-reset", a.reset),
        ] {
            // A fault may have set its own value (e.g. a 429 burst).
            if !h.contains_key(name) {
                h.insert(name, HeaderValue::from(value));
            }
        }
    }
    resp
}

/// Middleware (outermost, so a simulated latency is inside it): counts the
/// request as in flight for its `Authorization` header (a token is a
/// workspace) until the response is sent, for the per-token stats.
pub(crate) async fn tokens_layer(
    State(sim): State<Arc<Simulator>>,
    req: Request,
    next: Next,
) -> Response {
    let token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let _flight = sim.stats.token_started(&token);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_fixed_and_per_token() {
        let l = RateLimits::default();
        let t0 = 1_700_000_000_000; // a window boundary
        let a = l.admit("a", 2, t0);
        assert_eq!((a.allowed, a.remaining, a.reset), (true, 1, 1_700_000_010));
        assert!(l.admit("a", 2, t0 + 5_000).allowed);
        let over = l.admit("a", 2, t0 + 9_999);
        assert_eq!((over.allowed, over.remaining), (false, 0));
        assert!(l.admit("b", 2, t0 + 9_999).allowed, "another workspace");
        let next = l.admit("a", 2, t0 + 10_000);
        assert_eq!(
            (next.allowed, next.remaining, next.reset),
            (true, 1, 1_700_000_020)
        );
    }
}
