//! Logging setup: human-readable lines on stderr, or JSON lines with
//! `--log-format json` for log collectors. The level comes from `RUST_LOG`
//! (default: info for this crate, warnings for dependencies). Progress bars
//! per report on a terminal ([`report_bar`], [`Progress`]).

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

/// Install the global subscriber. Safe to call once per process.
pub fn init(format: LogFormat) {
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
/// terminal, below those of the other running reports (hidden otherwise, so logs and orchestrators see no escape
/// codes): rows written, pages fetched (set by the pipeline as the message),
/// rows per second and elapsed time; with a bar and an ETA once
/// [`Progress::set_total`] says how many rows to expect.
pub fn report_bar(label: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    // Below the lines of the other running reports.
    let bar = bars().add(indicatif::ProgressBar::new_spinner());
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} {prefix:<28} {human_pos:>10} rows  {msg:>12}  {rate:>12}  {elapsed}",
    )
    .map(with_rate)
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
    bar.set_style(style);
    bar.set_prefix(label.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// `{rate}`: rows per second, whole.
fn with_rate(style: indicatif::ProgressStyle) -> indicatif::ProgressStyle {
    style.with_key(
        "rate",
        |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.0} rows/s", state.per_sec());
        },
    )
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

    /// About `rows` rows are expected in all: show a bar and an ETA.
    pub fn set_total(&self, rows: u64) {
        if self.bar.is_hidden() {
            return;
        }
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} {prefix:<28} {human_pos:>10}/{human_len} rows [{bar:20}] {msg:>12}  \
             {rate:>12}  ETA {eta}",
        ) {
            self.bar.set_style(with_rate(style).progress_chars("=> "));
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
