//! Turning a 2xx response body into the caller's type, off the caller's
//! task when the body is large.
//!
//! Extractors run on one task (their futures are not `Send`), so a body
//! decoded where it arrives decodes on one core, between that task's other
//! work. A search page of 150 contacts is about 300 KiB and takes
//! milliseconds to decode into `serde_json::Value`; on tokio's blocking
//! pool, several pages decode at once on every core while the extractor
//! goes on. A small body (an admin, a count, an error) decodes inline: the
//! hop to another thread costs more than it saves.

use serde::de::DeserializeOwned;

use super::HttpError;

/// Bodies of at least this many bytes are decoded on tokio's blocking pool
/// ([`decode_off_task`]); smaller ones on the calling task.
pub const OFF_TASK_DECODE_BYTES: usize = 64 * 1024;

/// The most decodes on tokio's blocking pool at once, for the whole
/// process: one per core (`std::thread::available_parallelism`, at least
/// 1). Each decode of a search page holds the page's text and its decoded
/// tree (~1 MB and 2–3 MB for 150 contacts) on a blocking thread, and glibc
/// keeps a heap arena per thread that ran one: unbounded, the answers
/// arriving together decoded on as many threads at once, which raised the
/// peak RSS of a 1,000,000-contact run without decoding any faster than the
/// cores allow (issue #15). A decode past the bound waits (asynchronously)
/// for a permit; the caller's task goes on meanwhile.
pub fn decodes_at_once() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The process's permits for decodes off the calling task
/// ([`decodes_at_once`]).
fn decode_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| tokio::sync::Semaphore::new(decodes_at_once()))
}

/// Run the decode `work` on tokio's blocking pool once one of the
/// process's [`decodes_at_once`] permits is free, and hand back its result
/// (the permit is given back when it ends). `Err` only when the runtime
/// shuts down under it, as `spawn_blocking`'s. Must be called within a
/// tokio runtime.
pub async fn decode_blocking<R, F>(work: F) -> Result<R, tokio::task::JoinError>
where
    R: Send + 'static,
    F: FnOnce() -> R + Send + 'static,
{
    // The semaphore is never closed, so a permit always comes.
    let permit = decode_permits().acquire().await.ok();
    let result = tokio::task::spawn_blocking(work).await;
    drop(permit);
    result
}

/// Decode the JSON `body` of a 2xx answer from `endpoint` (`"POST
/// /contacts/search"`, as in [`HttpError`] messages) into `T`.
///
/// A body of [`OFF_TASK_DECODE_BYTES`] or more is decoded with
/// `serde_json::from_slice` on tokio's blocking pool
/// ([`decode_blocking`]), so the calling task goes on meanwhile
/// and up to [`decodes_at_once`] bodies decode at once; a smaller one is decoded here. Either
/// way the result is the same: the value, or [`HttpError::Body`] naming
/// `endpoint` with serde_json's message (never the token, which is not in a
/// body). Must be called within a tokio runtime. For pages read ahead and
/// kept as raw bytes, this is the call that decodes them at delivery.
pub async fn decode_off_task<T, B>(body: B, endpoint: &str) -> Result<T, HttpError>
where
    T: DeserializeOwned + Send + 'static,
    B: AsRef<[u8]> + Send + 'static,
{
    let unusable = |message: String| HttpError::Body {
        endpoint: endpoint.to_string(),
        message,
    };
    if body.as_ref().len() < OFF_TASK_DECODE_BYTES {
        return serde_json::from_slice(body.as_ref()).map_err(|e| unusable(e.to_string()));
    }
    decode_blocking(move || serde_json::from_slice::<T>(body.as_ref()))
        .await
        // Only a runtime shutting down cancels it (serde_json does not
        // panic on any input).
        .map_err(|e| unusable(format!("decoding the body did not finish: {e}")))?
        .map_err(|e| unusable(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::thread::ThreadId;

    use super::*;

    /// A JSON page of `n` contact-like records, as `POST /contacts/search`
    /// answers it.
    fn page(n: usize) -> Vec<u8> {
        let data: Vec<serde_json::Value> = (0..n)
            .map(|i| {
                serde_json::json!({
                    "type": "contact",
                    "id": format!("6{i:023x}"),
                    "role": if i % 2 == 0 { "user" } else { "lead" },
                    "email": format!("person{i}@example.com"),
                    "updated_at": 1_700_000_000 + i as i64,
                    "custom_attributes": {"plan": "pro", "seats": i, "trial": null},
                    "tags": {"type": "list", "data": [], "url": "/contacts/x/tags"},
                })
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "type": "list",
            "data": data,
            "total_count": n,
            "pages": {"type": "pages", "page": 1, "per_page": n, "total_pages": 1},
        }))
        .expect("json")
    }

    /// Decodes anything and keeps the thread it was decoded on.
    struct DecodedOn(ThreadId);

    impl<'de> serde::Deserialize<'de> for DecodedOn {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            serde::de::IgnoredAny::deserialize(d)?;
            Ok(DecodedOn(std::thread::current().id()))
        }
    }

    #[tokio::test]
    async fn a_large_body_decodes_to_what_from_slice_gives() {
        let body = page(400);
        assert!(body.len() >= OFF_TASK_DECODE_BYTES, "{}", body.len());
        let expected: serde_json::Value = serde_json::from_slice(&body).expect("valid");
        let got: serde_json::Value = decode_off_task(body, "POST /contacts/search")
            .await
            .expect("decodes");
        assert_eq!(got, expected);
        assert_eq!(got["data"].as_array().map(Vec::len), Some(400));
    }

    #[tokio::test]
    async fn large_bodies_decode_on_another_thread_small_ones_here() {
        let here = std::thread::current().id();
        let large: DecodedOn = decode_off_task(page(400), "POST /contacts/search")
            .await
            .expect("large");
        assert_ne!(large.0, here, "a large body decoded on the calling thread");
        let small: DecodedOn = decode_off_task(page(2), "POST /contacts/search")
            .await
            .expect("small");
        assert_eq!(small.0, here, "a small body hopped to another thread");
    }

    /// Decodes anything, counting the decodes of this type running at once
    /// (each lasts a few milliseconds, so that they overlap when allowed).
    struct Counted;

    static COUNTED_NOW: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    static COUNTED_PEAK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    impl<'de> serde::Deserialize<'de> for Counted {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            use std::sync::atomic::Ordering::SeqCst;
            let now = COUNTED_NOW.fetch_add(1, SeqCst) + 1;
            COUNTED_PEAK.fetch_max(now, SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(5));
            serde::de::IgnoredAny::deserialize(d)?;
            COUNTED_NOW.fetch_sub(1, SeqCst);
            Ok(Counted)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn large_bodies_arriving_together_decode_at_most_one_per_core_at_once() {
        let body = page(400);
        let decodes: Vec<_> = (0..decodes_at_once() * 4 + 8)
            .map(|_| {
                let body = body.clone();
                tokio::spawn(async move {
                    decode_off_task::<Counted, _>(body, "POST /contacts/search").await
                })
            })
            .collect();
        for decode in decodes {
            decode.await.expect("task").expect("decodes");
        }
        let peak = COUNTED_PEAK.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            (1..=decodes_at_once()).contains(&peak),
            "{peak} decodes at once, bound {}",
            decodes_at_once()
        );
    }

    #[tokio::test]
    async fn a_malformed_large_body_fails_like_a_small_one() {
        let endpoint = "POST /contacts/search";
        for (body, large) in [(page(1000), true), (page(2), false)] {
            // Cut inside the records: a body that ended early.
            let cut = body[..body.len() * 2 / 3].to_vec();
            assert_eq!(cut.len() >= OFF_TASK_DECODE_BYTES, large, "{}", cut.len());
            let expected = serde_json::from_slice::<serde_json::Value>(&cut)
                .expect_err("cut")
                .to_string();
            let err = decode_off_task::<serde_json::Value, _>(cut, endpoint)
                .await
                .expect_err("a cut body must not decode");
            match &err {
                HttpError::Body {
                    endpoint: named,
                    message,
                } => {
                    assert_eq!(named, endpoint, "large: {large}");
                    assert_eq!(message, &expected, "large: {large}");
                }
                other => panic!("large: {large}: not a Body error: {other:?}"),
            }
            assert_eq!(
                err.to_string(),
                format!("{endpoint} returned an unusable body: {expected}")
            );
        }
    }
}
