//! [`FaultProfile`]: what to break and how often (named profiles, TOML,
//! validation), its scripts ([`Burst`]), and the deterministic draw of one
//! request's fate.

use serde::{Deserialize, Serialize};

use super::super::SimConfig;
use super::super::rng::hash;
use super::scopes::check_scopes;

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
pub(super) enum Fault {
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
    pub(super) fn draw(&self, n: u64) -> Option<Fault> {
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
