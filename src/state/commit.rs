//! The commit: [`Commit`], what one report's commit records (files, cursor
//! or backfill window, [`FailedItem`]s, known ids), and
//! [`StateStore::commit`], the one transaction that records it.

use super::{Run, StateStore, known_ids, unix_now};
use crate::error::Result;
use crate::output::WrittenFile;

/// What one report's commit records, all in one transaction.
#[derive(Debug, Default)]
pub struct Commit<'a> {
    /// The report's option set (empty for the defaults): one cursor each.
    pub param_key: &'a str,
    pub files: &'a [WrittenFile],
    pub rows: u64,
    /// The new cursor, or `None` to keep the old one.
    pub cursor: Option<&'a str>,
    /// Items that failed this run (recorded, attempts counted).
    pub failed: &'a [FailedItem],
    /// Earlier failed items fetched this run (cleared).
    pub recovered: &'a [String],
    /// A backfill window finished by this commit: (backfill id, start, end).
    pub window: Option<(i64, i64, i64)>,
    /// New known-id sets (the `deletions` report's passes), replacing the
    /// stored ones of their object types (see [`known_ids`]).
    pub known_ids: Option<&'a known_ids::KnownIdsUpdate>,
}

/// An item (e.g. one conversation's parts) that still failed after retries.
/// The run goes on without it; the state records it (`failed_items`) and
/// the next run retries it first. Also known as `reports::FailedItem`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedItem {
    /// The item's key as its report encodes it (e.g. a conversation id).
    pub id: String,
    /// The last error, for `state show` and the summaries.
    pub error: String,
}

impl StateStore {
    /// Atomically record a report's files and outcome and, if given, move its cursor.
    pub async fn commit_report(
        &self,
        run: &Run,
        report: &str,
        param_key: &str,
        files: &[WrittenFile],
        rows: u64,
        cursor: Option<&str>,
    ) -> Result<()> {
        self.commit(
            run,
            report,
            &Commit {
                param_key,
                files,
                rows,
                cursor,
                ..Commit::default()
            },
        )
        .await
    }

    /// The one transaction that finishes a report (or a backfill window):
    /// files, cursor or window, failed and recovered items.
    pub async fn commit(&self, run: &Run, report: &str, c: &Commit<'_>) -> Result<()> {
        let now = unix_now();
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        for f in c.files {
            sqlx::query(
                "INSERT INTO files (workspace, run_id, report, path, format, rows, bytes, sha256, \
                 committed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(self.workspace.as_str())
            .bind(run.id)
            .bind(report)
            .bind(&f.relative_path)
            .bind(f.format.extension())
            .bind(f.rows as i64)
            .bind(f.bytes as i64)
            .bind(&f.sha256)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        if let Some(cursor) = c.cursor {
            sqlx::query(
                "INSERT INTO cursors (workspace, report, param_key, cursor, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (workspace, report, param_key) DO UPDATE \
                 SET cursor = excluded.cursor, updated_at = excluded.updated_at",
            )
            .bind(self.workspace.as_str())
            .bind(report)
            .bind(c.param_key)
            .bind(cursor)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        if let Some((backfill, start, end)) = c.window {
            sqlx::query(
                "INSERT INTO backfill_windows (backfill_id, report, window_start, window_end, rows, \
                 run_id, committed_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(backfill)
            .bind(report)
            .bind(start)
            .bind(end)
            .bind(c.rows as i64)
            .bind(run.id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        for item in c.failed {
            sqlx::query(
                "INSERT INTO failed_items (workspace, report, item_id, attempts, last_error, \
                 first_failed_at) VALUES ($1, $2, $3, 1, $4, $5) \
                 ON CONFLICT (workspace, report, item_id) DO UPDATE SET \
                 attempts = failed_items.attempts + 1, last_error = excluded.last_error",
            )
            .bind(self.workspace.as_str())
            .bind(report)
            .bind(&item.id)
            .bind(&item.error)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        for id in c.recovered {
            sqlx::query(
                "DELETE FROM failed_items WHERE workspace = $1 AND report = $2 AND item_id = $3",
            )
            .bind(self.workspace.as_str())
            .bind(report)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        if let Some(update) = c.known_ids {
            self.replace_known_ids(&mut tx, update).await?;
        }
        let data_files = crate::output::data_file_count(c.files);
        // A backfill commits once per window: add up.
        sqlx::query(
            "INSERT INTO report_runs (run_id, report, status, rows, files, failed_items) \
             VALUES ($1, $2, 'succeeded', $3, $4, $5) ON CONFLICT (run_id, report) DO UPDATE SET \
             rows = report_runs.rows + excluded.rows, files = report_runs.files + excluded.files, \
             failed_items = report_runs.failed_items + excluded.failed_items",
        )
        .bind(run.id)
        .bind(report)
        .bind(c.rows as i64)
        .bind(data_files as i64)
        .bind(c.failed.len() as i64)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        self.check_lease(&mut tx, report).await?;
        crate::failpoint::hit("in_commit");
        tx.commit().await.map_err(|e| self.err(e))?;
        crate::failpoint::hit("committed");
        Ok(())
    }
}
