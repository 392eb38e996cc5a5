//! A first run that reached no server leaves no SQLite state behind: the
//! states a run is about to create ([`fresh_states`]) are removed again,
//! with their lock files and the directories made for them, when every run
//! that used one failed to connect ([`remove_unreached`]).

use std::path::{Path, PathBuf};

use crate::config::Settings;
use crate::error::Error;
use crate::lock::{LockScope, StateLock};
use crate::output;
use crate::state::{StateLocation, StateStore};

use super::summary::WorkspaceRun;

/// Remove each of `fresh` (from [`fresh_states`]) that the runs of `all`
/// (`ended[i]`: the run of `all[i]`, `None` if it never started) used only
/// to reach no server, at least one of them, while this run's lock on it is
/// still held (`backfill`: the backfill lock, else the sync lock): a
/// mistyped `--base-url` leaves no state (and no directory for it) behind.
pub(super) async fn remove_unreached(
    fresh: &[(PathBuf, Vec<PathBuf>)],
    all: &[Settings],
    ended: &[Option<WorkspaceRun>],
    backfill: bool,
) {
    let held = if backfill {
        LockScope::Backfill
    } else {
        LockScope::Sync
    };
    for (path, dirs) in fresh {
        let using: Vec<&Option<WorkspaceRun>> = all
            .iter()
            .zip(ended)
            .filter(|(s, _)| matches!(&s.state, StateLocation::Sqlite(p) if p == path))
            .map(|(_, run)| run)
            .collect();
        let unreached = |run: &&Option<WorkspaceRun>| {
            run.as_ref()
                .and_then(|w| w.result.as_ref().err())
                .is_some_and(reached_no_server)
        };
        // Every run that used it reached no server (one at least: its lock
        // is held here), the others never started.
        if using.iter().any(unreached) && using.iter().all(|r| r.is_none() || unreached(r)) {
            remove_unused_state(path, dirs, held).await;
        }
    }
}

/// The SQLite states of `all` that do not exist yet (a first run), once
/// each, with the directories above each that do not exist either
/// (deepest first): what a run would create for them.
pub(super) fn fresh_states(all: &[Settings]) -> Vec<(PathBuf, Vec<PathBuf>)> {
    let mut fresh: Vec<(PathBuf, Vec<PathBuf>)> = Vec::new();
    for settings in all {
        let StateLocation::Sqlite(path) = &settings.state else {
            continue;
        };
        if path.exists() || fresh.iter().any(|(p, _)| p == path) {
            continue;
        }
        let dirs = path
            .parent()
            .map(|dir| output::dirs::missing(dir, None))
            .unwrap_or_default();
        fresh.push((path.clone(), dirs));
    }
    fresh
}

/// Whether a workspace's run ended because no connection to Intercom
/// could be opened ([`Error::is_unreachable`]: a wrong `--base-url` or
/// region, a refused port, no network).
fn reached_no_server(e: &anyhow::Error) -> bool {
    e.chain()
        .find_map(|c| c.downcast_ref::<Error>())
        .is_some_and(Error::is_unreachable)
}

/// Remove the SQLite state at `path` that this run created, its lock files
/// and then the directories of `dirs` (made for it) left empty, if it holds
/// nothing but runs ([`StateStore::holds_work`]) and no other process uses
/// it: this run holds its `held` lock; the other one (sync or backfill) is
/// taken here (held by another process: everything stays), and the open
/// lock around the removal. Nothing is said either way: the run's error is
/// what the user needs.
async fn remove_unused_state(path: &Path, dirs: &[PathBuf], held: LockScope) {
    let other_scope = match held {
        LockScope::Backfill => LockScope::Sync,
        _ => LockScope::Backfill,
    };
    let Ok(other) = StateLock::acquire(path, other_scope, "removing the state it created") else {
        return;
    };
    let unused = match StateStore::open(path).await {
        Ok(store) => {
            let holds = store.holds_work().await;
            store.close().await;
            matches!(holds, Ok(false))
        }
        Err(_) => false,
    };
    if !unused {
        return;
    }
    let opening = {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || StateLock::acquire_blocking(&path, LockScope::Open))
            .await
    };
    let Ok(Ok(open)) = opening else {
        return;
    };
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut file = path.as_os_str().to_os_string();
        file.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(file));
    }
    // Removed while held: a process that opened one meanwhile opens it
    // again when it finds it gone (`lock::locked`).
    for scope in [LockScope::Sync, LockScope::Backfill, LockScope::Open] {
        let _ = std::fs::remove_file(crate::lock::lock_path(path, scope));
    }
    drop((open, other));
    output::dirs::remove_empty(dirs);
    tracing::debug!(state = %path.display(), "removed the state this run created: it reached no server");
}
