//! Named pause points for the crash tests (debug builds only).
//!
//! `INTERCOM_EXPORT_TEST_PAUSE=point:n` makes the process stop itself with
//! `SIGSTOP` the n-th time it reaches `point`, so a test can `SIGKILL` it at
//! exactly that place (in the middle of a Parquet part, between rename and
//! commit, inside the state transaction, ...). In release builds [`hit`]
//! compiles to nothing and the variable is ignored.
//!
//! Points: `page` (a page of records was handed to the writer),
//! `written` (a report's files are renamed and fsynced, not yet committed),
//! `in_commit` (inside the state transaction, before `COMMIT`),
//! `committed` (a report's transaction is committed), `checkpoint` (a
//! search window's checkpoint is committed, the report goes on), `window`
//! (a backfill window is committed), `run_started`, `reconcile` (the
//! `deletions` report finished its company pass, then its contact pass;
//! nothing of it committed yet).
//!
//! `INTERCOM_EXPORT_TEST_FAIL=point:n` makes [`fail`] return an I/O error
//! ("No space left on device") the n-th time the process reaches `point`,
//! so a test can make a write fail where a full disk would. Points:
//! `part_finish` (a part's `.tmp` file is written, before its fsync and
//! rename), `part_write` (bytes go to a part's `.tmp` file: its magic, a
//! row group, its footer).

/// Mark that the process reached `point`.
#[inline]
pub fn hit(point: &str) {
    #[cfg(debug_assertions)]
    imp::hit(point);
    #[cfg(not(debug_assertions))]
    let _ = point;
}

/// An injected I/O error at `point` (debug builds, see the module docs);
/// `Ok(())` otherwise.
#[inline]
pub fn fail(point: &str) -> std::io::Result<()> {
    #[cfg(debug_assertions)]
    return imp::fail(point);
    #[cfg(not(debug_assertions))]
    {
        let _ = point;
        Ok(())
    }
}

#[cfg(debug_assertions)]
mod imp {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    static TARGET: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static COUNT: AtomicU64 = AtomicU64::new(0);
    static FAIL: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static FAIL_COUNT: AtomicU64 = AtomicU64::new(0);

    pub(super) fn fail(point: &str) -> std::io::Result<()> {
        let target = FAIL.get_or_init(|| {
            let v = std::env::var("INTERCOM_EXPORT_TEST_FAIL").ok()?;
            let (name, n) = v.rsplit_once(':')?;
            Some((name.to_string(), n.parse().ok()?))
        });
        if let Some((name, n)) = target
            && name == point
            && FAIL_COUNT.fetch_add(1, Ordering::SeqCst) + 1 == *n
        {
            return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
        }
        Ok(())
    }

    pub(super) fn hit(point: &str) {
        let target = TARGET.get_or_init(|| {
            let v = std::env::var("INTERCOM_EXPORT_TEST_PAUSE").ok()?;
            let (name, n) = v.rsplit_once(':')?;
            Some((name.to_string(), n.parse().ok()?))
        });
        if let Some((name, n)) = target
            && name == point
            && COUNT.fetch_add(1, Ordering::SeqCst) + 1 == *n
        {
            // SAFETY: raising a signal at ourselves has no memory effects.
            unsafe {
                libc::raise(libc::SIGSTOP);
            }
        }
    }
}
