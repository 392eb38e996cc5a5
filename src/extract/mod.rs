//! The extraction engine: how records are read from Intercom, page after
//! page and item after item, independent of which report reads them.
//!
//! - [`search`]: incremental reads through a search endpoint, window by
//!   window, with lookback and checkpoints ([`window`] cuts the range,
//!   [`cursor`] filters records against the saved position, [`range`] reads
//!   a backfill window; [`windows_parallel`] reads several windows at once
//!   and delivers them in order).
//! - [`list`]: the paginator for page-numbered and `pages.next` listings,
//!   with the URL-safe id check and smaller pages on repeated 5xx/timeouts.
//!   (The server-side scroll is [`crate::api::paginate::Scroll`].)
//! - [`fanout`]: the one per-item fan-out: parents from a parent read (a
//!   search, a scroll, a list of ids), ≤ `concurrency` child requests at a
//!   time, one failure rule ([`crate::error::Error::scope`]), one failed-item
//!   key codec ([`fanout::ItemKey`]), and checkpoints that carry the
//!   parent cursor and the items failed so far.
//! - `raw_page` and `record_keys`: a search page is read once into its
//!   records kept as text; each is decoded when delivered, with only the
//!   top-level keys its reader reads (a search report's columns, a
//!   fan-out's jobs: `Feed::reading`), the rest passed over unbuilt.
//!
//! - [`run_lists`]: the custom-attribute declarations and snapshot lists,
//!   each read at most once per run and shared by the run's reports.
//! - [`shared_conversations`]: `GET /conversations/{id}` once per changed
//!   conversation per run for the reports that read conversation details.
//! - [`shared_search`]: each conversation and ticket search page once per
//!   run for every report that asks for it.
//!
//! Everything an extractor produces goes to the pipeline's channel as
//! [`crate::reports::WriterMsg`]: rows, or a [`Checkpoint`].

pub mod ahead;
pub mod company_scroll;
pub mod cursor;
pub mod fanout;
pub(crate) mod identity_scan;
pub mod list;
pub mod plan;
pub mod range;
pub(crate) mod raw_page;
pub(crate) mod record_keys;
pub mod run_lists;
pub mod search;
pub mod shared_conversations;
pub mod shared_search;
pub(crate) mod spill;
pub mod window;
pub mod windows_parallel;

use std::collections::VecDeque;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::state::FailedItem;

/// What an extractor hands the report's writer, in order.
#[derive(Debug)]
pub enum WriterMsg {
    /// Records to write.
    Rows(Vec<Value>),
    /// Every record sent so far is covered by this cursor, and the items
    /// failed since the last checkpoint go with it: the writer makes its
    /// files durable and the pipeline commits them with it before going on
    /// (a search window completed; see [`search`] and [`fanout`]).
    Checkpoint(Checkpoint),
}

/// What an extractor needs besides the client.
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// Page size for list and search requests (Intercom's maximum is 150).
    pub per_page: u32,
    /// Per-item fetches in flight at most (see [`fanout`]): the
    /// `concurrency` setting, an upper bound; the client's in-flight gate
    /// ([`crate::http::inflight`]) decides how many calls go at once.
    pub concurrency: usize,
    /// Seconds before the cursor re-read on every sync (see [`search`]).
    pub lookback_secs: u64,
    /// A search-based report commits its files and cursor after a completed
    /// window once this much time has passed since its last commit (see
    /// [`search`]): a long sync that is interrupted resumes from there. Zero
    /// checkpoints after every window (tests).
    pub checkpoint_every: std::time::Duration,
    /// The report's progress bar, told the expected total when the API
    /// gives one (the pipeline sets it per export; hidden by default).
    pub progress: crate::telemetry::Progress,
    /// The report's anomaly counters (skipped children, scroll restarts,
    /// degraded windows, …): the pipeline makes one per export.
    pub anomalies: crate::anomalies::Anomalies,
    /// The run's one companies scroll, shared by the company reports (see
    /// [`company_scroll`]): one per run, cloned into every export.
    pub companies: company_scroll::CompanySpool,
    /// The run's custom-attribute declarations and snapshot lists, each
    /// read at most once per run (see [`run_lists`]): one per run, cloned
    /// into every export.
    pub lists: run_lists::RunLists,
    /// The run's conversation details, each read at most once per run for
    /// the reports that read them (see [`shared_conversations`]): one per
    /// run, cloned into every export.
    pub conversations: shared_conversations::SharedConversations,
    /// The run's conversation and ticket search pages, each asked at most
    /// once at a time and kept (within a byte budget) for the other
    /// reports asking for the same page (see [`shared_search`]): one per
    /// run, cloned into every export.
    pub searches: shared_search::SharedSearch,
}

/// What an extraction produced.
#[derive(Debug, Default)]
pub struct Extracted {
    pub rows: u64,
    /// The cursor to save (opaque JSON), or `None` to keep the old one.
    pub cursor: Option<String>,
    /// Items that could not be fetched this run.
    pub failed: Vec<FailedItem>,
    /// Items from `retry` that were fetched this time.
    pub recovered: Vec<String>,
}

/// A commit point an extractor hands the pipeline: every row sent before it
/// is covered by `cursor`, and `failed` / `recovered` are the items that
/// failed (or, retried from earlier runs, succeeded) since the previous
/// checkpoint. The pipeline makes the files written so far durable and
/// commits them with all three in one state transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// The report's cursor (opaque JSON, as in `Extracted::cursor`).
    pub cursor: String,
    /// Items that failed after retries since the last checkpoint.
    pub failed: Vec<FailedItem>,
    /// Earlier failed items fetched since the last checkpoint.
    pub recovered: Vec<String>,
}

/// The pipeline's channel as an extractor sees it: rows, checkpoints, and
/// the expected total for the progress bar.
pub struct WriterHandle<'a> {
    /// The report's channel to its writer.
    pub tx: &'a mpsc::Sender<WriterMsg>,
    /// The report's progress bar (hidden by default).
    pub progress: &'a crate::telemetry::Progress,
}

impl WriterHandle<'_> {
    /// Hand over a checkpoint (see [`Checkpoint`]).
    pub(crate) async fn commit_point(&self, checkpoint: Checkpoint) -> Result<()> {
        self.tx
            .send(WriterMsg::Checkpoint(checkpoint))
            .await
            .map_err(|_| writer_stopped())
    }
}

impl search::Sink for WriterHandle<'_> {
    async fn rows(&self, rows: Vec<Value>) -> Result<()> {
        send_rows(self.tx, rows).await
    }

    async fn checkpoint(&self, cursor: &search::SearchCursor) -> Result<()> {
        self.commit_point(Checkpoint {
            cursor: serde_json::json!(cursor).to_string(),
            ..Checkpoint::default()
        })
        .await
    }

    fn total(&self, rows: u64) {
        self.progress.set_total(rows);
    }
}

/// The error an extractor meets when the writer stopped: the writer's own
/// error is the one reported.
/// Await `work` (rows or a checkpoint handed to the writer) while still
/// driving the requests in `in_flight`, keeping their results in `done` in
/// the order they end. A request already sent holds one of the client's
/// in-flight slots, and counts against the pacer, until its future is
/// polled to the end: left unpolled while the writer is slow, such requests
/// would starve the other reports of the run, and the writer itself when it
/// needs a request (a report's custom-attribute lists are read on its first
/// rows) — a deadlock.
pub(crate) async fn driving<T, F: Future>(
    work: impl Future<Output = T>,
    in_flight: &mut FuturesUnordered<F>,
    done: &mut VecDeque<F::Output>,
) -> T {
    let mut work = std::pin::pin!(work);
    loop {
        tokio::select! {
            biased;
            out = &mut work => return out,
            Some(r) = in_flight.next(), if !in_flight.is_empty() => done.push_back(r),
        }
    }
}

pub(crate) fn writer_stopped() -> Error {
    Error::Internal("the file writer stopped early".into())
}

/// Hand a batch of rows to the report's writer (nothing for an empty batch).
pub(crate) async fn send_rows(tx: &mpsc::Sender<WriterMsg>, rows: Vec<Value>) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    tx.send(WriterMsg::Rows(rows))
        .await
        .map_err(|_| writer_stopped())
}

/// An id read from an API answer, the state or a user's option goes into a
/// URL path: it must be plain ASCII letters, digits, `-` or `_` (Intercom's
/// ids are), never empty. `endpoint` names where it came from.
pub(crate) fn url_safe_id<'a>(id: &'a str, endpoint: &str) -> Result<&'a str> {
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Error::Protocol {
            endpoint: endpoint.to_string(),
            message: format!("an id that cannot go in a URL: {id:?}"),
        });
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_ids_go_into_urls() {
        for ok in ["123", "abc_DEF-9"] {
            assert_eq!(url_safe_id(ok, "x").expect("ok"), ok);
        }
        for bad in ["", "a/b", "../x", "a?b=1", "é", "a b"] {
            let e = url_safe_id(bad, "POST /contacts/search").expect_err(bad);
            assert!(e.to_string().contains("POST /contacts/search"), "{e}");
        }
    }
}
