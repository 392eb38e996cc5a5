//! The state lock: two processes never sync the same state at once.
//!
//! The lock is an advisory `flock(2)` on a small file beside the state file
//! (`<state>.lock` for `sync`/`schedule`/`state reset`, `<state>.backfill.lock`
//! for `backfill`, so a long backfill can run beside the hourly sync: they
//! write different run directories and commit in short SQLite transactions).
//! The kernel drops a `flock` when its holder exits, however it exits, so a
//! lock left by a process that died (SIGKILL, OOM, power loss) is free again
//! without anyone having to guess whether a pid is still alive. The holder
//! writes its pid, host and start time into the file; a second process reads
//! them to say who holds the lock ([`Error::Locked`], exit code 5).
//!
//! `flock` is not reliable on some network file systems: keep the state on a
//! local disk (or a volume mounted by one pod only).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Which lock: syncs and backfills each have their own (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockScope {
    /// `sync`, `schedule`, `demo`, `state reset`.
    Sync,
    /// `backfill`.
    Backfill,
    /// Held briefly (blocking) while a process opens the state and applies
    /// migrations, so two processes never migrate at once.
    Open,
}

impl LockScope {
    fn suffix(self) -> &'static str {
        match self {
            LockScope::Sync => "lock",
            LockScope::Backfill => "backfill.lock",
            LockScope::Open => "open.lock",
        }
    }
}

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct StateLock {
    file: File,
}

/// The lock file for a state file and scope.
pub fn lock_path(state_path: &Path, scope: LockScope) -> PathBuf {
    let mut name = state_path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "state".into());
    name.push(".");
    name.push(scope.suffix());
    state_path.with_file_name(name)
}

impl StateLock {
    /// Take the lock without waiting, or fail with [`Error::Locked`] naming the holder.
    pub fn acquire(state_path: &Path, scope: LockScope, mode: &str) -> Result<Self> {
        let path = lock_path(state_path, scope);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::state(&path, e))?;
        }
        let mut file =
            locked(&path, libc::LOCK_EX | libc::LOCK_NB).map_err(|(mut file, err)| {
                match (file.as_mut(), err.raw_os_error()) {
                    (Some(file), Some(libc::EWOULDBLOCK)) => {
                        let holder = read_holder(file);
                        Error::Locked {
                            path: path.clone(),
                            holder: if holder.is_empty() {
                                "a process that is just starting".into()
                            } else {
                                holder
                            },
                        }
                    }
                    (Some(_), _) => Error::state(&path, format!("cannot lock: {err}")),
                    (None, _) => Error::state(&path, format!("cannot open the lock file: {err}")),
                }
            })?;
        let previous = read_holder(&mut file);
        if !previous.is_empty() {
            tracing::warn!(lock = %path.display(), previous = %previous, "recovered a lock left by a process that ended without releasing it");
        }
        let me = format!(
            "pid {} on host {} since {} ({mode})",
            std::process::id(),
            hostname(),
            crate::time::format_utc(crate::time::unix_now())
        );
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)).map(|_| ()))
            .and_then(|()| file.write_all(me.as_bytes()))
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::state(&path, format!("cannot write the lock file: {e}")))?;
        Ok(Self { file })
    }

    /// Take the lock, waiting for the holder (for the short [`LockScope::Open`]).
    pub fn acquire_blocking(state_path: &Path, scope: LockScope) -> Result<Self> {
        let path = lock_path(state_path, scope);
        let file = locked(&path, libc::LOCK_EX).map_err(|(file, err)| match file {
            Some(_) => Error::state(&path, format!("cannot lock: {err}")),
            None => Error::state(&path, format!("cannot open the lock file: {err}")),
        })?;
        Ok(Self { file })
    }
}

/// Open (creating it if needed) the lock file at `path` and `flock` it
/// with `operation`. A file removed (or replaced) between the open and the
/// lock is opened again: a run that removes the state it created
/// ([`crate::cli`]: a first run that reached no server) removes its lock
/// files while holding them, and a process that had opened one just
/// before must not then hold a lock on a file no one else can see. `Err`:
/// the OS error, with the file when it was opened (the lock failed:
/// `EWOULDBLOCK` when another holds it).
fn locked(
    path: &Path,
    operation: libc::c_int,
) -> std::result::Result<File, (Option<File>, std::io::Error)> {
    use std::os::unix::fs::MetadataExt;
    loop {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| (None, e))?;
        // SAFETY: flock on a file descriptor we own; no memory is shared.
        if unsafe { libc::flock(file.as_raw_fd(), operation) } != 0 {
            return Err((Some(file), std::io::Error::last_os_error()));
        }
        let same = match (file.metadata(), std::fs::metadata(path)) {
            (Ok(held), Ok(named)) => held.dev() == named.dev() && held.ino() == named.ino(),
            (_, Err(e)) if e.kind() == std::io::ErrorKind::NotFound => false,
            // Cannot tell: keep it, as before this check.
            _ => true,
        };
        if same {
            return Ok(file);
        }
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        // Empty the file while still holding the lock: an empty lock file
        // means "released cleanly". The flock itself goes with the descriptor.
        let _ = self.file.set_len(0);
    }
}

fn read_holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.seek(SeekFrom::Start(0));
    let _ = file.take(1024).read_to_string(&mut text);
    text.trim().to_string()
}

/// This machine's host name (for the lock holder's description).
pub(crate) fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_with_the_first_named_and_release_frees_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state.db");
        let first = StateLock::acquire(&state, LockScope::Sync, "sync").expect("first");
        let err = StateLock::acquire(&state, LockScope::Sync, "sync").expect_err("held");
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        assert!(msg.contains("since "), "{msg}");
        assert!(matches!(err, Error::Locked { .. }));
        // The backfill lock is a different lock.
        let backfill = StateLock::acquire(&state, LockScope::Backfill, "backfill").expect("other");
        drop(first);
        let again = StateLock::acquire(&state, LockScope::Sync, "sync").expect("free again");
        drop((again, backfill));
    }

    /// A lock file removed while held (a first run that reached no server
    /// removes the state it created): a process that had opened it and
    /// waited for the lock then holds the file named by the path, not
    /// the removed one.
    #[test]
    fn a_lock_file_removed_while_held_is_opened_again_by_its_waiter() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state.db");
        let held = StateLock::acquire_blocking(&state, LockScope::Open).expect("held");
        let waiter = {
            let state = state.clone();
            std::thread::spawn(move || StateLock::acquire_blocking(&state, LockScope::Open))
        };
        // The waiter opens the file and waits in flock meanwhile.
        std::thread::sleep(std::time::Duration::from_millis(200));
        let path = lock_path(&state, LockScope::Open);
        std::fs::remove_file(&path).expect("removed");
        drop(held);
        let got = waiter.join().expect("joined").expect("locked");
        let named = std::fs::metadata(&path).expect("made again");
        let file = got.file.metadata().expect("held file");
        assert_eq!((file.dev(), file.ino()), (named.dev(), named.ino()));
    }

    /// Every lock file left beside a state is named in the README, which
    /// says what it is and when it may be removed (the second trial found
    /// `<state>.open.lock` and no word about it).
    #[test]
    fn every_lock_file_is_documented_in_the_readme() {
        let readme = include_str!("../README.md");
        for scope in [LockScope::Sync, LockScope::Backfill, LockScope::Open] {
            let file = lock_path(Path::new("<state>"), scope);
            let name = file.display().to_string();
            assert!(readme.contains(&format!("`{name}`")), "{name}");
        }
        assert!(
            readme.contains("safe to leave") && readme.contains("may be removed while no"),
            "when a lock file may be removed"
        );
    }
}
