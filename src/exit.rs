//! The process exit statuses (a leaf module, so every command — `sync`,
//! `tap`, … — can name them without importing the CLI).

use std::process::ExitCode;

/// Process exit statuses, documented in `--help` and the README ("Exit
/// codes"): 0 success, 1 internal or external failure, 2 bad input
/// (usage, config), 3 token rejected or scope missing, 4 partial (a report
/// or items failed), 5 another process holds the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success = 0,
    Internal = 1,
    Usage = 2,
    Auth = 3,
    Partial = 4,
    Locked = 5,
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> Self {
        ExitCode::from(s as u8)
    }
}
