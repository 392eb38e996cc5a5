//! The one line a command that fails ends with, on stderr: `error: …` in
//! the human log format, a JSON record in the `--log-format json` one (so a
//! log collector parses every line of a run, the last included). Written
//! directly, not through the log filter: `RUST_LOG=off` does not hide why
//! the process failed.

use std::io::Write;

use super::LogFormat;
use crate::exit::ExitStatus;

/// The exit status's name in a JSON error record (`kind`): `internal`,
/// `usage`, `auth`, `partial`, `locked`, `success`.
pub fn kind_name(status: ExitStatus) -> &'static str {
    match status {
        ExitStatus::Success => "success",
        ExitStatus::Internal => "internal",
        ExitStatus::Usage => "usage",
        ExitStatus::Auth => "auth",
        ExitStatus::Partial => "partial",
        ExitStatus::Locked => "locked",
    }
}

/// The fatal error line for `message` ending the process with `status`:
/// `error: <message>`, or one JSON object with the fields of the other JSON
/// log lines (`timestamp` RFC 3339 UTC, `level` `ERROR`, `message`) and
/// `exit_code` (the process's) and `kind` ([`kind_name`]).
pub fn fatal_line(format: LogFormat, message: &str, status: ExitStatus) -> String {
    match format {
        LogFormat::Human => format!("error: {message}"),
        LogFormat::Json => {
            let timestamp = time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            serde_json::json!({
                "timestamp": timestamp,
                "level": "ERROR",
                "message": message,
                "exit_code": status as u8,
                "kind": kind_name(status),
            })
            .to_string()
        }
    }
}

/// Write [`fatal_line`] to stderr.
pub fn report_fatal(format: LogFormat, message: &str, status: ExitStatus) {
    let line = fatal_line(format, message, status);
    let _ = writeln!(std::io::stderr(), "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_fatal_line_is_one_json_record() {
        let line = fatal_line(LogFormat::Json, "bad \"token\"\nline", ExitStatus::Auth);
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).expect("json");
        assert_eq!(v["level"], "ERROR");
        assert_eq!(v["message"], "bad \"token\"\nline");
        assert_eq!(v["exit_code"], 3);
        assert_eq!(v["kind"], "auth");
        assert!(v["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
        assert_eq!(
            fatal_line(LogFormat::Human, "boom", ExitStatus::Usage),
            "error: boom"
        );
    }
}
