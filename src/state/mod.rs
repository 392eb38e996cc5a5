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
//!
//! This file holds [`StateStore`] (opening, connecting, scoping); by noun:
//! `runs.rs` (runs and their status), `commit.rs` (the commit transaction),
//! `cursors.rs` (cursors, failed ids and committed files read back, reset),
//! `backfills.rs` (backfill jobs and windows), [`lease`], [`known_ids`],
//! [`recovery`], `columns.rs`, `location.rs`, `show.rs` (`state show`).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::{Executor, Row};

use crate::error::{Error, Result};
pub use crate::time::{format_utc, unix_now};

mod backfills;
mod columns;
mod commit;
mod cursors;
pub mod known_ids;
pub mod lease;
mod location;
pub mod recovery;
mod runs;
mod show;

pub use backfills::BackfillJob;
pub use columns::CustomColumnRow;
pub use commit::{Commit, FailedItem};
pub use location::{StateLocation, check_sqlite_dir, redact_url};
pub use runs::{Run, RunStatus};
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

/// The lease time-to-live when the config sets none (`lease_ttl_secs`).
pub const DEFAULT_LEASE_TTL_SECS: u64 = 60;

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
        location::check_sqlite_dir(path)?;
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

    /// Whether the state holds anything but runs and their reports'
    /// outcomes (`runs`, `report_runs`), of any workspace: a cursor, a
    /// committed file, a failed item, a backfill, a custom column or known
    /// ids. `false`: no run ever committed anything to it.
    pub async fn holds_work(&self) -> Result<bool> {
        let n: i64 = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM cursors) + (SELECT COUNT(*) FROM files) \
             + (SELECT COUNT(*) FROM failed_items) + (SELECT COUNT(*) FROM backfills) \
             + (SELECT COUNT(*) FROM backfill_windows) + (SELECT COUNT(*) FROM custom_columns) \
             + (SELECT COUNT(*) FROM known_ids)",
        )
        .fetch_one(&self.pool)
        .await
        .and_then(|row| row.try_get(0))
        .map_err(|e| self.err(e))?;
        Ok(n > 0)
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
#[path = "tests.rs"]
mod tests;
