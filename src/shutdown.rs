//! Clean shutdown on SIGTERM and SIGINT.
//!
//! The first signal asks the run to stop: the reports (or backfill windows)
//! in progress finish and commit, no other starts, and the process exits
//! normally, so there are no half-written files and the state holds
//! everything finished. `schedule` also stops waiting for its next tick. A
//! second signal exits at once (status 130); the next start then removes
//! what the interrupted report had written (see `state::recovery`).

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
                    "stopping: the reports in progress finish and are committed; send it again to exit at once"
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

    /// Resolves once a stop is asked for.
    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|v| *v).await;
    }
}
