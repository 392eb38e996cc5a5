//! Runs: [`Run`] and [`RunStatus`], starting and finishing a run, and a
//! report's failure in a run (`runs` and `report_runs` tables).

use sqlx::Row;

use super::{StateStore, format_utc, unix_now};
use crate::error::Result;

/// A run as recorded in the state.
#[derive(Debug, Clone)]
pub struct Run {
    pub id: i64,
    /// When the run started (unix seconds, local clock).
    pub started_at: i64,
    /// Directory name for this run's files: sortable in time order.
    pub key: String,
}

/// Final status of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Succeeded,
    Partial,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Partial => "partial",
            RunStatus::Failed => "failed",
        }
    }
}

impl StateStore {
    /// Record the start of a run and give it a key.
    pub async fn begin_run(&self, mode: &str) -> Result<Run> {
        let now = unix_now();
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        let id: i64 = sqlx::query(
            "INSERT INTO runs (run_key, workspace, mode, started_at, status) \
             VALUES ('', $1, $2, $3, 'running') RETURNING id",
        )
        .bind(self.workspace.as_str())
        .bind(mode)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .and_then(|row| row.try_get(0))
        .map_err(|e| self.err(e))?;
        let key = format!("{}-{id:06}", format_utc(now));
        sqlx::query("UPDATE runs SET run_key = $1 WHERE id = $2")
            .bind(&key)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(Run {
            id,
            started_at: now,
            key,
        })
    }

    /// Mark a run finished.
    pub async fn finish_run(&self, run: &Run, status: RunStatus) -> Result<()> {
        sqlx::query("UPDATE runs SET finished_at = $1, status = $2 WHERE id = $3")
            .bind(unix_now())
            .bind(status.as_str())
            .bind(run.id)
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Record that a report failed in this run (its cursor does not move).
    pub async fn record_report_failure(&self, run: &Run, report: &str, error: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO report_runs (run_id, report, status, error) VALUES ($1, $2, 'failed', $3) \
             ON CONFLICT (run_id, report) DO UPDATE SET status = 'failed', error = excluded.error",
        )
        .bind(run.id)
        .bind(report)
        .bind(error)
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }
}
