//! The one way a report's files become committed: [`Committer`] publishes
//! them to the run's [`Destination`] and records them in one state transaction,
//! with the cursor that covers them (a checkpoint or the report's final
//! commit) or the backfill window they finish. It runs on the async side,
//! for checkpoints and the final commit alike; the writer thread only
//! writes and hands finished files over a channel ([`Checkpoint`]).
//!
//! On failure nothing names the files any more, so they do not stay behind:
//! the destination removes them (published or not).

use crate::error::Result;
use crate::failpoint;
use crate::output::{Destination, WrittenFile, data_file_count};
use crate::reports::{FailedItem, ReportName};
use crate::state::{Commit, Run, StateStore};

/// Durable files the writer hands to the committer at a checkpoint, with
/// the cursor that covers every row in them and in earlier checkpoints.
#[derive(Debug)]
pub(crate) struct Checkpoint {
    /// Closed, fsynced and renamed parts (paths relative to the output dir).
    pub(crate) files: Vec<WrittenFile>,
    /// The report's cursor (opaque JSON, as the extractor sent it).
    pub(crate) cursor: String,
    /// Rows in `files`.
    pub(crate) rows: u64,
    /// Items that failed since the last checkpoint, committed with it.
    pub(crate) failed: Vec<FailedItem>,
    /// Earlier failed items fetched since the last checkpoint, cleared with it.
    pub(crate) recovered: Vec<String>,
}

/// What the checkpoints of one export committed.
#[derive(Debug, Default, Clone)]
pub(crate) struct Checkpointed {
    pub(crate) rows: u64,
    /// Data files (as [`data_file_count`]).
    pub(crate) files: usize,
    /// Failed items committed with a checkpoint.
    pub(crate) failed: Vec<FailedItem>,
    /// Earlier failed items cleared with a checkpoint.
    pub(crate) recovered: Vec<String>,
}

/// Publishes and commits one report's files in one run.
pub(crate) struct Committer {
    pub(crate) state: StateStore,
    pub(crate) run: Run,
    pub(crate) report: ReportName,
    /// Where the files go: published there before their commit.
    pub(crate) destination: Destination,
    /// Told of every committed checkpoint, for the progress lines.
    pub(crate) logged: crate::telemetry::heartbeat::Checkpoints,
}

impl Committer {
    /// Commit a checkpoint of the incremental option set `param_key`;
    /// returns how many data files it committed.
    pub(crate) async fn checkpoint(&self, param_key: &str, c: &Checkpoint) -> Result<usize> {
        let commit = Commit {
            param_key,
            files: &c.files,
            rows: c.rows,
            cursor: Some(&c.cursor),
            failed: &c.failed,
            recovered: &c.recovered,
            ..Commit::default()
        };
        self.commit(&commit, None).await?;
        failpoint::hit("checkpoint");
        self.logged.committed(c.rows);
        tracing::debug!(report = %self.report, rows = c.rows, files = c.files.len(), "checkpoint committed");
        // The row groups written for it are freed.
        crate::extract::ahead::give_back_freed_memory(false);
        Ok(data_file_count(&c.files))
    }

    /// Commit every checkpoint `checkpoints` brings, in order, until the
    /// writer closes it or a commit fails (then the channel is dropped, so
    /// the writer stops). Returns what was committed either way.
    pub(crate) async fn checkpoints(
        &self,
        param_key: &str,
        mut checkpoints: tokio::sync::mpsc::Receiver<Checkpoint>,
    ) -> (Checkpointed, Result<()>) {
        let mut done = Checkpointed::default();
        while let Some(c) = checkpoints.recv().await {
            match self.checkpoint(param_key, &c).await {
                Ok(files) => {
                    done.rows += c.rows;
                    done.files += files;
                    done.failed.extend(c.failed);
                    done.recovered.extend(c.recovered);
                }
                Err(e) => return (done, Err(e)),
            }
        }
        (done, Ok(()))
    }

    /// The report's last commit: its remaining files with the new cursor
    /// (or the backfill window), failed and recovered items.
    pub(crate) async fn finish(&self, commit: &Commit<'_>) -> Result<()> {
        self.commit(commit, Some("written")).await
    }

    /// Publish, then commit in one transaction; clean up on failure.
    async fn commit(&self, commit: &Commit<'_>, published: Option<&str>) -> Result<()> {
        if let Err(e) = self.destination.publish(commit.files).await {
            self.destination.remove_unpublished(commit.files);
            return Err(e);
        }
        if let Some(point) = published {
            failpoint::hit(point);
        }
        if let Err(e) = self
            .state
            .commit(&self.run, self.report.as_str(), commit)
            .await
        {
            // Files no state row names must not stay behind.
            self.destination.remove(commit.files).await;
            return Err(e);
        }
        Ok(())
    }
}
