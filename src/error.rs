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

    /// A per-item read (one child request per parent) in which no item
    /// succeeded: the endpoint, not the items, is broken. `first` is the
    /// first item's error.
    #[error(
        "{endpoint}: none of the {items} item(s) could be read ({failed} failed after retries, \
         {gone} answered 404/410; e.g. {sample}: {first}); nothing of this report was committed \
         past its last checkpoint, and the next run reads them again"
    )]
    NoItemSucceeded {
        endpoint: String,
        items: u64,
        failed: u64,
        gone: u64,
        sample: String,
        first: Box<Error>,
    },
}

/// How far an error reaches: what a per-item read (a fan-out) does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One item's trouble (its 404/410, a 5xx or timeout after retries, an
    /// unusable body): the item is skipped or recorded as failed, the
    /// report goes on.
    Item,
    /// The report cannot go on (local output or state failure, a bug): it
    /// fails, the other reports still run.
    Report,
    /// Every report would meet it (a rejected token, a missing permission,
    /// a configuration error): the fan-out stops at once.
    Run,
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
            Error::NoItemSucceeded { first, .. } => first.kind(),
        }
    }

    /// The one rule for "is this failure about one item, one report, or the
    /// whole run?" (see [`Scope`]). 404/410, 408, 429 and 5xx after the
    /// client's retries, transport failures (timeouts, resets), unusable
    /// bodies and unexpected shapes concern one item; 401/403 and
    /// configuration errors the run; the rest (state, output, encoding,
    /// internal errors, other 4xx) the report.
    pub fn scope(&self) -> Scope {
        match self {
            Error::Config(_) => Scope::Run,
            Error::Http(h) if h.is_auth() || h.is_connect_failure() => Scope::Run,
            Error::Http(HttpError::Status { status, .. }) => match status {
                404 | 410 | 408 | 429 => Scope::Item,
                s if *s >= 500 => Scope::Item,
                _ => Scope::Report,
            },
            Error::Http(HttpError::Transport { .. } | HttpError::Body { .. }) => Scope::Item,
            Error::Http(_) => Scope::Run,
            Error::Protocol { .. } => Scope::Item,
            Error::NoItemSucceeded { .. }
            | Error::State { .. }
            | Error::Output { .. }
            | Error::Encode { .. }
            | Error::Internal(_) => Scope::Report,
            Error::Locked { .. } => Scope::Run,
        }
    }

    /// The item is gone: 404 or 410 (deleted or merged since it was listed).
    /// A fan-out skips it and counts it as a skipped child.
    pub fn is_gone(&self) -> bool {
        matches!(
            self,
            Error::Http(HttpError::Status {
                status: 404 | 410,
                ..
            })
        )
    }

    /// True when Intercom rejected the token itself (not a per-endpoint 403).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Error::Http(HttpError::Unauthorized { .. }))
    }

    /// No connection to Intercom could be opened after the client's
    /// retries ([`HttpError::is_connect_failure`]): like a rejected token,
    /// no other report of the run would succeed either.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Http(h) if h.is_connect_failure())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> Error {
        Error::Http(HttpError::Status {
            endpoint: "GET /conversations/1".into(),
            status: code,
            code: String::new(),
            message: String::new(),
            retry_after: None,
            canonical: None,
        })
    }

    #[test]
    fn one_rule_says_how_far_an_error_reaches() {
        for code in [404, 410, 408, 429, 500, 502, 503, 504] {
            assert_eq!(status(code).scope(), Scope::Item, "{code}");
        }
        assert!(status(404).is_gone() && status(410).is_gone() && !status(500).is_gone());
        let transport = Error::Http(HttpError::Transport {
            endpoint: "x".into(),
            message: "timed out".into(),
        });
        assert_eq!(transport.scope(), Scope::Item);
        let body = Error::Protocol {
            endpoint: "x".into(),
            message: "no list".into(),
        };
        assert_eq!(body.scope(), Scope::Item);
        for run in [
            Error::Http(HttpError::Unauthorized {
                code: "unauthorized".into(),
                message: String::new(),
                token_source: String::new(),
            }),
            Error::Http(HttpError::Forbidden {
                endpoint: "GET /events".into(),
                code: "forbidden".into(),
                message: String::new(),
            }),
            Error::Config("bad".into()),
        ] {
            assert_eq!(run.scope(), Scope::Run, "{run}");
        }
        assert_eq!(status(400).scope(), Scope::Report);
        assert_eq!(Error::Internal("x".into()).scope(), Scope::Report);
        assert_eq!(
            Error::output("/tmp/x", std::io::Error::other("disk full")).scope(),
            Scope::Report
        );
    }
}
