//! Report leases: several workers sharing one PostgreSQL state.
//!
//! Before a worker exports a report of a workspace it takes that
//! (workspace, report)'s row in `leases`: free, expired, or its own. The row
//! is locked (`SELECT … FOR UPDATE`) while it is read and written, so two
//! workers never both take it. While the report runs, a heartbeat task pushes
//! `expires_at` forward every third of the lease's time to live; the commit
//! transaction checks, under the same row lock, that the lease is still this
//! worker's ([`StateStore::commit`]), so a worker that lost its lease (it
//! stalled past the ttl and another took over) cannot commit. When the report
//! is done the lease is deleted.
//!
//! A worker that dies leaves its lease until it expires (times are the
//! database's clock, so workers' clocks do not matter). Whoever takes an
//! expired lease over removes the dead run's uncommitted files of that
//! report ([`super::recovery::take_over`]) before exporting: only the new
//! holder cleans, never a worker that merely starts.
//!
//! The SQLite state has no leases: one process at a time holds the state's
//! flock (`crate::lock`) and [`Lease::local`] is a no-op.

use std::time::Duration;

use sqlx::Row;
use tokio::task::JoinHandle;

use super::{Run, StateStore};
use crate::error::Result;

/// A held lease on one (workspace, report). Dropping it stops the heartbeat;
/// [`Lease::release`] also deletes the row so the next worker need not wait.
pub struct Lease {
    store: Option<StateStore>,
    report: String,
    /// The run of an expired holder this lease was taken over from.
    pub taken_over: Option<TakenOver>,
    heartbeat: Option<JoinHandle<()>>,
}

/// The dead run whose lease was taken over.
#[derive(Debug, Clone)]
pub struct TakenOver {
    pub run_id: i64,
    pub run_key: String,
    pub holder: String,
}

/// The result of trying to take a lease.
pub enum Acquired {
    Held(Lease),
    /// Another live worker holds it.
    Busy {
        holder: String,
    },
}

impl Lease {
    /// The lease of a state with no sharing (SQLite): nothing to hold.
    pub fn local(report: &str) -> Self {
        Self {
            store: None,
            report: report.to_string(),
            taken_over: None,
            heartbeat: None,
        }
    }

    /// Stop the heartbeat and give the lease back.
    pub async fn release(mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
        if let Some(store) = self.store.take() {
            let done = sqlx::query(
                "DELETE FROM leases WHERE workspace = $1 AND report = $2 AND holder = $3",
            )
            .bind(store.workspace.as_str())
            .bind(self.report.as_str())
            .bind(store.worker.as_str())
            .execute(&store.pool)
            .await;
            if let Err(e) = done {
                tracing::warn!(report = %self.report, error = %e, "could not release the lease; it expires by itself");
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
    }
}

impl StateStore {
    /// Take the lease on `report` of this store's workspace for `run`. A
    /// state that is not shared (SQLite) always gives a no-op lease.
    pub async fn lease(&self, run: &Run, report: &str) -> Result<Acquired> {
        if !self.is_shared() {
            return Ok(Acquired::Held(Lease::local(report)));
        }
        // The holder may delete the row between our insert and our select:
        // then try again.
        for _ in 0..20 {
            if let Some(acquired) = self.try_lease(run, report).await? {
                return Ok(acquired);
            }
        }
        Err(self.err(format!(
            "could not read the lease of {report}: it kept changing; try again"
        )))
    }

    async fn try_lease(&self, run: &Run, report: &str) -> Result<Option<Acquired>> {
        let ttl_ms = self.lease_ttl.as_millis() as i64;
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        // Make sure a row exists to lock (a no-op when it does).
        sqlx::query(
            "INSERT INTO leases (workspace, report, holder, run_id, expires_at) \
             VALUES ($1, $2, '', 0, 0) ON CONFLICT (workspace, report) DO NOTHING",
        )
        .bind(self.workspace.as_str())
        .bind(report)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        let row = sqlx::query(
            "SELECT l.holder, l.run_id, \
             CASE WHEN l.expires_at < CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) \
             THEN 1 ELSE 0 END, COALESCE(r.run_key, ''), COALESCE(r.status, '') \
             FROM leases l LEFT JOIN runs r ON r.id = l.run_id \
             WHERE l.workspace = $1 AND l.report = $2 FOR UPDATE OF l",
        )
        .bind(self.workspace.as_str())
        .bind(report)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        let Some(row) = row else {
            tx.rollback().await.map_err(|e| self.err(e))?;
            return Ok(None);
        };
        let holder: String = row.try_get(0).map_err(|e| self.err(e))?;
        let prev_run: i64 = row.try_get(1).map_err(|e| self.err(e))?;
        let expired: i64 = row.try_get(2).map_err(|e| self.err(e))?;
        let prev_key: String = row.try_get(3).map_err(|e| self.err(e))?;
        if expired == 0 && !holder.is_empty() && holder != self.worker.as_str() {
            tx.rollback().await.map_err(|e| self.err(e))?;
            return Ok(Some(Acquired::Busy { holder }));
        }
        // The row is free (holder ''), expired, or ours from an earlier run.
        let taken_over =
            (!holder.is_empty() && prev_run != run.id && !prev_key.is_empty()).then(|| TakenOver {
                run_id: prev_run,
                run_key: prev_key,
                holder: holder.clone(),
            });
        sqlx::query(
            "UPDATE leases SET holder = $3, run_id = $4, \
             expires_at = CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) + $5 \
             WHERE workspace = $1 AND report = $2",
        )
        .bind(self.workspace.as_str())
        .bind(report)
        .bind(self.worker.as_str())
        .bind(run.id)
        .bind(ttl_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        if let Some(t) = &taken_over {
            // Its holder is gone: the run will never finish by itself.
            sqlx::query(
                "UPDATE runs SET status = 'interrupted', \
                 finished_at = CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS BIGINT) \
                 WHERE id = $1 AND status = 'running'",
            )
            .bind(t.run_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        let heartbeat = {
            let store = self.clone();
            let report = report.to_string();
            let every = (self.lease_ttl / 3).max(Duration::from_millis(100));
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let renewed = sqlx::query(
                        "UPDATE leases SET expires_at = \
                         CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) + $4 \
                         WHERE workspace = $1 AND report = $2 AND holder = $3",
                    )
                    .bind(store.workspace.as_str())
                    .bind(report.as_str())
                    .bind(store.worker.as_str())
                    .bind(ttl_ms)
                    .execute(&store.pool)
                    .await;
                    match renewed {
                        Ok(r) if r.rows_affected() == 1 => {}
                        Ok(_) => {
                            tracing::error!(%report, "lost the report's lease (another worker took it over); this worker's export of it will not commit");
                            return;
                        }
                        Err(e) => {
                            tracing::warn!(%report, error = %e, "could not renew the report's lease; retrying");
                        }
                    }
                }
            })
        };
        Ok(Some(Acquired::Held(Lease {
            store: Some(self.clone()),
            report: report.to_string(),
            taken_over,
            heartbeat: Some(heartbeat),
        })))
    }

    /// Inside a commit transaction: fail unless this worker still holds the
    /// report's lease (locks the row until the transaction ends).
    pub(super) async fn check_lease(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        report: &str,
    ) -> Result<()> {
        if !self.is_shared() {
            return Ok(());
        }
        let held = sqlx::query(
            "SELECT 1 FROM leases WHERE workspace = $1 AND report = $2 AND holder = $3 \
             AND expires_at > CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) \
             FOR UPDATE",
        )
        .bind(self.workspace.as_str())
        .bind(report)
        .bind(self.worker.as_str())
        .fetch_optional(&mut **tx)
        .await
        .map_err(|e| self.err(e))?;
        if held.is_none() {
            return Err(self.err(format!(
                "this worker no longer holds the lease on {report} (it expired and another \
                 worker took the report over); nothing was committed. Raise `lease_ttl_secs` \
                 if workers stall longer than it"
            )));
        }
        Ok(())
    }
}
