//! Request counters behind `GET /__sim/stats`.
//!
//! Every API request (not `/__sim/*`) is counted once, after its response is
//! known, by HTTP status and by `METHOD route-template` (for example
//! `GET /conversations/{id}`; requests matching no route count as
//! `METHOD (unmatched)`), and by 10-second wall-clock window (the rate
//! limit's windows): `windows` lists `{"start", "requests"}` oldest first
//! and `max_in_window` is the busiest window's count.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{Value, json};

/// Thread-safe request counters.
#[derive(Debug, Default)]
pub struct Stats {
    /// A std mutex: held only for a map update, never across an `.await`.
    inner: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: u64,
    by_status: BTreeMap<u16, u64>,
    by_endpoint: BTreeMap<String, u64>,
    /// Window start (unix seconds) → requests answered in it.
    windows: BTreeMap<i64, u64>,
}

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

    /// `{"total": n, "by_status": {"200": n}, "by_endpoint": {"GET /me": n}}`.
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
        json!({ "total": c.total, "by_status": by_status, "by_endpoint": c.by_endpoint,
                "max_in_window": max_in_window, "windows": windows })
    }

    /// Zeroes every counter.
    pub fn reset(&self) {
        *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = Counts::default();
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
                               {"start": 1_000_010, "requests": 1}]})
        );
        s.reset();
        assert_eq!(s.snapshot()["total"], 0);
    }
}
