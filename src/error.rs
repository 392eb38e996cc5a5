//! The library's error type.
//!
//! Every failure is classified by [`ErrorKind`], which decides the process
//! exit code (see `cli.rs`) and tells the user whose move it is: fix the
//! configuration, fix the credentials, or retry later.

use std::path::PathBuf;

use crate::http::HttpError;

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Who has to act to resolve an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad configuration, flags or input: the user must change something (exit 2).
    User,
    /// Intercom refused the credentials or a permission (exit 3).
    Auth,
    /// Intercom or the network failed after all retries (exit 1, retry later).
    External,
    /// A bug or an unexpected local failure (exit 1).
    Internal,
    /// Another process holds the state lock (exit 5): try again later.
    Locked,
}

/// Everything the library can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value is missing or wrong; the message says which and what to do.
    #[error("configuration error: {0}")]
    Config(String),

    /// The HTTP exchange with Intercom failed (after retries where retrying made sense).
    #[error(transparent)]
    Http(#[from] HttpError),

    /// The state database could not be opened or used.
    #[error("state database {path}: {message}")]
    State { path: PathBuf, message: String },

    /// Writing an output file failed.
    #[error("output {path}: {source}")]
    Output {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Converting API records to Arrow or writing Parquet/CSV failed.
    #[error("encoding {report} rows: {message}")]
    Encode { report: String, message: String },

    /// An API response did not have the shape we rely on.
    #[error("unexpected response from {endpoint}: {message}")]
    Protocol { endpoint: String, message: String },

    /// Another process is syncing the same state; the message names it.
    #[error(
        "another intercom-export process holds the state lock {path}: {holder}. Wait for it to \
         finish, or stop it; a lock left by a process that died is recovered automatically"
    )]
    Locked { path: PathBuf, holder: String },

    /// A background task panicked or was cancelled.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Classify the error for exit codes and messages.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config(_) => ErrorKind::User,
            Error::Http(e) if e.is_auth() => ErrorKind::Auth,
            Error::Http(_) | Error::Protocol { .. } => ErrorKind::External,
            Error::State { .. } | Error::Output { .. } => ErrorKind::User,
            Error::Encode { .. } | Error::Internal(_) => ErrorKind::Internal,
            Error::Locked { .. } => ErrorKind::Locked,
        }
    }

    /// True when Intercom rejected the token itself (not a per-endpoint 403).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Error::Http(HttpError::Unauthorized { .. }))
    }

    pub(crate) fn state(path: impl Into<PathBuf>, e: impl std::fmt::Display) -> Self {
        Error::State {
            path: path.into(),
            message: e.to_string(),
        }
    }

    pub(crate) fn output(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Output {
            path: path.into(),
            source,
        }
    }
}
