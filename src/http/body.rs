//! Response bodies read into buffers that are used again.
//!
//! A search page is ~270 KB of JSON. Read into a new buffer per response,
//! each body was a fresh mapping of glibc's (every block of 64 KiB or more
//! gets its own, `crate::allocator`, for peak RSS), whose pages fault in on
//! every response and go back to the kernel when it is freed: a fifth of a
//! contact export's page faults. [`Body`] takes a buffer from a small pool
//! and gives it back when dropped (after the body is decoded), so the
//! next response reuses pages already mapped.

use std::sync::Mutex;

/// Buffers kept between responses: more in use at once are freed as
/// before. At most this many × [`KEEP_AT_MOST`] bytes stay allocated
/// (2 MiB): peak RSS at 1,000,000 contacts is what limits, and 4 buffers
/// of up to 2 MiB (with the spill's line buffers) measured 2–3 MiB more.
const POOLED: usize = 2;

/// A buffer larger than this (an unusual body) is not kept.
const KEEP_AT_MOST: usize = 1024 * 1024;

/// Buffers waiting to be used again.
struct Pool(Mutex<Vec<Vec<u8>>>);

static POOL: Pool = Pool(Mutex::new(Vec::new()));

impl Pool {
    /// A buffer from the pool (empty), or a new one.
    fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .ok()
            .and_then(|mut pool| pool.pop())
            .unwrap_or_default()
    }

    /// Keep `buf` for the next body, unless the pool is full or `buf`
    /// unusually large.
    fn give(&self, mut buf: Vec<u8>) {
        if buf.capacity() == 0 || buf.capacity() > KEEP_AT_MOST {
            return;
        }
        buf.clear();
        if let Ok(mut pool) = self.0.lock()
            && pool.len() < POOLED
        {
            pool.push(buf);
        }
    }
}

/// A response body: its bytes, in a buffer that goes back to the pool when
/// dropped.
pub(super) struct Body(Vec<u8>, &'static Pool);

impl Body {
    /// An empty body with room for `expected` bytes (the response's
    /// `Content-Length`, when given).
    pub(super) fn with_capacity(expected: Option<u64>) -> Body {
        Body::from_pool(&POOL, expected)
    }

    fn from_pool(pool: &'static Pool, expected: Option<u64>) -> Body {
        let mut buf = pool.take();
        if let Some(n) = expected.and_then(|n| usize::try_from(n).ok()) {
            buf.reserve(n.min(KEEP_AT_MOST));
        }
        Body(buf, pool)
    }

    /// Append a chunk as it arrives.
    pub(super) fn extend(&mut self, chunk: &[u8]) {
        self.0.extend_from_slice(chunk);
    }
}

impl AsRef<[u8]> for Body {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl std::ops::Deref for Body {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        self.1.give(std::mem::take(&mut self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_body_lends_its_buffer_to_the_next_and_keeps_no_bytes() {
        static OWN: Pool = Pool(Mutex::new(Vec::new()));
        let mut a = Body::from_pool(&OWN, Some(300_000));
        a.extend(b"{\"type\":\"list\"}");
        assert_eq!(&*a, b"{\"type\":\"list\"}");
        let at = a.0.as_ptr();
        drop(a);
        let b = Body::from_pool(&OWN, None);
        assert!(b.is_empty(), "a reused buffer starts empty");
        assert_eq!(b.0.as_ptr(), at, "the freed buffer is used again");
        assert!(b.0.capacity() >= 300_000);
    }

    #[test]
    fn the_pool_keeps_a_few_buffers_of_a_usual_size() {
        static OWN: Pool = Pool(Mutex::new(Vec::new()));
        let bodies: Vec<Body> = (0..POOLED + 2)
            .map(|_| Body::from_pool(&OWN, Some(1000)))
            .collect();
        drop(bodies);
        assert_eq!(OWN.0.lock().expect("pool").len(), POOLED);
        let mut big = Body::from_pool(&OWN, None);
        big.extend(&vec![b' '; KEEP_AT_MOST + 1]);
        drop(big);
        assert_eq!(
            OWN.0.lock().expect("pool").len(),
            POOLED - 1,
            "an unusually large buffer is not kept"
        );
    }
}
