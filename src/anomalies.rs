//! Per-report anomaly counters: everything an export met that was neither a
//! plain success nor a failed item, counted per kind (and per column or
//! endpoint where that helps) with up to [`MAX_SAMPLES`] sample ids.
//!
//! The run says each anomaly once: one warning per (report, kind, detail)
//! with its count and samples at the end of the report, and per-report
//! counts in the summary table and `--summary-json` (`skipped_children`,
//! `interpreted_values`, … and an `anomalies` list with the details). Never
//! one log line per item.
//!
//! An [`Anomalies`] handle is cheap to clone (an `Arc`) and `Send + Sync`:
//! the pipeline makes one per report export and hands it to the extractor
//! (in [`crate::reports::ExtractOptions`]) and to the writer, which runs on
//! a blocking thread.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Sample ids kept per (kind, detail).
pub const MAX_SAMPLES: usize = 5;

/// What kind of anomaly. The snake_case [`AnomalyKind::as_str`] names are a
/// contract: they are the keys in `--summary-json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AnomalyKind {
    /// A child resource of a listed parent was gone (404) and skipped, e.g.
    /// `GET /companies/{id}/segments` or `GET /conversations/{id}` after a
    /// search listed the conversation. Detail: the endpoint pattern.
    SkippedChild,
    /// A value was read from another accepted form than the usual one:
    /// unix milliseconds or an ISO-8601 string for a timestamp, Intercom's
    /// "none" sentinel (`0`, `"0"`) for an id. Detail: the column.
    InterpretedValue,
    /// A value of none of the accepted forms or shapes, written as null.
    /// Detail: the column.
    UnexpectedShape,
    /// A paginated read that had to ask for smaller pages or split its
    /// window after repeated 5xx or timeouts. Detail: the endpoint.
    DegradedWindow,
    /// A server-side scroll (e.g. `GET /companies/scroll`) abandoned after a
    /// failure and started again from the beginning. Detail: the endpoint.
    ScrollRestart,
    /// A finished listing returned fewer distinct rows than the `total_count`
    /// it stated. Detail: the endpoint.
    ShortRead,
    /// A child request of a fan-out (one per parent, e.g.
    /// `GET /conversations/{id}`) that still failed after retries with a
    /// 5xx, a timeout or an unusable body: recorded as a failed item and
    /// fetched first by the next run. Detail: the endpoint pattern.
    FailedChild,
    /// An item listed more than once in one parent's list (real Intercom
    /// repeats tags in a company's `tags.tags`), written once: the first.
    /// Detail: the list (e.g. `company.tags`).
    DuplicateItem,
    /// One side of a report that reads two endpoint families was not read
    /// because the access token lacks its scope (403): the ticket half of
    /// `lifecycle_events` and `part_attachments` without `Read tickets`.
    /// The other side was exported and its cursor moved; this side's
    /// cursor did not, so it is read once the scope is granted. Detail:
    /// the endpoint and the scope to grant.
    SkippedScope,
}

impl AnomalyKind {
    /// Every kind, in summary order.
    pub const ALL: [AnomalyKind; 9] = [
        AnomalyKind::SkippedChild,
        AnomalyKind::FailedChild,
        AnomalyKind::InterpretedValue,
        AnomalyKind::UnexpectedShape,
        AnomalyKind::DegradedWindow,
        AnomalyKind::ScrollRestart,
        AnomalyKind::ShortRead,
        AnomalyKind::DuplicateItem,
        AnomalyKind::SkippedScope,
    ];

    /// The summary key (plural, snake_case), e.g. `skipped_children`.
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyKind::SkippedChild => "skipped_children",
            AnomalyKind::FailedChild => "failed_children",
            AnomalyKind::InterpretedValue => "interpreted_values",
            AnomalyKind::UnexpectedShape => "unexpected_shapes",
            AnomalyKind::DegradedWindow => "degraded_windows",
            AnomalyKind::ScrollRestart => "scroll_restarts",
            AnomalyKind::ShortRead => "short_reads",
            AnomalyKind::DuplicateItem => "duplicate_items",
            AnomalyKind::SkippedScope => "skipped_scopes",
        }
    }

    /// What one of them means, for the human warning.
    pub fn describe(self) -> &'static str {
        match self {
            AnomalyKind::SkippedChild => "child resource(s) were gone (404) and skipped",
            AnomalyKind::FailedChild => {
                "child request(s) still failed after retries; recorded as failed items, retried first by the next run"
            }
            AnomalyKind::InterpretedValue => {
                "value(s) came in another accepted form (milliseconds, ISO-8601, a 'none' sentinel) and were converted"
            }
            AnomalyKind::UnexpectedShape => {
                "value(s) had an unexpected shape and were written as null"
            }
            AnomalyKind::DegradedWindow => {
                "read(s) needed smaller pages or a split window after repeated server errors"
            }
            AnomalyKind::ScrollRestart => "scroll(s) were abandoned after a failure and restarted",
            AnomalyKind::ShortRead => {
                "listing(s) ended with fewer distinct rows than their total_count"
            }
            AnomalyKind::DuplicateItem => {
                "item(s) were listed twice in one parent's list and written once"
            }
            AnomalyKind::SkippedScope => {
                "part(s) of the report were not read: the access token lacks their scope (403); \
                 they are read, from where they stopped, once it is granted"
            }
        }
    }
}

/// One (kind, detail) entry: how many, and a few sample ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnomalyCount {
    pub count: u64,
    pub samples: Vec<String>,
}

/// A report's anomaly counters (see the module doc). Clones share counts.
#[derive(Debug, Clone, Default)]
pub struct Anomalies {
    inner: Arc<Mutex<BTreeMap<(AnomalyKind, String), AnomalyCount>>>,
}

impl Anomalies {
    /// Count one anomaly of `kind` about `detail` (a column, an endpoint),
    /// keeping `sample` (an id) if fewer than [`MAX_SAMPLES`] are kept.
    pub fn record(&self, kind: AnomalyKind, detail: &str, sample: Option<&str>) {
        self.record_n(kind, detail, 1, sample);
    }

    /// Count `n` anomalies at once (see [`Anomalies::record`]).
    pub fn record_n(&self, kind: AnomalyKind, detail: &str, n: u64, sample: Option<&str>) {
        if n == 0 {
            return;
        }
        // A poisoned lock only means another thread panicked mid-count.
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map.entry((kind, detail.to_string())).or_default();
        entry.count += n;
        if let Some(s) = sample
            && entry.samples.len() < MAX_SAMPLES
            && !entry.samples.iter().any(|k| k == s)
        {
            entry.samples.push(s.to_string());
        }
    }

    /// The total count of `kind` over every detail.
    pub fn count(&self, kind: AnomalyKind) -> u64 {
        self.entries()
            .iter()
            .filter(|(k, _, _)| *k == kind)
            .map(|(_, _, c)| c.count)
            .sum()
    }

    /// Every entry, ordered by kind then detail.
    pub fn entries(&self) -> Vec<(AnomalyKind, String, AnomalyCount)> {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .map(|((k, d), c)| (*k, d.clone(), c.clone()))
            .collect()
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    /// Log one line per entry (with count and samples) for `report`: a
    /// warning, except values of another accepted form
    /// ([`AnomalyKind::InterpretedValue`]: converted, nothing lost), which
    /// are logged at info so that real warnings stand out.
    pub fn warn(&self, report: &str) {
        for (kind, detail, c) in self.entries() {
            let samples = c.samples.join(", ");
            let samples = if samples.is_empty() {
                "none kept"
            } else {
                samples.as_str()
            };
            // One line, at info or warn: the same fields either way.
            macro_rules! entry {
                ($level:ident) => {
                    tracing::$level!(
                        report,
                        kind = kind.as_str(),
                        detail = %detail,
                        count = c.count,
                        samples,
                        "{} {}",
                        c.count,
                        kind.describe()
                    )
                };
            }
            if kind == AnomalyKind::InterpretedValue {
                entry!(info);
            } else {
                entry!(warn);
            }
        }
    }

    /// The `--summary-json` fields: one count per kind (zeros included, so
    /// monitoring can rely on the keys) and `anomalies`, the detailed list.
    pub fn json_fields(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut out = serde_json::Map::new();
        for kind in AnomalyKind::ALL {
            out.insert(kind.as_str().into(), self.count(kind).into());
        }
        let list: Vec<serde_json::Value> = self
            .entries()
            .into_iter()
            .map(|(kind, detail, c)| {
                serde_json::json!({
                    "kind": kind.as_str(),
                    "detail": detail,
                    "count": c.count,
                    "samples": c.samples,
                })
            })
            .collect();
        out.insert("anomalies".into(), list.into());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_kind_and_detail_with_bounded_unique_samples() {
        let a = Anomalies::default();
        let b = a.clone();
        for i in 0..8 {
            a.record(
                AnomalyKind::SkippedChild,
                "GET /x/{id}",
                Some(&format!("k{i}")),
            );
        }
        b.record(AnomalyKind::SkippedChild, "GET /x/{id}", Some("k0"));
        b.record_n(AnomalyKind::InterpretedValue, "signed_up_at", 3, None);
        assert_eq!(a.count(AnomalyKind::SkippedChild), 9);
        assert_eq!(a.count(AnomalyKind::InterpretedValue), 3);
        assert_eq!(a.count(AnomalyKind::ShortRead), 0);
        let entries = a.entries();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].2.samples, ["k0", "k1", "k2", "k3", "k4"]);
        let json = a.json_fields();
        assert_eq!(json["skipped_children"], 9);
        assert_eq!(json["short_reads"], 0);
        assert_eq!(json["anomalies"][1]["detail"], "signed_up_at");
    }
}
