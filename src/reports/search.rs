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

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::api::Page;
use crate::api::query::{and, leaf, search_body};
use crate::error::{Error, Result};
use crate::http::IntercomClient;

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
    /// `(field, order)` to sort by. With `updated_at` descending, paging stops
    /// at the first record older than the cursor.
    pub sort: Option<(&'static str, &'static str)>,
}

/// The saved position of a search-based report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchCursor {
    /// Highest `updated_at` (unix seconds) exported.
    pub updated_at: i64,
    /// Ids exported with exactly that `updated_at`.
    pub ids_at: Vec<String>,
}

impl SearchCursor {
    fn admits(&self, id: &str, updated_at: i64) -> bool {
        updated_at > self.updated_at
            || (updated_at == self.updated_at && !self.ids_at.iter().any(|x| x == id))
    }
}

/// What a search extraction did.
#[derive(Debug, Default)]
pub struct SearchOutcome {
    pub rows: u64,
    /// The cursor to save, or `None` when nothing new was exported.
    pub cursor: Option<SearchCursor>,
}

/// Run one incremental search, sending pages of new records to `tx`.
pub async fn extract(
    client: &IntercomClient,
    spec: &SearchSpec,
    per_page: u32,
    cursor: Option<SearchCursor>,
    tx: &mpsc::Sender<Vec<Value>>,
) -> Result<SearchOutcome> {
    let from = cursor.as_ref().map_or(0, |c| c.updated_at);
    let bound = match spec.granularity {
        Granularity::Second => from - 1,
        Granularity::Day => from - 2 * 86_400,
    };
    let sort = spec.sort;
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
    filters.push(leaf("updated_at", ">", bound.max(0)));
    let query = and(filters);

    let mut tracker = CursorTracker::new(cursor);
    let mut starting_after: Option<String> = None;
    let mut pages = 0u64;
    loop {
        let body = search_body(query.clone(), per_page, starting_after.as_deref(), sort);
        let page: Page = client.post(spec.path, &body).await?;
        pages += 1;
        let mut oldest_on_page = i64::MAX;
        let mut fresh = Vec::with_capacity(page.data.len());
        for record in page.data.iter() {
            let (id, updated_at) = identity(spec.path, record)?;
            oldest_on_page = oldest_on_page.min(updated_at);
            if tracker.accept(id, updated_at) {
                fresh.push(record);
            }
        }
        let next = page.next_cursor();
        tracing::debug!(endpoint = spec.path, pages, new = fresh.len(), total = ?page.total_count, "search page");
        if !fresh.is_empty() {
            let rows: Vec<Value> = if fresh.len() == page.data.len() {
                page.data
            } else {
                fresh.into_iter().cloned().collect()
            };
            tx.send(rows)
                .await
                .map_err(|_| Error::Internal("the file writer stopped early".into()))?;
        }
        // Sorted newest first: once a page reaches below the cursor, every
        // later page is older still.
        let passed_cursor = sort == Some(("updated_at", "descending")) && oldest_on_page < from;
        match next {
            Some(c) if !passed_cursor => starting_after = Some(c),
            _ => break,
        }
    }
    Ok(tracker.finish())
}

/// Export every record with `from <= updated_at < until` (a backfill
/// window), without reading or moving any cursor. Day-granular endpoints are
/// asked for the whole days around the range and filtered to it exactly here.
pub async fn extract_range(
    client: &IntercomClient,
    spec: &SearchSpec,
    per_page: u32,
    from: i64,
    until: i64,
    tx: &mpsc::Sender<Vec<Value>>,
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
    let mut starting_after: Option<String> = None;
    let mut rows = 0u64;
    loop {
        let body = search_body(query.clone(), per_page, starting_after.as_deref(), None);
        let page: Page = client.post(spec.path, &body).await?;
        let mut fresh = Vec::with_capacity(page.data.len());
        for record in &page.data {
            let (_, updated_at) = identity(spec.path, record)?;
            if (from..until).contains(&updated_at) {
                fresh.push(record.clone());
            }
        }
        let next = page.next_cursor();
        if !fresh.is_empty() {
            rows += fresh.len() as u64;
            tx.send(fresh)
                .await
                .map_err(|_| Error::Internal("the file writer stopped early".into()))?;
        }
        match next {
            Some(c) => starting_after = Some(c),
            None => break,
        }
    }
    Ok(rows)
}

/// The id and `updated_at` every search result must have.
pub(crate) fn identity<'a>(endpoint: &str, record: &'a Value) -> Result<(&'a str, i64)> {
    let id = record.get("id").and_then(Value::as_str);
    let updated_at = record.get("updated_at").and_then(Value::as_i64);
    match (id, updated_at) {
        (Some(id), Some(t)) => Ok((id, t)),
        _ => Err(Error::Protocol {
            endpoint: endpoint.to_string(),
            message: "a record without a string `id` or an integer `updated_at`".into(),
        }),
    }
}

/// Filters records against the old cursor and computes the new one.
pub(crate) struct CursorTracker {
    old: Option<SearchCursor>,
    max: i64,
    ids_at_max: Vec<String>,
    rows: u64,
}

impl CursorTracker {
    pub(crate) fn new(old: Option<SearchCursor>) -> Self {
        Self {
            old,
            max: i64::MIN,
            ids_at_max: Vec::new(),
            rows: 0,
        }
    }

    /// Should this record be exported? Updates the running cursor if so.
    pub(crate) fn accept(&mut self, id: &str, updated_at: i64) -> bool {
        if let Some(old) = &self.old
            && !old.admits(id, updated_at)
        {
            return false;
        }
        self.rows += 1;
        if updated_at > self.max {
            self.max = updated_at;
            self.ids_at_max.clear();
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
        let mut ids_at = self.ids_at_max;
        if let Some(old) = self.old
            && old.updated_at == self.max
        {
            ids_at.extend(old.ids_at);
        }
        ids_at.sort();
        ids_at.dedup();
        SearchOutcome {
            rows: self.rows,
            cursor: Some(SearchCursor {
                updated_at: self.max,
                ids_at,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                ids_at: vec!["b".into(), "c".into()]
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
                ids_at: vec!["b".into()]
            })
        );
    }

    #[test]
    fn nothing_new_keeps_the_cursor() {
        let old = SearchCursor {
            updated_at: 5,
            ids_at: vec!["x".into()],
        };
        let mut t = CursorTracker::new(Some(old));
        assert!(!t.accept("x", 5));
        let out = t.finish();
        assert_eq!(out.rows, 0);
        assert!(out.cursor.is_none());
    }
}
