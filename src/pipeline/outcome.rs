//! What a run reports: one [`ReportOutcome`] per report, the
//! [`RunSummary`] of the run, and the rule that makes a run `partial`
//! ([`run_status`]). The CLI turns them into the summary table,
//! `--summary-json` and the exit status (`cli::summary`).

use crate::anomalies::Anomalies;
use crate::http::StatsSnapshot;
use crate::reports::{FailedItem, ReportName};
use crate::state::recovery::Recovered;
use crate::state::{BackfillJob, RunStatus};

/// The outcome of one report in a run.
#[derive(Debug, Clone)]
pub(crate) struct ReportOutcome {
    pub(crate) report: ReportName,
    pub(crate) rows: u64,
    /// Data files written (one per part; CSV copies of Parquet parts count once).
    pub(crate) files: usize,
    /// Wall seconds of the report, from its lease to its last commit.
    pub(crate) seconds: f64,
    /// When the report started, in seconds from the run's start (reports
    /// run side by side: these overlap).
    pub(crate) started_secs: f64,
    pub(crate) error: Option<String>,
    /// A stop request (SIGTERM/SIGINT) cut the report short: `rows` and
    /// `files` are what its checkpoints committed; the next run resumes
    /// from there.
    pub(crate) stopped: bool,
    /// Items that could not be fetched (recorded; retried next run).
    pub(crate) failed: Vec<FailedItem>,
    /// Items that failed before and were fetched this time.
    pub(crate) recovered: usize,
    /// Backfill: windows exported by this run, and windows skipped because
    /// an earlier run had committed them.
    pub(crate) windows_done: usize,
    pub(crate) windows_skipped: usize,
    /// Requests, retries and 429s made for this report (its own: counted
    /// by its client, [`crate::http::IntercomClient::counted`]).
    pub(crate) http: StatsSnapshot,
    /// What the report met that was neither a success nor a failed item
    /// (see [`crate::anomalies`]), over all its exports in this run.
    pub(crate) anomalies: Anomalies,
}

impl ReportOutcome {
    pub(crate) fn new(report: ReportName) -> Self {
        Self {
            report,
            rows: 0,
            files: 0,
            seconds: 0.0,
            started_secs: 0.0,
            error: None,
            stopped: false,
            failed: Vec::new(),
            recovered: 0,
            windows_done: 0,
            windows_skipped: 0,
            http: StatsSnapshot::default(),
            anomalies: Anomalies::default(),
        }
    }

    /// The share of the allowed calls this report used: see
    /// [`allowed_calls_used`] (its requests over its own `seconds`).
    pub(crate) fn allowed_calls_used(&self) -> Option<f64> {
        allowed_calls_used(
            self.http.requests,
            self.http.rate_limit_per_10s,
            self.http.rate_windows,
            self.seconds,
        )
    }
}

/// The share of the allowed calls a stretch of `seconds` used:
/// `requests ÷ (limit_per_10s × windows)`, where `windows` counts Intercom's
/// fixed 10-second rate-limit windows the calls were answered in (distinct
/// `X-RateLimit-Reset` values, [`StatsSnapshot::rate_windows`]): the limit
/// allows `limit_per_10s` calls in each window, all at once if need be (a
/// burst). A run of 16 s touches two or three windows (it seldom starts on
/// a window's start), so dividing by its length alone could say 137 %
/// where the server allowed every call. While no response stated a reset,
/// `windows` is 0 and every started 10 seconds of `seconds` counts as one.
/// `limit_per_10s` is the latest `X-RateLimit-Limit` seen and `requests`
/// counts every HTTP attempt (retries and 429s included). 1.0 means the
/// limit was used fully; it stays at or below 1.0 while no call was
/// refused (above takes 429s, or a limit lowered mid-run). `None` when the
/// limit is unknown (no response carried the header) or `seconds` is not
/// positive.
pub(crate) fn allowed_calls_used(
    requests: u64,
    limit_per_10s: Option<u32>,
    windows: u64,
    seconds: f64,
) -> Option<f64> {
    let limit = limit_per_10s.filter(|l| *l > 0)?;
    if seconds.is_nan() || seconds <= 0.0 {
        return None;
    }
    let windows = if windows > 0 {
        windows as f64
    } else {
        (seconds / WINDOW_SECS).ceil()
    };
    Some(requests as f64 / (f64::from(limit) * windows))
}

/// Intercom's rate-limit window, in seconds.
const WINDOW_SECS: f64 = 10.0;

/// The outcome of a run.
#[derive(Debug, Clone)]
pub(crate) struct RunSummary {
    pub(crate) run_key: String,
    pub(crate) mode: &'static str,
    pub(crate) status: RunStatus,
    pub(crate) reports: Vec<ReportOutcome>,
    /// Requests, retries and 429s of the whole run, and the latest stated limit.
    pub(crate) http: StatsSnapshot,
    /// Wall seconds of the run, from its start (before recovery) to its end.
    pub(crate) seconds: f64,
    /// What start-of-run recovery cleaned up.
    pub(crate) recovered: Recovered,
    /// A stop was requested: reports not started are not in `reports`.
    pub(crate) stopped: bool,
    /// Failed items were tolerated (`--skip-failed`).
    pub(crate) skip_failed: bool,
    /// Backfill: the job's range and whether every window is now done.
    pub(crate) backfill: Option<(BackfillJob, bool)>,
}

impl RunSummary {
    /// All failed items of the run.
    pub(crate) fn failed_items(&self) -> impl Iterator<Item = (ReportName, &FailedItem)> {
        self.reports
            .iter()
            .flat_map(|r| r.failed.iter().map(move |f| (r.report, f)))
    }

    /// The share of the allowed calls the run used over its wall `seconds`
    /// (see [`allowed_calls_used`]); `None` when the limit is unknown.
    pub(crate) fn allowed_calls_used(&self) -> Option<f64> {
        allowed_calls_used(
            self.http.requests,
            self.http.rate_limit_per_10s,
            self.http.rate_windows,
            self.seconds,
        )
    }
}

/// Partial when a report failed, when items failed (unless `skip_failed`),
/// or when a stop request cut the run short; else succeeded.
pub(crate) fn run_status(
    outcomes: &[ReportOutcome],
    stopped: bool,
    skip_failed: bool,
) -> RunStatus {
    let failed_items = outcomes.iter().any(|o| !o.failed.is_empty());
    if stopped || outcomes.iter().any(|o| o.error.is_some()) || (failed_items && !skip_failed) {
        RunStatus::Partial
    } else {
        RunStatus::Succeeded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_calls_are_the_limit_for_every_started_window() {
        let share = |requests, seconds| allowed_calls_used(requests, Some(100), 0, seconds);
        // A short run may use a whole window's burst: never above 100 %.
        assert_eq!(share(100, 0.4), Some(1.0));
        assert_eq!(share(25, 2.0), Some(0.25));
        assert_eq!(share(100, 10.0), Some(1.0));
        // 10.5 s started a second window: 200 calls allowed.
        assert_eq!(share(100, 10.5), Some(0.5));
        assert_eq!(share(300, 29.9), Some(1.0));
        // Unknown limit or no time: no figure.
        assert_eq!(allowed_calls_used(5, None, 0, 3.0), None);
        assert_eq!(allowed_calls_used(5, Some(0), 0, 3.0), None);
        assert_eq!(share(5, 0.0), None);
        assert_eq!(share(5, f64::NAN), None);
    }

    #[test]
    fn allowed_calls_are_the_limit_for_every_window_the_calls_touched() {
        // The trial's demo: 16 s under 1,666 per 10 s, its calls answered in
        // three of Intercom's windows (4.6 s, 10 s and 1.4 s of them), each
        // nearly full. The server allowed 3 × 1,666: not 137 % of 2 × 1,666.
        let share = allowed_calls_used(4_570, Some(1_666), 3, 16.0).expect("limit known");
        assert!(share <= 1.0, "{share}");
        assert!((share - 4_570.0 / 4_998.0).abs() < 1e-9, "{share}");
        // What dividing by the run's length said (no window counted).
        let by_length = allowed_calls_used(4_570, Some(1_666), 0, 16.0).expect("limit known");
        assert!(by_length > 1.37, "{by_length}");
        // A run inside one window used that window's calls only.
        assert_eq!(allowed_calls_used(50, Some(100), 1, 12.0), Some(0.5));
        // No reset stated: the run's length decides, as before.
        assert_eq!(allowed_calls_used(50, Some(100), 0, 12.0), Some(0.25));
    }

    #[test]
    fn windows_are_counted_once_per_stated_reset() {
        let stats = crate::http::ClientStats::default();
        // Answers of one window, then the next, and a late one of the first.
        for reset in [1_700_000_010, 1_700_000_010, 1_700_000_020, 1_700_000_010] {
            stats.count_window(reset);
        }
        stats.count_window(1_700_000_030);
        assert_eq!(
            stats
                .rate_windows
                .load(std::sync::atomic::Ordering::Relaxed),
            3
        );
    }

    #[test]
    fn failed_items_make_a_run_partial_unless_skipped() {
        let clean = ReportOutcome::new(ReportName::Users);
        let mut with_failed = ReportOutcome::new(ReportName::Conversations);
        with_failed.failed.push(FailedItem {
            id: "c1".into(),
            error: "HTTP 500".into(),
        });
        let mut broken = ReportOutcome::new(ReportName::Leads);
        broken.error = Some("boom".into());
        assert_eq!(
            run_status(std::slice::from_ref(&clean), false, false),
            RunStatus::Succeeded
        );
        assert_eq!(
            run_status(std::slice::from_ref(&clean), true, false),
            RunStatus::Partial
        );
        let failed = [clean.clone(), with_failed];
        assert_eq!(run_status(&failed, false, false), RunStatus::Partial);
        assert_eq!(run_status(&failed, false, true), RunStatus::Succeeded);
        assert_eq!(
            run_status(&[clean, broken], false, true),
            RunStatus::Partial
        );
    }
}
