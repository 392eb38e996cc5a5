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
/// `error: <message>`, or one JSON object shaped like the other JSON log
/// lines: `timestamp` first (RFC 3339 UTC with 6 fractional digits, from
/// the same clock and formatter as theirs), then `level` (`ERROR`),
/// `message`, and last `exit_code` (the process's) and `kind`
/// ([`kind_name`]).
pub fn fatal_line(format: LogFormat, message: &str, status: ExitStatus) -> String {
    match format {
        LogFormat::Human => format!("error: {message}"),
        LogFormat::Json => {
            use tracing_subscriber::fmt::format::Writer;
            use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
            let mut timestamp = String::new();
            let _ = SystemTime.format_time(&mut Writer::new(&mut timestamp));
            // A struct, not `json!`: its fields keep their order (a
            // `serde_json::Map` sorts its keys).
            #[derive(serde::Serialize)]
            struct Record<'a> {
                timestamp: String,
                level: &'static str,
                message: &'a str,
                exit_code: u8,
                kind: &'static str,
            }
            serde_json::to_string(&Record {
                timestamp,
                level: "ERROR",
                message,
                exit_code: status as u8,
                kind: kind_name(status),
            })
            .unwrap_or_default()
        }
    }
}

/// Write [`fatal_line`] to stderr.
pub fn report_fatal(format: LogFormat, message: &str, status: ExitStatus) {
    let line = fatal_line(format, message, status);
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The log format a command line asks for, read from the raw `args` (the
/// last `--log-format X` or `--log-format=X` that names a format) and else
/// from `env` ([`super::LOG_FORMAT_ENV`]'s value): for a command line clap
/// cannot parse, whose error must still be one JSON record when JSON logs
/// were asked for. Human when neither says json.
pub fn format_asked(
    args: impl IntoIterator<Item = std::ffi::OsString>,
    env: Option<&std::ffi::OsStr>,
) -> LogFormat {
    use clap::ValueEnum;
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut flag = None;
    for (i, arg) in args.iter().enumerate() {
        let value = match arg.strip_prefix("--log-format") {
            Some("") => args.get(i + 1).map(String::as_str),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        };
        if let Some(format) = value.and_then(|v| LogFormat::from_str(v, true).ok()) {
            flag = Some(format);
        }
    }
    super::resolve_format(flag, env).unwrap_or_default()
}

/// clap's rendered usage error (`error: …`, a `[possible values: …]` or
/// `tip:` line, `Usage: …`, `For more information, try '--help'.`) as one
/// line for [`fatal_line`]: its lines joined, without the `error: ` prefix
/// (the fatal line has its own), the usage line or the pointer to `--help`.
pub fn usage_message(rendered: &str) -> String {
    let lines: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information")
        })
        .collect();
    let text = lines.join(" ");
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    format!("{text} (see --help)")
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
        // The shape of the other JSON log lines (the second trial: 9
        // fractional digits and the keys in another order).
        let timestamp = v["timestamp"].as_str().expect("timestamp");
        let fraction = timestamp
            .rsplit_once('.')
            .and_then(|(_, f)| f.strip_suffix('Z'))
            .expect("fractional seconds, UTC");
        assert_eq!(fraction.len(), 6, "{timestamp}");
        assert!(fraction.bytes().all(|b| b.is_ascii_digit()), "{timestamp}");
        let order: Vec<usize> = ["timestamp", "level", "message", "exit_code", "kind"]
            .iter()
            .map(|k| line.find(&format!("\"{k}\":")).expect(k))
            .collect();
        assert!(order.is_sorted(), "keys in log-line order: {line}");
        assert_eq!(
            fatal_line(LogFormat::Human, "boom", ExitStatus::Usage),
            "error: boom"
        );
    }
    #[test]
    fn the_format_asked_comes_from_the_raw_flag_then_the_variable() {
        let args = |a: &[&str]| a.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        let json = Some(std::ffi::OsStr::new("json"));
        assert_eq!(
            format_asked(
                args(&["x", "sync", "--log-format", "json", "--bogus"]),
                None
            ),
            LogFormat::Json
        );
        assert_eq!(
            format_asked(args(&["x", "--log-format=JSON"]), None),
            LogFormat::Json
        );
        assert_eq!(
            format_asked(args(&["x", "--log-format", "human"]), json),
            LogFormat::Human
        );
        assert_eq!(
            format_asked(args(&["x", "sync", "--bogus"]), json),
            LogFormat::Json
        );
        assert_eq!(
            format_asked(args(&["x", "--log-format", "xml"]), None),
            LogFormat::Human
        );
        assert_eq!(
            format_asked(args(&["x"]), Some(std::ffi::OsStr::new("xml"))),
            LogFormat::Human
        );
    }

    #[test]
    fn a_usage_error_becomes_one_line() {
        let rendered = "error: invalid value 'xlsx' for '--format <FORMAT>'\n  [possible values: parquet, csv]\n\nFor more information, try '--help'.\n";
        assert_eq!(
            usage_message(rendered),
            "invalid value 'xlsx' for '--format <FORMAT>' [possible values: parquet, csv] (see --help)"
        );
    }
}
