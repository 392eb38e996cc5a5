//! The state store: runs, report cursors, committed files, failed items and
//! backfill progress, in SQLite or (shared by several workers) PostgreSQL.
//!
//! The schema lives in `src/state/migrations/` (SQLite) and
//! `src/state/migrations_pg/` (PostgreSQL: the same tables, plus `leases`)
//! and is embedded in the binary (`sqlx::migrate!`), so a state created by an
//! older version is upgraded in place on open. Both go through sqlx's `Any`
//! driver with the same queries (`$N` parameters, which SQLite accepts too).
//! With Postgres, workers share the work report by report through leases
//! ([`lease`]) instead of the single-process flock.
//!
//! # Commit protocol (exactly-once across crashes)
//!
//! 1. The process takes the state lock (`crate::lock`); nobody else writes
//!    this state's runs of the same kind.
//! 2. [`recovery::recover`] marks runs left `running` by a dead process as
//!    `interrupted` and removes every file under their run directories that
//!    the `files` table does not name: `*.tmp` parts and parts renamed but
//!    never committed. The removed paths are logged and counted in the run summary.
//! 3. A report's writer writes each part to `part-NNNNN.<ext>.tmp`, fsyncs
//!    it, renames it to its final name and fsyncs the directory.
//! 4. Then one SQLite transaction ([`StateStore::commit`]) records the files,
//!    moves the cursor (or records a backfill window), records the items
//!    that failed and clears those recovered. SQLite (WAL, `synchronous =
//!    FULL`) makes it all-or-nothing.
//!
//! A crash before step 4 leaves the cursor where it was and files that step 2
//! of the next run removes; that run exports the same rows again. A crash
//! after step 4 leaves committed files and the moved cursor. Either way every
//! row version ends up in exactly one committed file. Files the state never
//! knew (other run directories, other tools' files) are never touched.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::{Executor, Row};

use crate::error::{Error, Result};
use crate::output::WrittenFile;
pub use crate::time::{format_utc, unix_now};

mod columns;
pub mod known_ids;
pub mod lease;
mod location;
pub mod recovery;
mod show;

pub use columns::CustomColumnRow;
pub use location::{StateLocation, redact_url};
pub use show::{CursorRow, FailedRow, FileCount, RunRow, StateReport, WindowCount};

/// Handle on the state database.
#[derive(Clone)]
pub struct StateStore {
    pool: AnyPool,
    /// The SQLite file, or the redacted Postgres URL (for messages).
    path: PathBuf,
    /// Postgres: several workers share this state (leases).
    shared: bool,
    /// This process's name in `leases.holder`: host, pid and start time.
    worker: Arc<String>,
    lease_ttl: Duration,
    /// The Intercom workspace this handle reads and writes (`''` for a
    /// config without `[[workspace]]` blocks); see [`StateStore::scoped`].
    workspace: String,
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

/// The lease time-to-live when the config sets none (`lease_ttl_secs`).
pub const DEFAULT_LEASE_TTL_SECS: u64 = 60;

/// A backfill job (see `backfills` in the migrations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillJob {
    pub id: i64,
    pub since: i64,
    pub until: i64,
    pub window_secs: i64,
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

/// This process's lease-holder name.
fn worker_name() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{}:{}:{nanos:08x}",
        crate::lock::hostname(),
        std::process::id()
    )
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
        // Two processes (a sync and `state show`, or a sync and a backfill)
        // may open a new or older state at once: migrate one at a time.
        let guard = {
            let path = path.to_path_buf();
            tokio::task::spawn_blocking(move || {
                crate::lock::StateLock::acquire_blocking(&path, crate::lock::LockScope::Open)
            })
            .await
            .map_err(|e| Error::Internal(format!("opening the state: {e}")))??
        };
        sqlx::any::install_default_drivers();
        // One plain connection first: a file that is not a database fails
        // here at once (the pool would retry until its timeout).
        {
            use sqlx::Connection;
            let mut conn = sqlx::AnyConnection::connect(&sqlite_url(path))
                .await
                .map_err(|e| corrupt(path, e))?;
            conn.execute("PRAGMA journal_mode = WAL; SELECT COUNT(*) FROM sqlite_master;")
                .await
                .map_err(|e| corrupt(path, e))?;
            conn.close().await.map_err(|e| corrupt(path, e))?;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(2)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // WAL and FULL sync: a commit survives power loss.
                    conn.execute(
                        "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                         PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
                    )
                    .await?;
                    Ok(())
                })
            })
            .connect(&sqlite_url(path))
            .await
            .map_err(|e| corrupt(path, e))?;
        sqlx::migrate!("src/state/migrations")
            .run(&pool)
            .await
            .map_err(|e| corrupt(path, e))?;
        drop(guard);
        Ok(Self::new(pool, path.to_path_buf(), false))
    }

    /// Open the state at `location`: a SQLite file ([`StateStore::open`]) or
    /// a Postgres database (migrated on connect; the database must exist).
    pub async fn connect(location: &StateLocation) -> Result<Self> {
        let url = match location {
            StateLocation::Sqlite(path) => return Self::open(path).await,
            StateLocation::Postgres(url) => url,
        };
        let shown = location.path_for_messages();
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await
            .map_err(|e| {
                Error::state(
                    &shown,
                    format!(
                        "cannot connect to the Postgres state ({e}); check the host, port, \
                         user, password and that the database exists"
                    ),
                )
            })?;
        // Workers starting together: the migrator takes an advisory lock.
        sqlx::migrate!("src/state/migrations_pg")
            .run(&pool)
            .await
            .map_err(|e| Error::state(&shown, format!("migrating the Postgres state: {e}")))?;
        Ok(Self::new(pool, shown, true))
    }

    fn new(pool: AnyPool, path: PathBuf, shared: bool) -> Self {
        Self {
            pool,
            path,
            shared,
            worker: Arc::new(worker_name()),
            lease_ttl: Duration::from_secs(DEFAULT_LEASE_TTL_SECS),
            workspace: String::new(),
        }
    }

    /// How long this worker's leases last without a heartbeat (shared state).
    pub fn with_lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// Several workers share this state (Postgres): reports are leased.
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// This process's name as a lease holder.
    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// The same state, scoped to one workspace: runs, cursors, files, failed
    /// items and backfills of other workspaces are invisible through it.
    /// Cheap (the pool is shared).
    pub fn scoped(&self, workspace: &str) -> Self {
        Self {
            workspace: workspace.to_string(),
            ..self.clone()
        }
    }

    /// The workspace this handle is scoped to (`''`: the default one).
    pub fn workspace(&self) -> &str {
        &self.workspace
    }

    /// Every workspace the state knows (has runs or cursors of), sorted.
    pub async fn workspaces(&self) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT workspace FROM runs UNION SELECT workspace FROM cursors ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| self.err(e))
    }

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
        crate::testpoint::hit("in_commit");
        tx.commit().await.map_err(|e| self.err(e))?;
        crate::testpoint::hit("committed");
        Ok(())
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

    /// Find the unfinished backfill job with these arguments, or create one
    /// (`until` is fixed at creation, so a resumed job has the same windows).
    pub async fn backfill_job(
        &self,
        since: i64,
        until_requested: Option<i64>,
        window_secs: i64,
    ) -> Result<(BackfillJob, bool)> {
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
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

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Close the pool (flushes the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn err(&self, e: impl std::fmt::Display) -> Error {
        Error::state(&self.path, e)
    }
}

/// `sqlite://PATH?mode=rwc` with the path percent-encoded where needed.
fn sqlite_url(path: &Path) -> String {
    let mut encoded = String::new();
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/._-~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("sqlite://{encoded}?mode=rwc")
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
    async fn failed_items_are_counted_retried_and_cleared_in_the_commit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = StateStore::open(&dir.path().join("state.db"))
            .await
            .expect("open");
        let item = |id: &str, error: &str| FailedItem {
            id: id.into(),
            error: error.into(),
        };
        let run = store.begin_run("sync").await.expect("run");
        let failed = [item("c1", "HTTP 500"), item("c2", "timeout")];
        store
            .commit(
                &run,
                "conversation_parts",
                &Commit {
                    rows: 5,
                    cursor: Some("{}"),
                    failed: &failed,
                    ..Commit::default()
                },
            )
            .await
            .expect("commit");
        assert_eq!(
            store.failed_ids("conversation_parts").await.expect("ids"),
            ["c1", "c2"]
        );
        // Next run: c1 recovered, c2 failed again.
        let run2 = store.begin_run("sync").await.expect("run");
        store
            .commit(
                &run2,
                "conversation_parts",
                &Commit {
                    failed: &[item("c2", "HTTP 502")],
                    recovered: &["c1".to_string()],
                    ..Commit::default()
                },
            )
            .await
            .expect("commit");
        let report = store.report(10).await.expect("report");
        assert_eq!(report.failed_items.len(), 1);
        let c2 = &report.failed_items[0];
        assert_eq!((c2.item_id.as_str(), c2.attempts), ("c2", 2));
        assert_eq!(c2.last_error, "HTTP 502");
        assert_eq!(report.runs[0].failed_items, 1);
        assert_eq!(report.runs[1].failed_items, 2);
        // A reset forgets them together with the cursor.
        assert_eq!(
            store
                .reset(Some("conversation_parts"))
                .await
                .expect("reset"),
            1
        );
        assert!(
            store
                .failed_ids("conversation_parts")
                .await
                .expect("ids")
                .is_empty()
        );
        assert_eq!(
            store.cursor("conversation_parts", "").await.expect("c"),
            None
        );
    }

    #[tokio::test]
    async fn a_backfill_job_is_found_again_with_the_same_arguments() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = StateStore::open(&dir.path().join("state.db"))
            .await
            .expect("open");
        let (job, resumed) = store.backfill_job(100, None, 10).await.expect("job");
        assert!(!resumed);
        let run = store.begin_run("backfill").await.expect("run");
        store
            .commit(
                &run,
                "users",
                &Commit {
                    window: Some((job.id, 100, 110)),
                    ..Commit::default()
                },
            )
            .await
            .expect("commit");
        let (again, resumed) = store.backfill_job(100, None, 10).await.expect("job");
        assert!(resumed);
        assert_eq!(again, job, "same until, so the same windows");
        assert_eq!(store.done_windows(&job, "users").await.expect("w"), [100]);
        assert!(
            store
                .done_windows(&job, "leads")
                .await
                .expect("w")
                .is_empty()
        );
        store.finish_backfill(&job).await.expect("finish");
        let (fresh, resumed) = store.backfill_job(100, None, 10).await.expect("job");
        assert!(!resumed && fresh.id != job.id);
    }

    #[test]
    fn state_locations_parse_and_passwords_never_show() {
        let p = |t: &str| StateLocation::parse(t);
        assert_eq!(
            p("sqlite://data/s.db").expect("sqlite"),
            StateLocation::Sqlite("data/s.db".into())
        );
        assert_eq!(
            p("/var/lib/s.db").expect("path"),
            StateLocation::Sqlite("/var/lib/s.db".into())
        );
        let pg = p("postgres://u:hunter2@db:5432/ie").expect("postgres");
        assert!(pg.is_shared());
        let shown = pg.path_for_messages().display().to_string();
        assert!(
            !shown.contains("hunter2") && shown.contains("***"),
            "{shown}"
        );
        let err = p("mysql://db/x").expect_err("unsupported").to_string();
        assert!(err.contains("postgres://"), "{err}");
    }

    #[tokio::test]
    async fn workspaces_keep_cursors_apart_in_one_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = StateStore::open(&dir.path().join("state.db"))
            .await
            .expect("open");
        let a = store.scoped("a");
        let run = a.begin_run("sync").await.expect("run");
        a.commit_report(&run, "users", "", &[], 0, Some("{\"a\":1}"))
            .await
            .expect("commit");
        assert_eq!(
            a.cursor("users", "").await.expect("c").as_deref(),
            Some("{\"a\":1}")
        );
        assert_eq!(store.cursor("users", "").await.expect("c"), None);
        assert_eq!(
            store.scoped("b").cursor("users", "").await.expect("c"),
            None
        );
        assert_eq!(store.workspaces().await.expect("ws"), ["a"]);
        assert_eq!(store.scoped("b").reset(None).await.expect("reset"), 0);
        assert_eq!(a.reset(None).await.expect("reset"), 1);
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
