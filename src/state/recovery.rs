//! Start-of-run recovery: clean up after a process that died mid-run.
//!
//! Runs the caller's kind of run (syncs, or backfills) that are still marked
//! `running` belong to a dead process: the caller holds that kind's lock
//! (`crate::lock`), so no live process can own them. Under their run
//! directories (`OUTPUT/<report>/<run-key>[-<window>]/`) every `part-*` file
//! the `files` table does not name is removed (temporary `.tmp` parts and
//! parts renamed but never committed), then empty directories; only then is
//! the run marked `interrupted`, so a crash during recovery is recovered by
//! the next start. Nothing outside those directories is touched, so output
//! from other state files or other tools is safe.

use std::collections::HashSet;
use std::path::Path;

use sqlx::Row;

use super::{StateStore, unix_now};
use crate::error::{Error, Result};
use crate::output::object::ObjectOutput;

/// What recovery did.
#[derive(Debug, Default, Clone)]
pub struct Recovered {
    /// Keys of the runs marked `interrupted`.
    pub interrupted: Vec<String>,
    /// Removed files, relative to the output directory.
    pub removed: Vec<String>,
}

/// Length of a run key, `20261122T015000Z-000001`.
const RUN_KEY_LEN: usize = 23;

/// Clean up the interrupted runs of one kind (`backfill` or not).
///
/// A shared (Postgres) state has no start-of-run recovery: other workers'
/// runs are `running` too. There a dead run's files are cleaned report by
/// report by whoever takes its lease over ([`take_over`]).
pub async fn recover(state: &StateStore, output_dir: &Path, backfill: bool) -> Result<Recovered> {
    recover_with(state, output_dir, None, backfill).await
}

/// [`recover`], also deleting the dead runs' uncommitted objects when the
/// output is an object store (`output_dir` is then its staging directory).
pub async fn recover_with(
    state: &StateStore,
    output_dir: &Path,
    object: Option<&ObjectOutput>,
    backfill: bool,
) -> Result<Recovered> {
    if state.is_shared() {
        return Ok(Recovered::default());
    }
    let rows = sqlx::query(
        "SELECT id, run_key FROM runs WHERE status = 'running' AND workspace = $1 \
         AND (mode = 'backfill') = $2",
    )
    .bind(state.workspace())
    .bind(backfill)
    .fetch_all(state.pool())
    .await
    .map_err(|e| state.err(e))?;
    let mut runs = Vec::new();
    for r in &rows {
        let id: i64 = r.try_get(0).map_err(|e| state.err(e))?;
        let key: String = r.try_get(1).map_err(|e| state.err(e))?;
        runs.push((id, key));
    }
    let mut out = Recovered::default();
    if runs.is_empty() {
        return Ok(out);
    }
    let keys: HashSet<&str> = runs.iter().map(|(_, k)| k.as_str()).collect();
    let committed: HashSet<String> = sqlx::query(
        "SELECT path FROM files WHERE workspace = $1 AND run_id IN \
         (SELECT id FROM runs WHERE status = 'running')",
    )
    .bind(state.workspace())
    .fetch_all(state.pool())
    .await
    .map_err(|e| state.err(e))
    .and_then(|rows| first_column(state, &rows))?
    .into_iter()
    .collect();

    remove_uncommitted(output_dir, &keys, None, &committed, &mut out.removed)?;
    if let Some(object) = object {
        let removed = object
            .remove_uncommitted(&keys, RUN_KEY_LEN, None, &committed)
            .await?;
        out.removed.extend(removed);
    }
    finish(state, runs, out).await
}

/// Take over a dead worker's report (shared state, [`super::lease`]): remove
/// the files of `report` that run `run_key` left uncommitted. Only the worker
/// that took the report's lease calls this, so no live export is touched.
pub async fn take_over(
    state: &StateStore,
    output_dir: &Path,
    object: Option<&ObjectOutput>,
    report: &str,
    run_id: i64,
    run_key: &str,
) -> Result<Recovered> {
    let committed: HashSet<String> =
        sqlx::query("SELECT path FROM files WHERE workspace = $1 AND run_id = $2 AND report = $3")
            .bind(state.workspace())
            .bind(run_id)
            .bind(report)
            .fetch_all(state.pool())
            .await
            .map_err(|e| state.err(e))
            .and_then(|rows| first_column(state, &rows))?
            .into_iter()
            .collect();
    let keys: HashSet<&str> = [run_key].into_iter().collect();
    let mut out = Recovered::default();
    remove_uncommitted(
        output_dir,
        &keys,
        Some(report),
        &committed,
        &mut out.removed,
    )?;
    if let Some(object) = object {
        let removed = object
            .remove_uncommitted(&keys, RUN_KEY_LEN, Some(report), &committed)
            .await?;
        out.removed.extend(removed);
    }
    out.removed.sort();
    out.interrupted.push(run_key.to_string());
    tracing::warn!(
        %report,
        run = run_key,
        removed_files = out.removed.len(),
        "took over the report from a worker whose lease expired: removed its uncommitted files"
    );
    Ok(out)
}

/// [`remove_ended_tmp`] at the start of a run: a failure to clean up is a
/// WARN line, never the run's end (the leftovers only take space).
pub async fn clean_ended_tmp(state: &StateStore, output_dir: &Path) {
    if let Err(e) = remove_ended_tmp(state, output_dir).await {
        tracing::warn!(error = %e, "could not remove the temporary part files of runs that ended");
    }
}

/// How many of the latest ended runs [`remove_ended_tmp`] looks at.
const ENDED_RUNS_SCANNED: i64 = 100;

/// Remove the temporary parts (`part-*.tmp`) that runs which ended (any
/// status but `running`: succeeded, partial, failed, interrupted) left under
/// their directories, e.g. when a full disk failed a part and the process
/// could not remove it then. A `.tmp` part is never committed, and an
/// ended run writes nothing more, so only garbage goes; committed parts and
/// every other file stay. Looks at this workspace's latest
/// [`ENDED_RUNS_SCANNED`] ended runs; says what it removed in one INFO
/// line. Returns the removed files, relative to the output directory.
pub async fn remove_ended_tmp(state: &StateStore, output_dir: &Path) -> Result<Vec<String>> {
    let keys: Vec<String> = sqlx::query(
        "SELECT run_key FROM runs WHERE status <> 'running' AND workspace = $1 \
         ORDER BY id DESC LIMIT $2",
    )
    .bind(state.workspace())
    .bind(ENDED_RUNS_SCANNED)
    .fetch_all(state.pool())
    .await
    .map_err(|e| state.err(e))
    .and_then(|rows| first_column(state, &rows))?
    .into_iter()
    .collect();
    let mut removed = Vec::new();
    if keys.is_empty() {
        return Ok(removed);
    }
    let keys: HashSet<&str> = keys.iter().map(String::as_str).collect();
    remove_parts(output_dir, &keys, None, &mut removed, &|name: &str| {
        name.ends_with(".tmp")
    })?;
    removed.sort();
    if !removed.is_empty() {
        tracing::info!(
            removed_files = removed.len(),
            files = ?removed,
            "removed temporary part files left by runs that ended"
        );
    }
    Ok(removed)
}

/// Remove every `part-*` file under `OUTPUT/<report>/<key>[-…]/` (for the
/// run keys in `keys`, of every report or only `only_report`) that
/// `committed` does not name, then the directories left empty.
fn remove_uncommitted(
    output_dir: &Path,
    keys: &HashSet<&str>,
    only_report: Option<&str>,
    committed: &HashSet<String>,
    removed: &mut Vec<String>,
) -> Result<()> {
    remove_parts(output_dir, keys, only_report, removed, &|relative: &str| {
        !committed.contains(relative)
    })
}

/// Remove every `part-*` file under `OUTPUT/<report>/<key>[-…]/` (for the
/// run keys in `keys`, of every report or only `only_report`) whose path
/// relative to the output directory `doomed` accepts, then the directories
/// left empty.
fn remove_parts(
    output_dir: &Path,
    keys: &HashSet<&str>,
    only_report: Option<&str>,
    removed: &mut Vec<String>,
    doomed: &dyn Fn(&str) -> bool,
) -> Result<()> {
    let io = |p: &Path, e: std::io::Error| Error::output(p, e);
    let reports = match std::fs::read_dir(output_dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(output_dir, e)),
    };
    for report in reports.filter_map(|e| e.ok()) {
        let report_dir = report.path();
        if !report_dir.is_dir() {
            continue;
        }
        let report_name = report.file_name().to_string_lossy().into_owned();
        if only_report.is_some_and(|r| r != report_name) {
            continue;
        }
        let Ok(run_dirs) = std::fs::read_dir(&report_dir) else {
            continue;
        };
        for run_dir in run_dirs.filter_map(|e| e.ok()) {
            let dir_name = run_dir.file_name().to_string_lossy().into_owned();
            let key = dir_name.get(..RUN_KEY_LEN).unwrap_or(&dir_name);
            if !keys.contains(key) || !run_dir.path().is_dir() {
                continue;
            }
            let files = std::fs::read_dir(run_dir.path()).map_err(|e| io(&run_dir.path(), e))?;
            for file in files.filter_map(|e| e.ok()) {
                let name = file.file_name().to_string_lossy().into_owned();
                let relative = format!("{report_name}/{dir_name}/{name}");
                if name.starts_with("part-") && doomed(&relative) {
                    std::fs::remove_file(file.path()).map_err(|e| io(&file.path(), e))?;
                    removed.push(relative);
                }
            }
            // Only succeeds when empty.
            let _ = std::fs::remove_dir(run_dir.path());
        }
    }
    Ok(())
}

async fn finish(
    state: &StateStore,
    runs: Vec<(i64, String)>,
    mut out: Recovered,
) -> Result<Recovered> {
    for (id, key) in runs {
        sqlx::query("UPDATE runs SET status = 'interrupted', finished_at = $1 WHERE id = $2")
            .bind(unix_now())
            .bind(id)
            .execute(state.pool())
            .await
            .map_err(|e| state.err(e))?;
        out.interrupted.push(key);
    }
    out.removed.sort();
    if !out.interrupted.is_empty() {
        tracing::warn!(
            runs = ?out.interrupted,
            removed_files = out.removed.len(),
            "recovered from an interrupted run: removed its uncommitted files; its reports are exported again"
        );
    }
    Ok(out)
}

/// The first column of `rows` as text (paths, run keys).
fn first_column(state: &StateStore, rows: &[sqlx::any::AnyRow]) -> Result<Vec<String>> {
    rows.iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| state.err(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{Format, WrittenFile};

    #[tokio::test]
    async fn removes_only_uncommitted_parts_of_dead_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("out");
        let store = StateStore::open(&dir.path().join("s.db"))
            .await
            .expect("open");
        let run = store.begin_run("sync").await.expect("run");
        let run_dir = out.join("users").join(&run.key);
        std::fs::create_dir_all(&run_dir).expect("mkdir");
        for name in [
            "part-00000.parquet",
            "part-00001.parquet",
            "part-00002.parquet.tmp",
            "notes.txt",
        ] {
            std::fs::write(run_dir.join(name), b"x").expect("write");
        }
        let foreign = out.join("users").join("20200101T000000Z-000009");
        std::fs::create_dir_all(&foreign).expect("mkdir");
        std::fs::write(foreign.join("part-00000.parquet"), b"x").expect("write");
        let committed = WrittenFile {
            relative_path: format!("users/{}/part-00000.parquet", run.key),
            format: Format::Parquet,
            rows: 1,
            bytes: 1,
            sha256: String::new(),
        };
        store
            .commit_report(&run, "users", "", &[committed], 1, None)
            .await
            .expect("commit");
        // The process dies here; the next one recovers.
        let got = recover(&store, &out, false).await.expect("recover");
        assert_eq!(got.interrupted, vec![run.key.clone()]);
        assert_eq!(
            got.removed,
            vec![
                format!("users/{}/part-00001.parquet", run.key),
                format!("users/{}/part-00002.parquet.tmp", run.key)
            ]
        );
        assert!(run_dir.join("part-00000.parquet").exists());
        assert!(run_dir.join("notes.txt").exists());
        assert!(foreign.join("part-00000.parquet").exists());
        // Idempotent, and backfills are a separate kind.
        assert!(
            recover(&store, &out, false)
                .await
                .expect("again")
                .interrupted
                .is_empty()
        );
        assert!(
            recover(&store, &out, true)
                .await
                .expect("bf")
                .interrupted
                .is_empty()
        );
    }
}
