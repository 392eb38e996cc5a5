//! Paginators: how a listing is walked, page after page, and what a failed
//! page means for the walk.
//!
//! [`Scroll`] reads a listing whose cursor lives on the server: Intercom's
//! `GET /companies/scroll` (notes §3.11). Every page carries a
//! `scroll_param` (often the same on every page), each request moves the
//! server's cursor on, and `data: []` ends it. A request whose answer is lost
//! after the server moved on (a 5xx from a gateway, a timeout, a reset, an
//! empty or cut-off body) cannot be asked again: the second try gets the
//! *next* page and the lost one is silently gone. So a scroll is never
//! retried page by page. Its requests go through
//! [`IntercomClient::server_cursor`], which resends only what provably did
//! not move the cursor (a 429, a connection that could not be opened), and
//! the [`Scroll`] type holds nothing else to send them with.
//!
//! ## Passes, and how a read is known to be complete
//!
//! A read is made of *passes*, each a new scroll from the beginning. A pass
//! that meets a failure is *broken*: it can no longer prove it saw every
//! record. It is still read on to its end (its later pages are real records,
//! and reading a scroll to its end closes it on the server, so the next pass
//! can open one at once instead of meeting 400 `scroll_exists` for a minute),
//! unless [`ScrollPolicy::max_failures_in_row`] failures come in a row or
//! the scroll is gone (404). Then a new pass starts from the beginning.
//!
//! Records are handed on once per read, deduplicated by `id`. The read is
//! complete when the evidence of its passes chains the whole listing from
//! the start to the end: every two records read one after the other with no
//! failure between them (within a page, or the last of a page and the first
//! of the next page answered without a failure in between) are *linked*, as
//! are the start and the first record of a pass's first page, and the last
//! record and the empty end page. Following the links from the start must
//! reach the end through every record seen. A pass without any failure is
//! such a chain by itself; broken passes complete one another when the
//! server lists the records in the same order every time (Intercom lists
//! companies by creation). Evidence that contradicts itself (a record
//! linked to two different successors: the order changed between passes)
//! is dropped and only the newest pass is kept, so an unstable order falls
//! back to needing a pass without failures; it never yields a false "complete".
//!
//! ## The restart bound, and why
//!
//! If `p` is the chance that one scroll request fails and `N` the requests
//! of a full scroll (pages plus the end page), one pass has no failure with
//! probability `(1-p)^N`. The simulator's `flaky` profile fails p = 9 % of
//! requests (5 % 5xx, 1 % stalls, 1 % resets, 1 % cut-off, 1 % empty
//! bodies); 3,000 companies are N = 61 requests: a clean pass has a chance
//! of 0.3 %, so "restart until one pass is clean" would need about 300
//! passes. With the links above, a link between two pages is proven by a
//! pass with probability (1-p)² ≈ 0.83, independently per pass, and a read
//! needs every one of its N links: a Monte-Carlo model of this algorithm
//! (broken passes read on, 3 failures in a row end a pass, a failed first
//! request gives an empty pass) completes within 16 passes in all but
//! fewer than 1 in 10⁵ reads at p = 9 % (0.4 % need more than 7 passes),
//! and essentially always at p = 2 %. So [`ScrollPolicy::default`]: at most 16
//! passes (15 restarts), and at most 6 passes in a row that got no page at
//! all. Before a new pass it waits 250 ms, doubled for every pass in a row
//! that got no page (up to 8 s): a scroll failing on every request fails
//! the report after 6 passes and about 8 seconds of waiting.
//! Past the bound the report fails with nothing committed; it never
//! "succeeds" with a partial set.
//!
//! 400 `scroll_exists` on a first request means the workspace's one scroll
//! is open: another app's, or one a broken pass of this read left behind.
//! It is waited out (polling every 1 s, then up to every 10 s, for at most
//! the client's `max_retry_secs`) and said once.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;

use crate::anomalies::{Anomalies, AnomalyKind};
use crate::error::{Error, Result};
use crate::http::retry::is_scroll_exists;
use crate::http::{HttpError, IntercomClient, ServerCursorReads};

mod links;

use links::{Links, Node, PassLinks};

/// The bounds of a [`Scroll`] read (see the module doc for the choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScrollPolicy {
    /// Passes (scrolls from the beginning) before the read fails.
    pub max_passes: u32,
    /// Passes in a row that got no page at all before the read fails.
    pub max_empty_passes: u32,
    /// A broken pass is read on to its end unless this many requests in a
    /// row fail; then it is left to expire on the server.
    pub max_failures_in_row: u32,
    /// Wait before a new pass; doubled for every pass in a row that got no
    /// page after the first.
    pub restart_wait: Duration,
    /// The longest wait before a new pass.
    pub max_restart_wait: Duration,
}

impl Default for ScrollPolicy {
    fn default() -> Self {
        ScrollPolicy {
            max_passes: 16,
            max_empty_passes: 6,
            max_failures_in_row: 3,
            restart_wait: Duration::from_millis(250),
            max_restart_wait: Duration::from_secs(8),
        }
    }
}

/// How a completed [`Scroll::read`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScrollRead {
    /// Passes made (1 when nothing failed).
    pub passes: u32,
    /// Distinct records handed on.
    pub records: u64,
}

/// A read of a server-side scroll. See the module doc.
pub struct Scroll<'a> {
    reads: ServerCursorReads<'a>,
    /// Path of the first request, e.g. `companies/scroll`.
    path: &'a str,
    /// For messages and anomalies, e.g. `GET /companies/scroll`.
    endpoint: String,
    policy: ScrollPolicy,
    anomalies: Anomalies,
}

/// How a pass ended.
struct PassEnd {
    /// At least one page arrived.
    got_page: bool,
    /// The last failure, if any.
    failure: Option<HttpError>,
}

impl<'a> Scroll<'a> {
    /// A scroll over `path` (relative to the base URL, e.g.
    /// `companies/scroll`) with the default [`ScrollPolicy`]; restarts are
    /// counted in `anomalies` as [`AnomalyKind::ScrollRestart`].
    pub fn new(client: &'a IntercomClient, path: &'a str, anomalies: Anomalies) -> Self {
        Scroll {
            reads: client.server_cursor(),
            path,
            endpoint: format!("GET /{path}"),
            policy: ScrollPolicy::default(),
            anomalies,
        }
    }

    /// Use other bounds.
    pub fn with_policy(mut self, policy: ScrollPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Read the whole listing, handing every record (a JSON object with a
    /// string `id`) to `deliver` once, a page's new records at a time, in
    /// the order read. Fails when the passes run out without a complete
    /// read (the error says how many and the last failure), on a 401 or 403
    /// at once, on a record without an `id`, or when `deliver` fails.
    pub async fn read(
        &self,
        mut deliver: impl AsyncFnMut(Vec<Value>) -> Result<()>,
    ) -> Result<ScrollRead> {
        let mut links = Links::default();
        let mut delivered: HashSet<String> = HashSet::new();
        let mut empty_in_row = 0u32;
        let mut last_failure: Option<HttpError> = None;
        for pass in 1..=self.policy.max_passes {
            if pass > 1 {
                self.anomalies
                    .record(AnomalyKind::ScrollRestart, &self.endpoint, None);
                let wait = self
                    .policy
                    .restart_wait
                    .saturating_mul(1u32 << empty_in_row.saturating_sub(1).min(16))
                    .min(self.policy.max_restart_wait);
                tracing::info!(
                    endpoint = %self.endpoint,
                    pass,
                    wait_ms = wait.as_millis() as u64,
                    "starting the scroll again from the beginning after a failure"
                );
                tokio::time::sleep(wait).await;
            }
            let mut evidence = PassLinks::default();
            let end = self
                .pass(&mut evidence, &mut delivered, &mut deliver)
                .await?;
            // A pass without a failure is complete by itself, whatever older
            // passes saw (a record deleted since is simply no longer listed).
            let clean = {
                let mut alone = Links::default();
                evidence.apply(&mut alone) && alone.complete()
            };
            links.merge(&evidence);
            if clean || links.complete() {
                return Ok(ScrollRead {
                    passes: pass,
                    records: delivered.len() as u64,
                });
            }
            if let Some(f) = end.failure {
                last_failure = Some(f);
            }
            empty_in_row = if end.got_page { 0 } else { empty_in_row + 1 };
            if empty_in_row >= self.policy.max_empty_passes {
                return Err(self.gave_up(pass, last_failure.as_ref()));
            }
        }
        Err(self.gave_up(self.policy.max_passes, last_failure.as_ref()))
    }

    fn gave_up(&self, passes: u32, last: Option<&HttpError>) -> Error {
        let last = last.map_or_else(
            || "the passes disagreed about the order of the records".to_string(),
            |e| format!("last failure: {e}"),
        );
        Error::Protocol {
            endpoint: self.endpoint.clone(),
            message: format!(
                "the scroll broke off on each of {passes} passes from the beginning, so the read \
                 cannot be shown complete ({last}); nothing of this report was committed, and the \
                 next run reads it again"
            ),
        }
    }

    /// One scroll from the beginning, read to its end if it can be.
    async fn pass(
        &self,
        evidence: &mut PassLinks,
        delivered: &mut HashSet<String>,
        deliver: &mut impl AsyncFnMut(Vec<Value>) -> Result<()>,
    ) -> Result<PassEnd> {
        let mut param: Option<String> = None;
        // The node the next record links to; None after a failure.
        let mut prev = Some(Node::Start);
        let mut failures_in_row = 0u32;
        let mut end = PassEnd {
            got_page: false,
            failure: None,
        };
        let mut held = HeldWait::new(self.reads.max_wait());
        loop {
            let path = match &param {
                None => self.path.to_string(),
                Some(p) => format!("{}?scroll_param={}", self.path, urlencode(p)),
            };
            let failure = match self.reads.get::<Value>(&path).await {
                Ok(body) => match Page::of(&body, &self.endpoint) {
                    Ok(page) => {
                        failures_in_row = 0;
                        end.got_page = true;
                        if page.data.is_empty() {
                            if let Some(p) = prev {
                                evidence.links.push((p, Node::End));
                            }
                            return Ok(end);
                        }
                        let mut fresh = Vec::new();
                        for record in page.data {
                            let id = record_id(record, &self.endpoint)?;
                            let node = Node::Record(id.to_string());
                            if let Some(p) = prev.take() {
                                evidence.links.push((p, node.clone()));
                            }
                            prev = Some(node);
                            evidence.ids.push(id.to_string());
                            if delivered.insert(id.to_string()) {
                                fresh.push(record.clone());
                            }
                        }
                        if !fresh.is_empty() {
                            deliver(fresh).await?;
                        }
                        match page.scroll_param {
                            Some(p) => {
                                param = Some(p.to_string());
                                continue;
                            }
                            None => HttpError::Body {
                                endpoint: self.endpoint.clone(),
                                message: "a page with data but no scroll_param".into(),
                            },
                        }
                    }
                    Err(e) => e,
                },
                // A refused token, or no connection to the server at all
                // (after the client's own tries): run scope, another pass
                // could not do better.
                Err(e) if e.is_auth() || e.is_connect_failure() => return Err(e.into()),
                Err(e) if param.is_none() && is_scroll_exists(&e) => {
                    if held.wait(&self.endpoint).await {
                        continue;
                    }
                    return Err(e.into());
                }
                // The scroll's first request refused outright (a 404: a
                // wrong `base_url` path; a 403: a missing scope): a new pass
                // would send the same request and be refused again.
                Err(e) if param.is_none() && refused_outright(&e) => return Err(e.into()),
                Err(e) => e,
            };
            // The answer was lost, perhaps after the server moved on: this
            // pass can no longer prove it saw everything.
            prev = None;
            failures_in_row += 1;
            let gone = matches!(failure, HttpError::Status { status: 404, .. });
            tracing::debug!(error = %failure, "a scroll request failed; the pass is broken");
            end.failure = Some(failure);
            let drainable = param.is_some() && !gone;
            if !drainable || failures_in_row >= self.policy.max_failures_in_row {
                return Ok(end);
            }
        }
    }
}

/// A 4xx that says the request itself is wrong, not that the scroll moved
/// on: not a timeout (408), a conflict (409) or a rate limit (429).
fn refused_outright(e: &HttpError) -> bool {
    matches!(e, HttpError::Forbidden { .. })
        || matches!(e, HttpError::Status { status, .. }
            if (400..500).contains(status) && !matches!(status, 408 | 409 | 429))
}

/// The parts of a scroll page the paginator reads.
struct Page<'v> {
    data: &'v [Value],
    scroll_param: Option<&'v str>,
}

impl<'v> Page<'v> {
    /// A page needs a `data` array; anything else is an unusable body.
    fn of(body: &'v Value, endpoint: &str) -> Result<Self, HttpError> {
        let data = body
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| HttpError::Body {
                endpoint: endpoint.to_string(),
                message: "the page has no `data` array".into(),
            })?;
        Ok(Page {
            data,
            scroll_param: body
                .get("scroll_param")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty()),
        })
    }
}

fn record_id<'v>(record: &'v Value, endpoint: &str) -> Result<&'v str> {
    record
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Protocol {
            endpoint: endpoint.to_string(),
            message: "a record without a string `id`".into(),
        })
}

/// Waiting for an open scroll to expire: polls 1 s, 2 s, 4 s, 8 s, then
/// every 10 s, for at most `limit` in all; says so once.
struct HeldWait {
    limit: Duration,
    waited: Duration,
    next: Duration,
}

impl HeldWait {
    fn new(limit: Duration) -> Self {
        HeldWait {
            limit,
            waited: Duration::ZERO,
            next: Duration::from_secs(1),
        }
    }

    /// Wait before asking again; false once the limit is used up.
    async fn wait(&mut self, endpoint: &str) -> bool {
        if self.waited >= self.limit {
            return false;
        }
        if self.waited.is_zero() {
            tracing::warn!(
                endpoint,
                "this workspace's one scroll is open (held by another app, or left by a broken \
                 pass of this read); waiting for it to expire (about a minute)"
            );
        }
        let wait = self.next.min(self.limit - self.waited);
        tokio::time::sleep(wait).await;
        self.waited += wait;
        self.next = (self.next * 2).min(Duration::from_secs(10));
        true
    }
}

/// Percent-encode a query value.
fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
