//! `intercom-export`: parse the command line, set up logging, run, and map
//! the outcome to an exit code. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;
use intercom_export::cli::{self, Cli};
use intercom_export::telemetry;

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(status) => status.into(),
        Err(err) => {
            eprintln!("error: {err:#}");
            cli::exit_status(&err).into()
        }
    }
}
