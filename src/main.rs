//! `intercom-export`: parse the command line, set up logging, run, and map
//! the outcome to an exit code. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;
use intercom_export::cli::{self, Cli};
use intercom_export::exit::ExitStatus;
use intercom_export::telemetry;

fn main() -> ExitCode {
    intercom_export::allocator::keep_large_blocks_out_of_the_heap();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return unparsed(e),
    };
    let format = match telemetry::resolve_format(
        cli.log_format,
        std::env::var_os(telemetry::LOG_FORMAT_ENV).as_deref(),
    ) {
        Ok(format) => format,
        Err(message) => {
            // Logging is not set up yet: the plain `error: …` line.
            telemetry::fatal::report_fatal(
                telemetry::LogFormat::Human,
                &message,
                ExitStatus::Usage,
            );
            return ExitStatus::Usage.into();
        }
    };
    telemetry::init(format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            let message = format!("cannot start the async runtime: {e}");
            telemetry::fatal::report_fatal(format, &message, ExitStatus::Internal);
            return ExitStatus::Internal.into();
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(status) => status.into(),
        Err(err) => {
            let status = cli::exit_status(&err);
            telemetry::fatal::report_fatal(format, &format!("{err:#}"), status);
            status.into()
        }
    }
}

/// A command line clap cannot parse. `--help`, `--version` and, with human
/// logs, usage errors: as clap prints them (help on stdout, exit 0; errors
/// exit 2). With JSON logs asked for (`--log-format json`, or
/// `INTERCOM_LOG_FORMAT=json`), a usage error is one JSON fatal record on
/// stderr, exit 2, so a cron log stays JSON.
fn unparsed(e: clap::Error) -> ExitCode {
    let asked = telemetry::fatal::format_asked(
        std::env::args_os(),
        std::env::var_os(telemetry::LOG_FORMAT_ENV).as_deref(),
    );
    if !e.use_stderr() || asked == telemetry::LogFormat::Human {
        e.exit()
    }
    let message = telemetry::fatal::usage_message(&e.render().to_string());
    telemetry::fatal::report_fatal(asked, &message, ExitStatus::Usage);
    ExitStatus::Usage.into()
}
