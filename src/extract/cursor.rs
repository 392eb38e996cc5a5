//! The saved position of an incremental read ([`SearchCursor`]) and the
//! tracker that filters records against it and computes the next one
//! (`CursorTracker`); used by searches, scrolls, page-numbered lists and
//! fan-out parents alike.
//!
//! The cursor is the highest `updated_at` exported so far plus the ids
//! exported *at* that second; with a lookback, also the `(id, updated_at)`
//! exported within the margin below it (`recent`), so a re-read of the
//! margin writes nothing twice.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// The saved position of a search-based report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchCursor {
    /// Highest `updated_at` (unix seconds) exported.
    pub updated_at: i64,
    /// Ids exported with exactly that `updated_at`.
    pub ids_at: Vec<String>,
    /// With a lookback: `(id, updated_at)` exported within the lookback
    /// margin below `updated_at`, so re-reading the margin writes nothing twice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent: Vec<(String, i64)>,
}

impl SearchCursor {
    pub(crate) fn admits(&self, id: &str, updated_at: i64, lookback: i64) -> bool {
        if updated_at > self.updated_at {
            return true;
        }
        if updated_at == self.updated_at {
            return !self.ids_at.iter().any(|x| x == id);
        }
        lookback > 0
            && updated_at > self.updated_at - lookback
            && !self.recent.iter().any(|(x, t)| x == id && *t == updated_at)
    }
}

/// What a search extraction did.
#[derive(Debug, Default)]
pub struct SearchOutcome {
    pub rows: u64,
    /// The cursor to save, or `None` when nothing new was exported.
    pub cursor: Option<SearchCursor>,
}

/// The id and `updated_at` every search result must have.
pub(crate) fn identity<'a>(endpoint: &str, record: &'a Value) -> Result<(&'a str, i64)> {
    let id = record.get("id").and_then(Value::as_str);
    // Any form a timestamp column accepts (seconds, milliseconds, ISO-8601),
    // in whole seconds: the cursor's unit.
    let updated_at = record
        .get("updated_at")
        .and_then(crate::output::schema::timestamp_secs);
    match (id, updated_at) {
        (Some(id), Some(t)) => Ok((id, t)),
        _ => Err(Error::Protocol {
            endpoint: endpoint.to_string(),
            message: "a record without a string `id` or an `updated_at` timestamp (unix \
                      seconds, milliseconds or ISO-8601)"
                .into(),
        }),
    }
}

/// Filters records against the old cursor and computes the new one.
#[derive(Clone)]
pub(crate) struct CursorTracker {
    pub(crate) old: Option<SearchCursor>,
    lookback: i64,
    max: i64,
    ids_at_max: Vec<String>,
    /// Accepted rows, kept only with a lookback (for `SearchCursor::recent`).
    pub(crate) accepted: Vec<(String, i64)>,
    /// Prune `accepted` when it reaches this length.
    accepted_limit: usize,
    pub(crate) rows: u64,
}

/// `CursorTracker::accepted` is pruned no more often than every this many rows.
pub(crate) const ACCEPTED_PRUNE_MIN: usize = 4096;

impl CursorTracker {
    pub(crate) fn new(old: Option<SearchCursor>) -> Self {
        Self::with_lookback(old, 0)
    }

    /// A tracker that also admits unseen rows up to `lookback_secs` (the
    /// `lookback_secs` setting) below the old cursor: the lookback of lists,
    /// scrolls and given ids, which read everything and filter here.
    pub(crate) fn with_lookback_secs(old: Option<SearchCursor>, lookback_secs: u64) -> Self {
        Self::with_lookback(old, i64::try_from(lookback_secs).unwrap_or(i64::MAX / 4))
    }

    /// A tracker that also admits unseen rows up to `lookback` seconds
    /// below the old cursor.
    pub(crate) fn with_lookback(old: Option<SearchCursor>, lookback: i64) -> Self {
        Self {
            old,
            lookback,
            max: i64::MIN,
            ids_at_max: Vec::new(),
            accepted: Vec::new(),
            accepted_limit: ACCEPTED_PRUNE_MIN,
            rows: 0,
        }
    }

    /// Should this record be exported? Updates the running cursor if so.
    pub(crate) fn accept(&mut self, id: &str, updated_at: i64) -> bool {
        if let Some(old) = &self.old
            && !old.admits(id, updated_at, self.lookback)
        {
            return false;
        }
        self.rows += 1;
        if updated_at > self.max {
            self.max = updated_at;
            self.ids_at_max.clear();
        }
        if self.lookback > 0 {
            self.accepted.push((id.to_string(), updated_at));
            // Only rows within the lookback of the final cursor are kept
            // (`finish`); drop older ones as we go, so a first full run does
            // not hold every id of the workspace.
            if self.accepted.len() >= self.accepted_limit {
                let floor = self.max - self.lookback;
                self.accepted.retain(|(_, t)| *t > floor);
                self.accepted_limit = (self.accepted.len() * 2).max(ACCEPTED_PRUNE_MIN);
            }
        }
        if updated_at == self.max {
            self.ids_at_max.push(id.to_string());
        }
        true
    }

    /// The highest `updated_at` accepted so far (`None` before any row).
    pub(crate) fn newest(&self) -> Option<i64> {
        (self.rows > 0).then_some(self.max)
    }

    pub(crate) fn finish(self) -> SearchOutcome {
        if self.rows == 0 {
            return SearchOutcome::default();
        }
        let (updated_at, mut ids_at, mut recent) = match self.old {
            // Only late rows from the lookback margin: the cursor stays.
            Some(old) if old.updated_at > self.max => (old.updated_at, old.ids_at, old.recent),
            Some(old) if old.updated_at == self.max => {
                let mut ids = self.ids_at_max;
                ids.extend(old.ids_at);
                (self.max, ids, old.recent)
            }
            Some(old) => (self.max, self.ids_at_max, old.recent),
            None => (self.max, self.ids_at_max, Vec::new()),
        };
        ids_at.sort();
        ids_at.dedup();
        if self.lookback > 0 {
            recent.extend(self.accepted);
            recent.retain(|(_, t)| *t > updated_at - self.lookback);
            recent.sort();
            recent.dedup();
        } else {
            recent.clear();
        }
        SearchOutcome {
            rows: self.rows,
            cursor: Some(SearchCursor {
                updated_at,
                ids_at,
                recent,
            }),
        }
    }
}
