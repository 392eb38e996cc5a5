//! The reports of one run side by side.
//!
//! [`side_by_side`] starts the reports of a run, up to
//! [`MAX_PARALLEL_REPORTS`] at once, the longest first ([`stages`]: per-item
//! reports over a search and the companies scroll, then the company per-item
//! reports, searches, lists, snapshots; plan order within each,
//! [`start_rank`]), polled together on the run's task
//! (their writers are threads of their own) under the workspace's one client (one pacer, one connection pool; every report
//! counts its own requests on an [`IntercomClient::counted`] clone), and
//! gives their results back in plan order:
//!
//! - A report that reads what other reports of the run write or scroll runs
//!   after them: the reconciliation (`deletions`, [`Plan::Reconcile`])
//!   scrolls `GET /companies/scroll` itself, and a workspace has one scroll
//!   at a time, so it starts once every other report has ended ([`stages`]).
//!   The three company reports share one scroll among themselves
//!   ([`crate::extract::company_scroll`]).
//! - A run-ending failure (an authentication failure: `Err` from a report)
//!   starts no further report; the reports running finish and commit as
//!   they would have.
//! - A stop request ([`Shutdown`]) starts no further report, and each
//!   running report stops at once at its last checkpoint (its export drops
//!   its extraction: [`Shutdown::unless_stopped`]).
//!
//! The writers' memory is bounded by construction (and the search pages read
//! ahead by one byte budget for the process, [`crate::extract::ahead`]; see
//! BENCHMARKS.md, "after the #15 round", Memory): at most [`MAX_PARALLEL_REPORTS`]
//! exports run, and their Parquet row groups share one budget of
//! [`ROW_GROUP_BUDGET_BYTES`] ([`RowGroupBudget`]: each writer flushes at
//! its share, total ÷ writers running, 2–8 MiB), so what the writers hold
//! is that budget plus, per running report, its Arrow builders (≤ 4,096
//! rows per format) and its channel (4 pages): about what one report alone
//! held before, not that times the number of reports.

use std::future::Future;
use std::pin::Pin;

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use crate::error::{Error, Result};
use crate::output::budget::RowGroupBudget;
use crate::reports::{self, Plan, ReportName};
use crate::shutdown::Shutdown;

use super::SyncPlan;

/// Reports of one run exporting at the same time, at most. Enough to keep
/// the workspace's rate limit busy at real latency (each report has its
/// own pages and fan-out in flight, the client's pacer and gate share the
/// limit among them), few enough that memory stays bounded (see the
/// module docs). Not a setting: nothing to tune.
pub(crate) const MAX_PARALLEL_REPORTS: usize = 8;

/// The Parquet row groups of all running reports together, in bytes (one
/// report alone flushes at [`crate::output::budget::ROW_GROUP_BYTES`]).
pub(crate) const ROW_GROUP_BUDGET_BYTES: usize = 24 * 1024 * 1024;

/// What the reports of one run share besides the client and the state:
/// the writers' memory budget, and the progress display.
pub(crate) struct Side {
    /// The row-group budget every writer of the run joins.
    pub(crate) row_groups: RowGroupBudget,
    /// The workspace's name when several workspaces run side by side (their
    /// progress lines share the terminal), else empty.
    workspace: String,
}

impl Side {
    /// What the reports of a run of `workspace` share (`workspace`: its
    /// name when several run side by side, else empty).
    pub(crate) fn new(workspace: &str) -> Self {
        Self {
            row_groups: RowGroupBudget::new(ROW_GROUP_BUDGET_BYTES),
            workspace: workspace.to_string(),
        }
    }

    /// A progress line for one running export, below those of the other
    /// running reports ([`crate::telemetry::report_bar`]: on a terminal
    /// only; log lines are written above the lines, not through them),
    /// named by [`line_label`].
    pub(crate) fn bar(&self, label: &str) -> indicatif::ProgressBar {
        crate::telemetry::report_bar(&line_label(&self.workspace, label))
    }

    /// Clear an export's line and take it off the display.
    pub(crate) fn done(&self, bar: &indicatif::ProgressBar) {
        crate::telemetry::finish_bar(bar);
    }
}

/// The name of an export's progress line: `label` (the report, or the
/// report and its backfill window), after `workspace/` when the run's
/// workspace is named (several workspaces side by side).
pub(crate) fn line_label(workspace: &str, label: &str) -> String {
    if workspace.is_empty() {
        label.to_string()
    } else {
        format!("{workspace}/{label}")
    }
}

/// The reports of `plan` in the order they may start: every report first,
/// then those that must follow all others (a reconciliation, which scrolls
/// companies and lists every contact). Within a stage the reports that
/// take longest start first ([`start_rank`]; plan order among equals), so
/// the run does not end waiting on a long report that started last. A
/// report whose plan cannot be built from its options goes first; its
/// export then fails with that error.
pub(crate) fn stages(plan: &SyncPlan, reports: &[ReportName]) -> Vec<Vec<ReportName>> {
    order_stages(
        reports
            .iter()
            .map(|&r| (r, reports::plan(r, &plan.options_of(r))))
            .collect(),
    )
}

/// [`stages`] of reports (in plan order) with their plans.
fn order_stages(plans: Vec<(ReportName, Result<Plan>)>) -> Vec<Vec<ReportName>> {
    let (later, mut first): (Vec<_>, Vec<_>) = plans
        .into_iter()
        .partition(|(_, p)| matches!(p, Ok(Plan::Reconcile)));
    // A stable sort: plan order among reports of one rank.
    first.sort_by_key(|(_, p)| start_rank(p));
    [first, later]
        .into_iter()
        .map(|stage| stage.into_iter().map(|(r, _)| r).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .collect()
}

/// When a report starts among the others of its stage, lowest first: by
/// the requests its kind of read makes. A plan that cannot be built (0:
/// fails at once); a per-item report over a search (a request per parent,
/// or the search's pages and a few: the most requests, and the longest)
/// and the companies scroll (1); the per-item reports over the scroll or
/// given ids (2: after `companies`, which then reads the run's one scroll
/// for them, as it did in plan order); a search (3: pages only, several
/// windows at once); a paged listing (4); a snapshot (5: a request or a
/// few); a reconciliation (6: a later stage anyway).
pub(crate) fn start_rank(plan: &Result<Plan>) -> u8 {
    match plan {
        Err(_) => 0,
        Ok(
            Plan::FanOut {
                parents: Some(_), ..
            }
            | Plan::Scroll(_),
        ) => 1,
        Ok(Plan::FanOut { parents: None, .. }) => 2,
        Ok(Plan::Search(_)) => 3,
        Ok(Plan::List(_)) => 4,
        Ok(Plan::Snapshot(_)) => 5,
        Ok(Plan::Reconcile) => 6,
    }
}

/// What [`side_by_side`] ran.
pub(crate) struct Ran<T> {
    /// Each started report's result, in plan order within each stage,
    /// stage after stage (reports not started are left out), whatever
    /// order they started in.
    pub(crate) results: Vec<(ReportName, T)>,
    /// A stop request kept reports from starting.
    pub(crate) stopped: bool,
    /// The first run-ending error (the reports running then were finished).
    pub(crate) ended: Option<Error>,
}

/// Run `one` for the reports of `stages`, stage after stage, in order, up
/// to [`MAX_PARALLEL_REPORTS`] at once. `Err` from a report ends the run:
/// no report starts after it; the running ones finish.
pub(crate) async fn side_by_side<'a, T, F, Fut>(
    stages: Vec<Vec<ReportName>>,
    shutdown: &Shutdown,
    mut one: F,
) -> Ran<T>
where
    T: 'a,
    F: FnMut(ReportName) -> Fut,
    Fut: Future<Output = Result<T>> + 'a,
{
    type Running<'a, T> = FuturesUnordered<
        Pin<Box<dyn Future<Output = ((usize, ReportName), ReportName, Result<T>)> + 'a>>,
    >;
    let mut results: Vec<((usize, ReportName), ReportName, T)> = Vec::new();
    let mut ended: Option<Error> = None;
    // Reports that failed too as the run ended, said once at the end.
    let mut also: Vec<(ReportName, String)> = Vec::new();
    let mut stopped = false;
    let mut running: Running<'a, T> = FuturesUnordered::new();
    'stages: for (stage_no, stage) in stages.into_iter().enumerate() {
        for report in stage {
            while running.len() >= MAX_PARALLEL_REPORTS {
                collect(&mut running, &mut results, &mut ended, &mut also).await;
            }
            if ended.is_some() {
                break 'stages;
            }
            if shutdown.requested() {
                stopped = true;
                break 'stages;
            }
            // Results come back by stage, then plan order (`ReportName`'s).
            let index = (stage_no, report);
            let fut = one(report);
            running.push(Box::pin(async move { (index, report, fut.await) }));
        }
        // The next stage starts once this one has ended.
        while !running.is_empty() {
            collect(&mut running, &mut results, &mut ended, &mut also).await;
        }
    }
    while !running.is_empty() {
        collect(&mut running, &mut results, &mut ended, &mut also).await;
    }
    say_also_failed(ended.as_ref(), also);
    results.sort_by_key(|(index, _, _)| *index);
    Ran {
        results: results.into_iter().map(|(_, r, t)| (r, t)).collect(),
        stopped,
        ended,
    }
}

/// Wait for one running report and keep its result (or its run-ending
/// error, the first one).
async fn collect<F, T>(
    running: &mut FuturesUnordered<F>,
    results: &mut Vec<((usize, ReportName), ReportName, T)>,
    ended: &mut Option<Error>,
    also: &mut Vec<(ReportName, String)>,
) where
    F: Future<Output = ((usize, ReportName), ReportName, Result<T>)>,
{
    match running.next().await {
        Some((index, report, Ok(t))) => results.push((index, report, t)),
        Some((_, _, Err(e))) if ended.is_none() => *ended = Some(e),
        // Mostly the same end (a rejected token), met by a report that was
        // running; said once for all at the end ([`say_also_failed`]).
        Some((_, report, Err(e))) => also.push((report, e.to_string())),
        None => {}
    }
}

/// Say the reports that failed too as the run ended: one WARN line for
/// those that met the run's own error (a rejected token ends every running
/// report the same way), naming them, and one per other error.
fn say_also_failed(ended: Option<&Error>, also: Vec<(ReportName, String)>) {
    let ended = ended.map(ToString::to_string);
    let (same, other): (Vec<_>, Vec<_>) = also
        .into_iter()
        .partition(|(_, e)| ended.as_deref() == Some(e.as_str()));
    if !same.is_empty() {
        let reports: Vec<&str> = same.iter().map(|(r, _)| r.as_str()).collect();
        tracing::warn!(
            reports = %reports.join(", "),
            "{} other report(s) ended with the same error as the run",
            reports.len()
        );
    }
    for (report, error) in other {
        tracing::warn!(%report, %error, "report failed too as the run ended");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Reports that each sleep a little, counting how many run at once.
    fn counting(
        now: &Arc<AtomicUsize>,
        most: &Arc<AtomicUsize>,
    ) -> impl FnMut(ReportName) -> std::pin::Pin<Box<dyn Future<Output = Result<&'static str>> + Send>>
    {
        let (now, most) = (now.clone(), most.clone());
        move |report| {
            let (now, most) = (now.clone(), most.clone());
            Box::pin(async move {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                if report == ReportName::Admins {
                    return Err(Error::Internal("boom".into()));
                }
                Ok(report.as_str())
            })
        }
    }

    #[tokio::test]
    async fn reports_overlap_within_the_bound_and_come_back_in_plan_order() {
        let all: Vec<ReportName> = ReportName::all()
            .filter(|r| *r != ReportName::Admins)
            .collect();
        assert!(
            all.len() > MAX_PARALLEL_REPORTS,
            "enough reports to fill the bound"
        );
        let (now, most) = (Arc::default(), Arc::default());
        let ran = side_by_side(vec![all.clone()], &Shutdown::new(), counting(&now, &most)).await;
        assert_eq!(most.load(Ordering::SeqCst), MAX_PARALLEL_REPORTS);
        let got: Vec<ReportName> = ran.results.iter().map(|(r, _)| *r).collect();
        assert_eq!(got, all, "plan order");
        assert!(ran.results.iter().all(|(r, t)| r.as_str() == *t));
        assert!(!ran.stopped && ran.ended.is_none());
    }

    #[tokio::test]
    async fn a_later_stage_starts_after_the_earlier_one_and_an_error_starts_nothing_more() {
        let (now, most) = (Arc::default(), Arc::default());
        let stages = vec![
            vec![ReportName::Users, ReportName::Leads],
            vec![ReportName::Admins],
            vec![ReportName::Teams],
        ];
        let ran = side_by_side(stages, &Shutdown::new(), counting(&now, &most)).await;
        assert_eq!(
            most.load(Ordering::SeqCst),
            2,
            "users and leads together, admins alone"
        );
        let got: Vec<ReportName> = ran.results.iter().map(|(r, _)| *r).collect();
        assert_eq!(got, [ReportName::Users, ReportName::Leads]);
        assert!(ran.ended.is_some_and(|e| e.to_string().contains("boom")));
    }

    /// The default reports with the plans of their default options.
    fn default_plans() -> Vec<(ReportName, Result<Plan>)> {
        let mut all = ReportName::defaults();
        all.push(ReportName::Deletions);
        all.sort();
        all.into_iter()
            .map(|r| (r, reports::plan(r, &Default::default())))
            .collect()
    }

    #[test]
    fn the_longest_reports_start_first_and_the_reconciliation_last() {
        let plans = default_plans();
        let rank_of =
            |r: ReportName| start_rank(&plans.iter().find(|(x, _)| *x == r).expect("planned").1);
        let stages = order_stages(default_plans());
        assert_eq!(stages.len(), 2);
        assert_eq!(stages[1], [ReportName::Deletions]);
        let first = &stages[0];
        assert_eq!(first.len(), plans.len() - 1, "every other report, once");
        // Ranks never go down along the start order; plan order among equals.
        for pair in first.windows(2) {
            let (a, b) = (rank_of(pair[0]), rank_of(pair[1]));
            assert!(a < b || (a == b && pair[0] < pair[1]), "{pair:?}");
        }
        // The fan-outs over the contact search (the mixed-latency run's
        // last reports when they started behind the plan's quick ones)
        // start with the first ones, before every search, list and
        // snapshot; `companies` before the company fan-outs it feeds.
        let started_at = |r: ReportName| first.iter().position(|x| *x == r).expect("in stage");
        for r in [ReportName::ContactTags, ReportName::ContactCompanies] {
            assert_eq!(rank_of(r), 1, "{r}");
            assert!(
                started_at(r) < MAX_PARALLEL_REPORTS,
                "{r} at {}",
                started_at(r)
            );
            assert!(started_at(r) < started_at(ReportName::Conversations));
        }
        assert!(started_at(ReportName::Companies) < started_at(ReportName::CompanyTags));
        assert!(started_at(ReportName::Companies) < started_at(ReportName::CompanySegments));
        assert_eq!(rank_of(ReportName::Companies), 1);
        assert_eq!(rank_of(ReportName::CompanySegments), 2);
        assert_eq!(rank_of(ReportName::Users), 3);
        assert_eq!(rank_of(ReportName::Admins), 5);
        assert!(started_at(ReportName::Users) < started_at(ReportName::Admins));
        assert!(started_at(ReportName::ContactSegments) < started_at(ReportName::Conversations));
    }

    #[test]
    fn progress_lines_name_the_workspace_only_when_several_run() {
        assert_eq!(line_label("", "contact_tags"), "contact_tags");
        assert_eq!(
            line_label("acme-eu", "contact_tags"),
            "acme-eu/contact_tags"
        );
    }

    #[test]
    fn a_report_whose_plan_fails_starts_first() {
        let mut plans = default_plans();
        plans.push((ReportName::LeadById, Err(Error::Config("no ids".into()))));
        assert_eq!(order_stages(plans)[0][0], ReportName::LeadById);
    }

    #[tokio::test]
    async fn results_come_back_in_plan_order_whatever_the_start_order() {
        let (now, most) = (Arc::default(), Arc::default());
        // Started leads first, then users, and admins in a later stage.
        let stages = vec![
            vec![ReportName::Leads, ReportName::Users, ReportName::Teams],
            vec![ReportName::Conversations],
        ];
        let ran = side_by_side(stages, &Shutdown::new(), counting(&now, &most)).await;
        let got: Vec<ReportName> = ran.results.iter().map(|(r, _)| *r).collect();
        assert_eq!(
            got,
            [
                ReportName::Users,
                ReportName::Leads,
                ReportName::Teams,
                ReportName::Conversations
            ]
        );
    }

    #[tokio::test]
    async fn a_stop_request_starts_no_report() {
        let shutdown = Shutdown::new();
        shutdown.request();
        let (now, most) = (Arc::default(), Arc::default());
        let ran = side_by_side(
            vec![vec![ReportName::Users]],
            &shutdown,
            counting(&now, &most),
        )
        .await;
        assert!(ran.stopped);
        assert!(ran.results.is_empty());
        assert_eq!(most.load(Ordering::SeqCst), 0);
    }
}
