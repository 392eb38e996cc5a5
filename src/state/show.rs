//! `state show`: what the state file holds (for one workspace), for people
//! and scripts.

use std::fmt;

use serde::Serialize;
use sqlx::Row;

use super::{StateStore, format_utc};
use crate::error::Result;

/// A report's saved cursor.
#[derive(Debug, Clone, Serialize)]
pub struct CursorRow {
    pub report: String,
    pub cursor: String,
    pub updated_at: i64,
}

/// A recent run with its totals.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub key: String,
    pub mode: String,
    pub status: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub rows: i64,
    pub files: i64,
    pub failed_items: i64,
}

/// An item that still fails.
#[derive(Debug, Clone, Serialize)]
pub struct FailedRow {
    pub report: String,
    pub item_id: String,
    pub attempts: i64,
    pub last_error: String,
    pub first_failed_at: i64,
}

/// Committed files of a report.
#[derive(Debug, Clone, Serialize)]
pub struct FileCount {
    pub report: String,
    pub files: i64,
    pub rows: i64,
    pub bytes: i64,
}

/// Progress of one report in a backfill job.
#[derive(Debug, Clone, Serialize)]
pub struct WindowCount {
    pub backfill_id: i64,
    pub since: i64,
    pub until: i64,
    pub finished: bool,
    pub report: String,
    pub windows_done: i64,
    pub rows: i64,
}

/// Everything `state show` prints.
#[derive(Debug, Clone, Serialize)]
pub struct StateReport {
    pub cursors: Vec<CursorRow>,
    pub runs: Vec<RunRow>,
    pub failed_items: Vec<FailedRow>,
    pub files: Vec<FileCount>,
    pub backfills: Vec<WindowCount>,
    /// The column each custom attribute is written to (kept for good).
    pub custom_columns: Vec<super::CustomColumnRow>,
}

impl StateStore {
    /// Read the state for `state show` (the `last_runs` most recent runs).
    pub async fn report(&self, last_runs: i64) -> Result<StateReport> {
        let e = |e: sqlx::Error| self.err(e);
        let cursors = sqlx::query(
            "SELECT report, cursor, updated_at FROM cursors WHERE workspace = $1 ORDER BY report",
        )
        .bind(self.workspace())
        .fetch_all(self.pool())
        .await
        .map_err(e)?
        .iter()
        .map(|r| {
            Ok(CursorRow {
                report: r.try_get(0)?,
                cursor: r.try_get(1)?,
                updated_at: r.try_get(2)?,
            })
        })
        .collect::<std::result::Result<_, sqlx::Error>>()
        .map_err(e)?;
        let runs = sqlx::query(
            "SELECT r.run_key, r.mode, r.status, r.started_at, r.finished_at, \
             CAST(COALESCE(SUM(x.rows), 0) AS BIGINT), CAST(COALESCE(SUM(x.files), 0) AS BIGINT), \
             CAST(COALESCE(SUM(x.failed_items), 0) AS BIGINT) \
             FROM runs r LEFT JOIN report_runs x ON x.run_id = r.id WHERE r.workspace = $1 \
             GROUP BY r.id ORDER BY r.id DESC LIMIT $2",
        )
        .bind(self.workspace())
        .bind(last_runs)
        .fetch_all(self.pool())
        .await
        .map_err(e)?
        .iter()
        .map(|r| {
            Ok(RunRow {
                key: r.try_get(0)?,
                mode: r.try_get(1)?,
                status: r.try_get(2)?,
                started_at: r.try_get(3)?,
                finished_at: r.try_get(4)?,
                rows: r.try_get(5)?,
                files: r.try_get(6)?,
                failed_items: r.try_get(7)?,
            })
        })
        .collect::<std::result::Result<_, sqlx::Error>>()
        .map_err(e)?;
        let failed_items = sqlx::query(
            "SELECT report, item_id, attempts, last_error, first_failed_at FROM failed_items \
             WHERE workspace = $1 ORDER BY report, first_failed_at, item_id",
        )
        .bind(self.workspace())
        .fetch_all(self.pool())
        .await
        .map_err(e)?
        .iter()
        .map(|r| {
            Ok(FailedRow {
                report: r.try_get(0)?,
                item_id: r.try_get(1)?,
                attempts: r.try_get(2)?,
                last_error: r.try_get(3)?,
                first_failed_at: r.try_get(4)?,
            })
        })
        .collect::<std::result::Result<_, sqlx::Error>>()
        .map_err(e)?;
        // Count data files once: Parquet when a report has any, else CSV.
        let files = sqlx::query(
            "SELECT report, format, COUNT(*), CAST(SUM(rows) AS BIGINT), CAST(SUM(bytes) AS BIGINT) FROM files \
             WHERE workspace = $1 GROUP BY report, format ORDER BY report, format DESC",
        )
        .bind(self.workspace())
        .fetch_all(self.pool())
        .await
        .map_err(e)?;
        let mut counts: Vec<FileCount> = Vec::new();
        for r in &files {
            let report: String = r.try_get(0).map_err(e)?;
            let n: i64 = r.try_get(2).map_err(e)?;
            let rows: i64 = r.try_get(3).map_err(e)?;
            let bytes: i64 = r.try_get(4).map_err(e)?;
            match counts.last_mut() {
                Some(c) if c.report == report => c.bytes += bytes,
                _ => counts.push(FileCount {
                    report,
                    files: n,
                    rows,
                    bytes,
                }),
            }
        }
        let backfills = sqlx::query(
            "SELECT b.id, b.since, b.until, CASE WHEN b.finished_at IS NULL THEN 0 ELSE 1 END, w.report, \
             COUNT(*), CAST(SUM(w.rows) AS BIGINT) \
             FROM backfills b JOIN backfill_windows w ON w.backfill_id = b.id \
             WHERE b.workspace = $1 GROUP BY b.id, w.report ORDER BY b.id DESC, w.report LIMIT 50",
        )
        .bind(self.workspace())
        .fetch_all(self.pool())
        .await
        .map_err(e)?
        .iter()
        .map(|r| {
            Ok(WindowCount {
                backfill_id: r.try_get(0)?,
                since: r.try_get(1)?,
                until: r.try_get(2)?,
                finished: r.try_get::<i64, _>(3)? != 0,
                report: r.try_get(4)?,
                windows_done: r.try_get(5)?,
                rows: r.try_get(6)?,
            })
        })
        .collect::<std::result::Result<_, sqlx::Error>>()
        .map_err(e)?;
        let custom_columns = self.custom_column_rows().await?;
        Ok(StateReport {
            cursors,
            runs,
            failed_items,
            files: counts,
            backfills,
            custom_columns,
        })
    }
}

impl fmt::Display for StateReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "cursors:")?;
        if self.cursors.is_empty() {
            writeln!(f, "  (none: the next sync exports everything)")?;
        }
        for c in &self.cursors {
            writeln!(
                f,
                "  {:<24} {}  (saved {})",
                c.report,
                c.cursor,
                format_utc(c.updated_at)
            )?;
        }
        writeln!(f, "committed files:")?;
        if self.files.is_empty() {
            writeln!(f, "  (none)")?;
        }
        for c in &self.files {
            writeln!(
                f,
                "  {:<24} {:>6} files {:>10} rows {:>12} bytes",
                c.report, c.files, c.rows, c.bytes
            )?;
        }
        writeln!(f, "failed items ({}):", self.failed_items.len())?;
        for i in &self.failed_items {
            writeln!(
                f,
                "  {:<24} {:<16} attempts {:>3}  since {}  last error: {}",
                i.report,
                i.item_id,
                i.attempts,
                format_utc(i.first_failed_at),
                i.last_error
            )?;
        }
        if !self.backfills.is_empty() {
            writeln!(f, "backfills:")?;
        }
        for b in &self.backfills {
            writeln!(
                f,
                "  #{} {}..{} {:<24} {:>4} windows {:>10} rows{}",
                b.backfill_id,
                format_utc(b.since),
                format_utc(b.until),
                b.report,
                b.windows_done,
                b.rows,
                if b.finished { "  (finished)" } else { "" }
            )?;
        }
        if !self.custom_columns.is_empty() {
            writeln!(f, "custom attribute columns:")?;
        }
        for c in &self.custom_columns {
            writeln!(f, "  {:<12} {:<32} {}", c.model, c.column, c.attribute)?;
        }
        writeln!(f, "last runs:")?;
        for r in &self.runs {
            writeln!(
                f,
                "  {}  {:<8} {:<11} {:>10} rows {:>5} files {:>4} failed items",
                r.key, r.mode, r.status, r.rows, r.files, r.failed_items
            )?;
        }
        Ok(())
    }
}
