//! One export of one report (or one backfill window), in a straight line:
//!
//! ```text
//!  extractor task ──mpsc<WriterMsg>(4)──▶ writer (blocking thread: encode, write parts)
//!                                     │ WriterMsg::Checkpoint: closes its parts and
//!                                     ▼ hands them over, then goes on writing
//!                        mpsc<Checkpoint> ──▶ Committer (async): publish, commit
//!  when both are done: the rest of the files ──▶ Committer::finish (async)
//! ```
//!
//! The writer thread only writes; every commit (checkpoints and the final
//! one) is made by the same async [`Committer`]. A failure anywhere stops the
//! other two (their channels close) and the first cause is returned; what the
//! checkpoints committed stays committed, the rest of the files is removed.

use tokio::sync::mpsc;

use crate::anomalies::Anomalies;
use crate::error::{Error, Result};
use crate::failpoint;
use crate::http::IntercomClient;
use crate::output::{ReportWriter, WriterConfig, data_file_count};
use crate::reports::{self, ExtractOptions, Extracted, FailedItem, ReportName, WriterMsg};
use crate::state::{Commit, Run, StateStore};
use crate::time::format_utc;

use super::SyncPlan;
use super::commit::{Checkpoint, Checkpointed, Committer};
use super::side::Side;

/// Pages in flight between an extractor and its writer.
const CHANNEL_PAGES: usize = 4;

/// Checkpoints the writer may hand over before the committer has committed
/// the earlier ones (the writer waits beyond that).
const CHECKPOINTS_IN_FLIGHT: usize = 2;

/// One window `[start, end)` of a backfill job, in unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BackfillWindow {
    /// The job's id (`backfills.id`).
    pub(crate) job_id: i64,
    pub(crate) start: i64,
    pub(crate) end: i64,
}

impl BackfillWindow {
    /// The window's run directory: `<run-key>-w<start, 20261122T015000Z>`.
    pub(crate) fn dir_key(&self, run_key: &str) -> String {
        format!("{run_key}-w{}", format_utc(self.start))
    }
}

/// Where a report's rows come from in one export.
pub(crate) enum Source {
    /// From the saved cursor; retry earlier failed items first.
    Incremental {
        /// The option set's key: one cursor per option set.
        param_key: String,
        cursor: Option<String>,
        retry: Vec<String>,
    },
    /// One backfill window.
    Window(BackfillWindow),
}

impl Source {
    /// The directory of this export's files under `OUTPUT/<report>/`.
    fn dir_key(&self, run: &Run) -> String {
        match self {
            Source::Incremental { .. } => run.key.clone(),
            Source::Window(w) => w.dir_key(&run.key),
        }
    }

    /// What the progress bar calls the export (backfill windows by start).
    fn label(&self, report: ReportName) -> String {
        match self {
            Source::Incremental { .. } => report.to_string(),
            Source::Window(w) => format!("{report} {}", format_utc(w.start)),
        }
    }
}

/// What one export committed.
pub(crate) struct Exported {
    pub(crate) rows: u64,
    pub(crate) files: usize,
    pub(crate) failed: Vec<FailedItem>,
    pub(crate) recovered: usize,
    /// A stop request ([`crate::shutdown::Shutdown`]) ended the extraction:
    /// what its checkpoints committed stays (the counts above), the rest
    /// was removed, the cursor is its last checkpoint's (a backfill window:
    /// not done).
    pub(crate) stopped: bool,
}

/// Extract, write and commit one report (or one backfill window) into
/// `OUTPUT/<report>/<dir_key>/`. `committed` gets what its checkpoints
/// committed, also when the export then fails.
#[allow(clippy::too_many_arguments)] // the run's context, each used once
pub(crate) async fn export(
    client: &IntercomClient,
    state: &StateStore,
    plan: &SyncPlan,
    run: &Run,
    report: ReportName,
    source: &Source,
    committed: &mut Checkpointed,
    anomalies: &Anomalies,
    side: &Side,
) -> Result<Exported> {
    let label = source.label(report);
    // This writer's place in the run's row-group budget, until it is done.
    let _share = side.row_groups.join();
    let config = WriterConfig {
        output_dir: plan.output_dir.clone(),
        report: report.as_str().to_string(),
        run_key: source.dir_key(run),
        formats: plan.formats.clone(),
        rows_per_file: plan.rows_per_file,
        extracted_at: run.started_at,
        anomalies: anomalies.clone(),
        row_groups: side.row_groups.clone(),
    };
    let options = plan.options_of(report);
    let writer = ReportWriter::lazy(config, columns_on_demand(client, state, plan, report));
    let (tx, rx) = mpsc::channel::<WriterMsg>(CHANNEL_PAGES);
    let (checkpoint_tx, checkpoint_rx) = mpsc::channel::<Checkpoint>(CHECKPOINTS_IN_FLIGHT);
    let bar = side.bar(&label);
    let _pages = PageCounter::start(client, &bar);
    let logged = crate::telemetry::heartbeat::Checkpoints::default();
    let _heartbeat = {
        let (client, before) = (client.clone(), client.own_stats());
        crate::telemetry::heartbeat::Heartbeat::start(
            &label,
            &bar,
            move || client.own_stats().since(before).requests,
            &logged,
        )
    };
    let extract_options = ExtractOptions {
        progress: crate::telemetry::Progress::new(bar.clone()),
        anomalies: anomalies.clone(),
        ..plan.extract.clone()
    };
    let committer = Committer {
        state: state.clone(),
        run: run.clone(),
        report,
        destination: plan.destination(),
        logged,
    };
    // Checkpoints commit an incremental cursor; a backfill window commits once.
    // (The sender must not outlive the writer: the committer's loop ends
    // when it is dropped.)
    let (checkpoints, param_key) = match source {
        Source::Incremental { param_key, .. } => (Some(checkpoint_tx), param_key.as_str()),
        Source::Window(_) => {
            drop(checkpoint_tx);
            (None, "")
        }
    };
    // Set when a stop request cut the extraction short.
    let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writing = {
        let bar = bar.clone();
        let destination = plan.destination();
        let cut = cut.clone();
        tokio::task::spawn_blocking(move || {
            write_all(writer, rx, checkpoints, &bar, report, &destination, &cut)
        })
    };
    // A reconciliation reads the state store, which plain extractors do not see.
    let reconcile = matches!(
        reports::plan(report, &options),
        Ok(reports::Plan::Reconcile)
    );
    let mut known_ids = None;
    let known_ids_out = &mut known_ids;
    let extracting = async move {
        match source {
            // Tombstones read the known ids from the state (and hand back
            // the new ones for the final commit).
            Source::Incremental { cursor, retry, .. } if reconcile => {
                let passes = reports::deletions::Passes {
                    client,
                    options: &extract_options,
                    report_options: &options,
                    state,
                    conversations: ReportName::DeletedConversations
                        .offered_by(&plan.intercom_version),
                    now: crate::time::unix_now(),
                };
                forward_deletions(&passes, cursor.as_deref(), retry, tx)
                    .await
                    .map(|found| {
                        *known_ids_out = found.known_ids;
                        found.extracted
                    })
            }
            Source::Incremental { cursor, retry, .. } => {
                reports::extract(
                    report,
                    &options,
                    client,
                    &extract_options,
                    cursor.as_deref(),
                    retry,
                    tx,
                )
                .await
            }
            Source::Window(w) => {
                reports::extract_range(
                    report,
                    &options,
                    client,
                    &extract_options,
                    w.start,
                    w.end,
                    tx,
                )
                .await
            }
        }
    };
    // A stop request drops the extraction at once (no further request; those
    // in flight are abandoned), which ends the writer; the checkpoints it had
    // handed over are still committed. `cut` is set before the writer's
    // channel closes, so the writer does not finish the rows past the last
    // checkpoint into parts.
    let extracting = {
        let (cut, shutdown) = (cut.clone(), plan.shutdown.clone());
        async move {
            let mut work = std::pin::pin!(extracting);
            let out = shutdown.unless_stopped(work.as_mut()).await;
            if out.is_none() {
                cut.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            out
        }
    };
    let (extracted, (checkpointed, committing)) =
        tokio::join!(extracting, committer.checkpoints(param_key, checkpoint_rx));
    let (writer, written) = writing
        .await
        .map_err(|e| Error::Internal(format!("the {report} writer panicked: {e}")))?;
    // Kept by the caller even if this export fails now: committed is committed.
    *committed = checkpointed.clone();
    side.done(&bar);
    // The first cause: a failed commit stops the writer, which stops the
    // extractor ("writer stopped").
    let extracted: Extracted = match (committing, written, extracted) {
        (Ok(()), Ok(()), Some(Ok(x))) => x,
        (Ok(()), Ok(()), None) => {
            // Stopped: the rows since the last checkpoint are not committed.
            tokio::task::spawn_blocking(move || writer.abort())
                .await
                .ok();
            return Ok(Exported {
                rows: checkpointed.rows,
                files: checkpointed.files,
                failed: checkpointed.failed,
                recovered: checkpointed.recovered.len(),
                stopped: true,
            });
        }
        (Err(e), _, _) | (Ok(()), Err(e), _) | (Ok(()), Ok(()), Some(Err(e))) => {
            // Committed checkpoints stay; the writer removes only the rest.
            tokio::task::spawn_blocking(move || writer.abort())
                .await
                .ok();
            return Err(e);
        }
    };
    // Custom-attribute values not of their declared type are in `anomalies`
    // already, per attribute with sample ids (the encoder counts them); the
    // raw values stay in custom_attributes_json.
    let files = writer.files().to_vec();
    let window = match source {
        Source::Window(w) => Some((w.job_id, w.start, w.end)),
        Source::Incremental { .. } => None,
    };
    // Failed and recovered items a checkpoint committed are not counted twice.
    let failed: Vec<FailedItem> = extracted
        .failed
        .iter()
        .filter(|f| !checkpointed.failed.contains(f))
        .cloned()
        .collect();
    let recovered: Vec<String> = extracted
        .recovered
        .iter()
        .filter(|r| !checkpointed.recovered.contains(r))
        .cloned()
        .collect();
    let commit = Commit {
        param_key,
        files: &files,
        rows: extracted.rows.saturating_sub(checkpointed.rows),
        cursor: extracted.cursor.as_deref(),
        failed: &failed,
        recovered: &recovered,
        window,
        known_ids: known_ids.as_ref(),
    };
    if let Err(e) = committer.finish(&commit).await {
        tokio::task::spawn_blocking(move || writer.abort())
            .await
            .ok();
        return Err(e);
    }
    Ok(Exported {
        rows: extracted.rows,
        files: checkpointed.files + data_file_count(&files),
        failed: extracted.failed,
        recovered: extracted.recovered.len(),
        stopped: false,
    })
}

/// The writer thread: write every page `rx` brings; at a checkpoint close
/// the parts and hand them (durable) to the committer through
/// `checkpoints`, then go on. `None`: checkpoints are not expected (a
/// backfill window). Returns the writer (for the final commit or its
/// abort) and whether everything was written. When a stop request `cut`
/// the extraction short, the rows past the last checkpoint are not finished
/// into parts (they will
/// not be committed; the caller removes what was written of them).
fn write_all(
    mut writer: ReportWriter,
    mut rx: mpsc::Receiver<WriterMsg>,
    checkpoints: Option<mpsc::Sender<Checkpoint>>,
    bar: &indicatif::ProgressBar,
    report: ReportName,
    destination: &crate::output::Destination,
    cut: &std::sync::atomic::AtomicBool,
) -> (ReportWriter, Result<()>) {
    let mut rows_since = 0u64;
    while let Some(msg) = rx.blocking_recv() {
        if checkpoints.as_ref().is_some_and(|c| c.is_closed()) {
            // The committer failed: stop now rather than at the next checkpoint.
            return (
                writer,
                Err(Error::Internal(format!("the {report} committer stopped"))),
            );
        }
        let step = match msg {
            WriterMsg::Rows(rows) => writer.write(&rows).map(|()| {
                rows_since += rows.len() as u64;
                bar.inc(rows.len() as u64);
                failpoint::hit("page");
            }),
            WriterMsg::Checkpoint(point) => match &checkpoints {
                Some(to_committer) => writer.take_files().and_then(|files| {
                    let checkpoint = Checkpoint {
                        files,
                        cursor: point.cursor,
                        rows: rows_since,
                        failed: point.failed,
                        recovered: point.recovered,
                    };
                    rows_since = 0;
                    to_committer.blocking_send(checkpoint).map_err(|unsent| {
                        // The committer failed (its error is the cause):
                        // these files will never be committed.
                        destination.remove_unpublished(&unsent.0.files);
                        Error::Internal(format!("the {report} committer stopped"))
                    })
                }),
                None => Err(Error::Internal(format!(
                    "the {report} extractor sent a checkpoint in a backfill window"
                ))),
            },
        };
        if let Err(e) = step {
            return (writer, Err(e));
        }
    }
    if cut.load(std::sync::atomic::Ordering::SeqCst) {
        return (writer, Ok(()));
    }
    let finished = writer.finish();
    (writer, finished)
}

/// The report's columns, read when its writer has its first rows (on the
/// writer's blocking thread, once per export): a report with nothing new
/// reads no custom-attribute declarations, and the run reads each model's
/// once for all its reports ([`crate::extract::run_lists`]).
fn columns_on_demand(
    client: &IntercomClient,
    state: &StateStore,
    plan: &SyncPlan,
    report: ReportName,
) -> crate::output::ColumnsOnDemand {
    let runtime = tokio::runtime::Handle::current();
    let (client, state, lists) = (client.clone(), state.clone(), plan.extract.lists.clone());
    let options = plan.options_of(report);
    Box::new(move || {
        runtime.block_on(reports::columns_in_run(
            report, &options, &client, &state, &lists,
        ))
    })
}

/// Run the `deletions` extractor, passing its pages on as [`WriterMsg::Rows`].
async fn forward_deletions(
    passes: &reports::deletions::Passes<'_>,
    cursor: Option<&str>,
    retry: &[String],
    out: mpsc::Sender<WriterMsg>,
) -> Result<reports::deletions::Found> {
    let (tx, mut rx) = mpsc::channel::<Vec<serde_json::Value>>(1);
    let forward = async move {
        while let Some(rows) = rx.recv().await {
            if out.send(WriterMsg::Rows(rows)).await.is_err() {
                return; // the writer stopped: dropping `rx` stops the extractor
            }
        }
    };
    let (extracted, ()) = tokio::join!(
        reports::deletions::extract(passes, cursor, retry, tx),
        forward
    );
    extracted
}

/// Shows the pages (requests) of one export on its progress bar while it
/// runs (the requests its report's client counted,
/// [`IntercomClient::own_stats`]); stops when dropped.
struct PageCounter(Option<tokio::task::JoinHandle<()>>);

impl PageCounter {
    fn start(client: &IntercomClient, bar: &indicatif::ProgressBar) -> Self {
        if bar.is_hidden() {
            return Self(None);
        }
        let (client, bar) = (client.clone(), bar.clone());
        let before = client.own_stats();
        Self(Some(tokio::spawn(async move {
            loop {
                let pages = client.own_stats().since(before).requests;
                bar.set_message(format!("{pages} pages"));
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
        })))
    }
}

impl Drop for PageCounter {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_names_its_directory_by_its_start() {
        let w = BackfillWindow {
            job_id: 3,
            start: 1_795_830_600,
            end: 1_795_917_000,
        };
        assert_eq!(
            w.dir_key("20261130T000000Z-000007"),
            "20261130T000000Z-000007-w20261128T015000Z"
        );
        assert_eq!(
            Source::Window(w).label(ReportName::Conversations),
            "conversations 20261128T015000Z"
        );
    }
}
