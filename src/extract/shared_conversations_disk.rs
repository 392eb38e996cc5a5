//! The temporary files holding the bodies of a run's shared conversations
//! past the memory budget (see [`super`]): unnamed files
//! (`tempfile::tempfile()` in `TMPDIR`, removed by the system when closed,
//! also when the process is killed) of up to [`super::SEGMENT_BYTES`] each,
//! bodies written and read by offset; a file goes once no body in it is
//! kept.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;

use super::Body;

/// The temporary files of bodies past the memory budget.
#[derive(Default)]
pub(super) struct Disk {
    segments: BTreeMap<u64, Segment>,
    /// The segment taking new bodies.
    current: Option<u64>,
    next: u64,
    /// No temporary file could be made or written: keep nothing more on disk.
    broken: bool,
}

struct Segment {
    file: File,
    /// Bytes written (the file's length).
    len: u64,
    /// Kept bodies in it.
    live: u64,
}

impl Disk {
    pub(super) fn bytes(&self) -> u64 {
        self.segments.values().map(|s| s.len).sum()
    }

    /// Append `body`; its segment and offset, or `None` (not kept) past the
    /// budget or when the file system fails (said once).
    pub(super) fn write(
        &mut self,
        body: &[u8],
        budget: u64,
        segment_bytes: u64,
    ) -> Option<(u64, u64)> {
        let len = body.len() as u64;
        if self.broken || self.bytes() + len > budget {
            return None;
        }
        let full = |s: &Segment| s.len > 0 && s.len + len > segment_bytes;
        let current = match self
            .current
            .and_then(|c| self.segments.get(&c).map(|s| (c, s)))
        {
            Some((c, s)) if !full(s) => c,
            _ => match tempfile::tempfile() {
                Ok(file) => {
                    let id = self.next;
                    self.next += 1;
                    self.segments.insert(
                        id,
                        Segment {
                            file,
                            len: 0,
                            live: 0,
                        },
                    );
                    // The full one goes once nothing in it is kept.
                    if let Some(old) = self.current.replace(id) {
                        self.free_if_empty(old);
                    }
                    id
                }
                Err(e) => return self.fail(e),
            },
        };
        let segment = self.segments.get_mut(&current)?;
        let offset = segment.len;
        if let Err(e) = segment.file.write_all_at(body, offset) {
            return self.fail(e);
        }
        segment.len += len;
        segment.live += 1;
        Some((current, offset))
    }

    fn fail(&mut self, e: std::io::Error) -> Option<(u64, u64)> {
        tracing::warn!(
            error = %e,
            "cannot keep conversations in a temporary file (TMPDIR); the reports that read \
             conversation details read them again themselves"
        );
        self.broken = true;
        None
    }

    pub(super) fn read(&self, segment: u64, offset: u64, len: usize) -> std::io::Result<Body> {
        let s = self
            .segments
            .get(&segment)
            .ok_or_else(|| std::io::Error::other("its temporary file is gone"))?;
        let mut buf = vec![0u8; len];
        s.file.read_exact_at(&mut buf, offset)?;
        let text = String::from_utf8(buf).map_err(std::io::Error::other)?;
        Ok(Body::from(text))
    }

    /// One body of `segment` is no longer kept.
    pub(super) fn free(&mut self, segment: u64) {
        if let Some(s) = self.segments.get_mut(&segment) {
            s.live = s.live.saturating_sub(1);
        }
        self.free_if_empty(segment);
    }

    /// An empty segment's file goes (the current one is emptied in place).
    fn free_if_empty(&mut self, segment: u64) {
        let Some(s) = self.segments.get_mut(&segment) else {
            return;
        };
        if s.live > 0 {
            return;
        }
        if self.current == Some(segment) {
            if s.file.set_len(0).is_ok() {
                s.len = 0;
            }
        } else {
            self.segments.remove(&segment);
        }
    }
}
