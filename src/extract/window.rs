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

/// A `created_at` band `(lo, hi]` in exact unix seconds, `None` bounds
/// unbounded: the second axis a window that cannot be cut finer in time is
/// split on (issue #15: contacts updated in the newest 14 days were created
/// over years). The bands of one window's parts tile every instant, so no
/// record is lost whatever its `created_at` (also one after `updated_at`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Band {
    /// Exclusive lower bound of `created_at` (unix seconds); `None`: none.
    pub lo: Option<i64>,
    /// Inclusive upper bound of `created_at` (unix seconds); `None`: none.
    pub hi: Option<i64>,
}

impl Band {
    /// Does the band hold a record created at `created_at`? A record without
    /// a `created_at` belongs to the top band only (`hi` unbounded), so one
    /// part keeps it.
    pub fn contains(self, created_at: Option<i64>) -> bool {
        match created_at {
            Some(c) => self.lo.is_none_or(|lo| lo < c) && self.hi.is_none_or(|hi| c <= hi),
            None => self.hi.is_none(),
        }
    }

    /// The whole axis (no `created_at` condition).
    pub fn is_whole(self) -> bool {
        self.lo.is_none() && self.hi.is_none()
    }

    /// The search filters of the band: exact for seconds; for days, two days
    /// of overlap each side (as [`Window::filters`]), filtered back to the
    /// exact band on our side ([`Part::keeps`]).
    pub(crate) fn filters(self, g: Granularity) -> Vec<Value> {
        let margin = match g {
            Granularity::Second => 0,
            Granularity::Day => 2 * DAY,
        };
        let mut bounds = Vec::new();
        if let Some(lo) = self.lo {
            bounds.push(leaf("created_at", ">", (lo - margin).max(0)));
        }
        if let Some(hi) = self.hi {
            let hi = hi.saturating_add(if margin == 0 { 1 } else { margin });
            bounds.push(leaf("created_at", "<", hi));
        }
        bounds
    }
}

/// One part of a time window: the window and a `created_at` band. A window
/// is read as one part (the whole band) until it holds more than its page
/// budget and cannot be cut finer in time; then it is cut by `created_at`
/// ([`Part::split`]). Parts of a window are delivered lowest band first;
/// only the last one (the band reaching up, [`Part::is_last`]) completes
/// the window, so only after it may a checkpoint follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub window: Window,
    pub band: Band,
}

impl Part {
    /// The whole window as one part.
    pub fn whole(window: Window) -> Part {
        Part {
            window,
            band: Band::default(),
        }
    }

    /// Where the part sorts among the parts of a plan: its window's lower
    /// bound, then its band's lower bound (parts of one window lowest band
    /// first).
    pub fn key(self) -> (i64, i64) {
        (self.window.lo, self.band.lo.unwrap_or(i64::MIN))
    }

    /// Whether it completes its window (its band reaches up unbounded).
    pub fn is_last(self) -> bool {
        self.band.hi.is_none()
    }

    /// Does the part keep a record of this `updated_at` and `created_at`
    /// (exact, whatever the query's overlap)?
    pub fn keeps(self, updated_at: i64, created_at: Option<i64>) -> bool {
        self.window.contains(updated_at) && self.band.contains(created_at)
    }

    /// The search filter of the part: the window's, then the band's.
    pub(crate) fn filters(self, g: Granularity) -> Vec<Value> {
        let mut f = self.window.filters(g);
        f.extend(self.band.filters(g));
        f
    }

    /// A short description for logs and anomaly samples.
    pub fn label(self) -> String {
        let w = format!("updated_at ({}, {}]", self.window.lo, self.window.hi);
        if self.band.is_whole() {
            return w;
        }
        let bound = |b: Option<i64>, none: &str| b.map_or(none.to_string(), |t| t.to_string());
        format!(
            "{w} created_at ({}, {}]",
            bound(self.band.lo, "-inf"),
            bound(self.band.hi, "+inf")
        )
    }

    /// Two halves: in time when the window can still be cut
    /// ([`Window::split_to`], whole bands only), else by `created_at`
    /// ([`Part::split_band`]); `None` when neither can shrink.
    pub fn split(
        self,
        g: Granularity,
        min_day: i64,
        created: &[i64],
    ) -> Option<(Part, Part, Axis)> {
        self.split_time(g, min_day).or_else(|| {
            self.split_band(g, min_day, created)
                .map(|(a, b)| (a, b, Axis::Created))
        })
    }

    /// Two halves in time ([`Window::split_to`]) of a whole window; `None`
    /// for a part with a band (its window is as narrow as it gets) or a
    /// window that cannot shrink.
    pub fn split_time(self, g: Granularity, min_day: i64) -> Option<(Part, Part, Axis)> {
        if !self.band.is_whole() {
            return None;
        }
        let (a, b) = self.window.split_to(g, min_day)?;
        Some((Part::whole(a), Part::whole(b), Axis::Time))
    }

    /// Two halves of the band at the median of `created` (the `created_at`
    /// of records the part read: a sample of it), or, without one inside
    /// the band, halfway between its bounds (the upper one is at most the
    /// window's top: records are created before they are updated). For day
    /// granularity the cut is a UTC midnight and each half at least
    /// `min_day` wide (as time windows: each query overlaps two days each
    /// side); `None` when the band cannot be cut so.
    pub fn split_band(self, g: Granularity, min_day: i64, created: &[i64]) -> Option<(Part, Part)> {
        let top = self.band.hi.unwrap_or(self.window.hi);
        let mut inside: Vec<i64> = created
            .iter()
            .copied()
            .filter(|&c| self.band.contains(Some(c)) && c <= top)
            .collect();
        inside.sort_unstable();
        let floor = self.band.lo.or_else(|| inside.first().map(|c| c - 1))?;
        if top <= floor {
            return None;
        }
        let mut mid = inside
            .get(inside.len() / 2)
            .copied()
            .unwrap_or(floor + (top - floor) / 2);
        let min = match g {
            Granularity::Second => 1,
            Granularity::Day => {
                mid = mid.div_euclid(DAY) * DAY;
                min_day.max(1)
            }
        };
        // Keep both halves at least `min` wide, when the band allows it.
        if top - floor < 2 * min {
            return None;
        }
        if mid - floor < min {
            mid = floor + min;
        }
        if top - mid < min {
            mid = top - min;
        }
        if g == Granularity::Day {
            // Back to a midnight inside the allowed range, if there is one.
            let m = mid.div_euclid(DAY) * DAY;
            mid = if m - floor >= min { m } else { m + DAY };
            if mid - floor < min || top - mid < min {
                return None;
            }
        }
        if mid <= floor || mid >= top {
            return None;
        }
        let a = Part {
            window: self.window,
            band: Band {
                lo: self.band.lo,
                hi: Some(mid),
            },
        };
        let b = Part {
            window: self.window,
            band: Band {
                lo: Some(mid),
                hi: self.band.hi,
            },
        };
        Some((a, b))
    }
}

/// Which axis a part was split on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// `updated_at`: two time windows.
    Time,
    /// `created_at`: two bands of one time window.
    Created,
}
