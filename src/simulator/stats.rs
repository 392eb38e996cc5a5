//! Request counters behind `GET /__sim/stats`.
//!
//! Every API request (not `/__sim/*`) is counted once, after its response is
//! known, by HTTP status and by `METHOD route-template` (for example
//! `GET /conversations/{id}`; requests matching no route count as
//! `METHOD (unmatched)`).

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
}

impl Stats {
    /// Counts one request.
    pub fn record(&self, endpoint: String, status: u16) {
        let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
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
        json!({ "total": c.total, "by_status": by_status, "by_endpoint": c.by_endpoint })
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
        s.record("GET /me".into(), 200);
        s.record("GET /me".into(), 401);
        s.record("POST /contacts/search".into(), 200);
        assert_eq!(
            s.snapshot(),
            json!({"total": 3, "by_status": {"200": 2, "401": 1},
                   "by_endpoint": {"GET /me": 2, "POST /contacts/search": 1}})
        );
        s.reset();
        assert_eq!(s.snapshot()["total"], 0);
    }
}
