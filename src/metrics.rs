//! Prometheus metrics for a long-running `schedule`
//! (`--metrics-addr 127.0.0.1:9184`): `GET /metrics` in the Prometheus text
//! format, `GET /healthz` (200 `ok` while the process serves).
//!
//! Every finished run (sync, backfill, schedule tick) is recorded into one
//! process-wide [`Metrics`] from its [`RunSummary`] (the pipeline calls
//! [`record_run`]); the server only reads it. Series, per `workspace` (`""`
//! without `[[workspace]]` blocks) and `report`:
//!
//! | metric | type | meaning |
//! |---|---|---|
//! | `intercom_export_rows_total` | counter | rows exported (the summary's `rows`) |
//! | `intercom_export_requests_total` | counter | HTTP attempts, retries and 429s included |
//! | `intercom_export_rate_limited_total` | counter | responses with HTTP 429 |
//! | `intercom_export_retries_total` | counter | requests sent again |
//! | `intercom_export_report_failures_total` | counter | exports of the report that failed |
//! | `intercom_export_last_success_timestamp_seconds` | gauge | unix time the report last finished without error |
//! | `intercom_export_lag_seconds` | gauge | seconds since then, at scrape time: how far behind the export is |
//!
//! and per `workspace` and `mode`: `intercom_export_run_duration_seconds`
//! (gauge, the last run's wall time), `intercom_export_runs_total` (counter,
//! also by `status`), `intercom_export_last_run_timestamp_seconds` (gauge).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::error::{Error, Result};
use crate::pipeline::RunSummary;
use crate::state::unix_now;

/// Counters of one (workspace, report).
#[derive(Debug, Clone, Default, PartialEq)]
struct ReportSeries {
    rows: u64,
    requests: u64,
    rate_limited: u64,
    retries: u64,
    failures: u64,
    /// Unix seconds of the last export without error.
    last_success: Option<i64>,
}

/// The last run of one (workspace, mode).
#[derive(Debug, Clone, Default, PartialEq)]
struct RunSeries {
    seconds: f64,
    finished_at: i64,
    /// Runs by status (`succeeded`, `partial`, `failed`).
    by_status: BTreeMap<&'static str, u64>,
}

/// What the runs of this process did, for `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    reports: BTreeMap<(String, String), ReportSeries>,
    runs: BTreeMap<(String, &'static str), RunSeries>,
}

/// The process-wide metrics.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::default)
}

/// Record a finished run of `workspace` into [`global`].
pub(crate) fn record_run(workspace: &str, summary: &RunSummary) {
    global().record(workspace, summary, unix_now());
}

impl Metrics {
    /// Add a finished run (at unix time `now`).
    pub(crate) fn record(&self, workspace: &str, summary: &RunSummary, now: i64) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for r in &summary.reports {
            let s = inner
                .reports
                .entry((workspace.to_string(), r.report.as_str().to_string()))
                .or_default();
            s.rows += r.rows;
            s.requests += r.http.requests;
            s.rate_limited += r.http.rate_limited;
            s.retries += r.http.retries;
            if r.error.is_some() {
                s.failures += 1;
            } else {
                s.last_success = Some(now);
            }
        }
        let run = inner
            .runs
            .entry((workspace.to_string(), summary.mode))
            .or_default();
        run.seconds = summary.seconds;
        run.finished_at = now;
        *run.by_status.entry(summary.status.as_str()).or_default() += 1;
    }

    /// The Prometheus text exposition (format 0.0.4) at unix time `now`.
    pub fn render(&self, now: i64) -> String {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        type Get = fn(&ReportSeries) -> Option<f64>;
        let per_report: [(&str, &str, &str, Get); 7] = [
            ("rows_total", "counter", "Rows exported per report.", |s| {
                Some(s.rows as f64)
            }),
            (
                "requests_total",
                "counter",
                "HTTP requests sent per report (retries and 429s included).",
                |s| Some(s.requests as f64),
            ),
            (
                "rate_limited_total",
                "counter",
                "Responses with HTTP 429 per report.",
                |s| Some(s.rate_limited as f64),
            ),
            (
                "retries_total",
                "counter",
                "Requests sent again per report.",
                |s| Some(s.retries as f64),
            ),
            (
                "report_failures_total",
                "counter",
                "Exports of a report that failed.",
                |s| Some(s.failures as f64),
            ),
            (
                "last_success_timestamp_seconds",
                "gauge",
                "Unix time a report last finished without error.",
                |s| s.last_success.map(|t| t as f64),
            ),
            // Filled in below: depends on `now`.
            (
                "lag_seconds",
                "gauge",
                "Seconds since a report last finished without error.",
                |_| None,
            ),
        ];
        for (name, kind, help, value) in per_report {
            let _ = writeln!(out, "# HELP intercom_export_{name} {help}");
            let _ = writeln!(out, "# TYPE intercom_export_{name} {kind}");
            for ((ws, report), s) in &inner.reports {
                let v = if name == "lag_seconds" {
                    s.last_success.map(|t| (now - t).max(0) as f64)
                } else {
                    value(s)
                };
                if let Some(v) = v {
                    let _ = writeln!(
                        out,
                        "intercom_export_{name}{{workspace=\"{}\",report=\"{}\"}} {v}",
                        escape(ws),
                        escape(report)
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP intercom_export_run_duration_seconds Wall time of the last run."
        );
        let _ = writeln!(out, "# TYPE intercom_export_run_duration_seconds gauge");
        for ((ws, mode), r) in &inner.runs {
            let _ = writeln!(
                out,
                "intercom_export_run_duration_seconds{{workspace=\"{}\",mode=\"{mode}\"}} {}",
                escape(ws),
                r.seconds
            );
        }
        let _ = writeln!(
            out,
            "# HELP intercom_export_last_run_timestamp_seconds Unix time the last run ended."
        );
        let _ = writeln!(
            out,
            "# TYPE intercom_export_last_run_timestamp_seconds gauge"
        );
        for ((ws, mode), r) in &inner.runs {
            let _ = writeln!(
                out,
                "intercom_export_last_run_timestamp_seconds{{workspace=\"{}\",mode=\"{mode}\"}} {}",
                escape(ws),
                r.finished_at
            );
        }
        let _ = writeln!(
            out,
            "# HELP intercom_export_runs_total Runs ended, by status."
        );
        let _ = writeln!(out, "# TYPE intercom_export_runs_total counter");
        for ((ws, mode), r) in &inner.runs {
            for (status, n) in &r.by_status {
                let _ = writeln!(
                    out,
                    "intercom_export_runs_total{{workspace=\"{}\",mode=\"{mode}\",status=\"{status}\"}} {n}",
                    escape(ws)
                );
            }
        }
        out
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The metrics server; stops when dropped.
pub struct MetricsServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serve `/metrics` and `/healthz` of [`global`] on `addr` until the
/// returned server is dropped. An address that cannot be bound is a usage
/// error naming it.
pub async fn serve(addr: SocketAddr) -> Result<MetricsServer> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        Error::Config(format!(
            "--metrics-addr {addr}: cannot listen there ({e}); choose a free port, e.g. \
             127.0.0.1:9184"
        ))
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Internal(format!("the metrics listener's address: {e}")))?;
    let app = Router::new()
        .route(
            "/metrics",
            get(|| async {
                (
                    [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                    global().render(unix_now()),
                )
                    .into_response()
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }));
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the metrics server stopped");
        }
    });
    tracing::info!(%addr, "serving metrics on http://{addr}/metrics");
    Ok(MetricsServer { addr, task })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::StatsSnapshot;
    use crate::pipeline::ReportOutcome;
    use crate::reports::ReportName;
    use crate::state::RunStatus;

    fn outcome(report: ReportName, rows: u64, error: Option<&str>) -> ReportOutcome {
        ReportOutcome {
            report,
            rows,
            files: 1,
            seconds: 1.0,
            started_secs: 0.0,
            error: error.map(String::from),
            stopped: false,
            failed: Vec::new(),
            recovered: 0,
            windows_done: 0,
            windows_skipped: 0,
            http: StatsSnapshot {
                requests: 10,
                retries: 2,
                rate_limited: 1,
                rate_limit_per_10s: None,
                ..StatsSnapshot::default()
            },
            anomalies: Default::default(),
        }
    }

    #[test]
    fn runs_add_up_and_lag_is_counted_from_the_last_success() {
        let m = Metrics::default();
        let mut summary = RunSummary {
            run_key: "r".into(),
            mode: "schedule",
            status: RunStatus::Partial,
            reports: vec![
                outcome(ReportName::Users, 7, None),
                outcome(ReportName::Tickets, 0, Some("403")),
            ],
            http: StatsSnapshot::default(),
            seconds: 2.5,
            recovered: Default::default(),
            stopped: false,
            skip_failed: false,
            backfill: None,
        };
        m.record("", &summary, 1_000);
        summary.reports = vec![outcome(ReportName::Users, 3, None)];
        summary.status = RunStatus::Succeeded;
        m.record("", &summary, 1_100);
        let text = m.render(1_160);
        for line in [
            "intercom_export_rows_total{workspace=\"\",report=\"users\"} 10",
            "intercom_export_requests_total{workspace=\"\",report=\"users\"} 20",
            "intercom_export_rate_limited_total{workspace=\"\",report=\"users\"} 2",
            "intercom_export_retries_total{workspace=\"\",report=\"users\"} 4",
            "intercom_export_report_failures_total{workspace=\"\",report=\"tickets\"} 1",
            "intercom_export_last_success_timestamp_seconds{workspace=\"\",report=\"users\"} 1100",
            "intercom_export_lag_seconds{workspace=\"\",report=\"users\"} 60",
            "intercom_export_run_duration_seconds{workspace=\"\",mode=\"schedule\"} 2.5",
            "intercom_export_runs_total{workspace=\"\",mode=\"schedule\",status=\"partial\"} 1",
            "intercom_export_runs_total{workspace=\"\",mode=\"schedule\",status=\"succeeded\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
        // Never succeeded: no last success, no lag.
        assert!(
            !text.contains("last_success_timestamp_seconds{workspace=\"\",report=\"tickets\"}")
        );
        assert!(!text.contains("lag_seconds{workspace=\"\",report=\"tickets\"}"));
        assert_eq!(escape("a\"b\\c"), "a\\\"b\\\\c");
    }
}
