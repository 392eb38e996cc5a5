//! Simulated response latency (`--latency SPEC`, [`SimConfig::latency`]).
//!
//! Off by default, so tests stay fast. With a model, every API request (not
//! `/__sim/*`) waits before it is answered, by its endpoint class:
//!
//! | class | requests |
//! |---|---|
//! | `search` | `POST` to a `…/search` route (contacts, conversations, tickets) |
//! | `get` | every `GET` (single records, lists, scrolls, events, …) |
//! | `post` | other `POST`s (`/companies/list`) |
//! | `default` | any class the SPEC does not name |
//!
//! Grammar: `SPEC = ENTRY ("," ENTRY)*`, `ENTRY = CLASS "=" DELAY`,
//! `DELAY = DURATION [("±" | "+-") DURATION]`, `DURATION = NUMBER ("ms" |
//! "s")`; or `off` for none. `search=300ms±100ms,get=120ms±40ms,default=150ms`
//! makes searches take 200–400 ms, GETs 80–160 ms and the rest 150 ms. A
//! class without an entry takes `default`'s delay, and nothing without a
//! `default`.
//!
//! Delays are uniform in `mean ± jitter` (never negative) and deterministic:
//! the n-th request of a class waits the delay drawn from `(seed, class, n)`,
//! so a client that sends the same requests in the same order meets the
//! same delays. The wait is an async sleep: a slow answer never holds up
//! another. Each delay is counted in `GET /__sim/stats` under `latency`
//! (see [`Stats`](super::stats::Stats)).
//!
//! [`SimConfig::latency`]: super::SimConfig::latency

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use super::Simulator;
use super::rng::Rng;

/// The accepted grammar, for error messages and `--help`.
pub const GRAMMAR: &str = "SPEC is CLASS=DELAY[,CLASS=DELAY...] with CLASS one of search, get, \
                           post, default and DELAY a duration like 150ms or 1.5s, optionally \
                           ±JITTER (or +-JITTER), e.g. search=300ms±100ms,get=120ms±40ms,default=150ms; \
                           or off";

/// Salt of the delay stream (apart from the world's salts).
const SALT: u64 = 0x004c_4154_454e_4359;

/// An endpoint class (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// `POST …/search`.
    Search,
    /// Any `GET`.
    Get,
    /// Any other `POST`.
    Post,
}

impl Class {
    /// Every class, in the order of [`Class::index`].
    pub const ALL: [Class; 3] = [Class::Search, Class::Get, Class::Post];

    /// The class of a request, from its method and path. Methods the API
    /// does not serve count as `post`.
    pub fn of(method: &Method, path: &str) -> Class {
        if method == Method::GET {
            Class::Get
        } else if path.trim_end_matches('/').ends_with("/search") {
            Class::Search
        } else {
            Class::Post
        }
    }

    /// The name used in SPECs and in `/__sim/stats`.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Search => "search",
            Class::Get => "get",
            Class::Post => "post",
        }
    }

    fn index(self) -> usize {
        match self {
            Class::Search => 0,
            Class::Get => 1,
            Class::Post => 2,
        }
    }
}

/// One class's delay: uniform in `mean_ms ± jitter_ms`, at least zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Delay {
    /// Mean delay, milliseconds.
    pub mean_ms: u64,
    /// Largest deviation from the mean either way, milliseconds.
    pub jitter_ms: u64,
}

impl Delay {
    /// The delay for uniform `u` in `[0, 1)`: `mean - jitter + 2·jitter·u`,
    /// rounded, never below zero.
    fn at(self, u: f64) -> u64 {
        let ms = self.mean_ms as f64 - self.jitter_ms as f64
            + 2.0 * self.jitter_ms as f64 * u.clamp(0.0, 1.0);
        ms.round().max(0.0) as u64
    }
}

impl fmt::Display for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.mean_ms)?;
        if self.jitter_ms > 0 {
            write!(f, "±{}ms", self.jitter_ms)?;
        }
        Ok(())
    }
}

/// A parsed SPEC: the delay of each class (`None`: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LatencyModel {
    /// Per class, in [`Class::ALL`] order, with `default` filled in.
    delays: [Option<Delay>; 3],
}

impl LatencyModel {
    /// Parse a SPEC (see the module docs). The error names the bad part and
    /// the accepted grammar.
    pub fn parse(spec: &str) -> Result<LatencyModel, String> {
        let spec = spec.trim();
        if spec.eq_ignore_ascii_case("off") || spec.eq_ignore_ascii_case("none") {
            return Ok(LatencyModel::default());
        }
        let mut given: [Option<Delay>; 3] = [None; 3];
        let mut default = None;
        for entry in spec.split(',') {
            let entry = entry.trim();
            let bad = |why: String| format!("bad latency entry {entry:?}: {why}. {GRAMMAR}");
            let Some((class, delay)) = entry.split_once('=') else {
                return Err(bad("it has no CLASS=".into()));
            };
            let delay = parse_delay(delay.trim()).map_err(&bad)?;
            let slot = match class.trim() {
                "default" => &mut default,
                name => {
                    let class = Class::ALL
                        .into_iter()
                        .find(|c| c.as_str() == name)
                        .ok_or_else(|| bad(format!("unknown class {name:?}")))?;
                    &mut given[class.index()]
                }
            };
            if slot.replace(delay).is_some() {
                return Err(bad(format!("class {:?} is given twice", class.trim())));
            }
        }
        Ok(LatencyModel {
            delays: given.map(|d| d.or(default)),
        })
    }

    /// Response times like a real workspace's, for `demo --realistic`:
    /// `search=300ms±100ms,get=150ms±50ms,default=150ms`.
    pub fn realistic() -> Self {
        let d = |mean_ms, jitter_ms| Some(Delay { mean_ms, jitter_ms });
        LatencyModel::new(d(300, 100), d(150, 50), d(150, 0))
    }

    /// A model with these delays per class (`None`: none).
    pub fn new(search: Option<Delay>, get: Option<Delay>, post: Option<Delay>) -> Self {
        LatencyModel {
            delays: [search, get, post],
        }
    }

    /// The delay of `class`, if any.
    pub fn delay(&self, class: Class) -> Option<Delay> {
        self.delays[class.index()]
    }

    /// True when no class waits.
    pub fn is_off(&self) -> bool {
        self.delays.iter().all(Option::is_none)
    }

    /// The delay of the `n`-th request (from 0) of `class` under `seed`,
    /// milliseconds.
    pub fn delay_ms(&self, seed: u64, class: Class, n: u64) -> u64 {
        self.delay(class).map_or(0, |d| {
            d.at(Rng::new(seed, SALT, class.index() as u64, n).unit())
        })
    }
}

impl fmt::Display for LatencyModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_off() {
            return f.write_str("off");
        }
        let parts: Vec<String> = Class::ALL
            .into_iter()
            .filter_map(|c| self.delay(c).map(|d| format!("{}={d}", c.as_str())))
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// `150ms`, `1.5s`, `300ms±100ms`, `300ms+-100ms`.
fn parse_delay(text: &str) -> Result<Delay, String> {
    let (mean, jitter) = match text.split_once('±').or_else(|| text.split_once("+-")) {
        Some((m, j)) => (m.trim(), Some(j.trim())),
        None => (text, None),
    };
    Ok(Delay {
        mean_ms: parse_duration(mean)?,
        jitter_ms: jitter.map(parse_duration).transpose()?.unwrap_or(0),
    })
}

/// A non-negative duration with a unit (`ms` or `s`), in milliseconds.
fn parse_duration(text: &str) -> Result<u64, String> {
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return Err(format!("{text:?} has no unit (ms or s)"));
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of ms or s"))?;
    let ms = value * scale;
    if !ms.is_finite() || !(0.0..=600_000.0).contains(&ms) {
        return Err(format!("{text:?} is not between 0ms and 600s"));
    }
    Ok(ms.round() as u64)
}

/// A simulator's latency: its model, seed and per-class request counters.
#[derive(Debug)]
pub(crate) struct Latency {
    model: LatencyModel,
    seed: u64,
    served: [AtomicU64; 3],
}

impl Latency {
    /// `None` when the model has no delay at all.
    pub(crate) fn new(model: Option<LatencyModel>, seed: u64) -> Option<Latency> {
        let model = model.filter(|m| !m.is_off())?;
        Some(Latency {
            model,
            seed,
            served: Default::default(),
        })
    }

    /// The delay of the next request of `class`.
    fn next(&self, class: Class) -> u64 {
        let n = self.served[class.index()].fetch_add(1, Ordering::Relaxed);
        self.model.delay_ms(self.seed, class, n)
    }
}

/// The layer: waits the request's delay (without blocking anything else),
/// counts it in the stats, then lets the request through.
pub(crate) async fn layer(State(sim): State<Arc<Simulator>>, req: Request, next: Next) -> Response {
    if let Some(latency) = &sim.latency {
        let class = Class::of(req.method(), req.uri().path());
        let ms = latency.next(class);
        sim.stats.record_delay(class.as_str(), ms);
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(mean_ms: u64, jitter_ms: u64) -> Option<Delay> {
        Some(Delay { mean_ms, jitter_ms })
    }

    #[test]
    fn parses_the_grammar_and_fills_in_default() {
        let m =
            LatencyModel::parse("search=300ms±100ms,get=120ms+-40ms,default=150ms").expect("valid");
        assert_eq!(m, LatencyModel::new(d(300, 100), d(120, 40), d(150, 0)));
        let m = LatencyModel::parse(" get = 1.5s , search=0.25s±10ms ").expect("valid");
        assert_eq!(m, LatencyModel::new(d(250, 10), d(1500, 0), None));
        assert_eq!(
            LatencyModel::parse("default=150ms").expect("valid"),
            LatencyModel::new(d(150, 0), d(150, 0), d(150, 0))
        );
        assert!(LatencyModel::parse("off").expect("valid").is_off());
        assert_eq!(
            LatencyModel::parse("search=300ms±100ms,get=150ms±50ms,default=150ms").expect("valid"),
            LatencyModel::realistic()
        );
        assert_eq!(
            LatencyModel::parse("search=300ms±100ms,get=150ms±50ms")
                .expect("valid")
                .to_string(),
            "search=300ms±100ms,get=150ms±50ms"
        );
    }

    #[test]
    fn bad_specs_name_the_bad_part_and_the_grammar() {
        for (spec, names) in [
            ("serch=300ms", "unknown class \"serch\""),
            ("search=300", "\"300\" has no unit"),
            ("get=fast ms", "\"fast ms\" is not a number"),
            ("get=150ms±x", "\"x\" has no unit"),
            ("get=-5ms", "not between 0ms and 600s"),
            ("get=150ms,get=10ms", "class \"get\" is given twice"),
            ("150ms", "no CLASS="),
            ("", "no CLASS="),
        ] {
            let e = LatencyModel::parse(spec).expect_err(spec);
            assert!(e.contains(names), "{spec}: {e}");
            assert!(
                e.contains("CLASS=DELAY") && e.contains("search, get"),
                "{e}"
            );
        }
    }

    #[test]
    fn delays_stay_in_range_and_follow_the_seed() {
        let m = LatencyModel::parse("search=300ms±100ms,get=120ms±40ms").expect("valid");
        let draws = |seed: u64, class| -> Vec<u64> {
            (0..200).map(|n| m.delay_ms(seed, class, n)).collect()
        };
        let search = draws(7, Class::Search);
        assert!(
            search.iter().all(|ms| (200..=400).contains(ms)),
            "{search:?}"
        );
        assert!(search.iter().any(|&ms| ms < 250) && search.iter().any(|&ms| ms > 350));
        let get = draws(7, Class::Get);
        assert!(get.iter().all(|ms| (80..=160).contains(ms)), "{get:?}");
        assert_eq!(draws(7, Class::Post), vec![0; 200], "no entry, no default");
        assert_eq!(search, draws(7, Class::Search), "same seed, same delays");
        assert_ne!(
            search,
            draws(8, Class::Search),
            "another seed, other delays"
        );
    }

    #[test]
    fn classes_by_method_and_route() {
        assert_eq!(Class::of(&Method::POST, "/contacts/search"), Class::Search);
        assert_eq!(Class::of(&Method::POST, "/tickets/search/"), Class::Search);
        assert_eq!(Class::of(&Method::POST, "/companies/list"), Class::Post);
        assert_eq!(Class::of(&Method::GET, "/conversations/12"), Class::Get);
        assert_eq!(Class::of(&Method::GET, "/events"), Class::Get);
    }
}
