//! `tap-intercom-export`: the same program as `intercom-export tap`, under
//! the name Singer runners expect (Meltano's `executable`), so the pip
//! wheel puts both on PATH. `tap-intercom-export --config c.json
//! --discover` is `intercom-export tap --config c.json --discover`.

use std::process::ExitCode;

use clap::Parser;
use intercom_export::cli::{self, Cli};
use intercom_export::telemetry;

fn main() -> ExitCode {
    intercom_export::allocator::keep_large_blocks_out_of_the_heap();
    let rest: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    // `--version` is the program's; everything else goes to `tap`.
    let cli = if rest.len() == 1 && (rest[0] == "--version" || rest[0] == "-V") {
        Cli::parse_from(["intercom-export", "--version"])
    } else {
        let argv = ["intercom-export".into(), "tap".into()]
            .into_iter()
            .chain(rest);
        Cli::parse_from(argv.collect::<Vec<std::ffi::OsString>>())
    };
    let format = match telemetry::resolve_format(
        cli.log_format,
        std::env::var_os(telemetry::LOG_FORMAT_ENV).as_deref(),
    ) {
        Ok(format) => format,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(format);
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
