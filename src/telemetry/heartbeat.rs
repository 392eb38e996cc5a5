//! Periodic progress lines in the logs: when stderr is not a terminal (cron,
//! Kubernetes, Airflow: no progress lines are drawn there), every running
//! export logs one INFO line every `progress_log_secs` (default
//! [`DEFAULT_EVERY_SECS`]; 0: never) with its rows so far, its requests and
//! its last committed checkpoint, so a long report is never silent for
//! longer than that.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The default interval of the progress lines, in seconds.
pub const DEFAULT_EVERY_SECS: u64 = 30;

/// The interval in seconds; `u64::MAX` until [`set_every`] (the default then).
static EVERY_SECS: AtomicU64 = AtomicU64::new(u64::MAX);

/// Log a progress line every `every` (the `progress_log_secs` config key;
/// zero: never). Process-wide: the last call wins.
pub fn set_every(every: Duration) {
    EVERY_SECS.store(every.as_secs(), Ordering::Relaxed);
}

/// The interval of the progress lines, `None` when they are off: stderr is
/// a terminal (the live progress lines show it) or the interval is zero.
pub fn every() -> Option<Duration> {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        return None;
    }
    match EVERY_SECS.load(Ordering::Relaxed) {
        0 => None,
        u64::MAX => Some(Duration::from_secs(DEFAULT_EVERY_SECS)),
        secs => Some(Duration::from_secs(secs)),
    }
}

/// The checkpoints one export committed, for its progress line: the
/// committer counts into it, clones share it.
#[derive(Debug, Clone, Default)]
pub struct Checkpoints(Arc<CheckpointCounts>);

#[derive(Debug, Default)]
struct CheckpointCounts {
    count: AtomicU64,
    rows: AtomicU64,
    /// Milliseconds after `started` of the last one, plus one (0: none yet).
    last_at_ms: AtomicU64,
    started: std::sync::OnceLock<Instant>,
}

impl Checkpoints {
    /// A checkpoint of `rows` rows was committed now.
    pub fn committed(&self, rows: u64) {
        let c = &self.0;
        let started = *c.started.get_or_init(Instant::now);
        c.count.fetch_add(1, Ordering::Relaxed);
        c.rows.fetch_add(rows, Ordering::Relaxed);
        let ms = started.elapsed().as_millis() as u64 + 1;
        c.last_at_ms.store(ms, Ordering::Relaxed);
    }

    /// (checkpoints, rows in them, time since the last one).
    fn read(&self) -> (u64, u64, Option<Duration>) {
        let c = &self.0;
        let last = match (c.last_at_ms.load(Ordering::Relaxed), c.started.get()) {
            (0, _) | (_, None) => None,
            (ms, Some(started)) => Some(
                started
                    .elapsed()
                    .saturating_sub(Duration::from_millis(ms - 1)),
            ),
        };
        (
            c.count.load(Ordering::Relaxed),
            c.rows.load(Ordering::Relaxed),
            last,
        )
    }
}

/// Logs one export's progress line every [`every`] while it lives (a task
/// on the runtime; stopped when dropped). Does nothing when the lines are
/// off.
pub struct Heartbeat(Option<tokio::task::JoinHandle<()>>);

impl Heartbeat {
    /// Start the lines of the export `label` (the report, its backfill
    /// window, its workspace): rows from `bar`'s position (the rows written),
    /// requests from `requests` (this export's calls so far), checkpoints
    /// from `checkpoints`.
    pub fn start(
        label: &str,
        bar: &indicatif::ProgressBar,
        requests: impl Fn() -> u64 + Send + 'static,
        checkpoints: &Checkpoints,
    ) -> Self {
        let Some(every) = every() else {
            return Self(None);
        };
        let (label, bar, checkpoints) = (label.to_string(), bar.clone(), checkpoints.clone());
        let started = Instant::now();
        Self(Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let (count, committed_rows, last) = checkpoints.read();
                let last_checkpoint = match last {
                    Some(ago) => format!("{}s ago", ago.as_secs()),
                    None => "none".to_string(),
                };
                tracing::info!(
                    report = %label,
                    rows = bar.position(),
                    requests = requests(),
                    checkpoints = count,
                    committed_rows,
                    last_checkpoint = %last_checkpoint,
                    elapsed_secs = started.elapsed().as_secs(),
                    "export in progress"
                );
            }
        })))
    }
}

impl Drop for Heartbeat {
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
    fn checkpoints_count_rows_and_the_time_since_the_last() {
        let c = Checkpoints::default();
        assert_eq!(c.read(), (0, 0, None));
        c.committed(40);
        c.clone().committed(2);
        let (count, rows, last) = c.read();
        assert_eq!((count, rows), (2, 42));
        assert!(last.is_some_and(|ago| ago < Duration::from_secs(5)));
    }
}
