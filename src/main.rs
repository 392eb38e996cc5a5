//! `intercom-export`: parse the command line, set up logging, run, and map
//! the outcome to an exit code. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;
use intercom_export::cli::{self, Cli};
use intercom_export::exit::ExitStatus;
use intercom_export::telemetry;

fn main() -> ExitCode {
    intercom_export::allocator::keep_large_blocks_out_of_the_heap();
    let cli = Cli::parse();
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
