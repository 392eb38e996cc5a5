//! Bounded fan-out of per-item requests while a parent listing streams.
//!
//! Reports such as `conversation_parts` read a parent listing (conversation
//! search) once and fetch something per parent (`GET /conversations/{id}`).
//! [`fanout`] takes the parents as a stream (typically fed by the listing
//! through a bounded channel, see [`receiver_stream`]), keeps up to
//! `concurrency` fetches in flight, sends each item's rows to the writer
//! channel, and collects items that still fail after the client's retries as
//! [`FailedItem`]s instead of failing the report. Memory stays bounded: the
//! parent stream is pulled only when a fetch slot is free, and a full writer
//! channel pauses everything.
//!
//! An authentication or permission failure (401, 403) or a configuration
//! error is not an item failure: it ends the fan-out with the error, since
//! every other item would fail the same way.
//!
//! ```text
//!  listing ──mpsc(n)──▶ fanout: ≤ concurrency × fetch(item) ──mpsc──▶ writer
//!                              └─ failures ─▶ Vec<FailedItem>
//! ```

use std::fmt::Display;
use std::future::Future;

use futures::{Stream, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;

use super::FailedItem;
use crate::error::Result;

/// What a fan-out did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FanoutOutcome {
    /// Items fetched successfully.
    pub fetched: u64,
    /// Rows sent to the writer.
    pub rows: u64,
    /// Items that failed after retries (the run goes on without them).
    pub failed: Vec<FailedItem>,
}

impl FanoutOutcome {
    /// The report's result: the fetched rows, `cursor`, and which of the
    /// `retry` items (earlier failures, fetched first) are recovered: those
    /// that did not fail again.
    pub fn into_extracted(self, retry: &[String], cursor: Option<String>) -> super::Extracted {
        let failed: std::collections::HashSet<&str> =
            self.failed.iter().map(|f| f.id.as_str()).collect();
        let recovered = retry
            .iter()
            .filter(|id| !failed.contains(id.as_str()))
            .cloned()
            .collect();
        super::Extracted {
            rows: self.rows,
            cursor,
            failed: self.failed,
            recovered,
        }
    }
}

/// Run `fetch` for every item of `items`, at most `concurrency` at a time,
/// sending non-empty results to `tx`. Items are identified in failures by
/// their `Display` form (their id).
pub async fn fanout<I, S, F, Fut>(
    items: S,
    concurrency: usize,
    fetch: F,
    tx: &mpsc::Sender<Vec<Value>>,
) -> Result<FanoutOutcome>
where
    I: Display,
    S: Stream<Item = I>,
    F: Fn(I) -> Fut,
    Fut: Future<Output = Result<Vec<Value>>>,
{
    let results = items
        .map(|item| {
            let id = item.to_string();
            let fut = fetch(item);
            async move { (id, fut.await) }
        })
        .buffer_unordered(concurrency.max(1));
    futures::pin_mut!(results);
    let mut out = FanoutOutcome::default();
    while let Some((id, result)) = results.next().await {
        match result {
            Ok(rows) => {
                out.fetched += 1;
                if rows.is_empty() {
                    continue;
                }
                out.rows += rows.len() as u64;
                crate::reports::send_rows(tx, rows).await?;
            }
            Err(e) if ends_fanout(&e) => return Err(e),
            Err(e) => {
                tracing::warn!(item = %id, error = %e, "item failed after retries; the next run retries it");
                out.failed.push(FailedItem {
                    id,
                    error: e.to_string(),
                });
            }
        }
    }
    Ok(out)
}

/// Failures that every other item would meet too: a rejected token, a
/// missing permission (403) or a configuration problem. They end the fan-out
/// (and fail the report) instead of being recorded once per item.
fn ends_fanout(e: &crate::error::Error) -> bool {
    use crate::error::Error;
    match e {
        Error::Http(h) => h.is_auth(),
        Error::Config(_) => true,
        _ => false,
    }
}

/// A bounded channel's receiving end as a stream, for [`fanout`].
pub fn receiver_stream<T>(rx: mpsc::Receiver<T>) -> impl Stream<Item = T> {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn bounded_concurrency_every_item_once_and_failures_collected() {
        let (id_tx, id_rx) = mpsc::channel::<u32>(4);
        let producer = tokio::spawn(async move {
            for i in 0..100u32 {
                if id_tx.send(i).await.is_err() {
                    break;
                }
            }
        });
        let in_flight = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = mpsc::channel::<Vec<Value>>(2);
        let collector = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(rows) = rx.recv().await {
                seen.extend(rows.into_iter().filter_map(|v| v.as_u64()));
            }
            seen
        });
        let out = fanout(
            receiver_stream(id_rx),
            5,
            |i: u32| {
                let in_flight = Arc::clone(&in_flight);
                let peak = Arc::clone(&peak);
                async move {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(u64::from(i % 3))).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    if i % 10 == 7 {
                        Err(Error::Internal(format!("item {i} broke")))
                    } else {
                        Ok(vec![Value::from(i)])
                    }
                }
            },
            &tx,
        )
        .await
        .expect("fanout");
        drop(tx);
        producer.await.expect("producer");
        let mut seen = collector.await.expect("collector");
        seen.sort();
        let expected: Vec<u64> = (0..100).filter(|i| i % 10 != 7).collect();
        assert_eq!(seen, expected, "every good item exactly once");
        assert_eq!(out.fetched, 90);
        assert_eq!(out.rows, 90);
        let mut failed: Vec<_> = out.failed.iter().map(|f| f.id.clone()).collect();
        failed.sort();
        assert_eq!(failed.len(), 10);
        assert!(failed.contains(&"17".to_string()));
        assert!(peak.load(Ordering::SeqCst) <= 5, "at most 5 in flight");
    }

    #[tokio::test]
    async fn unauthorized_stops_the_fanout() {
        let (tx, _rx) = mpsc::channel::<Vec<Value>>(8);
        let err = fanout(
            futures::stream::iter(0..10u32),
            2,
            |i| async move {
                if i == 3 {
                    Err(Error::Http(crate::http::HttpError::Unauthorized {
                        code: "unauthorized".into(),
                        message: "Access Token Invalid".into(),
                    }))
                } else {
                    Ok(Vec::new())
                }
            },
            &tx,
        )
        .await
        .expect_err("auth failure ends it");
        assert!(err.is_unauthorized());
    }
}
