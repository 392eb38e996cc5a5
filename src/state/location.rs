//! Where a state lives: a SQLite file or a shared Postgres database, parsed
//! from the `state` setting or `--state`. The config parses it without
//! reaching into the store; the store connects to it.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// Where a state lives, from the `state` setting or `--state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateLocation {
    /// `sqlite://PATH`, `sqlite:PATH` or a plain path: one process at a time
    /// (flock).
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`: shared by several workers.
    Postgres(String),
}

impl StateLocation {
    /// Parse a `state` value: `sqlite://PATH`, `postgres://…`, or a path.
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim();
        if t.starts_with("postgres://") || t.starts_with("postgresql://") {
            url::Url::parse(t).map_err(|e| {
                Error::Config(format!(
                    "state {}: not a valid postgres:// URL: {e}",
                    redact_url(t)
                ))
            })?;
            return Ok(Self::Postgres(t.to_string()));
        }
        if let Some(path) = t
            .strip_prefix("sqlite://")
            .or_else(|| t.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(Error::Config(
                    "state sqlite:// needs a path, e.g. sqlite://intercom-export-state.db".into(),
                ));
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = t.split_once("://") {
            return Err(Error::Config(format!(
                "state {scheme}:// is not supported; use sqlite://PATH, a plain path, or \
                 postgres://user:password@host:port/database"
            )));
        }
        if t.is_empty() {
            return Err(Error::Config("state is empty; give a path or a URL".into()));
        }
        Ok(Self::Sqlite(PathBuf::from(t)))
    }

    /// Several workers may share it (leases instead of the flock).
    pub fn is_shared(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// The SQLite path, or the URL with its password hidden, for messages
    /// (and for `Settings::state_path`).
    pub fn path_for_messages(&self) -> PathBuf {
        match self {
            Self::Sqlite(path) => path.clone(),
            Self::Postgres(url) => PathBuf::from(redact_url(url)),
        }
    }
}

/// Fail with a clear message when a directory above the SQLite state file
/// `path` is a regular file (`--state afile/s.db`): creating the directory,
/// the lock file or the database would otherwise fail with "File exists"
/// or "Not a directory" about a path the user never gave.
pub fn check_sqlite_dir(path: &std::path::Path) -> Result<()> {
    for dir in path.ancestors().skip(1) {
        if dir.as_os_str().is_empty() {
            break;
        }
        if let Ok(meta) = std::fs::metadata(dir) {
            if meta.is_dir() {
                return Ok(());
            }
            return Err(Error::Config(format!(
                "state database {}: its directory {} is not a directory (a file is there); \
                 choose another path with --state or `state_path` in the config",
                path.display(),
                dir.display()
            )));
        }
    }
    Ok(())
}

/// A URL with its password replaced by `***`: safe for logs and errors.
pub fn redact_url(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "<unparseable URL>".to_string(),
    }
}
