//! Request counters behind `GET /__sim/stats`.
//!
//! Every API request (not `/__sim/*`) is counted once, after its response is
//! known, by HTTP status and by `METHOD route-template` (for example
//! `GET /conversations/{id}`; requests matching no route count as
//! `METHOD (unmatched)`), and by 10-second wall-clock window (the rate
//! limit's windows): `windows` lists `{"start", "requests"}` oldest first
//! and `max_in_window` is the busiest window's count.
//!
//! With a latency model (`--latency`, see `latency.rs`), `latency` holds,
//! per endpoint class (`search`, `get`, `post`), the delays served since the
//! last reset: `{"requests", "total_ms", "min_ms", "max_ms", "first_ms"}`,
//! `first_ms` being the first [`FIRST_DELAYS`] delays in the order they were
//! drawn. Without a model `latency` is `{}`.
//!
//! `max_in_flight_by_class` holds, per endpoint class (`search`, `get`,
//! `post`; see `latency.rs`), the most requests of that class being served
//! at once since the last reset (from arrival, simulated delay included, to
//! the response): `{"search": 6}` says a client had six searches in flight
//! together. Classes not seen since the reset are absent. `in_flight` is
//! the number of API requests (all classes) being served now and
//! `max_in_flight` the most at once since the last reset: how many calls a
//! client kept out.
//!
//! Per token (a token is a workspace): `tokens` is how many distinct bearer
//! tokens sent API requests, and `peak_tokens_in_flight` the most tokens
//! that had a request in flight at the same moment (from arrival, before any
//! simulated latency, to the response), both since the last reset: 1 when
//! workspaces were synced one after another, more when side by side. Tokens
//! themselves are never listed (only a hash of each is kept).

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Value, json};

use super::Simulator;
use super::latency::Class;

/// Thread-safe request counters.
#[derive(Debug, Default)]
pub struct Stats {
    /// A std mutex: held only for a map update, never across an `.await`.
    inner: Mutex<Counts>,
    /// Requests in flight per token hash; not cleared by [`Stats::reset`]
    /// (requests in flight then still end).
    in_flight: Mutex<HashMap<u64, u32>>,
}

/// A request of one token in flight; counted out when dropped (also when
/// the client gives up and the request's future is dropped).
#[derive(Debug)]
pub struct TokenFlight<'a> {
    stats: &'a Stats,
    token: u64,
}

impl Drop for TokenFlight<'_> {
    fn drop(&mut self) {
        let mut f = self
            .stats
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = f.get_mut(&self.token) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                f.remove(&self.token);
            }
        }
    }
}

fn token_hash(token: &str) -> u64 {
    let mut h = DefaultHasher::new();
    token.hash(&mut h);
    h.finish()
}

#[derive(Debug, Default)]
struct Counts {
    total: u64,
    by_status: BTreeMap<u16, u64>,
    by_endpoint: BTreeMap<String, u64>,
    /// Window start (unix seconds) → requests answered in it.
    windows: BTreeMap<i64, u64>,
    /// Latency class → delays served.
    latency: BTreeMap<&'static str, Delays>,
    /// Endpoint class → the most requests served at once since the reset.
    max_in_flight: BTreeMap<&'static str, u64>,
    /// Endpoint class → requests being served now (kept across resets).
    in_flight: BTreeMap<&'static str, u64>,
    /// API requests of every class being served now (kept across resets).
    total_in_flight: u64,
    /// The most API requests of every class served at once.
    max_total_in_flight: u64,
    /// Hashes of the tokens that sent requests.
    tokens: HashSet<u64>,
    /// Most tokens with a request in flight at once.
    peak_tokens_in_flight: usize,
}

/// Delays served to one latency class.
#[derive(Debug, Default)]
struct Delays {
    requests: u64,
    total_ms: u64,
    min_ms: u64,
    max_ms: u64,
    first_ms: Vec<u64>,
}

/// Delays of each latency class listed one by one in the stats.
pub const FIRST_DELAYS: usize = 32;

/// Windows kept (oldest dropped first): about 11 hours.
const MAX_WINDOWS: usize = 4096;

impl Stats {
    /// Counts one request.
    pub fn record(&self, endpoint: String, status: u16) {
        self.record_at(endpoint, status, super::limits::wall_millis());
    }

    /// Counts one request answered at wall time `millis`.
    pub fn record_at(&self, endpoint: String, status: u16, millis: i64) {
        let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *c.windows
            .entry(super::limits::window_start(millis))
            .or_default() += 1;
        if c.windows.len() > MAX_WINDOWS {
            c.windows.pop_first();
        }
        c.total += 1;
        *c.by_status.entry(status).or_default() += 1;
        *c.by_endpoint.entry(endpoint).or_default() += 1;
    }

    /// Counts a request of `token` (the `Authorization` header's bearer
    /// token) as in flight until the returned guard is dropped.
    pub fn token_started(&self, token: &str) -> TokenFlight<'_> {
        let hash = token_hash(token);
        let active = {
            let mut f = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            *f.entry(hash).or_default() += 1;
            f.len()
        };
        let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        c.tokens.insert(hash);
        c.peak_tokens_in_flight = c.peak_tokens_in_flight.max(active);
        TokenFlight {
            stats: self,
            token: hash,
        }
    }

    /// Counts one simulated delay of `ms` milliseconds for latency `class`.
    pub fn record_delay(&self, class: &'static str, ms: u64) {
        let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let d = c.latency.entry(class).or_default();
        d.min_ms = if d.requests == 0 {
            ms
        } else {
            d.min_ms.min(ms)
        };
        d.max_ms = d.max_ms.max(ms);
        d.requests += 1;
        d.total_ms += ms;
        if d.first_ms.len() < FIRST_DELAYS {
            d.first_ms.push(ms);
        }
    }

    /// A request of `class` arrives (see [`in_flight_layer`]).
    fn enter(&self, class: &'static str) {
        let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let now = {
            let n = c.in_flight.entry(class).or_default();
            *n += 1;
            *n
        };
        let max = c.max_in_flight.entry(class).or_default();
        *max = (*max).max(now);
        c.total_in_flight += 1;
        c.max_total_in_flight = c.max_total_in_flight.max(c.total_in_flight);
    }

    /// A request of `class` is answered (or its client went away).
    fn leave(&self, class: &'static str) {
        let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = c.in_flight.get_mut(class) {
            *n = n.saturating_sub(1);
        }
        c.total_in_flight = c.total_in_flight.saturating_sub(1);
    }

    /// `{"total": n, "by_status": {"200": n}, "by_endpoint": {"GET /me": n},
    /// "max_in_window": n, "windows": [...], "latency": {...}, "tokens": n,
    /// "peak_tokens_in_flight": n}`.
    pub fn snapshot(&self) -> Value {
        let c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let by_status: serde_json::Map<String, Value> = c
            .by_status
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect();
        let windows: Vec<Value> = c
            .windows
            .iter()
            .map(|(start, n)| json!({"start": start, "requests": n}))
            .collect();
        let max_in_window = c.windows.values().copied().max().unwrap_or(0);
        let latency: serde_json::Map<String, Value> = c
            .latency
            .iter()
            .map(|(class, d)| {
                (
                    (*class).to_string(),
                    json!({"requests": d.requests, "total_ms": d.total_ms, "min_ms": d.min_ms,
                           "max_ms": d.max_ms, "first_ms": d.first_ms}),
                )
            })
            .collect();
        json!({ "total": c.total, "by_status": by_status, "by_endpoint": c.by_endpoint,
                "max_in_window": max_in_window, "windows": windows, "latency": latency,
                "max_in_flight_by_class": c.max_in_flight,
                "in_flight": c.total_in_flight, "max_in_flight": c.max_total_in_flight,
                "tokens": c.tokens.len(), "peak_tokens_in_flight": c.peak_tokens_in_flight })
    }

    /// Zeroes every counter (requests being served stay counted as such).
    pub fn reset(&self) {
        let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let in_flight = std::mem::take(&mut c.in_flight);
        let total_in_flight = c.total_in_flight;
        *c = Counts {
            in_flight,
            total_in_flight,
            max_total_in_flight: total_in_flight,
            ..Counts::default()
        };
    }
}

/// Counts a request as in flight from its arrival to its response (the
/// outermost layer, so a simulated delay counts), per endpoint class.
pub(crate) async fn in_flight_layer(
    State(sim): State<Arc<Simulator>>,
    req: Request,
    next: Next,
) -> Response {
    let class = Class::of(req.method(), req.uri().path()).as_str();
    sim.stats.enter(class);
    let _leave = Leave { sim: &sim, class };
    next.run(req).await
}

/// Leaves the in-flight count when the request ends, answered or dropped.
struct Leave<'a> {
    sim: &'a Simulator,
    class: &'static str,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.sim.stats.leave(self.class);
    }
}

#[cfg(test)]
mod tests {
    use super::Stats;
    use serde_json::json;

    #[test]
    fn counts_and_resets() {
        let s = Stats::default();
        s.record_at("GET /me".into(), 200, 1_000_001_000);
        s.record_at("GET /me".into(), 401, 1_000_009_999);
        s.record_at("POST /contacts/search".into(), 200, 1_000_010_000);
        assert_eq!(
            s.snapshot(),
            json!({"total": 3, "by_status": {"200": 2, "401": 1},
                   "by_endpoint": {"GET /me": 2, "POST /contacts/search": 1},
                   "max_in_window": 2,
                   "windows": [{"start": 1_000_000, "requests": 2},
                               {"start": 1_000_010, "requests": 1}],
                   "latency": {}, "max_in_flight_by_class": {},
                   "in_flight": 0, "max_in_flight": 0,
                   "tokens": 0, "peak_tokens_in_flight": 0})
        );
        s.record_delay("get", 120);
        s.record_delay("get", 80);
        s.record_delay("search", 300);
        assert_eq!(
            s.snapshot()["latency"],
            json!({"get": {"requests": 2, "total_ms": 200, "min_ms": 80, "max_ms": 120,
                           "first_ms": [120, 80]},
                   "search": {"requests": 1, "total_ms": 300, "min_ms": 300, "max_ms": 300,
                              "first_ms": [300]}})
        );
        s.reset();
        assert_eq!(s.snapshot()["total"], 0);
    }

    #[test]
    fn the_most_requests_in_flight_per_class() {
        let s = Stats::default();
        s.enter("search");
        s.enter("search");
        s.enter("get");
        s.leave("search");
        s.enter("search");
        s.leave("get");
        assert_eq!(
            s.snapshot()["max_in_flight_by_class"],
            json!({"search": 2, "get": 1})
        );
        // A reset keeps the two searches still in flight: a third makes 3.
        s.reset();
        assert_eq!(s.snapshot()["max_in_flight_by_class"], json!({}));
        s.enter("search");
        assert_eq!(s.snapshot()["max_in_flight_by_class"], json!({"search": 3}));
    }

    #[test]
    fn requests_served_at_once_and_their_peak() {
        let s = Stats::default();
        s.enter("get");
        s.enter("search");
        s.leave("get");
        s.enter("get");
        let snap = s.snapshot();
        assert_eq!(
            (snap["in_flight"].clone(), snap["max_in_flight"].clone()),
            (json!(2), json!(2))
        );
        s.enter("post");
        assert_eq!(s.snapshot()["max_in_flight"], 3);
        s.leave("search");
        s.leave("get");
        s.leave("post");
        assert_eq!(s.snapshot()["in_flight"], 0);
        assert_eq!(s.snapshot()["max_in_flight"], 3, "the peak stays");
        s.enter("get");
        s.reset();
        assert_eq!(
            s.snapshot()["max_in_flight"],
            1,
            "a reset keeps what is being served"
        );
        s.leave("get");
        assert_eq!(s.snapshot()["in_flight"], 0);
    }

    #[test]
    fn tokens_in_flight_at_once_are_counted_by_their_peak() {
        let s = Stats::default();
        let peak = |s: &Stats| {
            (
                s.snapshot()["tokens"].clone(),
                s.snapshot()["peak_tokens_in_flight"].clone(),
            )
        };
        {
            let _a1 = s.token_started("Bearer a");
            let _a2 = s.token_started("Bearer a");
        }
        assert_eq!(peak(&s), (json!(1), json!(1)), "one token twice is one");
        let b = s.token_started("Bearer b");
        let c = s.token_started("Bearer c");
        drop(b);
        let d = s.token_started("Bearer d");
        assert_eq!(peak(&s), (json!(4), json!(2)));
        // One after another: never more than one at once.
        drop(c);
        s.reset();
        drop(d);
        for t in ["Bearer x", "Bearer y", "Bearer z"] {
            drop(s.token_started(t));
        }
        assert_eq!(peak(&s), (json!(3), json!(1)));
        assert!(
            !s.snapshot().to_string().contains("Bearer"),
            "no token is shown"
        );
    }
}
