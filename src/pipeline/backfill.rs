//! A backfill run ([`backfill`]): `[since, until)` window by window into
//! the usual layout, each report's windows side by side with the other
//! reports', an interrupted job resumed where it stopped. Cursors are never
//! touched.

use super::*;

/// Export `[since, until)` window by window into the usual layout, resuming
/// an interrupted job with the same arguments. Cursors are never touched.
/// The caller holds the backfill lock.
pub(crate) async fn backfill(
    client: &IntercomClient,
    state: &StateStore,
    plan: &SyncPlan,
    range: &BackfillPlan,
) -> Result<RunSummary> {
    let run_started = Instant::now();
    if range.window_secs <= 0 {
        return Err(Error::Config("the backfill window must be positive".into()));
    }
    let mut recovered =
        recovery::recover_with(state, &plan.output_dir, plan.object(), true).await?;
    recovery::clean_ended_tmp(state, &plan.output_dir).await;
    let (job, resumed) = state
        .backfill_job(range.since, range.until, range.window_secs)
        .await?;
    if job.until <= job.since {
        return Err(Error::Config(format!(
            "--until ({}) must be after --since ({})",
            format_utc(job.until),
            format_utc(job.since)
        )));
    }
    let run = state.begin_run("backfill").await?;
    failpoint::hit("run_started");
    tracing::info!(run = %run.key, job = job.id, resumed, since = %format_utc(job.since), until = %format_utc(job.until), "backfill started");
    // One line naming every report a date range cannot select.
    let mut left_out = Vec::new();
    for &report in &plan.reports {
        if reports::range_spec(report, &plan.options_of(report))?.is_none() {
            left_out.push(report.as_str());
        }
    }
    if !left_out.is_empty() {
        tracing::warn!(
            reports = %left_out.join(", "),
            "these reports cannot be exported by date range; the backfill leaves them out"
        );
    }
    let reports: Vec<ReportName> = plan
        .reports
        .iter()
        .copied()
        .filter(|r| !left_out.contains(&r.as_str()))
        .collect();
    let ctx = Arc::new(RunCtx::new(
        client,
        state,
        plan,
        &run,
        run_started,
        &reports,
    ));
    let job_ref = Arc::new(job.clone());
    let ran = side::side_by_side(side::stages(plan, &reports), &plan.shutdown, |report| {
        let (ctx, job) = (ctx.clone(), job_ref.clone());
        async move { backfill_report(&ctx, &job, report).await }
    })
    .await;
    if let Some(e) = ran.ended {
        return Err(end_run(state, &run, e).await);
    }
    let mut outcomes = Vec::new();
    // Reports another worker had (shared state): done only if it finished them.
    let mut leased_elsewhere = Vec::new();
    let mut stopped = ran.stopped;
    // Reports a stop kept from starting are not done.
    let mut complete = !ran.stopped;
    for (report, done) in ran.results {
        merge(&mut recovered, done.leased.recovered);
        match done.leased.outcome {
            Some(outcome) => outcomes.push(outcome),
            None => leased_elsewhere.push(report),
        }
        stopped |= done.stopped;
        complete &= done.complete;
    }
    let windows = (job.until - job.since + job.window_secs - 1) / job.window_secs;
    for report in leased_elsewhere {
        complete &= state.done_windows(&job, report.as_str()).await?.len() as i64 >= windows;
    }
    if complete {
        state.finish_backfill(&job).await?;
    }
    finish(
        client,
        state,
        plan,
        run,
        outcomes,
        recovered,
        stopped,
        Some((job, complete)),
        run_started,
    )
    .await
}

/// One report's windows of a backfill: its lease's outcome, whether a stop
/// request ended it between windows, and whether every window is now done.
struct Windowed {
    leased: Leased,
    stopped: bool,
    complete: bool,
}

/// Lease one report and export its windows of `job` not done yet, one after
/// another (a stop request ends it between windows). `Err`: the run ends.
async fn backfill_report(ctx: &RunCtx, job: &BackfillJob, report: ReportName) -> Result<Windowed> {
    let (state, plan, run) = (&ctx.state, &ctx.plan, &ctx.run);
    // Its claim on the run's shared conversations ends with it.
    let _claim = plan.extract.conversations.claim(report.as_str());
    let mut done = Windowed {
        leased: Leased::default(),
        stopped: false,
        complete: true,
    };
    let Some(lease) = take_lease(state, plan, run, report, &mut done.leased.recovered).await?
    else {
        return Ok(done);
    };
    let started = Instant::now();
    let (mut outcome, client) = ctx.start(report);
    let windows: Result<HashSet<i64>> = state
        .done_windows(job, report.as_str())
        .await
        .map(|w| w.into_iter().collect());
    let finished = match windows {
        Ok(finished) => finished,
        Err(e) => {
            lease.release().await;
            return Err(e);
        }
    };
    let mut start = job.since;
    while start < job.until {
        let end = (start + job.window_secs).min(job.until);
        if finished.contains(&start) {
            outcome.windows_skipped += 1;
            start = end;
            continue;
        }
        if plan.shutdown.requested() {
            done.stopped = true;
            done.complete = false;
            break;
        }
        let source = Source::Window(BackfillWindow {
            job_id: job.id,
            start,
            end,
        });
        let mut checkpointed = Checkpointed::default();
        match export(
            &client,
            state,
            plan,
            run,
            report,
            &source,
            &mut checkpointed,
            &outcome.anomalies,
            &ctx.side,
        )
        .await
        {
            Ok(x) if x.stopped => {
                // Stopped mid-window: the window is not done, nothing of it kept.
                done.stopped = true;
                done.complete = false;
                break;
            }
            Ok(x) => {
                outcome.rows += x.rows;
                outcome.files += x.files;
                outcome.windows_done += 1;
                failpoint::hit("window");
            }
            Err(e) => {
                // Later windows of this report wait for the next run.
                done.complete = false;
                match fail_report(state, run, report, e).await {
                    Ok(message) => outcome.error = Some(message),
                    Err(e) => {
                        lease.release().await;
                        return Err(e);
                    }
                }
                break;
            }
        }
        start = end;
    }
    outcome.seconds = started.elapsed().as_secs_f64();
    outcome.http = client.own_stats();
    // Its anomaly lines, then how it ended.
    outcome.anomalies.warn(report.as_str());
    if let Some(error) = &outcome.error {
        log_failed(report, error);
    } else if done.stopped {
        tracing::info!(
            %report,
            rows = outcome.rows,
            windows_done = outcome.windows_done,
            "report stopped; its windows done are kept, the next run exports the rest"
        );
    }
    lease.release().await;
    done.leased.outcome = Some(outcome);
    Ok(done)
}
