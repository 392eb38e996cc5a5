//! Reading the response headers the client acts on: the rate limit, how
//! long the server asked us to wait, and a canonical link.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;

use super::pace;

/// The target of a `Link: <TARGET>; rel="canonical"` header (Intercom 2.16
/// names the contact a merged contact went into this way), if any.
pub(super) fn canonical_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(reqwest::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|link| {
            let (target, params) = link.trim().split_once(';')?;
            let canonical = params.split(';').any(|p| {
                let p = p.trim().to_ascii_lowercase();
                p == "rel=\"canonical\"" || p == "rel=canonical"
            });
            let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
            canonical.then(|| target.to_string())
        })
}

/// `X-RateLimit-Limit` (calls per 10-second window), when present and positive.
pub(super) fn stated_limit(headers: &HeaderMap) -> Option<u32> {
    headers
        .get("x-ratelimit-limit")?
        .to_str()
        .ok()?
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|l| *l > 0)
}

/// `X-RateLimit-Reset`: when the response's rate-limit window ends (unix
/// seconds), if stated.
pub(super) fn stated_reset(headers: &HeaderMap) -> Option<i64> {
    headers
        .get("x-ratelimit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|r| *r > 0)
}

/// How long the server asked us to wait: `Retry-After` (seconds) wins, else
/// `X-RateLimit-Reset` (a unix timestamp) on a throttled response.
pub(super) fn server_wait(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    // Both bounded by one rate-limit window plus a margin (`pace::MAX_HEADER_WAIT`):
    // a value further out is clock skew or a bad header; backoff takes over.
    if let Some(secs) = header("retry-after") {
        return Some(pace::bound_header_wait(Duration::from_secs(secs)));
    }
    let reset = header("x-ratelimit-reset")?;
    let remaining = header("x-ratelimit-remaining");
    if remaining.is_some_and(|r| r > 0) {
        return None;
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(pace::bound_header_wait(Duration::from_secs(
        reset.saturating_sub(now).max(1),
    )))
}
