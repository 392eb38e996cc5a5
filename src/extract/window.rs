//! Time windows `(lo, hi]` a search is read in, and how a range is cut
//! into them.

use serde_json::Value;

use crate::api::query::{and, leaf};
use crate::extract::search::Granularity;

pub(crate) const DAY: i64 = 86_400;

/// The narrowest window a day-granular search is cut into. Each of its
/// queries reads two extra days on either side (see [`Window::filters`]), so
/// narrow windows read most contacts several times: one-day windows read
/// five days to keep one. At 14 days at most 4/18 of what is read is
/// overlap, and a window that holds more than the page budget is paged
/// deeper rather than split further.
pub const MIN_DAY_WINDOW: i64 = 14 * DAY;

/// A time window `(lo, hi]` in exact unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub lo: i64,
    pub hi: i64,
}

impl Window {
    /// Does the window hold this instant?
    pub fn contains(self, t: i64) -> bool {
        self.lo < t && t <= self.hi
    }

    /// Two halves, or `None` when the window cannot shrink (one second; for
    /// day-granular search, halves narrower than [`MIN_DAY_WINDOW`]).
    pub fn split(self, g: Granularity) -> Option<(Window, Window)> {
        self.split_to(g, MIN_DAY_WINDOW)
    }

    /// [`Window::split`] with day-granular halves no narrower than `min_day`
    /// seconds (a fan-out's parents go down to one day: see
    /// [`super::fanout::FANOUT_MIN_WINDOWS`]).
    pub fn split_to(self, g: Granularity, min_day: i64) -> Option<(Window, Window)> {
        let mid = match g {
            Granularity::Second => self.lo + (self.hi - self.lo) / 2,
            Granularity::Day => {
                let m = (self.lo + (self.hi - self.lo) / 2).div_euclid(DAY) * DAY;
                if m - self.lo < min_day || self.hi - m < min_day {
                    return None;
                }
                m
            }
        };
        (mid > self.lo && mid < self.hi).then_some((
            Window {
                lo: self.lo,
                hi: mid,
            },
            Window {
                lo: mid,
                hi: self.hi,
            },
        ))
    }

    /// The search filter covering the window: exact for seconds; for days,
    /// whole UTC days plus a day of overlap each side (workspace time zones),
    /// filtered back to the exact window on our side.
    pub(crate) fn filters(self, g: Granularity) -> Vec<Value> {
        match g {
            Granularity::Second => vec![
                leaf("updated_at", ">", self.lo.max(0)),
                leaf("updated_at", "<", self.hi.saturating_add(1)),
            ],
            Granularity::Day => vec![
                leaf("updated_at", ">", (self.lo - 2 * DAY).max(0)),
                leaf("updated_at", "<", self.hi.saturating_add(2 * DAY)),
            ],
        }
    }
}

/// Cut `(lo, hi]` into about `n` windows of equal length (day-aligned cut
/// points for day-granular search, and no narrower than
/// [`MIN_DAY_WINDOW`]), oldest first.
pub fn plan_windows(lo: i64, hi: i64, n: u64, g: Granularity) -> Vec<Window> {
    plan_windows_to(lo, hi, n, g, MIN_DAY_WINDOW)
}

/// [`plan_windows`] with day-granular windows no narrower than `min_day`.
pub fn plan_windows_to(lo: i64, hi: i64, n: u64, g: Granularity, min_day: i64) -> Vec<Window> {
    let mut n = n.max(1) as i64;
    if g == Granularity::Day {
        n = n.min(((hi - lo) / min_day.max(DAY)).max(1));
    }
    let step = ((hi - lo) / n).max(1);
    let mut cuts = vec![lo];
    for i in 1..n {
        let mut c = lo + i * step;
        if g == Granularity::Day {
            c = c.div_euclid(DAY) * DAY;
        }
        if c > *cuts.last().unwrap_or(&lo) && c < hi {
            cuts.push(c);
        }
    }
    cuts.push(hi);
    cuts.windows(2)
        .map(|w| Window { lo: w[0], hi: w[1] })
        .filter(|w| w.hi > w.lo)
        .collect()
}

/// `filter` ANDed with `bounds`; an AND group's members are spliced in
/// (Intercom allows two levels of nesting).
pub(crate) fn with_filter(filter: Option<&Value>, bounds: Vec<Value>) -> Value {
    let mut filters = match filter {
        Some(Value::Object(group))
            if group.get("operator").and_then(Value::as_str) == Some("AND") =>
        {
            group
                .get("value")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        }
        Some(f) => vec![f.clone()],
        None => Vec::new(),
    };
    filters.extend(bounds);
    and(filters)
}
