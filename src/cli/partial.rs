//! The line a partial `sync` or `backfill` (exit 4) ends with: which
//! reports failed or stopped and what to do, as the last stderr line (see
//! [`crate::telemetry::fatal`]), like every other command that fails.

use super::summary::WorkspaceRun;

/// Why the run is partial, from its workspaces' summaries: the failed
/// reports (with the first one's error), the reports with failed items,
/// and a stop request; then what was kept and what to do.
pub(super) fn partial_message(runs: &[WorkspaceRun]) -> String {
    let mut failed = Vec::new();
    let mut with_items = Vec::new();
    let mut first_error = None;
    let mut stopped = false;
    for run in runs {
        let Ok(summary) = &run.result else { continue };
        stopped |= summary.stopped;
        let prefix = if run.name.is_empty() {
            String::new()
        } else {
            format!("{}/", run.name)
        };
        for report in &summary.reports {
            if let Some(error) = &report.error {
                failed.push(format!("{prefix}{}", report.report.as_str()));
                first_error.get_or_insert_with(|| error.clone());
            } else if !report.failed.is_empty() && !summary.skip_failed {
                with_items.push(format!(
                    "{prefix}{} ({} item(s))",
                    report.report.as_str(),
                    report.failed.len()
                ));
            }
            stopped |= report.stopped;
        }
    }
    let mut why = Vec::new();
    if !failed.is_empty() {
        let mut part = format!("{} report(s) failed: {}", failed.len(), failed.join(", "));
        if let Some(error) = first_error {
            part.push_str(&format!(" (the first: {error})"));
        }
        why.push(part);
    }
    if !with_items.is_empty() {
        why.push(format!(
            "items failed in {} (retried by the next run; --skip-failed accepts them)",
            with_items.join(", ")
        ));
    }
    if stopped {
        why.push("the run was stopped before it ended (a stop request)".to_string());
    }
    if why.is_empty() {
        why.push("a report did not finish".to_string());
    }
    format!(
        "partial run: {}; everything else was exported and committed. Run the same command \
         again: it goes on from the last checkpoints",
        why.join("; ")
    )
}
