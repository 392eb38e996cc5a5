//! The delivery side of [`read_windows`](super::read_windows): the
//! hand-overs ([`Job`]) the reading of windows queues for it, and
//! [`deliver_jobs`], which decodes them, filters them against the cursor,
//! hands them to the sink in order and checkpoints after completed windows.

use std::time::{Duration, Instant};

use crate::error::Result;
use crate::extract::cursor::CursorTracker;
use crate::extract::search::Sink;

use super::Kept;
use super::pages::deliver_kept;

/// Pages (or a completed window's kept pages) handed from the reading of
/// windows to their delivery and not yet delivered: while the delivery
/// waits for the writer, the reading goes on (see [`read_windows`]); past
/// this many, the head waits to ask for more (windows ahead go on, within
/// the budget and the spill file). Four (was eight): each holds decoded
/// records, and a deeper queue only helps while the writer is slower than
/// the reading, which the spill file covers.
pub const DELIVERY_QUEUE: usize = 4;

/// One hand-over from the reading of windows to their delivery.
pub(super) struct Job {
    /// The head's pages read since the last job, in order.
    pub(super) kept: Kept,
    /// The head's window ended with these pages: its upper bound, and
    /// whether windows remain after it (a checkpoint may follow).
    pub(super) ended: Option<(i64, bool)>,
}

/// Where the delivery's time went (see [`ReadStats`]).
#[derive(Debug, Default)]
pub(super) struct DeliveryTimes {
    pub(super) idle: Duration,
    pub(super) decode: Duration,
    pub(super) sink: Duration,
}

/// Deliver the hand-overs of [`read`] in order until it ends (a failed
/// reading ends after what it handed over is delivered), and hand the sink
/// a checkpoint after a completed window when one is due.
pub(super) async fn deliver_jobs(
    path: &str,
    checkpoint_every: Option<Duration>,
    mut jobs: tokio::sync::mpsc::Receiver<Job>,
    tracker: &mut CursorTracker,
    tx: &impl Sink,
    times: &mut DeliveryTimes,
) -> Result<()> {
    let mut last_checkpoint = Instant::now();
    let mut rows_at_checkpoint = tracker.rows;
    loop {
        let waited = Instant::now();
        let Some(Job { kept, ended }) = jobs.recv().await else {
            break;
        };
        times.idle += waited.elapsed();
        deliver_kept(path, kept, tracker, tx, times).await?;
        let Some((hi, more)) = ended else {
            continue;
        };
        let due = checkpoint_every.is_some_and(|every| last_checkpoint.elapsed() >= every);
        if due
            && more
            && tracker.rows > rows_at_checkpoint
            && tracker.newest().is_some_and(|t| t <= hi)
            && let Some(cursor) = tracker.clone().finish().cursor
        {
            tx.checkpoint(&cursor).await?;
            rows_at_checkpoint = tracker.rows;
            last_checkpoint = Instant::now();
        }
    }
    Ok(())
}
