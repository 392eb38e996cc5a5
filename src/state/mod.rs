//! The state store: runs, report cursors and committed files, in SQLite.
//!
//! The schema lives in `src/state/migrations/` and is embedded in the binary
//! (`sqlx::migrate!`), so a state file created by an older version is
//! upgraded in place on open.
//!
//! A report's cursor only moves in [`StateStore::commit_report`], in the same
//! transaction that records the files it wrote, and only after those files
//! were fsynced and renamed into place. A crash before the commit leaves the
//! cursor where it was: the next run exports the same rows again.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use crate::error::{Error, Result};
use crate::output::WrittenFile;

/// Handle on the state database.
#[derive(Clone)]
pub struct StateStore {
    pool: SqlitePool,
    path: PathBuf,
}

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
    fn as_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Partial => "partial",
            RunStatus::Failed => "failed",
        }
    }
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl StateStore {
    /// Open (creating if needed) the state file at `path` and apply migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                Error::Config(format!(
                    "cannot create the directory for the state file {}: {e}; choose another \
                     path with --state or `state_path` in the config",
                    path.display()
                ))
            })?;
        }
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(|e| Error::state(path, e))?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .map_err(|e| corrupt(path, e))?;
        sqlx::migrate!("src/state/migrations")
            .run(&pool)
            .await
            .map_err(|e| corrupt(path, e))?;
        Ok(Self {
            pool,
            path: path.to_path_buf(),
        })
    }

    /// Record the start of a run and give it a key.
    pub async fn begin_run(&self, mode: &str) -> Result<Run> {
        let now = unix_now();
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        let id: i64 = sqlx::query(
            "INSERT INTO runs (run_key, mode, started_at, status) VALUES ('', ?, ?, 'running') \
             RETURNING id",
        )
        .bind(mode)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .and_then(|row| row.try_get(0))
        .map_err(|e| self.err(e))?;
        let key = format!("{}-{id:06}", format_utc(now));
        sqlx::query("UPDATE runs SET run_key = ? WHERE id = ?")
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
        sqlx::query("UPDATE runs SET finished_at = ?, status = ? WHERE id = ?")
            .bind(unix_now())
            .bind(status.as_str())
            .bind(run.id)
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The saved cursor of a report for one option set (`param_key`, empty
    /// for the defaults), if it ever completed.
    pub async fn cursor(&self, report: &str, param_key: &str) -> Result<Option<String>> {
        sqlx::query("SELECT cursor FROM cursors WHERE report = ? AND param_key = ?")
            .bind(report)
            .bind(param_key)
            .fetch_optional(&self.pool)
            .await
            .and_then(|row| row.map(|r| r.try_get(0)).transpose())
            .map_err(|e| self.err(e))
    }

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
        let now = unix_now();
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        for f in files {
            sqlx::query(
                "INSERT INTO files (run_id, report, path, format, rows, bytes, sha256, committed_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
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
        if let Some(cursor) = cursor {
            sqlx::query(
                "INSERT INTO cursors (report, param_key, cursor, updated_at) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (report, param_key) DO UPDATE SET cursor = excluded.cursor, \
                 updated_at = excluded.updated_at",
            )
            .bind(report)
            .bind(param_key)
            .bind(cursor)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        let data_files = crate::pipeline::data_file_count(files);
        sqlx::query(
            "INSERT INTO report_runs (run_id, report, status, rows, files) VALUES (?, ?, 'succeeded', ?, ?)",
        )
        .bind(run.id)
        .bind(report)
        .bind(rows as i64)
        .bind(data_files as i64)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Record that a report failed in this run (its cursor does not move).
    pub async fn record_report_failure(&self, run: &Run, report: &str, error: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO report_runs (run_id, report, status, error) VALUES (?, ?, 'failed', ?) \
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

    /// Paths (relative to the output directory) of every committed file of a report.
    pub async fn committed_files(&self, report: &str) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT path FROM files WHERE report = ? ORDER BY id")
            .bind(report)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| self.err(e))
    }

    /// Close the pool (flushes the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    fn err(&self, e: impl std::fmt::Display) -> Error {
        Error::state(&self.path, e)
    }
}

/// Explain a state file that cannot be opened, and what to do about it.
fn corrupt(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::state(
        path,
        format!(
            "cannot be opened as an intercom-export state database ({e}). If the file is \
             damaged or is not a state file, move it aside and run again: the next sync then \
             starts from scratch (a full export)"
        ),
    )
}

/// `20261122T015000Z` for a unix time.
fn format_utc(secs: i64) -> String {
    let dt =
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    dt.format(fmt).unwrap_or_else(|_| secs.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cursor_moves_only_with_commit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = StateStore::open(&dir.path().join("state.db"))
            .await
            .expect("open");
        let run = store.begin_run("sync").await.expect("run");
        assert!(run.key.ends_with("-000001"), "{}", run.key);
        assert_eq!(store.cursor("users", "").await.expect("cursor"), None);
        store
            .commit_report(&run, "users", "", &[], 0, Some("{\"t\":1}"))
            .await
            .expect("commit");
        assert_eq!(
            store.cursor("users", "").await.expect("cursor").as_deref(),
            Some("{\"t\":1}")
        );
        store
            .finish_run(&run, RunStatus::Succeeded)
            .await
            .expect("finish");
        let run2 = store.begin_run("sync").await.expect("run");
        assert!(run2.key > run.key || run2.key.ends_with("-000002"));
    }

    #[tokio::test]
    async fn garbage_file_gives_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.db");
        std::fs::write(&path, b"this is not sqlite, just some bytes that go on and on ...........................................................................................").expect("write");
        let err = match StateStore::open(&path).await {
            Ok(_) => panic!("a garbage file must not open"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("move it aside"), "{err}");
        assert!(err.contains("state.db"), "{err}");
    }
}
