//! What a commit left, read back: a report's cursor, its failed item ids
//! and committed files; and `reset`, which forgets cursors, failed items
//! and backfill progress.

use sqlx::Row;

use super::StateStore;
use crate::error::Result;

impl StateStore {
    /// The saved cursor of a report for one option set (`param_key`, empty
    /// for the defaults), if it ever completed.
    pub async fn cursor(&self, report: &str, param_key: &str) -> Result<Option<String>> {
        sqlx::query(
            "SELECT cursor FROM cursors WHERE workspace = $1 AND report = $2 AND param_key = $3",
        )
        .bind(self.workspace.as_str())
        .bind(report)
        .bind(param_key)
        .fetch_optional(&self.pool)
        .await
        .and_then(|row| row.map(|r| r.try_get(0)).transpose())
        .map_err(|e| self.err(e))
    }

    /// Ids of a report's items that failed in earlier runs, oldest failure first.
    pub async fn failed_ids(&self, report: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT item_id FROM failed_items WHERE workspace = $1 AND report = $2 \
             ORDER BY first_failed_at, item_id",
        )
        .bind(self.workspace.as_str())
        .bind(report)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| self.err(e))
    }

    /// Paths (relative to the output directory) of every committed file of a report.
    pub async fn committed_files(&self, report: &str) -> Result<Vec<String>> {
        let rows =
            sqlx::query("SELECT path FROM files WHERE workspace = $1 AND report = $2 ORDER BY id")
                .bind(self.workspace.as_str())
                .bind(report)
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| self.err(e))
    }

    /// Forget cursors, failed items and unfinished backfill progress of one
    /// report (or all): the next sync exports it in full. Committed files and
    /// their records stay. Returns the number of cursors removed.
    pub async fn reset(&self, report: Option<&str>) -> Result<u64> {
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        // `? IS NULL`: every report.
        const DELETE: [&str; 3] = [
            "DELETE FROM cursors WHERE workspace = $1 AND (CAST($2 AS TEXT) IS NULL OR report = $3)",
            "DELETE FROM failed_items WHERE workspace = $1 AND (CAST($2 AS TEXT) IS NULL OR report = $3)",
            "DELETE FROM backfill_windows WHERE backfill_id IN \
             (SELECT id FROM backfills WHERE workspace = $1) AND (CAST($2 AS TEXT) IS NULL OR report = $3)",
        ];
        let mut removed = 0;
        for (i, sql) in DELETE.iter().enumerate() {
            let done = sqlx::query(*sql)
                .bind(self.workspace.as_str())
                .bind(report)
                .bind(report)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
            if i == 0 {
                removed = done.rows_affected();
            }
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(removed)
    }
}
