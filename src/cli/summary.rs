//! What a run says when it ends: the human summary table, `--summary-json`
//! and the exit status derived from the run's status.

use std::io::Write;
use std::path::Path;

use crate::error::Error;
use crate::pipeline::RunSummary;
use crate::state::RunStatus;

use super::ExitStatus;

pub(super) fn status_of(summary: &RunSummary) -> ExitStatus {
    match summary.status {
        RunStatus::Succeeded => ExitStatus::Success,
        RunStatus::Partial | RunStatus::Failed => ExitStatus::Partial,
    }
}

/// The run summary as JSON, for orchestrators.
pub(crate) fn summary_json(summary: &RunSummary, status: ExitStatus) -> serde_json::Value {
    let reports: Vec<serde_json::Value> = summary
        .reports
        .iter()
        .map(|r| {
            let mut v = serde_json::json!({
                "report": r.report.as_str(),
                "status": if r.error.is_some() {
                    "failed"
                } else if r.stopped {
                    "stopped"
                } else {
                    "succeeded"
                },
                "rows": r.rows,
                "files": r.files,
                "requests": r.http.requests,
                "rate_limited": r.http.rate_limited,
                "retries": r.http.retries,
                "failed_items": r.failed.iter().map(|f| serde_json::json!({"id": f.id, "error": f.error})).collect::<Vec<_>>(),
                "recovered_items": r.recovered,
                "seconds": r.seconds,
                "started_secs": r.started_secs,
                "rate_limit_per_10s": r.http.rate_limit_per_10s,
                "allowed_calls_used": r.allowed_calls_used(),
                "error": r.error,
            });
            if let Some(map) = v.as_object_mut() {
                map.extend(r.anomalies.json_fields());
            }
            v
        })
        .collect();
    serde_json::json!({
        "run": summary.run_key,
        "mode": summary.mode,
        "status": summary.status.as_str(),
        "exit_code": status as u8,
        "stopped": summary.stopped,
        "requests": summary.http.requests,
        "rate_limited": summary.http.rate_limited,
        "retries": summary.http.retries,
        "seconds": summary.seconds,
        "rate_limit_per_10s": summary.http.rate_limit_per_10s,
        "allowed_calls_used": summary.allowed_calls_used(),
        "in_flight_target": summary.http.in_flight_target,
        "peak_in_flight": summary.http.peak_in_flight,
        "stalled_calls": summary.http.stalled_calls,
        "reports": reports,
    })
}

/// Write [`summary_json`] to `path` (tmp + rename), if asked to.
pub(super) fn write_summary_json(
    path: Option<&Path>,
    summary: &RunSummary,
    status: ExitStatus,
) -> anyhow::Result<()> {
    let Some(path) = path else {
        return Ok(());
    };
    let text = serde_json::to_string_pretty(&summary_json(summary, status))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text + "\n")
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            Error::Config(format!(
                "cannot write --summary-json {}: {e}",
                path.display()
            ))
        })?;
    Ok(())
}

/// One workspace's run in a [`super::run::run_all`]: when it started and
/// ended (unix seconds, wall clock, with a fraction: from taking the state
/// lock to the end of its run) and how it ended.
pub(super) struct WorkspaceRun {
    /// The `[[workspace]]` name (`''` without blocks).
    pub(super) name: String,
    pub(super) started_at: f64,
    pub(super) finished_at: f64,
    /// Its summary, or why it could not run.
    pub(super) result: anyhow::Result<RunSummary>,
}

/// The whole of a several-workspace run, for `--summary-json`.
pub(super) struct FleetRun {
    /// Wall seconds from the first workspace's start to the last one's end.
    pub(super) seconds: f64,
    /// How many workspaces could run at once (`max_parallel_workspaces`).
    pub(super) max_parallel_workspaces: usize,
}

/// The JSON summary of one or several workspaces' runs: one workspace (the
/// usual case) writes [`summary_json`] as before; several write
/// `{"exit_code", "seconds", "max_parallel_workspaces", "workspaces":
/// [{"workspace": NAME, "started_at", "finished_at", ...summary}],
/// "failed_workspaces": [{"workspace", "started_at", "finished_at",
/// "exit_code", "error"}]}`, each list in config order.
pub(super) fn write_summaries_json(
    path: Option<&Path>,
    runs: &[WorkspaceRun],
    status: ExitStatus,
    fleet: FleetRun,
) -> anyhow::Result<()> {
    if let [one] = runs
        && one.name.is_empty()
    {
        return match (&one.result, path) {
            (Ok(summary), _) => write_summary_json(path, summary, status),
            // A run that could not run still says so to the scheduler that
            // reads this file (Airflow, …): its status, exit code and why.
            (Err(e), Some(path)) => write_json(
                path,
                &serde_json::json!({
                    "status": "failed",
                    "exit_code": super::exit_status(e) as i32,
                    "error": format!("{e:#}"),
                    "reports": [],
                }),
            ),
            (Err(_), None) => Ok(()),
        };
    }
    let Some(path) = path else {
        return Ok(());
    };
    if runs.is_empty() {
        return Ok(());
    }
    let mut workspaces = Vec::new();
    let mut failed = Vec::new();
    for run in runs {
        match &run.result {
            Ok(summary) => {
                let mut v = summary_json(summary, status_of(summary));
                if let Some(map) = v.as_object_mut() {
                    map.insert("workspace".into(), run.name.clone().into());
                    map.insert("started_at".into(), run.started_at.into());
                    map.insert("finished_at".into(), run.finished_at.into());
                }
                workspaces.push(v);
            }
            Err(e) => failed.push(serde_json::json!({
                "workspace": run.name,
                "started_at": run.started_at,
                "finished_at": run.finished_at,
                "exit_code": super::exit_status(e) as i32,
                "error": format!("{e:#}"),
            })),
        }
    }
    let doc = serde_json::json!({
        "exit_code": status as i32,
        "seconds": fleet.seconds,
        "max_parallel_workspaces": fleet.max_parallel_workspaces,
        "workspaces": workspaces,
        "failed_workspaces": failed,
    });
    write_json(path, &doc)
}

/// Write `doc` to `path` (tmp + rename).
fn write_json(path: &Path, doc: &serde_json::Value) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(doc)? + "\n")
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            Error::Config(format!(
                "cannot write --summary-json {}: {e}",
                path.display()
            ))
        })?;
    Ok(())
}

/// The end-of-run table.
pub(crate) fn print_summary(summary: &RunSummary, out: &mut impl Write) -> std::io::Result<()> {
    let status = summary.status.as_str();
    writeln!(out, "{} run {}: {status}", summary.mode, summary.run_key)?;
    if !summary.recovered.interrupted.is_empty() {
        writeln!(
            out,
            "recovered from interrupted run(s) {}: removed {} uncommitted file(s); their reports were exported again",
            summary.recovered.interrupted.join(", "),
            summary.recovered.removed.len()
        )?;
    }
    if let Some((job, complete)) = &summary.backfill {
        writeln!(
            out,
            "backfill #{} of [{}, {}): {}",
            job.id,
            crate::state::format_utc(job.since),
            crate::state::format_utc(job.until),
            if *complete {
                "complete"
            } else {
                "not complete: run the same command again to resume"
            }
        )?;
    }
    let backfill = summary.backfill.is_some();
    write!(
        out,
        "{:<24} {:>10} {:>6} {:>9} {:>6} {:>7} {:>6} {:>8}",
        "report", "rows", "files", "requests", "429s", "retries", "failed", "seconds"
    )?;
    if backfill {
        write!(out, " {:>8} {:>8}", "windows", "skipped")?;
    }
    writeln!(out)?;
    for r in &summary.reports {
        write!(
            out,
            "{:<24} {:>10} {:>6} {:>9} {:>6} {:>7} {:>6} {:>8.1}",
            r.report.as_str(),
            r.rows,
            r.files,
            r.http.requests,
            r.http.rate_limited,
            r.http.retries,
            r.failed.len(),
            r.seconds,
        )?;
        if backfill {
            write!(out, " {:>8} {:>8}", r.windows_done, r.windows_skipped)?;
        }
        if !r.failed.is_empty() {
            write!(out, "  {} item(s) failed", r.failed.len())?;
        }
        if r.recovered > 0 {
            write!(out, "  {} earlier failed item(s) recovered", r.recovered)?;
        }
        for (kind, detail, c) in r.anomalies.entries() {
            write!(
                out,
                "  {} {} ({detail})",
                c.count,
                kind.as_str().replace('_', " ")
            )?;
        }
        if let Some(e) = &r.error {
            write!(out, "  FAILED: {e}")?;
        } else if r.stopped && r.rows == 0 && r.files == 0 {
            write!(
                out,
                "  stopped before its first checkpoint: nothing committed, the next run starts it again"
            )?;
        } else if r.stopped {
            write!(out, "  stopped at its last checkpoint")?;
        }
        writeln!(out)?;
    }
    let failed: Vec<_> = summary.failed_items().collect();
    if !failed.is_empty() {
        writeln!(
            out,
            "failed items ({}, recorded; the next run retries them first{}):",
            failed.len(),
            if summary.skip_failed {
                "; skipped with --skip-failed"
            } else {
                "; pass --skip-failed to exit 0 anyway"
            }
        )?;
        for (report, item) in failed.iter().take(50) {
            writeln!(out, "  {report} {}: {}", item.id, item.error)?;
        }
        if failed.len() > 50 {
            writeln!(
                out,
                "  ... and {} more (see `state show`)",
                failed.len() - 50
            )?;
        }
    }
    if summary.stopped {
        writeln!(
            out,
            "stopped by a signal: finished reports are committed, stopped ones up to their \
             last checkpoint; the next run resumes them"
        )?;
    }
    writeln!(
        out,
        "requests: {}, retries: {}, rate-limited: {}",
        summary.http.requests, summary.http.retries, summary.http.rate_limited
    )?;
    writeln!(out, "{}", allowed_calls_line(summary))
}

/// "used N % of the allowed calls over T s (limit L per 10 s)", or the same
/// with "limit unknown" when no response stated `X-RateLimit-Limit`.
pub(super) fn allowed_calls_line(summary: &RunSummary) -> String {
    match (
        summary.allowed_calls_used(),
        summary.http.rate_limit_per_10s,
    ) {
        (Some(share), Some(limit)) => format!(
            "used {:.0} % of the allowed calls over {:.1} s (limit {limit} per 10 s)",
            share * 100.0,
            summary.seconds
        ),
        _ => format!(
            "{} requests over {:.1} s (limit unknown: no response stated X-RateLimit-Limit)",
            summary.http.requests, summary.seconds
        ),
    }
}

impl ExitStatus {
    pub(super) fn max_severity(self, other: ExitStatus) -> ExitStatus {
        if self == ExitStatus::Success {
            other
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::ReportName;
    use crate::state::RunStatus;

    #[test]
    fn summary_names_failed_items_and_the_way_out() {
        use crate::pipeline::ReportOutcome;
        use crate::reports::FailedItem;
        let mut parts = ReportOutcome {
            report: ReportName::Conversations,
            rows: 10,
            files: 1,
            seconds: 0.5,
            started_secs: 0.0,
            error: None,
            stopped: false,
            failed: vec![FailedItem {
                id: "215469".into(),
                error: "GET /conversations/{id} failed with HTTP 500".into(),
            }],
            recovered: 2,
            windows_done: 0,
            windows_skipped: 0,
            http: crate::http::StatsSnapshot::default(),
            anomalies: Default::default(),
        };
        parts.anomalies.record(
            crate::anomalies::AnomalyKind::SkippedChild,
            "GET /conversations/{id}",
            Some("215470"),
        );
        let summary = |skip_failed, parts: ReportOutcome| RunSummary {
            run_key: "20260101T000000Z-000003".into(),
            mode: "sync",
            status: if skip_failed {
                RunStatus::Succeeded
            } else {
                RunStatus::Partial
            },
            reports: vec![parts],
            http: Default::default(),
            seconds: 2.0,
            recovered: Default::default(),
            stopped: false,
            skip_failed,
            backfill: None,
        };
        let mut out = Vec::new();
        print_summary(&summary(false, parts.clone()), &mut out).expect("print");
        let text = String::from_utf8(out).expect("utf8");
        assert!(
            text.contains("run 20260101T000000Z-000003: partial"),
            "{text}"
        );
        assert!(text.contains("1 item(s) failed"), "{text}");
        assert!(
            text.contains("2 earlier failed item(s) recovered"),
            "{text}"
        );
        assert!(text.contains("conversations 215469: GET"), "{text}");
        assert!(
            text.contains("1 skipped children (GET /conversations/{id})"),
            "{text}"
        );
        let json = summary_json(&summary(false, parts.clone()), ExitStatus::Partial);
        assert_eq!(json["reports"][0]["skipped_children"], 1, "{json}");
        assert_eq!(json["reports"][0]["anomalies"][0]["samples"][0], "215470");
        // No stated limit: the share is unknown, said so, null in JSON.
        assert!(json["allowed_calls_used"].is_null(), "{json}");
        assert!(json["rate_limit_per_10s"].is_null(), "{json}");
        assert!(text.contains("limit unknown"), "{text}");
        // 25 requests in 2 s under 100 per 10 s: the 2 s may use one whole
        // window's 100 calls, so 25 of 100.
        let mut limited = summary(false, parts.clone());
        limited.http.requests = 25;
        limited.http.rate_limit_per_10s = Some(100);
        let json = summary_json(&limited, ExitStatus::Partial);
        assert_eq!(json["rate_limit_per_10s"], 100, "{json}");
        assert_eq!(json["allowed_calls_used"], 0.25, "{json}");
        let mut out = Vec::new();
        print_summary(&limited, &mut out).expect("print");
        let text = String::from_utf8(out).expect("utf8");
        assert!(
            text.contains("used 25 % of the allowed calls over 2.0 s (limit 100 per 10 s)"),
            "{text}"
        );
        assert!(text.contains("--skip-failed"), "{text}");
        assert_eq!(
            status_of(&summary(false, parts.clone())),
            ExitStatus::Partial
        );
        parts.recovered = 0;
        assert_eq!(status_of(&summary(true, parts)), ExitStatus::Success);
    }
}
