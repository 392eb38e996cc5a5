//! `intercom-export`: parse the command line, set up logging, run, and map
//! the outcome to an exit code. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;
use intercom_export::cli::{self, Cli};
use intercom_export::exit::ExitStatus;
use intercom_export::telemetry;

/// Allocations of this many bytes or more get a mapping of their own from
/// glibc's malloc (`M_MMAP_THRESHOLD`), given back to the kernel when freed.
const MMAP_THRESHOLD_BYTES: i32 = 64 * 1024;

/// Keep large blocks out of glibc's heap arenas. glibc starts at 128 KiB
/// but raises its threshold (up to 32 MiB) whenever such a block is freed,
/// and from then on the search pages (~270 KB of text), their decoded
/// records, the Parquet writers' pages and zstd contexts (a compression
/// context of up to 1 MiB and an unused 94 KiB decompression context per
/// column of each row group being written) were carved out of the arenas:
/// freed, they left holes that small blocks still in use pinned, so the
/// process kept them. In a mapping of its own a block is given back when
/// freed, and its pages never touched (most of a decompression context)
/// take no memory. Peak RSS at 1,000,000 contacts: 219 MiB → 166 with the
/// threshold fixed at 128 KiB, 160 at 64 KiB ("Peak RSS at 1M and 100k" in
/// `BENCHMARKS.md`). A threshold given in glibc's own
/// `MALLOC_MMAP_THRESHOLD_` environment variable wins.
fn keep_large_blocks_out_of_the_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        // SAFETY: mallopt only sets a tunable of glibc's allocator; it is
        // called before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
        }
    }
}

fn main() -> ExitCode {
    keep_large_blocks_out_of_the_heap();
    let cli = Cli::parse();
    let format = cli.log_format;
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
