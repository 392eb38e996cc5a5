//! The allocator's settings, applied by both binaries (`intercom-export`
//! and `tap-intercom-export`) first thing in `main`, before any other
//! thread starts. Linux with glibc only; elsewhere nothing.

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
/// `BENCHMARKS.md`).
///
/// The price is page faults: a block of 64 KiB or more is mapped, faulted
/// in and unmapped each time (a contact export: about 2.5× glibc's default
/// faults before the buffers of `http::body` and `extract::spill` were
/// used again, 1.6× after). Setting the threshold only once the process
/// is large (64 or 96 MiB resident) keeps the early heap's holes: 160 MiB
/// at 1,000,000 contacts, over the limit ("CPU per exported record, again"
/// in `BENCHMARKS.md`); so it is set from the start. A threshold given in
/// glibc's own `MALLOC_MMAP_THRESHOLD_` environment variable wins.
pub fn keep_large_blocks_out_of_the_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        // SAFETY: mallopt only sets a tunable of glibc's allocator; the
        // binaries call this first, before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
        }
    }
}
