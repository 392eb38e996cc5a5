//! Logging setup: human-readable lines on stderr, or JSON lines with
//! `--log-format json` for log collectors. The level comes from `RUST_LOG`
//! (default: info for this crate, warnings for dependencies). Progress bars
//! per report on a terminal ([`report_bar`], [`Progress`]).

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;

pub mod fatal;
pub mod heartbeat;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

/// The environment variable that sets the log format when `--log-format`
/// is not given (Kubernetes, Airflow: env vars rather than arguments).
pub const LOG_FORMAT_ENV: &str = "INTERCOM_LOG_FORMAT";

/// The log format of the process: `--log-format` (`flag`) when given, else
/// [`LOG_FORMAT_ENV`] (`env`: its value, `None` or empty when unset;
/// `human` or `json`, any case), else human. `Err`: the message of a
/// usage error for a value that is neither, naming the variable and the
/// values it takes (said before logging is set up: write it with
/// [`fatal::report_fatal`] in the human format).
pub fn resolve_format(
    flag: Option<LogFormat>,
    env: Option<&std::ffi::OsStr>,
) -> Result<LogFormat, String> {
    use clap::ValueEnum;
    if let Some(format) = flag {
        return Ok(format);
    }
    let Some(value) = env else {
        return Ok(LogFormat::default());
    };
    let text = value.to_string_lossy();
    let text = text.trim();
    if text.is_empty() {
        return Ok(LogFormat::default());
    }
    LogFormat::from_str(text, true).map_err(|_| {
        let allowed: Vec<String> = LogFormat::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_string()))
            .collect();
        format!(
            "{LOG_FORMAT_ENV}={text} is not a log format; use {} (or unset it; \
             --log-format overrides it)",
            allowed.join(" or ")
        )
    })
}

/// The log format [`init`] installed (human before it is called).
pub fn log_format() -> LogFormat {
    FORMAT.get().copied().unwrap_or_default()
}

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Install the global subscriber. Safe to call once per process.
pub fn init(format: LogFormat) {
    let _ = FORMAT.set(format);
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,intercom_export=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| AboveBars)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// The progress lines of the process: one per running report (reports of a
/// run, and workspaces, run side by side), drawn together on stderr.
fn bars() -> &'static indicatif::MultiProgress {
    static BARS: OnceLock<indicatif::MultiProgress> = OnceLock::new();
    BARS.get_or_init(indicatif::MultiProgress::new)
}

/// stderr for log lines: each is written above the progress lines (which
/// are hidden for the write and drawn again below it), not through them.
struct AboveBars;

impl Write for AboveBars {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        bars().suspend(|| std::io::stderr().write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Run `f` (a write to stdout, which shares the terminal with the progress
/// lines on stderr) with the progress lines hidden, and draw them again
/// after it, so what it prints starts on a line of its own.
pub fn above_bars<R>(f: impl FnOnce() -> R) -> R {
    bars().suspend(f)
}

/// Take a line made by [`report_bar`] off the display (its export ended).
pub fn finish_bar(bar: &indicatif::ProgressBar) {
    bar.finish_and_clear();
    if !bar.is_hidden() {
        bars().remove(bar);
    }
}

/// A live progress line for one report's export, on stderr when it is a
/// terminal, below those of the other running reports (hidden otherwise,
/// so logs and orchestrators see no escape codes): rows written, rows per
/// second and elapsed time, with a bar and an ETA once
/// [`Progress::set_total`] says how many rows to expect (see
/// [`progress_line`]), then the pages fetched (set by the pipeline as the
/// message). The line never runs past the terminal's width.
pub fn report_bar(label: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    // Below the lines of the other running reports.
    let bar = bars().add(indicatif::ProgressBar::new_spinner());
    bar.set_style(line_style(label));
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// The style of a report's line: the spinner, [`progress_line`] fitted to
/// the terminal's width less room for the message, then the message
/// (`{wide_msg}`: cut to what is left of the width).
fn line_style(label: &str) -> indicatif::ProgressStyle {
    let label = label.to_string();
    indicatif::ProgressStyle::with_template("{spinner} {line}  {wide_msg}")
        .map(|style| {
            style.with_key(
                "line",
                move |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let fields = LineFields {
                        label: &label,
                        rows: state.pos(),
                        total: state.len(),
                        per_sec: state.per_sec(),
                        elapsed: state.elapsed(),
                    };
                    let _ = w.write_str(&progress_line(&fields, line_width(terminal_width())));
                },
            )
        })
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner())
}

/// The terminal's width in columns (stderr's; 80 when it cannot be read).
fn terminal_width() -> usize {
    console::Term::stderr()
        .size_checked()
        .map_or(80, |(_rows, cols)| usize::from(cols))
}

/// Columns the message (`1,234 pages`) keeps at the end of a line, when
/// the terminal is wide enough to spare them.
const MESSAGE_ROOM: usize = 12;

/// The width [`progress_line`] may use on a terminal of `columns`: less the
/// spinner and the spaces around the line (4), and less the message's room
/// when 40 columns are left besides it.
fn line_width(columns: usize) -> usize {
    let line = columns.saturating_sub(4);
    if line >= 40 + MESSAGE_ROOM {
        line - MESSAGE_ROOM
    } else {
        line
    }
}

/// What one report's progress line shows (indicatif's state of its bar).
#[derive(Debug, Clone, Copy)]
pub struct LineFields<'a> {
    /// The report (and its backfill window, workspace): `line_label`.
    pub label: &'a str,
    /// Rows written so far.
    pub rows: u64,
    /// Rows expected in all, once the API said (a search's `total_count`).
    pub total: Option<u64>,
    /// Rows per second so far.
    pub per_sec: f64,
    /// Time since the export started.
    pub elapsed: std::time::Duration,
}

/// Width of the label when the whole line fits (labels line up).
const LABEL_WIDTH: usize = 28;
/// A label is not shortened below this many characters while optional
/// parts can go instead.
const MIN_LABEL: usize = 20;
/// Width of the bar between its brackets.
const BAR_WIDTH: usize = 20;

/// One report's progress line, at most `width` characters: the label, the
/// rows (`1,234 rows`, or `1,234/5,000 rows` with a total), then a bar,
/// the rate, the elapsed time and the ETA while they fit. When the line is
/// too wide the bar, then the rate give way while the label keeps its
/// column (lined up with the other lines); then the label is shortened
/// with `…` (not below [`MIN_LABEL`]) and parts go in order (the bar
/// first, the ETA last); at the end only
/// the label and rows are left, the label as short as need be, and the
/// line is cut at `width`. No ETA until a row was written (nothing to
/// estimate from), nor once the total is reached.
pub fn progress_line(f: &LineFields<'_>, width: usize) -> String {
    let rows = match f.total {
        Some(total) => format!(
            "{}/{} rows",
            indicatif::HumanCount(f.rows),
            indicatif::HumanCount(total)
        ),
        None => format!("{} rows", indicatif::HumanCount(f.rows)),
    };
    let bar = f.total.filter(|t| *t > 0).map(|total| {
        let done = ((f.rows.min(total) as f64 / total as f64) * BAR_WIDTH as f64) as usize;
        let head = if done < BAR_WIDTH { ">" } else { "" };
        format!(
            "[{}{head}{}]",
            "=".repeat(done),
            " ".repeat(BAR_WIDTH - done - head.len())
        )
    });
    let rate = format!("{:.0} rows/s", f.per_sec);
    let elapsed = format!("{:#}", indicatif::HumanDuration(f.elapsed));
    let eta = f.total.and_then(|total| {
        if f.rows == 0 || f.rows >= total || f.per_sec <= 0.0 || !f.per_sec.is_finite() {
            return None;
        }
        let secs = (total - f.rows) as f64 / f.per_sec;
        Some(format!(
            "ETA {:#}",
            indicatif::HumanDuration(std::time::Duration::from_secs_f64(secs.min(1e9)))
        ))
    });
    // Optional parts in the order they are given up.
    let mut optional: Vec<Option<String>> = vec![bar, Some(rate), Some(elapsed), eta];
    let tail = |optional: &[Option<String>]| {
        let mut tail = format!(" {rows}");
        for part in optional.iter().flatten() {
            tail.push_str("  ");
            tail.push_str(part);
        }
        tail
    };
    let label_len = f.label.chars().count();
    let full = format!("{:<LABEL_WIDTH$}{}", f.label, tail(&optional));
    if full.chars().count() <= width {
        return full;
    }
    // Lined up with the other reports' lines while the bar or the rate
    // can give way for it.
    if label_len <= LABEL_WIDTH {
        let mut fewer = optional.clone();
        for give_up in 0..2 {
            fewer[give_up] = None;
            let line = format!("{:<LABEL_WIDTH$}{}", f.label, tail(&fewer));
            if line.chars().count() <= width {
                return line;
            }
        }
    }
    for give_up in 0..=optional.len() {
        if give_up > 0 {
            optional[give_up - 1] = None;
        }
        let tail = tail(&optional);
        let room = width.saturating_sub(tail.chars().count());
        if label_len <= room {
            return format!("{}{tail}", f.label);
        }
        if room >= MIN_LABEL || give_up == optional.len() {
            return format!("{}{tail}", shorten(f.label, room))
                .chars()
                .take(width)
                .collect();
        }
    }
    unreachable!("the last round returns")
}

/// `text` in at most `room` characters: cut, with `…` as its last one
/// (all of it when it fits; at least its first character).
fn shorten(text: &str, room: usize) -> String {
    if text.chars().count() <= room {
        return text.to_string();
    }
    let mut short: String = text.chars().take(room.saturating_sub(1).max(1)).collect();
    short.push('…');
    short
}

/// A report's progress as its extractor sees it: the extractor states the
/// rows it expects when the API says (a search's `total_count`). Clones
/// share the bar; the default is hidden, and so does nothing.
#[derive(Clone)]
pub struct Progress {
    bar: indicatif::ProgressBar,
}

impl Progress {
    /// Progress shown on `bar` (from [`report_bar`]).
    pub fn new(bar: indicatif::ProgressBar) -> Self {
        Self { bar }
    }

    /// About `rows` rows are expected in all: show a bar and an ETA (the
    /// line's style draws them once the bar has a length).
    pub fn set_total(&self, rows: u64) {
        if self.bar.is_hidden() {
            return;
        }
        self.bar.set_length(rows);
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new(indicatif::ProgressBar::hidden())
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("hidden", &self.bar.is_hidden())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::time::Duration;

    /// `--log-format` wins over `INTERCOM_LOG_FORMAT`, which wins over
    /// the default; a value that is neither format is an error naming the
    /// variable, the value and both formats.
    #[test]
    fn the_log_format_comes_from_the_flag_then_the_variable() {
        let json = Some(OsStr::new("json"));
        assert_eq!(resolve_format(None, None), Ok(LogFormat::Human));
        assert_eq!(resolve_format(None, json), Ok(LogFormat::Json));
        assert_eq!(
            resolve_format(None, Some(OsStr::new(" JSON "))),
            Ok(LogFormat::Json)
        );
        assert_eq!(
            resolve_format(Some(LogFormat::Human), json),
            Ok(LogFormat::Human)
        );
        assert_eq!(
            resolve_format(Some(LogFormat::Json), Some(OsStr::new("xml"))),
            Ok(LogFormat::Json)
        );
        assert_eq!(
            resolve_format(None, Some(OsStr::new(""))),
            Ok(LogFormat::Human)
        );
        let e = resolve_format(None, Some(OsStr::new("xml"))).expect_err("not a format");
        assert!(
            e.starts_with("INTERCOM_LOG_FORMAT=xml is not a log format; use human or json"),
            "{e}"
        );
    }

    fn fields(label: &str, rows: u64, total: Option<u64>) -> LineFields<'_> {
        LineFields {
            label,
            rows,
            total,
            per_sec: if rows == 0 { 0.0 } else { 1_250.0 },
            elapsed: Duration::from_secs(if rows == 0 { 2 } else { 8 }),
        }
    }

    #[test]
    fn no_eta_until_a_row_was_written() {
        // The trial: "ETA 0s" at 0 rows of 5,000.
        let line = progress_line(&fields("users", 0, Some(5_000)), 200);
        assert!(!line.contains("ETA"), "{line}");
        assert!(line.contains("0/5,000 rows"), "{line}");
        // 4,000 rows left at 1,250 rows/s.
        let line = progress_line(&fields("users", 1_000, Some(5_000)), 200);
        assert!(line.contains("ETA 3s"), "{line}");
        // Past the total (a total_count is an estimate): no ETA either.
        let line = progress_line(&fields("users", 5_100, Some(5_000)), 200);
        assert!(!line.contains("ETA"), "{line}");
        // No total: no bar, no ETA.
        let line = progress_line(&fields("users", 1_000, None), 200);
        assert!(!line.contains("ETA") && !line.contains('['), "{line}");
    }

    #[test]
    fn a_line_fits_the_width_it_is_given() {
        // The trial: lines wider than 80 columns wrapped on the terminal.
        let long = "workspace-brand-a/conversation_parts 2026-01-01..2026-01-04";
        for label in ["users", "conversation_parts", long] {
            for total in [None, Some(1_234_567)] {
                for rows in [0, 12_345] {
                    for columns in [200, 120, 80, 60, 40, 20, 10, 4] {
                        let width = line_width(columns);
                        let line = progress_line(&fields(label, rows, total), width);
                        assert!(
                            line.chars().count() <= width && width + 4 <= columns.max(4),
                            "{columns} columns, {width} for the line: {line:?}"
                        );
                    }
                }
            }
        }
        // At 80 columns a long label is shortened and the bar and rate go;
        // the rows, elapsed time and ETA stay.
        let line = progress_line(&fields(long, 12_345, Some(50_000)), line_width(80));
        assert!(line.contains("12,345/50,000 rows"), "{line}");
        assert!(line.contains("8s") && line.contains("ETA 30s"), "{line}");
        assert!(line.contains('…') && !line.contains('['), "{line}");
        assert!(!line.contains("rows/s"), "{line}");
        // A wide terminal shows everything, the label padded to line up.
        let line = progress_line(&fields("users", 12_345, Some(50_000)), 200);
        assert!(line.starts_with(&format!("{:<28} ", "users")), "{line}");
        for part in [
            "12,345/50,000 rows",
            "[====>",
            "1250 rows/s",
            "8s",
            "ETA 30s",
        ] {
            assert!(line.contains(part), "{part}: {line}");
        }
        // Parts give way before the labels stop lining up.
        let line = progress_line(&fields("conversations", 150, Some(800)), line_width(80));
        assert!(
            line.starts_with(&format!("{:<28} 150/800 rows", "conversations")),
            "{line}"
        );
        assert!(line.contains("ETA") && !line.contains('['), "{line}");
        // Very narrow: only the label, shortened, and the rows.
        let line = progress_line(&fields(long, 12_345, None), 20);
        assert_eq!(line, "workspa… 12,345 rows");
    }
}
