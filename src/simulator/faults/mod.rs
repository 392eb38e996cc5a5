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
//! that permission. Families: see [`SCOPES`](scopes::SCOPES). `search_max_per_page`:
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
//!
//! By noun: `profile.rs` ([`FaultProfile`] and the draw), `scopes.rs`
//! (denied scopes), `layer.rs` (the middleware), `control.rs`
//! (`/__sim/faults`); this file holds [`Faults`], the installed profile.

use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::SimConfig;

mod control;
mod layer;
mod profile;
mod scopes;

pub(crate) use control::control_router;
use layer::SearchLimits;
pub(crate) use layer::layer;
use profile::Fault;
pub use profile::{Burst, FaultProfile};
use scopes::denied_scope;

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

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
