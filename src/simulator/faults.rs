//! Fault injection: the failures a real Intercom export meets, on demand and
//! reproducibly.
//!
//! A [`FaultProfile`] (`--faults NAME|FILE.toml`, or `POST /__sim/faults`
//! while running) gives probabilities per API request of: 500 with a bare
//! `{type:"error", request_id, message}` body, 502 and 504 with HTML bodies,
//! 503, a stall longer than the client's timeout, a connection reset (headers
//! sent, then the body breaks off), truncated JSON, and a 200 with an empty
//! body; plus scripts: a 401 from the N-th request on, 429 bursts (`length`
//! requests out of every `every`, with `Retry-After: 1`), and conversation ids
//! whose `GET /conversations/{id}` always answers 500; and denied scopes:
//! every request to an endpoint family in `denied_scopes` (`--deny-scope`)
//! answers Intercom's 403 `forbidden` ("You do not have the required scope
//! (read_tickets) to access this resource"), as for a token whose app lacks
//! that permission. Families: see [`SCOPES`]. `search_max_per_page`:
//! every search page asking for more records than that answers 504 with an
//! HTML body (a search that times out at large pages).
//! `search_max_window_secs`: every search page past the first whose
//! `updated_at` range is wider than that answers 504 with an HTML body (deep
//! pages of a wide search time out; narrower windows get through). `only_paths` narrows
//! the probabilities and scripts to some endpoints (e.g. the company scroll).
//!
//! Deterministic: request number `n` (counted from when the profile was
//! installed) draws `hash(seed, n)`, so the same sequence of requests meets
//! the same faults. With concurrent clients *which* request is the n-th
//! depends on scheduling, but the fault rates and scripts do not.
//!
//! 5xx faults and stalls strike after the request was handled: the server
//! did the work and the answer is what gets lost (a gateway error, a
//! timeout), as resets and cut-off or empty bodies do too. For most
//! endpoints that changes nothing; a scroll page (`GET /companies/scroll`)
//! is consumed, so a client that asks again with the same `scroll_param`
//! gets the next page. A 429, a 401 or a denied scope strike before.
//!
//! Named profiles: `none`; `flaky` (5 % 5xx, 1 % stalls, 1 % empty 200s,
//! 1 % truncated JSON, 1 % resets); `bursts` (429 bursts of 3 in every 100).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::error::{ApiError, request_id};
use super::rng::hash;
use super::{SimConfig, Simulator};

/// What to break, and how often. Probabilities are per request, in `[0, 1]`;
/// their sum must not exceed 1. Every key is optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultProfile {
    /// Seed of the per-request draws.
    pub seed: u64,
    /// 500 with `{"type":"error","request_id":…,"message":…}`.
    pub error_500: f64,
    /// 502 with an HTML body (a gateway page).
    pub error_502: f64,
    /// 503 with an `error.list` body.
    pub error_503: f64,
    /// 504 with an HTML body.
    pub error_504: f64,
    /// The server sleeps `stall_secs` before answering normally.
    pub stall: f64,
    /// Length of a stall; make it longer than the client's timeout.
    pub stall_secs: f64,
    /// Status and headers are sent, then the connection breaks off.
    pub reset: f64,
    /// A 200 whose JSON body is cut in half.
    pub truncated: f64,
    /// A 200 with an empty body.
    pub empty: f64,
    /// A single 429 `rate_limit_exceeded` with `Retry-After: 1`.
    pub rate_limited: f64,
    /// Scripted 429 bursts.
    pub burst: Option<Burst>,
    /// Every request from this number on (0-based) gets 401.
    pub unauthorized_after: Option<u64>,
    /// Conversation ids whose `GET /conversations/{id}` always answers 500.
    pub failing_conversations: Vec<String>,
    /// Endpoint families (see [`SCOPES`]) answered with 403 `forbidden`.
    pub denied_scopes: Vec<String>,
    /// Search pages (`POST /…/search`) asking for more than this many
    /// records (`pagination.per_page`) answer 504 with an HTML body, every
    /// time: a search that times out at large pages.
    pub search_max_per_page: Option<u64>,
    /// Search pages past the first (`pagination.starting_after` set) whose
    /// query bounds `updated_at` to a range wider than this many seconds
    /// (from its `>`/`>=` to its `<`/`<=` filters; unbounded on either side
    /// counts as wider) answer 504 with an HTML body, every time: deep pages
    /// of a wide search time out, while the first page answers (so a client
    /// can tell there is more) and a narrower window reads through.
    pub search_max_window_secs: Option<u64>,
    /// When not empty, the probabilities and scripts apply only to requests
    /// whose path starts with one of these (e.g. `["/companies/scroll"]`),
    /// and only those are counted; other requests pass untouched.
    pub only_paths: Vec<String>,
}

/// Endpoint families a scope can be denied for: (family, path prefixes,
/// the scope Intercom names in its 403 message).
pub const SCOPES: &[(&str, &[&str], &str)] = &[
    ("conversations", &["/conversations"], "read_conversations"),
    ("contacts", &["/contacts"], "read_users_companies"),
    ("companies", &["/companies"], "read_users_companies"),
    ("events", &["/events"], "read_events"),
    ("tickets", &["/tickets", "/ticket_types"], "read_tickets"),
    ("admins", &["/admins"], "read_admins"),
    ("teams", &["/teams"], "read_admins"),
    ("tags", &["/tags"], "read_tags"),
    ("segments", &["/segments"], "read_segments"),
    (
        "data_attributes",
        &["/data_attributes"],
        "read_data_attributes",
    ),
    ("articles", &["/help_center", "/articles"], "read_articles"),
];

/// The scope a request to `path` needs, if its family is in `denied`.
fn denied_scope(denied: &[String], path: &str) -> Option<&'static str> {
    SCOPES
        .iter()
        .find(|(family, prefixes, _)| {
            denied.iter().any(|d| d == family)
                && prefixes.iter().any(|p| {
                    path.strip_prefix(p)
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
                })
        })
        .map(|(_, _, scope)| *scope)
}

/// Checks scope family names (for `--deny-scope` and `denied_scopes`).
pub fn check_scopes(denied: &[String]) -> Result<(), String> {
    for d in denied {
        if !SCOPES.iter().any(|(family, _, _)| family == d) {
            let names: Vec<&str> = SCOPES.iter().map(|(f, _, _)| *f).collect();
            return Err(format!(
                "unknown scope family {d:?}; use one of: {}",
                names.join(", ")
            ));
        }
    }
    Ok(())
}

/// `length` consecutive 429s at the start of every `every` requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Burst {
    pub every: u64,
    pub length: u64,
}

impl Default for FaultProfile {
    fn default() -> Self {
        FaultProfile {
            seed: 0,
            error_500: 0.0,
            error_502: 0.0,
            error_503: 0.0,
            error_504: 0.0,
            stall: 0.0,
            stall_secs: 120.0,
            reset: 0.0,
            truncated: 0.0,
            empty: 0.0,
            rate_limited: 0.0,
            burst: None,
            unauthorized_after: None,
            failing_conversations: Vec::new(),
            denied_scopes: Vec::new(),
            search_max_per_page: None,
            search_max_window_secs: None,
            only_paths: Vec::new(),
        }
    }
}

/// One request's fate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    E500,
    E502,
    E503,
    E504,
    Stall,
    Reset,
    Truncated,
    Empty,
    RateLimited,
    Unauthorized,
}

impl FaultProfile {
    /// A named profile (`none`, `flaky`, `bursts`) or a TOML file.
    pub fn load(name: &str) -> Result<Self, String> {
        let p = match name.trim() {
            "" | "none" => FaultProfile::default(),
            "flaky" => FaultProfile {
                error_500: 0.02,
                error_502: 0.01,
                error_503: 0.01,
                error_504: 0.01,
                stall: 0.01,
                empty: 0.01,
                truncated: 0.01,
                reset: 0.01,
                ..FaultProfile::default()
            },
            "bursts" => FaultProfile {
                burst: Some(Burst {
                    every: 100,
                    length: 3,
                }),
                ..FaultProfile::default()
            },
            path => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    format!(
                        "--faults {path:?} is neither a named profile (none, flaky, bursts) \
                         nor a readable TOML file: {e}"
                    )
                })?;
                Self::parse_toml(&text).map_err(|e| format!("--faults {path}: {e}"))?
            }
        };
        Ok(p)
    }

    /// Parse TOML text and validate it.
    pub fn parse_toml(text: &str) -> Result<Self, String> {
        let p: FaultProfile = toml::from_str(text).map_err(|e| e.to_string().trim().to_string())?;
        p.validate()?;
        Ok(p)
    }

    /// Probabilities in `[0, 1]` summing to at most 1; bursts non-empty.
    pub fn validate(&self) -> Result<(), String> {
        let mut sum = 0.0;
        for (name, p) in self.probabilities() {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} = {p} is not a probability in [0, 1]"));
            }
            sum += p;
        }
        if sum > 1.0 + 1e-9 {
            return Err(format!(
                "the fault probabilities add up to {sum}, more than 1"
            ));
        }
        if !(self.stall_secs.is_finite() && self.stall_secs >= 0.0) {
            return Err(format!("stall_secs = {} must be >= 0", self.stall_secs));
        }
        if let Some(b) = self.burst
            && (b.every == 0 || b.length > b.every)
        {
            return Err("burst needs every >= 1 and length <= every".into());
        }
        check_scopes(&self.denied_scopes)
    }

    fn probabilities(&self) -> [(&'static str, f64); 9] {
        [
            ("error_500", self.error_500),
            ("error_502", self.error_502),
            ("error_503", self.error_503),
            ("error_504", self.error_504),
            ("stall", self.stall),
            ("reset", self.reset),
            ("truncated", self.truncated),
            ("empty", self.empty),
            ("rate_limited", self.rate_limited),
        ]
    }

    /// The fault (if any) for request number `n`.
    fn draw(&self, n: u64) -> Option<Fault> {
        if self.unauthorized_after.is_some_and(|after| n >= after) {
            return Some(Fault::Unauthorized);
        }
        if let Some(b) = self.burst
            && n % b.every < b.length
        {
            return Some(Fault::RateLimited);
        }
        // 53 random bits → a uniform float in [0, 1).
        let u = (hash(&[self.seed, n, 0xfa17]) >> 11) as f64 / (1u64 << 53) as f64;
        let kinds = [
            Fault::E500,
            Fault::E502,
            Fault::E503,
            Fault::E504,
            Fault::Stall,
            Fault::Reset,
            Fault::Truncated,
            Fault::Empty,
            Fault::RateLimited,
        ];
        let mut acc = 0.0;
        for ((_, p), kind) in self.probabilities().iter().zip(kinds) {
            acc += p;
            if u < acc {
                return Some(kind);
            }
        }
        None
    }
}

impl SimConfig {
    /// Checks the flags that can be wrong (`--faults`, `--rate-limit`) so a
    /// bad value is reported before the server starts.
    pub fn check(&self) -> Result<(), String> {
        if self.rate_limit == Some(0) {
            return Err("--rate-limit must be at least 1 (leave it out for no limit)".into());
        }
        if let Some(name) = &self.faults {
            FaultProfile::load(name)?;
        }
        check_scopes(&self.deny_scopes).map_err(|e| format!("--deny-scope: {e}"))
    }
}

/// The installed profile and its request counter.
#[derive(Debug, Default)]
pub struct Faults {
    /// A std lock: read once per request, never held across an `.await`.
    profile: RwLock<FaultProfile>,
    counter: AtomicU64,
}

impl Faults {
    /// The profile named by `--faults`; a bad one (already rejected by
    /// [`SimConfig::check`] on the normal paths) falls back to `none`.
    pub fn from_config(config: &SimConfig) -> Self {
        let mut profile = match config.faults.as_deref().map(FaultProfile::load) {
            None => FaultProfile::default(),
            Some(Ok(p)) => p,
            Some(Err(e)) => {
                tracing::error!(error = %e, "ignoring the fault profile");
                FaultProfile::default()
            }
        };
        for d in &config.deny_scopes {
            if !profile.denied_scopes.contains(d) {
                profile.denied_scopes.push(d.clone());
            }
        }
        Faults {
            profile: RwLock::new(profile),
            counter: AtomicU64::new(0),
        }
    }

    /// The installed profile.
    pub fn get(&self) -> FaultProfile {
        self.profile
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Installs `profile` and restarts the request count (so scripts such
    /// as `unauthorized_after` count from now).
    pub fn set(&self, profile: FaultProfile) {
        *self.profile.write().unwrap_or_else(|e| e.into_inner()) = profile;
        self.counter.store(0, Ordering::SeqCst);
    }

    /// The installed search limits: `search_max_per_page` and
    /// `search_max_window_secs`.
    fn search_limits(&self) -> SearchLimits {
        let p = self.profile.read().unwrap_or_else(|e| e.into_inner());
        SearchLimits {
            max_per_page: p.search_max_per_page,
            max_window_secs: p.search_max_window_secs,
        }
    }

    /// The scope a request to `path` lacks, if its family is denied.
    fn denied(&self, path: &str) -> Option<&'static str> {
        let p = self.profile.read().unwrap_or_else(|e| e.into_inner());
        denied_scope(&p.denied_scopes, path)
    }

    /// Fault for the next request, and whether `path` is a failing conversation.
    fn next(&self, path: &str) -> (Option<Fault>, bool) {
        let p = self.profile.read().unwrap_or_else(|e| e.into_inner());
        if !p.only_paths.is_empty() && !p.only_paths.iter().any(|o| path.starts_with(o.as_str())) {
            return (None, false);
        }
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let failing = !p.failing_conversations.is_empty()
            && path
                .strip_prefix("/conversations/")
                .is_some_and(|id| p.failing_conversations.iter().any(|f| f == id));
        (p.draw(n), failing)
    }

    fn stall(&self) -> Duration {
        Duration::from_secs_f64(self.get().stall_secs)
    }
}

// --- Search pages that time out above a page size (`search_max_per_page`)
// or, past the first page, above a window width (`search_max_window_secs`).

/// The installed search-page faults.
#[derive(Debug, Clone, Copy)]
struct SearchLimits {
    max_per_page: Option<u64>,
    max_window_secs: Option<u64>,
}

/// `req` unchanged, or the 504 a search page beyond `limits` gets.
async fn search_page_fault(limits: SearchLimits, req: Request) -> Result<Request, Response> {
    if limits.max_per_page.is_none() && limits.max_window_secs.is_none() {
        return Ok(req);
    }
    if req.method() != axum::http::Method::POST || !req.uri().path().ends_with("/search") {
        return Ok(req);
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let search = serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_default();
    let per_page = search
        .pointer("/pagination/per_page")
        .and_then(|p| p.as_u64())
        .unwrap_or(50);
    let too_many = limits.max_per_page.is_some_and(|max| per_page > max);
    let deep_page = search
        .pointer("/pagination/starting_after")
        .is_some_and(|c| !c.is_null());
    let too_wide = deep_page
        && limits.max_window_secs.is_some_and(|max| {
            updated_at_width(search.get("query").unwrap_or(&serde_json::Value::Null))
                .is_none_or(|width| width > max)
        });
    if too_many || too_wide {
        return Err(html(StatusCode::GATEWAY_TIMEOUT, "504 Gateway Time-out"));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// How many seconds of `updated_at` a search query admits, from its
/// highest lower bound (`>`, `>=`) to its lowest upper bound (`<`, `<=`),
/// over every leaf of its groups; `None` when one side is unbounded.
/// Values may be integers or numeric strings, as the API accepts them.
fn updated_at_width(query: &serde_json::Value) -> Option<u64> {
    fn walk(q: &serde_json::Value, lo: &mut Option<i64>, hi: &mut Option<i64>) {
        if let Some(members) = q.get("value").and_then(|v| v.as_array())
            && q.get("field").is_none()
        {
            for m in members {
                walk(m, lo, hi);
            }
            return;
        }
        if q.get("field").and_then(|f| f.as_str()) != Some("updated_at") {
            return;
        }
        let value = match q.get("value") {
            Some(serde_json::Value::Number(n)) => n.as_i64(),
            Some(serde_json::Value::String(t)) => t.trim().parse().ok(),
            _ => None,
        };
        let Some(t) = value else { return };
        match q.get("operator").and_then(|o| o.as_str()) {
            Some(">" | ">=") => *lo = Some(lo.map_or(t, |l| l.max(t))),
            Some("<" | "<=") => *hi = Some(hi.map_or(t, |h| h.min(t))),
            _ => {}
        }
    }
    let (mut lo, mut hi) = (None, None);
    walk(query, &mut lo, &mut hi);
    let (lo, hi) = (lo?, hi?);
    Some(u64::try_from(hi.saturating_sub(lo)).unwrap_or(0))
}

/// Middleware (innermost, inside the rate limit): applies the profile.
pub(crate) async fn layer(State(sim): State<Arc<Simulator>>, req: Request, next: Next) -> Response {
    let limits = sim.faults.search_limits();
    let req = match search_page_fault(limits, req).await {
        Ok(req) => req,
        Err(resp) => return resp,
    };
    let is_get = req.method() == axum::http::Method::GET;
    if let Some(scope) = sim.faults.denied(req.uri().path()) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("You do not have the required scope ({scope}) to access this resource"),
        )
        .into_response();
    }
    let (fault, failing) = sim.faults.next(req.uri().path());
    if failing && is_get {
        return bare_500("Conversation could not be loaded");
    }
    let Some(fault) = fault else {
        return next.run(req).await;
    };
    // 5xx and stalls strike after the server did the work (the answer is
    // what gets lost), so a request that moves server state, such as a
    // scroll page, has moved it: asking again gets the next page.
    match fault {
        Fault::E500 | Fault::E502 | Fault::E503 | Fault::E504 => {
            drop(next.run(req).await);
            match fault {
                Fault::E500 => bare_500("Server Error"),
                Fault::E502 => html(StatusCode::BAD_GATEWAY, "502 Bad Gateway"),
                Fault::E504 => html(StatusCode::GATEWAY_TIMEOUT, "504 Gateway Time-out"),
                _ => ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service_unavailable",
                    "Sorry, the API service is temporarily unavailable",
                )
                .into_response(),
            }
        }
        Fault::Stall => {
            let handled = next.run(req).await;
            tokio::time::sleep(sim.faults.stall()).await;
            handled
        }
        Fault::Unauthorized => ApiError::unauthorized().into_response(),
        Fault::RateLimited => {
            let mut r = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_exceeded",
                "Exceeded rate limit",
            )
            .into_response();
            r.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
        Fault::Reset => {
            let resp = next.run(req).await;
            let (mut parts, _) = resp.into_parts();
            parts.headers.remove(CONTENT_LENGTH);
            let broken = futures::stream::iter([
                Ok(bytes::Bytes::from_static(b"{\"type\":")),
                Err(std::io::Error::other(
                    "connection reset by the fault profile",
                )),
            ]);
            Response::from_parts(parts, Body::from_stream(broken))
        }
        Fault::Truncated | Fault::Empty => {
            let resp = next.run(req).await;
            if !resp.status().is_success() {
                return resp;
            }
            let (mut parts, body) = resp.into_parts();
            parts.headers.remove(CONTENT_LENGTH);
            let body = if fault == Fault::Empty {
                Body::empty()
            } else {
                match axum::body::to_bytes(body, usize::MAX).await {
                    Ok(b) => Body::from(b.slice(..b.len() / 2)),
                    Err(_) => Body::empty(),
                }
            };
            Response::from_parts(parts, body)
        }
    }
}

/// `GET /__sim/faults` (the installed profile as JSON) and `POST /__sim/faults`
/// (install a profile: a JSON object with the keys of [`FaultProfile`], a
/// JSON string naming a profile, or TOML text). No auth, like all `/__sim`.
pub(crate) fn control_router(sim: Arc<Simulator>) -> axum::Router {
    axum::Router::new()
        .route(
            "/__sim/faults",
            axum::routing::get(get_faults).post(post_faults),
        )
        .with_state(sim)
}

async fn get_faults(State(sim): State<Arc<Simulator>>) -> axum::Json<FaultProfile> {
    axum::Json(sim.faults.get())
}

async fn post_faults(
    State(sim): State<Arc<Simulator>>,
    body: bytes::Bytes,
) -> Result<axum::Json<FaultProfile>, ApiError> {
    let profile = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::String(name)) => FaultProfile::load(&name),
        Ok(v) => serde_json::from_value::<FaultProfile>(v)
            .map_err(|e| e.to_string())
            .and_then(|p| p.validate().map(|()| p)),
        Err(_) => FaultProfile::parse_toml(&String::from_utf8_lossy(&body)),
    }
    .map_err(ApiError::invalid)?;
    sim.faults.set(profile.clone());
    Ok(axum::Json(profile))
}

fn bare_500(message: &str) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(json!({"type": "error", "request_id": request_id(), "message": message})),
    )
        .into_response()
}

fn html(status: StatusCode, title: &str) -> Response {
    (
        status,
        [(CONTENT_TYPE, "text/html")],
        format!("<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denied_scopes_match_whole_path_segments() {
        let denied = vec!["tickets".to_string(), "contacts".to_string()];
        assert_eq!(
            denied_scope(&denied, "/tickets/search"),
            Some("read_tickets")
        );
        assert_eq!(denied_scope(&denied, "/ticket_types"), Some("read_tickets"));
        assert_eq!(
            denied_scope(&denied, "/contacts/abc/tags"),
            Some("read_users_companies")
        );
        assert_eq!(denied_scope(&denied, "/conversations/1"), None);
        assert_eq!(denied_scope(&denied, "/ticketsx"), None);
        assert_eq!(denied_scope(&[], "/tickets/search"), None);
        assert!(check_scopes(&denied).is_ok());
        let err = check_scopes(&["ticket".into()]).expect_err("unknown");
        assert!(err.contains("tickets, admins"), "{err}");
        let profile = FaultProfile {
            denied_scopes: vec!["nope".into()],
            ..FaultProfile::default()
        };
        assert!(profile.validate().is_err());
    }

    #[test]
    fn draws_are_deterministic_and_match_the_rates() {
        let p = FaultProfile::load("flaky").expect("named");
        let a: Vec<_> = (0..20_000).map(|n| p.draw(n)).collect();
        let b: Vec<_> = (0..20_000).map(|n| p.draw(n)).collect();
        assert_eq!(a, b);
        let count = |f: Fault| a.iter().filter(|x| **x == Some(f)).count() as f64 / 20_000.0;
        assert!((count(Fault::E500) - 0.02).abs() < 0.005);
        assert!((count(Fault::Stall) - 0.01).abs() < 0.004);
        assert!((count(Fault::Empty) - 0.01).abs() < 0.004);
    }

    #[test]
    fn scripts_fire_where_told() {
        let p = FaultProfile {
            burst: Some(Burst {
                every: 10,
                length: 2,
            }),
            unauthorized_after: Some(25),
            ..FaultProfile::default()
        };
        let fates: Vec<_> = (0..30).map(|n| p.draw(n)).collect();
        assert_eq!(fates[0], Some(Fault::RateLimited));
        assert_eq!(fates[11], Some(Fault::RateLimited));
        assert_eq!(fates[12], None);
        assert_eq!(fates[25], Some(Fault::Unauthorized));
    }

    #[test]
    fn a_search_window_is_as_wide_as_its_updated_at_bounds() {
        let q = json!({"operator": "AND", "value": [
            {"field": "role", "operator": "=", "value": "user"},
            {"field": "updated_at", "operator": ">", "value": 1000},
            {"field": "updated_at", "operator": "<", "value": "4601"},
        ]});
        assert_eq!(updated_at_width(&q), Some(3601));
        let open = json!({"field": "updated_at", "operator": ">", "value": 1000});
        assert_eq!(updated_at_width(&open), None);
        let nested = json!({"operator": "AND", "value": [
            {"operator": "AND", "value": [
                {"field": "updated_at", "operator": ">=", "value": 10},
                {"field": "updated_at", "operator": ">", "value": 20},
            ]},
            {"field": "updated_at", "operator": "<=", "value": 50},
        ]});
        assert_eq!(updated_at_width(&nested), Some(30));
        assert_eq!(updated_at_width(&serde_json::Value::Null), None);
        let p = FaultProfile::parse_toml("search_max_window_secs = 86400").expect("valid");
        assert_eq!(p.search_max_window_secs, Some(86_400));
    }

    #[test]
    fn bad_profiles_are_rejected_with_the_reason() {
        assert!(
            FaultProfile::parse_toml("error_500 = 1.5")
                .expect_err("range")
                .contains("error_500")
        );
        assert!(
            FaultProfile::parse_toml("error_500 = 0.6\nstall = 0.6")
                .expect_err("sum")
                .contains("more than 1")
        );
        assert!(FaultProfile::parse_toml("eror_500 = 0.1").is_err());
        assert!(
            FaultProfile::load("no-such-profile")
                .expect_err("unknown")
                .contains("named profile")
        );
        let p = FaultProfile::parse_toml(
            "seed = 3\nerror_500 = 0.1\nfailing_conversations = [\"7\"]\n[burst]\nevery = 50\nlength = 2\n",
        )
        .expect("valid");
        assert_eq!(p.failing_conversations, vec!["7"]);
    }
}
