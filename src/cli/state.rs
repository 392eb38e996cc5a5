//! `state show` and `state reset`: read or clear a state without running
//! an export.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::FileConfig;
use crate::error::Error;
use crate::lock::{LockScope, StateLock};
use crate::reports::ReportName;
use crate::state::{StateLocation, StateStore};

use super::{ExitStatus, StateArgs, StateResetArgs};

/// The state path from --state or the config file. A SQLite path under a
/// regular file (`--state afile/state.db`) is the usage error `sync` gives
/// for it, naming the file in the way (not "no state file … run `sync`
/// first", which `sync` would then refuse).
pub(super) fn state_path(
    config: Option<&Path>,
    state: Option<PathBuf>,
) -> anyhow::Result<StateLocation> {
    let file = FileConfig::load(config, std::env::vars())?;
    let text = state
        .or_else(|| file.state.map(PathBuf::from))
        .or(file.state_path)
        .unwrap_or_else(|| crate::config::defaults::STATE_PATH.into());
    let location = StateLocation::parse(&text.to_string_lossy())?;
    if let StateLocation::Sqlite(path) = &location {
        crate::state::check_sqlite_dir(path)?;
    }
    Ok(location)
}

pub(super) async fn state_show(args: StateArgs) -> anyhow::Result<ExitStatus> {
    let location = state_path(args.config.as_deref(), args.state)?;
    let path = location.path_for_messages();
    if let StateLocation::Sqlite(file) = &location
        && !file.exists()
    {
        return Err(Error::Config(format!(
            "no state file at {}; pass --state (or `state_path` in --config), or run `sync` first",
            path.display()
        ))
        .into());
    }
    // Reading needs no lock: SQLite and Postgres give a consistent snapshot.
    let state = StateStore::connect(&location).await?;
    let reports: crate::Result<Vec<_>> = async {
        let mut reports = Vec::new();
        for ws in state.workspaces().await? {
            reports.push((ws.clone(), state.scoped(&ws).report(10).await?));
        }
        if reports.is_empty() {
            reports.push((String::new(), state.report(10).await?));
        }
        Ok(reports)
    }
    .await;
    state.close().await;
    let reports = reports?;
    let mut out = std::io::stdout().lock();
    match reports.as_slice() {
        // One unnamed workspace: the layout of a state without workspaces.
        [(ws, report)] if ws.is_empty() => {
            if args.json {
                writeln!(out, "{}", serde_json::to_string_pretty(report)?)?;
            } else {
                write!(out, "state {}\n{report}", path.display())?;
            }
        }
        _ if args.json => {
            let map: serde_json::Map<String, serde_json::Value> = reports
                .iter()
                .map(|(ws, r)| Ok((ws.clone(), serde_json::to_value(r)?)))
                .collect::<serde_json::Result<_>>()?;
            let doc = serde_json::json!({ "workspaces": map });
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        }
        _ => {
            writeln!(out, "state {}", path.display())?;
            for (ws, report) in &reports {
                write!(out, "\n[[workspace]] {ws:?}:\n{report}")?;
            }
        }
    }
    Ok(ExitStatus::Success)
}

pub(super) async fn state_reset(args: StateResetArgs) -> anyhow::Result<ExitStatus> {
    let location = state_path(args.config.as_deref(), args.state)?;
    let path = location.path_for_messages();
    let report = args
        .report
        .as_deref()
        .map(|r| r.parse::<ReportName>())
        .transpose()?;
    // Neither a sync nor a backfill may run meanwhile (SQLite; a shared
    // state has no such lock: stop the workers first).
    let _locks = match &location {
        StateLocation::Sqlite(file) => Some((
            StateLock::acquire(file, LockScope::Sync, "state reset")?,
            StateLock::acquire(file, LockScope::Backfill, "state reset")?,
        )),
        StateLocation::Postgres(_) => None,
    };
    let state = StateStore::connect(&location).await?;
    let removed: crate::Result<u64> = async {
        let workspaces = match &args.workspace {
            Some(ws) => vec![ws.clone()],
            None => state.workspaces().await?,
        };
        let mut removed = 0;
        for ws in workspaces {
            removed += state
                .scoped(&ws)
                .reset(report.map(ReportName::as_str))
                .await?;
        }
        Ok(removed)
    }
    .await;
    state.close().await;
    let removed = removed?;
    writeln!(
        std::io::stdout(),
        "reset {}: {removed} cursor(s) removed; the next sync exports {} in full (files already written stay)",
        path.display(),
        report.map_or("every report".to_string(), |r| r.to_string())
    )?;
    Ok(ExitStatus::Success)
}
