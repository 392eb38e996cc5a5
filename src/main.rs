//! `intercom-export`: parse the command line, set up logging, run, and map
//! the outcome to an exit code. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;
use intercom_export::cli::{self, Cli};
use intercom_export::telemetry;

/// mimalloc instead of glibc's malloc: a sync decodes and frees many small
/// JSON values on several threads, which left glibc holding freed memory in
/// fragmented arenas (RSS several times the live heap at 100,000 contacts;
/// `MALLOC_ARENA_MAX` did not help). mimalloc gives freed pages back to the
/// system. See BENCHMARKS.md, "after the #15 round", Memory.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
