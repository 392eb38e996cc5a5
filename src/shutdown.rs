//! Clean shutdown on SIGTERM and SIGINT.
//!
//! The first signal asks the run to stop, at once: every running report
//! (and backfill window) stops sending requests (the requests in flight are
//! abandoned: [`Shutdown::unless_stopped`] drops its extraction), keeps what
//! its checkpoints committed, commits the checkpoints already handed to its
//! committer, and removes the files written since (no half-written file is
//! left, none is committed without its cursor); no other report starts, and
//! the process exits with the interrupted run's status (4; `schedule`: 0).
//! So the time from the signal to the exit does not depend on the API's
//! latency or on how much of a report is left (a Kubernetes pod's
//! `terminationGracePeriodSeconds`, 30 s by default, is plenty), and the
//! next run resumes each report from its last checkpoint, exactly once.
//! `schedule` also stops waiting for its next tick. A second signal exits
//! at once (status 130); the next start then removes what the interrupted
//! reports had written (see `state::recovery`).

use std::sync::Arc;

use tokio::sync::watch;

/// A shared "please stop" flag.
#[derive(Debug, Clone)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A flag nothing sets (tests, `demo`) unless [`Shutdown::request`] is called.
    pub fn new() -> Self {
        Self {
            tx: Arc::new(watch::Sender::new(false)),
        }
    }

    /// A flag set by SIGTERM or SIGINT (needs a tokio runtime).
    pub fn on_signals() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let this = Self::new();
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let flag = this.clone();
        tokio::spawn(async move {
            let mut seen = 0;
            loop {
                let name = tokio::select! {
                    _ = term.recv() => "SIGTERM",
                    _ = int.recv() => "SIGINT",
                };
                seen += 1;
                if seen > 1 {
                    tracing::warn!(signal = name, "second signal: exiting now");
                    std::process::exit(130);
                }
                tracing::warn!(
                    signal = name,
                    "stopping: the reports in progress stop now and keep what their checkpoints \
                     committed (the next run resumes there); send it again to exit at once"
                );
                flag.request();
            }
        });
        Ok(this)
    }

    /// Ask the run to stop.
    pub fn request(&self) {
        self.tx.send_replace(true);
    }

    /// Was a stop asked for?
    pub fn requested(&self) -> bool {
        *self.tx.borrow()
    }

    /// Drive `work` unless a stop is asked for first: `None` when a stop
    /// was asked for before `work` ended; the caller then drops `work`
    /// (with whatever requests it had in flight), after noting the stop
    /// where it must be known first. The stop is checked first at every
    /// poll, so once it is asked for `work` is not polled again.
    pub async fn unless_stopped<F: std::future::Future + ?Sized>(
        &self,
        work: std::pin::Pin<&mut F>,
    ) -> Option<F::Output> {
        let stop = self.wait();
        tokio::pin!(stop);
        tokio::select! {
            biased;
            () = &mut stop => None,
            out = work => Some(out),
        }
    }

    /// Resolves once a stop is asked for.
    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|v| *v).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn work_that_ends_first_gives_its_output() {
        let shutdown = Shutdown::new();
        let work = std::pin::pin!(async { 7 });
        assert_eq!(shutdown.unless_stopped(work).await, Some(7));
    }

    #[tokio::test]
    async fn a_stop_drops_the_work_and_it_takes_no_further_step() {
        let shutdown = Shutdown::new();
        let steps = Arc::new(AtomicUsize::new(0));
        let work = {
            let steps = steps.clone();
            async move {
                loop {
                    steps.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        };
        let stopper = {
            let shutdown = shutdown.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(30)).await;
                shutdown.request();
            }
        };
        let work = std::pin::pin!(work);
        let (out, ()) = tokio::join!(shutdown.unless_stopped(work), stopper);
        assert_eq!(out, None::<()>);
        let at_stop = steps.load(Ordering::SeqCst);
        assert!(at_stop > 0, "the work ran until the stop");
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(
            steps.load(Ordering::SeqCst),
            at_stop,
            "dropped: no step after the stop"
        );
    }

    #[tokio::test]
    async fn a_stop_asked_before_starts_nothing() {
        let shutdown = Shutdown::new();
        shutdown.request();
        let started = AtomicUsize::new(0);
        let work = std::pin::pin!(async {
            started.fetch_add(1, Ordering::SeqCst);
        });
        let out = shutdown.unless_stopped(work).await;
        assert_eq!(out, None);
        assert_eq!(started.load(Ordering::SeqCst), 0);
    }
}
