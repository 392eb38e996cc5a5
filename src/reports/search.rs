//! Incremental export through Intercom's search endpoints.
//!
//! The cursor is the highest `updated_at` exported so far plus the ids
//! exported *at* that second ([`SearchCursor`]). The next run asks for
//! records updated at or after that second and drops those ids, so a record
//! updated in the same second as the cursor, but after the run read it, is
//! not lost, and one already exported is not written twice. A sync with
//! nothing new therefore returns only the records of the cursor's second and
//! writes nothing.
//!
//! Two server behaviours are handled ([`Granularity`]):
//! - conversations (and tickets): date filters are exact to the second; the
//!   filter `updated_at > T-1` is exact and every page is read. Nothing
//!   depends on the order of results, which the API does not document.
//! - contacts: date filters are day-granular (`>` starts at the next midnight,
//!   in the workspace's time zone). We ask for everything from two days
//!   before the cursor, sorted by `updated_at` descending (`sort` is part of
//!   the contact search request), filter to the exact cursor on our side, and
//!   stop paging at the first record older than the cursor.
//!
//! # Checkpoints
//!
//! Windows are read oldest first, so when one completes, the cursor of the
//! rows accepted so far covers every record up to its upper bound. A long
//! sync hands that cursor to its sink (`Sink`) after a completed window (at most
//! once per `checkpoint_every`): the pipeline then makes the files written so
//! far durable and commits them with that cursor. An interrupted sync
//! restarts from the last committed window; the windows before it are not
//! read again.
//!
//! # Pages that keep failing, and pages short of their total
//!
//! Every page goes through the client's retries. A page that still fails
//! with a 5xx, a timeout or an unusable body is asked again with smaller
//! pages (`per_page` halved, down to [`MIN_DEGRADED_PER_PAGE`]; the window
//! is read again from its start, rows already sent are not sent twice), then
//! by splitting its window in two (at most [`MAX_FAILURE_SPLITS`] times), and
//! only then fails the report. Each window read that needed this is counted
//! as a degraded window (`AnomalyKind::DegradedWindow`); the smaller page
//! size stays for the rest of the report.
//!
//! Envelopes are read by [`crate::api::Page::decode`]: a page without the
//! endpoint's list key fails the report, and so does a first page without a
//! next page that lists fewer records than its `total_count`. A window
//! read over several pages that ends with fewer distinct records than its
//! last page's `total_count` is counted as a short read
//! (`AnomalyKind::ShortRead`): a search can legitimately change while it is
//! paged, but a shortfall that is not explained by that is worth a look.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::anomalies::{Anomalies, AnomalyKind};
use crate::api::query::{and, leaf, search_body};
use crate::api::{Page, list_key};
use crate::error::{Error, Result};
use crate::http::{HttpError, IntercomClient};
use crate::reports::ExtractOptions;

/// How the endpoint compares dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// Exact unix seconds (conversation and ticket search).
    Second,
    /// Calendar days (contact search).
    Day,
}

/// What to search.
#[derive(Debug, Clone)]
pub struct SearchSpec {
    /// `contacts/search`, `conversations/search`.
    pub path: &'static str,
    /// Extra filter ANDed with the `updated_at` bound (e.g. `role = user`).
    pub filter: Option<Value>,
    pub granularity: Granularity,
    /// `(field, order)` to sort window pages by (`None`: the endpoint's
    /// default). The probe is always `updated_at` descending.
    pub sort: Option<(&'static str, &'static str)>,
}

/// Pages one window may take before it is split in two: deep pagination
/// of a search is slow and fragile, and a smaller window is a smaller redo.
pub const WINDOW_PAGE_BUDGET: u64 = 20;

/// The smallest `per_page` a read that keeps failing is degraded to before
/// its window is split instead.
pub const MIN_DEGRADED_PER_PAGE: u32 = 10;

/// How many times a window is split because its pages keep failing (after
/// the page size reached [`MIN_DEGRADED_PER_PAGE`]), i.e. down to 1/16 of
/// it, before the report fails: a server that is down fails every half too.
pub const MAX_FAILURE_SPLITS: u8 = 4;

const DAY: i64 = 86_400;

/// The narrowest window a day-granular search is cut into. Each of its
/// queries reads two extra days on either side (see [`Window::filters`]), so
/// narrow windows read most contacts several times: one-day windows read
/// five days to keep one. At 14 days at most 4/18 of what is read is
/// overlap, and a window that holds more than the page budget is paged
/// deeper rather than split further.
pub const MIN_DAY_WINDOW: i64 = 14 * DAY;

/// The saved position of a search-based report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchCursor {
    /// Highest `updated_at` (unix seconds) exported.
    pub updated_at: i64,
    /// Ids exported with exactly that `updated_at`.
    pub ids_at: Vec<String>,
    /// With a lookback: `(id, updated_at)` exported within the lookback
    /// margin below `updated_at`, so re-reading the margin writes nothing twice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent: Vec<(String, i64)>,
}

impl SearchCursor {
    fn admits(&self, id: &str, updated_at: i64, lookback: i64) -> bool {
        if updated_at > self.updated_at {
            return true;
        }
        if updated_at == self.updated_at {
            return !self.ids_at.iter().any(|x| x == id);
        }
        lookback > 0
            && updated_at > self.updated_at - lookback
            && !self.recent.iter().any(|(x, t)| x == id && *t == updated_at)
    }
}

/// A time window `(lo, hi]` in exact unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub lo: i64,
    pub hi: i64,
}

impl Window {
    /// Does the window hold this instant?
    pub fn contains(self, t: i64) -> bool {
        self.lo < t && t <= self.hi
    }

    /// Two halves, or `None` when the window cannot shrink (one second; for
    /// day-granular search, halves narrower than [`MIN_DAY_WINDOW`]).
    pub fn split(self, g: Granularity) -> Option<(Window, Window)> {
        let mid = match g {
            Granularity::Second => self.lo + (self.hi - self.lo) / 2,
            Granularity::Day => {
                let m = (self.lo + (self.hi - self.lo) / 2).div_euclid(DAY) * DAY;
                if m - self.lo < MIN_DAY_WINDOW || self.hi - m < MIN_DAY_WINDOW {
                    return None;
                }
                m
            }
        };
        (mid > self.lo && mid < self.hi).then_some((
            Window {
                lo: self.lo,
                hi: mid,
            },
            Window {
                lo: mid,
                hi: self.hi,
            },
        ))
    }

    /// The search filter covering the window: exact for seconds; for days,
    /// whole UTC days plus a day of overlap each side (workspace time zones),
    /// filtered back to the exact window on our side.
    fn filters(self, g: Granularity) -> Vec<Value> {
        match g {
            Granularity::Second => vec![
                leaf("updated_at", ">", self.lo.max(0)),
                leaf("updated_at", "<", self.hi.saturating_add(1)),
            ],
            Granularity::Day => vec![
                leaf("updated_at", ">", (self.lo - 2 * DAY).max(0)),
                leaf("updated_at", "<", self.hi.saturating_add(2 * DAY)),
            ],
        }
    }
}

/// Cut `(lo, hi]` into about `n` windows of equal length (day-aligned cut
/// points for day-granular search, and no narrower than
/// [`MIN_DAY_WINDOW`]), oldest first.
pub fn plan_windows(lo: i64, hi: i64, n: u64, g: Granularity) -> Vec<Window> {
    let mut n = n.max(1) as i64;
    if g == Granularity::Day {
        n = n.min(((hi - lo) / MIN_DAY_WINDOW).max(1));
    }
    let step = ((hi - lo) / n).max(1);
    let mut cuts = vec![lo];
    for i in 1..n {
        let mut c = lo + i * step;
        if g == Granularity::Day {
            c = c.div_euclid(DAY) * DAY;
        }
        if c > *cuts.last().unwrap_or(&lo) && c < hi {
            cuts.push(c);
        }
    }
    cuts.push(hi);
    cuts.windows(2)
        .map(|w| Window { lo: w[0], hi: w[1] })
        .filter(|w| w.hi > w.lo)
        .collect()
}

/// What a search extraction did.
#[derive(Debug, Default)]
pub struct SearchOutcome {
    pub rows: u64,
    /// The cursor to save, or `None` when nothing new was exported.
    pub cursor: Option<SearchCursor>,
}

/// Where a search sends what it finds: a plain page channel (a parent
/// listing inside another report), or the pipeline's channel, which also
/// takes checkpoints.
pub(crate) trait Sink {
    /// Hand over records to write.
    async fn rows(&self, rows: Vec<Value>) -> Result<()>;

    /// Every record sent so far is covered by `cursor` (a window completed).
    /// Plain channels ignore it.
    async fn checkpoint(&self, _cursor: &SearchCursor) -> Result<()> {
        Ok(())
    }

    /// About `rows` records are expected in all (for progress). Plain
    /// channels ignore it.
    fn total(&self, _rows: u64) {}
}

impl Sink for mpsc::Sender<Vec<Value>> {
    async fn rows(&self, rows: Vec<Value>) -> Result<()> {
        crate::reports::send_rows(self, rows).await
    }
}

/// Run one incremental search, sending pages of new records to `tx`.
///
/// A first request (sorted newest first) probes the range: when it holds
/// everything new (its last page, or it reaches below the cursor), that one
/// request is the whole sync. Otherwise its newest `updated_at` becomes `hi`
/// (the server's clock, not ours) and `(lo, hi]` is read window by window,
/// oldest first; a window whose `total_count` exceeds
/// [`WINDOW_PAGE_BUDGET`] pages is split first.
pub(crate) async fn extract(
    client: &IntercomClient,
    spec: &SearchSpec,
    options: &ExtractOptions,
    cursor: Option<SearchCursor>,
    tx: &impl Sink,
) -> Result<SearchOutcome> {
    extract_with_lookback(client, spec, options, 0, cursor, tx, None).await
}

/// [`extract`], re-reading `lookback_secs` below the cursor (see the module
/// docs), and handing `tx` a checkpoint after a completed window when
/// `checkpoint_every` has passed since the last one (`None`: never). Page
/// size and anomaly counters come from `options`.
pub(crate) async fn extract_with_lookback(
    client: &IntercomClient,
    spec: &SearchSpec,
    options: &ExtractOptions,
    lookback_secs: u64,
    cursor: Option<SearchCursor>,
    tx: &impl Sink,
    checkpoint_every: Option<Duration>,
) -> Result<SearchOutcome> {
    let lookback = i64::try_from(lookback_secs).unwrap_or(i64::MAX / 4);
    let from = cursor.as_ref().map_or(0, |c| c.updated_at);
    // Exclusive lower bound: the cursor's own second is re-read (same-second
    // updates), and the lookback margin below it.
    let lo = if cursor.is_some() {
        (from - 1).saturating_sub(lookback).max(0)
    } else {
        0
    };
    let g = spec.granularity;
    let mut tracker = if lookback > 0 {
        CursorTracker::with_lookback(cursor, lookback)
    } else {
        CursorTracker::new(cursor)
    };

    let everything = Window {
        lo,
        hi: i64::MAX / 4,
    };
    let mut reader = Reader {
        client,
        spec,
        per_page: options.per_page.max(1),
        anomalies: &options.anomalies,
    };
    let probe = reader.probe(query(spec, everything, g)).await?;
    // Day-granular probes reach two days below the cursor: their count says
    // little about an incremental sync's rows.
    if let Some(total) = probe.total_count
        && (g == Granularity::Second || tracker.old.is_none())
    {
        tx.total(total);
    }
    let mut newest = i64::MIN;
    let mut oldest = i64::MAX;
    for record in &probe.data {
        let (_, t) = identity(spec.path, record)?;
        newest = newest.max(t);
        oldest = oldest.min(t);
    }
    if probe.next_cursor().is_none() || oldest <= lo {
        // Everything new is on this page.
        let mut seen = HashSet::new();
        send_fresh(spec, everything, probe.data, &mut tracker, &mut seen, tx).await?;
        return Ok(tracker.finish());
    }
    let total = probe.total_count.unwrap_or(0);
    let budget_rows = WINDOW_PAGE_BUDGET * u64::from(reader.per_page);
    // Each window with how many times it was split because pages failed.
    let mut queue: VecDeque<(Window, u8)> =
        plan_windows(lo, newest, total.div_ceil(budget_rows), g)
            .into_iter()
            .map(|w| (w, 0))
            .collect();
    let mut last_checkpoint = Instant::now();
    let mut rows_at_checkpoint = 0;
    while let Some((window, failure_splits)) = queue.pop_front() {
        match reader
            .read_window(window, failure_splits, budget_rows, &mut tracker, tx)
            .await?
        {
            WindowRead::Done => {
                tracing::debug!(
                    endpoint = spec.path,
                    lo = window.lo,
                    hi = window.hi,
                    "window done"
                );
                let due = checkpoint_every.is_some_and(|every| last_checkpoint.elapsed() >= every);
                if due
                    && !queue.is_empty()
                    && tracker.rows > rows_at_checkpoint
                    && let Some(cursor) = tracker.clone().finish().cursor
                {
                    tx.checkpoint(&cursor).await?;
                    rows_at_checkpoint = tracker.rows;
                    last_checkpoint = Instant::now();
                }
            }
            WindowRead::TooBig(a, b) => {
                queue.push_front((b, failure_splits));
                queue.push_front((a, failure_splits));
            }
            WindowRead::Failing(a, b) => {
                queue.push_front((b, failure_splits + 1));
                queue.push_front((a, failure_splits + 1));
            }
        }
    }
    Ok(tracker.finish())
}

fn query(spec: &SearchSpec, window: Window, g: Granularity) -> Value {
    let mut filters = Vec::new();
    // Splice an AND group's members in: Intercom allows two levels of nesting.
    match &spec.filter {
        Some(Value::Object(group))
            if group.get("operator").and_then(Value::as_str) == Some("AND") =>
        {
            if let Some(Value::Array(members)) = group.get("value") {
                filters.extend(members.iter().cloned());
            }
        }
        Some(f) => filters.push(f.clone()),
        None => {}
    }
    filters.extend(window.filters(g));
    and(filters)
}

enum WindowRead {
    Done,
    /// More rows than the page budget: read the halves instead.
    TooBig(Window, Window),
    /// Pages kept failing even at the smallest page size: read the halves.
    Failing(Window, Window),
}

/// Can smaller pages or a narrower window help? A 5xx (or 408), a timeout or
/// lost connection, or a body that broke off, after the client's retries.
fn degradable(e: &Error) -> bool {
    match e {
        Error::Http(HttpError::Status { status, .. }) => *status == 408 || *status >= 500,
        Error::Http(HttpError::Transport { .. } | HttpError::Body { .. }) => true,
        _ => false,
    }
}

/// Pages of one search, with the page size it currently asks for.
struct Reader<'a> {
    client: &'a IntercomClient,
    spec: &'a SearchSpec,
    /// Lowered (for the rest of the report) when pages keep failing.
    per_page: u32,
    anomalies: &'a Anomalies,
}

impl Reader<'_> {
    fn endpoint(&self) -> String {
        format!("POST /{}", self.spec.path)
    }

    /// One page, its envelope checked (see [`Page::decode`]).
    async fn page(&self, body: &Value) -> Result<Page> {
        let raw: Value = self.client.post(self.spec.path, body).await?;
        Page::decode(&self.endpoint(), list_key(self.spec.path), raw)
    }

    /// After a page failed for good: halve the page size if it can still
    /// shrink (counting the read as degraded once), and say whether it did.
    fn shrink(&mut self, e: &Error, what: &str, degraded: &mut bool) -> bool {
        if !degradable(e) || self.per_page <= MIN_DEGRADED_PER_PAGE {
            return false;
        }
        let smaller = (self.per_page / 2).max(MIN_DEGRADED_PER_PAGE);
        tracing::warn!(
            endpoint = %self.endpoint(),
            error = %e,
            per_page = self.per_page,
            smaller,
            "{what} keeps failing; asking for smaller pages"
        );
        self.per_page = smaller;
        self.degraded(what, degraded);
        true
    }

    /// Count a degraded read once.
    fn degraded(&self, what: &str, degraded: &mut bool) {
        if !*degraded {
            *degraded = true;
            self.anomalies
                .record(AnomalyKind::DegradedWindow, &self.endpoint(), Some(what));
        }
    }

    /// The first request (newest first), with smaller pages if it keeps
    /// failing. A single-page answer short of its `total_count` is an error.
    async fn probe(&mut self, q: Value) -> Result<Page> {
        let mut degraded = false;
        loop {
            let body = search_body(
                q.clone(),
                self.per_page,
                None,
                Some(("updated_at", "descending")),
            );
            match self.page(&body).await {
                Ok(page) => {
                    page.check_complete(&self.endpoint(), true)?;
                    return Ok(page);
                }
                Err(e) if self.shrink(&e, "the first page", &mut degraded) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Read every page of one window, or report that it must be split.
    async fn read_window(
        &mut self,
        window: Window,
        failure_splits: u8,
        budget_rows: u64,
        tracker: &mut CursorTracker,
        tx: &impl Sink,
    ) -> Result<WindowRead> {
        let spec = self.spec;
        let q = query(spec, window, spec.granularity);
        let label = format!("updated_at ({}, {}]", window.lo, window.hi);
        let mut starting_after: Option<String> = None;
        let mut seen = HashSet::new();
        // Distinct ids the server listed (inside the window or not).
        let mut listed: HashSet<String> = HashSet::new();
        let mut pages = 0u64;
        let mut degraded = false;
        loop {
            let body = search_body(
                q.clone(),
                self.per_page,
                starting_after.as_deref(),
                spec.sort,
            );
            let page = match self.page(&body).await {
                Ok(page) => page,
                Err(e) if self.shrink(&e, &label, &mut degraded) => {
                    // Start the window again at the smaller size: a cursor
                    // is not meant to survive a change of page size.
                    starting_after = None;
                    pages = 0;
                    continue;
                }
                Err(e) if degradable(&e) && failure_splits < MAX_FAILURE_SPLITS => {
                    let Some((a, b)) = window.split(spec.granularity) else {
                        return Err(e);
                    };
                    tracing::warn!(endpoint = %self.endpoint(), error = %e, window = %label, "pages keep failing at the smallest page size; splitting the window");
                    self.degraded(&label, &mut degraded);
                    return Ok(WindowRead::Failing(a, b));
                }
                Err(e) => return Err(e),
            };
            let first = starting_after.is_none();
            if first
                && page.total_count.is_some_and(|t| t > budget_rows)
                && let Some((a, b)) = window.split(spec.granularity)
            {
                tracing::debug!(endpoint = spec.path, lo = window.lo, hi = window.hi, total = ?page.total_count, "window over budget; splitting");
                return Ok(WindowRead::TooBig(a, b));
            }
            page.check_complete(&self.endpoint(), first)?;
            pages += 1;
            for record in &page.data {
                if let Some(id) = record.get("id").and_then(Value::as_str)
                    && !listed.contains(id)
                {
                    listed.insert(id.to_string());
                }
            }
            let next = page.next_cursor();
            let total = page.total_count;
            send_fresh(spec, window, page.data, tracker, &mut seen, tx).await?;
            match next {
                Some(c) => starting_after = Some(c),
                None => {
                    if pages > 1 {
                        short_read(
                            self.anomalies,
                            &self.endpoint(),
                            &label,
                            listed.len(),
                            total,
                        );
                    }
                    return Ok(WindowRead::Done);
                }
            }
        }
    }
}

/// Count a listing that ended with fewer distinct records than the
/// `total_count` its last page stated.
fn short_read(
    anomalies: &Anomalies,
    endpoint: &str,
    label: &str,
    listed: usize,
    total: Option<u64>,
) {
    if let Some(total) = total
        && (listed as u64) < total
    {
        tracing::debug!(
            endpoint,
            window = label,
            listed,
            total,
            "listing ended short of its total_count"
        );
        anomalies.record(AnomalyKind::ShortRead, endpoint, Some(label));
    }
}

/// Keep the records inside `window`, new to the cursor and not yet seen in
/// this window (`(id, updated_at)`), and send them.
async fn send_fresh(
    spec: &SearchSpec,
    window: Window,
    records: Vec<Value>,
    tracker: &mut CursorTracker,
    seen: &mut HashSet<(String, i64)>,
    tx: &impl Sink,
) -> Result<()> {
    let mut fresh = Vec::with_capacity(records.len());
    for record in records {
        let (id, t) = identity(spec.path, &record)?;
        if !window.contains(t) || !seen.insert((id.to_string(), t)) {
            continue;
        }
        if tracker.accept(id, t) {
            fresh.push(record);
        }
    }
    if !fresh.is_empty() {
        tx.rows(fresh).await?;
    }
    Ok(())
}

/// Export every record with `from <= updated_at < until` (a backfill
/// window), without reading or moving any cursor. Day-granular endpoints are
/// asked for the whole days around the range and filtered to it exactly here.
/// Pages that keep failing are asked again smaller (the range is read again
/// from its start; records already sent are not sent twice).
pub(crate) async fn extract_range(
    client: &IntercomClient,
    spec: &SearchSpec,
    options: &ExtractOptions,
    from: i64,
    until: i64,
    tx: &impl Sink,
) -> Result<u64> {
    let (low, high) = match spec.granularity {
        Granularity::Second => (from - 1, until),
        Granularity::Day => (from - 86_400, until + 86_400),
    };
    let mut filters = Vec::new();
    // Splice an AND group's members in: Intercom allows two levels of nesting.
    match &spec.filter {
        Some(Value::Object(group))
            if group.get("operator").and_then(Value::as_str) == Some("AND") =>
        {
            if let Some(Value::Array(members)) = group.get("value") {
                filters.extend(members.iter().cloned());
            }
        }
        Some(f) => filters.push(f.clone()),
        None => {}
    }
    filters.push(leaf("updated_at", ">", low.max(0)));
    filters.push(leaf("updated_at", "<", high));
    let query = and(filters);
    let mut reader = Reader {
        client,
        spec,
        per_page: options.per_page.max(1),
        anomalies: &options.anomalies,
    };
    let label = format!("updated_at [{from}, {until})");
    let mut degraded = false;
    let mut starting_after: Option<String> = None;
    let mut rows = 0u64;
    let mut pages = 0u64;
    let mut sent: HashSet<(String, i64)> = HashSet::new();
    let mut listed: HashSet<String> = HashSet::new();
    loop {
        let body = search_body(
            query.clone(),
            reader.per_page,
            starting_after.as_deref(),
            None,
        );
        let page = match reader.page(&body).await {
            Ok(page) => page,
            Err(e) if reader.shrink(&e, &label, &mut degraded) => {
                starting_after = None;
                pages = 0;
                continue;
            }
            Err(e) => return Err(e),
        };
        let first = starting_after.is_none();
        page.check_complete(&reader.endpoint(), first)?;
        pages += 1;
        if first
            && spec.granularity == Granularity::Second
            && let Some(total) = page.total_count
        {
            tx.total(total);
        }
        let mut fresh = Vec::with_capacity(page.data.len());
        for record in &page.data {
            let (id, updated_at) = identity(spec.path, record)?;
            if !listed.contains(id) {
                listed.insert(id.to_string());
            }
            if (from..until).contains(&updated_at) && sent.insert((id.to_string(), updated_at)) {
                fresh.push(record.clone());
            }
        }
        let next = page.next_cursor();
        if !fresh.is_empty() {
            rows += fresh.len() as u64;
            tx.rows(fresh).await?;
        }
        match next {
            Some(c) => starting_after = Some(c),
            None => {
                if pages > 1 {
                    short_read(
                        reader.anomalies,
                        &reader.endpoint(),
                        &label,
                        listed.len(),
                        page.total_count,
                    );
                }
                break;
            }
        }
    }
    Ok(rows)
}

/// The id and `updated_at` every search result must have.
pub(crate) fn identity<'a>(endpoint: &str, record: &'a Value) -> Result<(&'a str, i64)> {
    let id = record.get("id").and_then(Value::as_str);
    // Any form a timestamp column accepts (seconds, milliseconds, ISO-8601),
    // in whole seconds: the cursor's unit.
    let updated_at = record
        .get("updated_at")
        .and_then(crate::output::schema::timestamp_secs);
    match (id, updated_at) {
        (Some(id), Some(t)) => Ok((id, t)),
        _ => Err(Error::Protocol {
            endpoint: endpoint.to_string(),
            message: "a record without a string `id` or an `updated_at` timestamp (unix \
                      seconds, milliseconds or ISO-8601)"
                .into(),
        }),
    }
}

/// Filters records against the old cursor and computes the new one.
#[derive(Clone)]
pub(crate) struct CursorTracker {
    old: Option<SearchCursor>,
    lookback: i64,
    max: i64,
    ids_at_max: Vec<String>,
    /// Accepted rows, kept only with a lookback (for `SearchCursor::recent`).
    accepted: Vec<(String, i64)>,
    /// Prune `accepted` when it reaches this length.
    accepted_limit: usize,
    rows: u64,
}

/// `CursorTracker::accepted` is pruned no more often than every this many rows.
const ACCEPTED_PRUNE_MIN: usize = 4096;

impl CursorTracker {
    pub(crate) fn new(old: Option<SearchCursor>) -> Self {
        Self::with_lookback(old, 0)
    }

    /// A tracker that also admits unseen rows up to `lookback` seconds
    /// below the old cursor.
    fn with_lookback(old: Option<SearchCursor>, lookback: i64) -> Self {
        Self {
            old,
            lookback,
            max: i64::MIN,
            ids_at_max: Vec::new(),
            accepted: Vec::new(),
            accepted_limit: ACCEPTED_PRUNE_MIN,
            rows: 0,
        }
    }

    /// Should this record be exported? Updates the running cursor if so.
    pub(crate) fn accept(&mut self, id: &str, updated_at: i64) -> bool {
        if let Some(old) = &self.old
            && !old.admits(id, updated_at, self.lookback)
        {
            return false;
        }
        self.rows += 1;
        if updated_at > self.max {
            self.max = updated_at;
            self.ids_at_max.clear();
        }
        if self.lookback > 0 {
            self.accepted.push((id.to_string(), updated_at));
            // Only rows within the lookback of the final cursor are kept
            // (`finish`); drop older ones as we go, so a first full run does
            // not hold every id of the workspace.
            if self.accepted.len() >= self.accepted_limit {
                let floor = self.max - self.lookback;
                self.accepted.retain(|(_, t)| *t > floor);
                self.accepted_limit = (self.accepted.len() * 2).max(ACCEPTED_PRUNE_MIN);
            }
        }
        if updated_at == self.max {
            self.ids_at_max.push(id.to_string());
        }
        true
    }

    pub(crate) fn finish(self) -> SearchOutcome {
        if self.rows == 0 {
            return SearchOutcome::default();
        }
        let (updated_at, mut ids_at, mut recent) = match self.old {
            // Only late rows from the lookback margin: the cursor stays.
            Some(old) if old.updated_at > self.max => (old.updated_at, old.ids_at, old.recent),
            Some(old) if old.updated_at == self.max => {
                let mut ids = self.ids_at_max;
                ids.extend(old.ids_at);
                (self.max, ids, old.recent)
            }
            Some(old) => (self.max, self.ids_at_max, old.recent),
            None => (self.max, self.ids_at_max, Vec::new()),
        };
        ids_at.sort();
        ids_at.dedup();
        if self.lookback > 0 {
            recent.extend(self.accepted);
            recent.retain(|(_, t)| *t > updated_at - self.lookback);
            recent.sort();
            recent.dedup();
        } else {
            recent.clear();
        }
        SearchOutcome {
            rows: self.rows,
            cursor: Some(SearchCursor {
                updated_at,
                ids_at,
                recent,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// What a search handed its sink, in order.
    #[derive(Debug)]
    enum Event {
        Rows(Vec<(String, i64)>),
        Checkpoint(SearchCursor),
        Total(u64),
    }

    #[derive(Default)]
    struct Recorder(Mutex<Vec<Event>>);

    /// Extraction options with `per_page` and fresh anomaly counters.
    pub(crate) fn opts(per_page: u32) -> ExtractOptions {
        ExtractOptions {
            per_page,
            concurrency: 2,
            lookback_secs: 0,
            checkpoint_every: Duration::ZERO,
            progress: crate::telemetry::Progress::default(),
            anomalies: Anomalies::default(),
            companies: Default::default(),
        }
    }

    impl Recorder {
        fn push(&self, e: Event) {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).push(e);
        }
    }

    impl Sink for Recorder {
        async fn rows(&self, rows: Vec<Value>) -> Result<()> {
            let ids = rows
                .iter()
                .map(|r| identity("test", r).map(|(id, t)| (id.to_string(), t)))
                .collect::<Result<_>>()?;
            self.push(Event::Rows(ids));
            Ok(())
        }

        async fn checkpoint(&self, cursor: &SearchCursor) -> Result<()> {
            self.push(Event::Checkpoint(cursor.clone()));
            Ok(())
        }

        fn total(&self, rows: u64) {
            self.push(Event::Total(rows));
        }
    }

    #[tokio::test]
    async fn completed_windows_checkpoint_a_cursor_covering_exactly_the_rows_before() {
        let sim = crate::simulator::spawn(crate::simulator::SimConfig {
            contacts: 10,
            conversations: 200,
            parts: 1,
            ..Default::default()
        })
        .await
        .expect("simulator");
        let client = IntercomClient::new(crate::http::ClientConfig {
            base_url: sim.base_url().parse().expect("url"),
            intercom_version: "2.16".into(),
            token: crate::secret::AccessToken::new("t".to_string()).expect("token"),
            request_timeout: Duration::from_secs(30),
            max_retries: 2,
            max_retry_time: Duration::from_secs(10),
            max_requests_per_minute: None,
        })
        .expect("client");
        let spec = crate::reports::conversations::search_spec("all", "updated_at");
        let sink = Recorder::default();
        // 4 a page: windows of at most 80 rows; a checkpoint after each.
        let out = extract_with_lookback(
            &client,
            &spec,
            &opts(4),
            0,
            None,
            &sink,
            Some(Duration::ZERO),
        )
        .await
        .expect("extract");
        assert_eq!(out.rows, 200);
        let events = sink.0.into_inner().unwrap_or_else(|e| e.into_inner());
        assert!(
            matches!(events.first(), Some(Event::Total(200))),
            "the probe states the total first: {:?}",
            events.first()
        );
        let mut sent: Vec<(String, i64)> = Vec::new();
        let mut checkpoints = Vec::new();
        for e in &events {
            match e {
                Event::Rows(rows) => sent.extend(rows.iter().cloned()),
                Event::Checkpoint(c) => checkpoints.push((sent.len(), c.clone())),
                Event::Total(_) => {}
            }
        }
        assert_eq!(sent.len(), 200);
        assert!(checkpoints.len() >= 2, "{} checkpoints", checkpoints.len());
        let mut last = i64::MIN;
        for (n, c) in &checkpoints {
            let (before, after) = sent.split_at(*n);
            assert!(c.updated_at > last, "checkpoints move forward");
            last = c.updated_at;
            assert!(before.iter().all(|(_, t)| *t <= c.updated_at));
            let mut at: Vec<&String> = before
                .iter()
                .filter(|(_, t)| *t == c.updated_at)
                .map(|(id, _)| id)
                .collect();
            at.sort();
            assert_eq!(at, c.ids_at.iter().collect::<Vec<_>>(), "ids at the cursor");
            assert!(
                after.iter().all(|(_, t)| *t > c.updated_at),
                "rows after a checkpoint are past its cursor"
            );
        }
        // Without an interval, no checkpoint.
        let quiet = Recorder::default();
        extract_with_lookback(&client, &spec, &opts(4), 0, None, &quiet, None)
            .await
            .expect("extract");
        let quiet = quiet.0.into_inner().unwrap_or_else(|e| e.into_inner());
        assert!(!quiet.iter().any(|e| matches!(e, Event::Checkpoint(_))));
    }

    #[test]
    fn same_second_updates_are_neither_lost_nor_repeated() {
        let mut first = CursorTracker::new(None);
        assert!(first.accept("a", 100));
        assert!(first.accept("b", 200));
        assert!(first.accept("c", 200));
        let cursor = first.finish().cursor.expect("cursor");
        assert_eq!(
            cursor,
            SearchCursor {
                updated_at: 200,
                ids_at: vec!["b".into(), "c".into()],
                recent: Vec::new(),
            }
        );

        // Next run: b and c come back (>= 200) and are dropped; d was
        // updated in the same second after the first run read it.
        let mut second = CursorTracker::new(Some(cursor));
        assert!(!second.accept("b", 200));
        assert!(!second.accept("c", 200));
        assert!(!second.accept("a", 100));
        assert!(second.accept("d", 200));
        let out = second.finish();
        assert_eq!(out.rows, 1);
        let cursor = out.cursor.expect("cursor");
        assert_eq!(
            cursor.ids_at,
            vec!["b", "c", "d"],
            "ids at the same second accumulate"
        );

        let mut third = CursorTracker::new(Some(cursor));
        assert!(!third.accept("d", 200));
        assert!(third.accept("b", 201));
        assert_eq!(
            third.finish().cursor,
            Some(SearchCursor {
                updated_at: 201,
                ids_at: vec!["b".into()],
                recent: Vec::new(),
            })
        );
    }

    #[test]
    fn nothing_new_keeps_the_cursor() {
        let old = SearchCursor {
            updated_at: 5,
            ids_at: vec!["x".into()],
            recent: Vec::new(),
        };
        let mut t = CursorTracker::new(Some(old));
        assert!(!t.accept("x", 5));
        let out = t.finish();
        assert_eq!(out.rows, 0);
        assert!(out.cursor.is_none());
    }

    #[test]
    fn windows_split_in_halves_down_to_the_finest_query() {
        let w = Window { lo: 100, hi: 200 };
        assert_eq!(
            w.split(Granularity::Second),
            Some((Window { lo: 100, hi: 150 }, Window { lo: 150, hi: 200 }))
        );
        assert_eq!(Window { lo: 5, hi: 6 }.split(Granularity::Second), None);
        // Day-granular windows split at a midnight strictly inside, into
        // halves no narrower than MIN_DAY_WINDOW (14 days).
        let d = Window {
            lo: 10 * DAY + 5,
            hi: 40 * DAY + 7,
        };
        let (a, b) = d.split(Granularity::Day).expect("splittable");
        assert_eq!(a.hi, 25 * DAY);
        assert_eq!((a.lo, b.lo, b.hi), (d.lo, 25 * DAY, d.hi));
        let narrow = Window {
            lo: 10 * DAY,
            hi: 37 * DAY,
        };
        assert_eq!(narrow.split(Granularity::Day), None, "halves under 14 days");
        let one_day = Window {
            lo: 10 * DAY,
            hi: 11 * DAY - 1,
        };
        assert_eq!(one_day.split(Granularity::Day), None);
        assert!(Window { lo: 1, hi: 2 }.contains(2) && !Window { lo: 1, hi: 2 }.contains(1));
    }

    #[test]
    fn planned_windows_tile_the_range_exactly() {
        for g in [Granularity::Second, Granularity::Day] {
            for n in [1, 2, 3, 7, 50] {
                let ws = plan_windows(1_000, 40 * DAY + 17, n, g);
                assert_eq!(ws.first().map(|w| w.lo), Some(1_000));
                assert_eq!(ws.last().map(|w| w.hi), Some(40 * DAY + 17));
                for pair in ws.windows(2) {
                    assert_eq!(pair[0].hi, pair[1].lo, "contiguous");
                    if g == Granularity::Day {
                        assert_eq!(pair[0].hi % DAY, 0, "cut at midnight");
                    }
                }
                if g == Granularity::Day {
                    // Cuts round down to midnight: at most a day narrower.
                    assert!(
                        ws.iter().all(|w| w.hi - w.lo >= MIN_DAY_WINDOW - DAY),
                        "{n}: {ws:?}"
                    );
                }
                assert!(ws.len() as u64 <= n);
            }
        }
        assert_eq!(plan_windows(5, 6, 10, Granularity::Second).len(), 1);
    }

    #[test]
    fn lookback_memory_stays_bounded_on_a_long_first_run() {
        let mut t = CursorTracker::with_lookback(None, 10);
        let mut peak = 0;
        for i in 0..50_000i64 {
            assert!(t.accept(&format!("c{i}"), i / 3));
            peak = peak.max(t.accepted.len());
        }
        assert!(peak <= 2 * ACCEPTED_PRUNE_MIN, "accepted grew to {peak}");
        let cursor = t.finish().cursor.expect("cursor");
        let max = 49_999 / 3;
        assert_eq!(cursor.updated_at, max);
        // Everything within the lookback is still there, nothing older.
        let within = (0..50_000i64).filter(|i| i / 3 > max - 10).count();
        assert_eq!(cursor.recent.len(), within);
        assert!(cursor.recent.iter().all(|(_, u)| *u > max - 10));
    }

    #[test]
    fn lookback_rereads_without_repeating_rows() {
        let mut first = CursorTracker::with_lookback(None, 100);
        assert!(first.accept("a", 950));
        assert!(first.accept("b", 1000));
        let cursor = first.finish().cursor.expect("cursor");
        assert_eq!(cursor.recent, vec![("a".into(), 950), ("b".into(), 1000)]);
        // The margin is re-read: a and b are dropped; c showed up late in
        // the index with an older updated_at, and is exported.
        let mut second = CursorTracker::with_lookback(Some(cursor), 100);
        assert!(!second.accept("a", 950));
        assert!(!second.accept("b", 1000));
        assert!(second.accept("c", 990));
        assert!(!second.accept("d", 800), "older than the margin");
        let out = second.finish();
        let cursor = out.cursor.expect("cursor");
        assert_eq!(
            cursor.updated_at, 1000,
            "late rows do not move the cursor back"
        );
        assert_eq!(cursor.ids_at, vec!["b"]);
        assert!(cursor.recent.contains(&("c".into(), 990)));
    }
}

#[cfg(test)]
mod identity_tests {
    use super::identity;
    use serde_json::json;

    #[test]
    fn updated_at_in_any_timestamp_form() {
        for (updated_at, secs) in [
            (json!(1_768_018_948), 1_768_018_948),
            (json!(1_768_018_948_238_i64), 1_768_018_948),
            (json!("2026-01-10T04:22:28.238+00:00"), 1_768_018_948),
        ] {
            let record = json!({"id": "c1", "updated_at": updated_at});
            assert_eq!(
                identity("POST /contacts/search", &record).expect("read"),
                ("c1", secs)
            );
        }
        let err = identity(
            "POST /contacts/search",
            &json!({"id": "c1", "updated_at": "soon"}),
        )
        .expect_err("not a timestamp")
        .to_string();
        assert!(
            err.contains("POST /contacts/search") && err.contains("updated_at"),
            "{err}"
        );
    }
}
