//! Backfill jobs: [`BackfillJob`], finding or creating the job of a
//! `backfill` command, its committed windows and its end (`backfills` and
//! `backfill_windows` tables).

use sqlx::Row;

use super::{StateStore, unix_now};
use crate::error::Result;

/// A backfill job (see `backfills` in the migrations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillJob {
    pub id: i64,
    pub since: i64,
    pub until: i64,
    pub window_secs: i64,
}

impl StateStore {
    /// Find the unfinished backfill job with these arguments, or create one
    /// (`until` is fixed at creation, so a resumed job has the same windows).
    pub async fn backfill_job(
        &self,
        since: i64,
        until_requested: Option<i64>,
        window_secs: i64,
    ) -> Result<(BackfillJob, bool)> {
        // SQLite: take the write lock first. A deferred transaction that
        // reads, then writes, fails at once with "database is locked" when
        // another connection (a workspace side by side) wrote in between.
        let mut tx = if self.shared {
            self.pool.begin().await
        } else {
            self.pool.begin_with("BEGIN IMMEDIATE").await
        }
        .map_err(|e| self.err(e))?;
        if self.shared {
            // Workers starting the same backfill at once find one job.
            sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock(hashtext($1))) AS locked")
                .bind(format!("intercom-export backfill {}", self.workspace))
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
        }
        let found = sqlx::query(
            "SELECT id, until FROM backfills WHERE finished_at IS NULL AND workspace = $1 \
             AND since = $2 AND until_requested IS NOT DISTINCT FROM $3 AND window_secs = $4 ORDER BY id DESC LIMIT 1",
        )
        .bind(self.workspace.as_str())
        .bind(since)
        .bind(until_requested)
        .bind(window_secs)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        if let Some(row) = found {
            let id: i64 = row.try_get(0).map_err(|e| self.err(e))?;
            let until: i64 = row.try_get(1).map_err(|e| self.err(e))?;
            tx.commit().await.map_err(|e| self.err(e))?;
            return Ok((
                BackfillJob {
                    id,
                    since,
                    until,
                    window_secs,
                },
                true,
            ));
        }
        let until = until_requested.unwrap_or_else(unix_now);
        let id: i64 = sqlx::query(
            "INSERT INTO backfills (workspace, since, until, until_requested, window_secs, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(self.workspace.as_str())
        .bind(since)
        .bind(until)
        .bind(until_requested)
        .bind(window_secs)
        .bind(unix_now())
        .fetch_one(&mut *tx)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok((
            BackfillJob {
                id,
                since,
                until,
                window_secs,
            },
            false,
        ))
    }

    /// Start times of the windows of `report` a backfill job already committed.
    pub async fn done_windows(&self, job: &BackfillJob, report: &str) -> Result<Vec<i64>> {
        let rows = sqlx::query(
            "SELECT window_start FROM backfill_windows WHERE backfill_id = $1 AND report = $2",
        )
        .bind(job.id)
        .bind(report)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| r.try_get::<i64, _>(0))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| self.err(e))
    }

    /// Mark a backfill job complete (a later run with the same arguments starts a new one).
    pub async fn finish_backfill(&self, job: &BackfillJob) -> Result<()> {
        sqlx::query("UPDATE backfills SET finished_at = $1 WHERE id = $2")
            .bind(unix_now())
            .bind(job.id)
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}
