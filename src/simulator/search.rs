//! Keyset pagination and the search engine shared by the list and search
//! endpoints.
//!
//! A cursor is the position of the last record of a page: its sort key and
//! index (the index is the tie-breaker and orders exactly like the id). The
//! next page starts strictly after that position, so a page sequence never
//! skips or repeats a record whose sort key did not change, however the world
//! changes between pages. (A record whose `updated_at` changes moves, as in
//! the real API: sorted ascending it shows up again later, sorted descending
//! it may be missed. Exporters cover this with a lookback.)
//!
//! Cursors are opaque URL-safe base64 of `[scope, sort, page, key, index]`
//! (they start with `Wy`, much like Intercom's `Wz...` ones).
//!
//! Searches are evaluated once per (query, sort, world generation): the
//! ordered list of matching indexes is cached (up to [`CACHE_ENTRIES`]
//! searches, least recently used out first, 4 bytes per match), so
//! following pages cost a binary search plus rendering, also when a client
//! pages through a hundred searches in turn. The scan
//! itself uses the `(updated_at, index)` index when the query bounds
//! `updated_at` and the creation order (= index order) when it bounds
//! `created_at`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::query::{DateMode, FULL, Filter};
use super::rng::{b64_decode, b64_encode};
use super::shapes::contact::{self, ContactRecord};
use super::shapes::conversation::{self, ConversationRecord};
use super::shapes::ticket::{self, TicketRecord};
use super::world::World;

// The scan reads `created_at`/`updated_at` bounds by key; both datasets
// must use the same keys for them.
const _: () = assert!(
    contact::key::CREATED_AT == conversation::key::CREATED_AT
        && contact::key::UPDATED_AT == conversation::key::UPDATED_AT
);

/// Most cached search results kept at once: more than the searches a
/// client pages through in turn (an exporter reading two reports' windows
/// at once: 2 × 64), so that none is evicted before its next page.
const CACHE_ENTRIES: usize = 1024;
/// Most indexes all cached results hold together (4 bytes each: 32 MiB, a
/// few full-workspace searches of a million contacts).
const CACHE_INDEXES: usize = 8 << 20;

/// Which records a request pages over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dataset {
    Contacts,
    Conversations,
    Tickets,
}

impl Dataset {
    fn len(self, w: &World) -> usize {
        match self {
            Dataset::Contacts => w.contacts.len(),
            Dataset::Conversations => w.conversations.len(),
            Dataset::Tickets => w.tickets.len(),
        }
    }

    /// Whether list endpoints show record `idx` (not merged or deleted).
    pub(crate) fn listed(self, w: &World, idx: u32) -> bool {
        match self {
            Dataset::Contacts => w.contact_live(idx),
            Dataset::Conversations => w.conversations[idx as usize].deleted_at == 0,
            Dataset::Tickets => true,
        }
    }

    /// Number of listed records.
    pub(crate) fn listed_len(self, w: &World) -> usize {
        match self {
            Dataset::Contacts => w.contacts.len() - w.gone_contacts,
            Dataset::Conversations => w.conversations.len() - w.deleted_conversations.len(),
            Dataset::Tickets => w.tickets.len(),
        }
    }

    fn created_at(self, w: &World, idx: u32) -> i64 {
        match self {
            Dataset::Contacts => w.contacts[idx as usize].created_at,
            Dataset::Conversations => w.conversations[idx as usize].created_at,
            Dataset::Tickets => w.tickets[idx as usize].created_at,
        }
    }

    fn updated_at(self, w: &World, idx: u32) -> i64 {
        match self {
            Dataset::Contacts => w.contacts[idx as usize].updated_at,
            Dataset::Conversations => w.conversations[idx as usize].updated_at,
            Dataset::Tickets => w.tickets[idx as usize].updated_at,
        }
    }

    fn dates(self) -> DateMode {
        match self {
            Dataset::Contacts => contact::DIALECT.dates,
            Dataset::Conversations => conversation::DIALECT.dates,
            Dataset::Tickets => ticket::DIALECT.dates,
        }
    }

    fn matches(self, w: &World, idx: u32, f: &Filter) -> bool {
        match self {
            Dataset::Contacts => {
                w.contact_searchable(idx) && f.matches(&ContactRecord::new(w, idx), DateMode::Day)
            }
            Dataset::Conversations => {
                w.conversations[idx as usize].deleted_at == 0
                    && f.matches(&ConversationRecord::new(w, idx), DateMode::Exact)
            }
            Dataset::Tickets => f.matches(&TicketRecord::new(w, idx), DateMode::Exact),
        }
    }

    /// Matching indexes in creation order, scanning only the part of the
    /// world the query's date bounds allow.
    fn scan(self, w: &World, f: &Filter, by_updated: bool) -> Vec<u32> {
        let dates = self.dates();
        let (clo, chi) = f.bounds(contact::key::CREATED_AT, dates);
        let (ulo, uhi) = f.bounds(contact::key::UPDATED_AT, dates);
        if clo > chi || ulo > uhi {
            return Vec::new();
        }
        let created_ok = |i: u32| {
            let c = self.created_at(w, i);
            c >= clo && c <= chi
        };
        if (ulo, uhi) != FULL {
            let index = match self {
                Dataset::Contacts => &w.contacts_by_updated,
                Dataset::Conversations => &w.conversations_by_updated,
                Dataset::Tickets => &w.tickets_by_updated,
            };
            let mut v: Vec<u32> = index
                .range((ulo, 0)..=(uhi, u32::MAX))
                .map(|&(_, i)| i)
                .filter(|&i| created_ok(i) && self.matches(w, i, f))
                .collect();
            if !by_updated {
                v.sort_unstable();
            }
            return v;
        }
        let n = self.len(w);
        let start = partition(n, |i| self.created_at(w, i) < clo);
        let end = partition(n, |i| self.created_at(w, i) <= chi);
        let mut v: Vec<u32> = (start..end).filter(|&i| self.matches(w, i, f)).collect();
        if by_updated {
            v.sort_unstable_by_key(|&i| (self.updated_at(w, i), i));
        }
        v
    }
}

fn partition(n: usize, pred: impl Fn(u32) -> bool) -> u32 {
    let (mut lo, mut hi) = (0u32, n as u32);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Sort field of a search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SortField {
    UpdatedAt,
    CreatedAt,
    Id,
}

/// A search's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sort {
    pub field: SortField,
    pub descending: bool,
}

impl Sort {
    /// Default when a search body has no `sort`: `updated_at` descending.
    pub(crate) const DEFAULT: Sort = Sort {
        field: SortField::UpdatedAt,
        descending: true,
    };
    /// Order of the plain list endpoints: creation order (= id ascending).
    pub(crate) const LIST: Sort = Sort {
        field: SortField::Id,
        descending: false,
    };

    /// Parses a sort field name.
    pub(crate) fn field_from(name: &str) -> Option<SortField> {
        match name {
            "updated_at" => Some(SortField::UpdatedAt),
            "created_at" => Some(SortField::CreatedAt),
            "id" => Some(SortField::Id),
            _ => None,
        }
    }

    fn code(self) -> String {
        let f = match self.field {
            SortField::UpdatedAt => "u",
            SortField::CreatedAt => "c",
            SortField::Id => "i",
        };
        format!("{f}{}", if self.descending { "d" } else { "a" })
    }

    fn key(self, ds: Dataset, w: &World, idx: u32) -> i64 {
        match self.field {
            SortField::UpdatedAt => ds.updated_at(w, idx),
            SortField::CreatedAt => ds.created_at(w, idx),
            SortField::Id => i64::from(idx),
        }
    }
}

/// A decoded `starting_after` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cursor {
    /// Which endpoint issued it (e.g. `contacts.search`).
    pub scope: String,
    /// Sort code it was issued for.
    pub sort: String,
    /// Number of the page it leads to.
    pub page: u64,
    /// Sort key of the last record returned.
    pub key: i64,
    /// Index of the last record returned (tie-breaker).
    pub idx: u32,
}

impl Cursor {
    /// The opaque text form.
    pub(crate) fn encode(&self) -> String {
        let v = serde_json::json!([self.scope, self.sort, self.page, self.key, self.idx]);
        b64_encode(v.to_string().as_bytes())
    }

    /// Parses and checks a cursor for `scope` and `sort`; the error is a
    /// message for a 400 response.
    pub(crate) fn decode(text: &str, scope: &str, sort: Sort) -> Result<Cursor, String> {
        let invalid = || format!("starting_after {text:?} is not a valid cursor");
        let bytes = b64_decode(text).ok_or_else(invalid)?;
        let v: Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        let parts = v.as_array().filter(|a| a.len() == 5).ok_or_else(invalid)?;
        let cursor = Cursor {
            scope: parts[0].as_str().ok_or_else(invalid)?.to_owned(),
            sort: parts[1].as_str().ok_or_else(invalid)?.to_owned(),
            page: parts[2].as_u64().ok_or_else(invalid)?,
            key: parts[3].as_i64().ok_or_else(invalid)?,
            idx: parts[4]
                .as_u64()
                .and_then(|i| u32::try_from(i).ok())
                .ok_or_else(invalid)?,
        };
        if cursor.scope != scope || cursor.sort != sort.code() {
            return Err(format!(
                "starting_after was issued for a different request ({} sorted {}); \
                 keep the same endpoint and sort while paginating",
                cursor.scope, cursor.sort
            ));
        }
        Ok(cursor)
    }
}

/// One page of indexes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Page {
    pub items: Vec<u32>,
    pub total: usize,
    pub page: u64,
    /// Encoded cursor of the next page, if any.
    pub next: Option<String>,
}

/// One cached search result.
#[derive(Debug)]
struct CacheEntry {
    /// World generation it was computed at.
    generation: u64,
    /// Matching indexes in page order.
    list: Arc<Vec<u32>>,
    /// When it was last asked for (a counter of lookups): the least
    /// recently used entry goes first.
    used: u64,
}

#[derive(Debug, Default)]
struct CacheInner {
    /// By request key (scope, sort and canonical query).
    entries: HashMap<String, CacheEntry>,
    /// Lookups so far (the clock of `CacheEntry::used`).
    tick: u64,
    /// Indexes held by all entries together.
    indexes: usize,
}

/// Cached ordered search results, keyed by request and world generation.
///
/// A client that reads many windows at once (an exporter's first sync:
/// 64 windows per report) pages through that many searches in turn, so the
/// cache holds up to [`CACHE_ENTRIES`] results and evicts the least
/// recently used one, within [`CACHE_INDEXES`] indexes in all. Any change
/// of the world bumps its generation, and a result of an older generation
/// is never served (nor kept, once a newer one is stored).
#[derive(Debug, Default)]
pub(crate) struct SearchCache {
    inner: Mutex<CacheInner>,
}

impl SearchCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get_or_compute(
        &self,
        key: String,
        generation: u64,
        f: impl FnOnce() -> Vec<u32>,
    ) -> Arc<Vec<u32>> {
        {
            let mut inner = self.lock();
            inner.tick += 1;
            let tick = inner.tick;
            if let Some(e) = inner.entries.get_mut(&key)
                && e.generation == generation
            {
                e.used = tick;
                return Arc::clone(&e.list);
            }
        }
        let list = Arc::new(f());
        let mut inner = self.lock();
        let stale = inner.entries.values().any(|e| e.generation != generation);
        if stale {
            inner.entries.retain(|_, e| e.generation == generation);
            inner.indexes = inner.entries.values().map(|e| e.list.len()).sum();
        }
        if list.len() > CACHE_INDEXES {
            return list;
        }
        if let Some(old) = inner.entries.remove(&key) {
            inner.indexes -= old.list.len();
        }
        while inner.entries.len() >= CACHE_ENTRIES || inner.indexes + list.len() > CACHE_INDEXES {
            let Some(lru) = inner
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(old) = inner.entries.remove(&lru) {
                inner.indexes -= old.list.len();
            }
        }
        let used = inner.tick;
        inner.indexes += list.len();
        inner.entries.insert(
            key,
            CacheEntry {
                generation,
                list: Arc::clone(&list),
                used,
            },
        );
        list
    }

    /// Number of results held (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

/// Runs a search and returns the requested page.
///
/// `query_key` identifies the query for caching (its canonical JSON).
#[allow(clippy::too_many_arguments)]
pub(crate) fn search_page(
    w: &World,
    cache: &SearchCache,
    ds: Dataset,
    scope: &str,
    filter: &Filter,
    query_key: &str,
    sort: Sort,
    per_page: usize,
    cursor: Option<&Cursor>,
) -> Page {
    let cache_key = format!("{scope}|{}|{query_key}", sort.code());
    let by_updated = sort.field == SortField::UpdatedAt;
    let list = cache.get_or_compute(cache_key, w.generation, || {
        let mut v = ds.scan(w, filter, by_updated);
        if sort.descending {
            v.reverse();
        }
        v
    });
    let start = match cursor {
        None => 0,
        Some(c) => {
            let at = (c.key, c.idx);
            list.partition_point(|&i| {
                let k = (sort.key(ds, w, i), i);
                if sort.descending { k >= at } else { k <= at }
            })
        }
    };
    page_of(
        &list[start..],
        list.len(),
        scope,
        sort,
        per_page,
        cursor,
        |i| sort.key(ds, w, i),
    )
}

/// The plain list endpoints: every record in creation order.
pub(crate) fn list_page(
    w: &World,
    ds: Dataset,
    scope: &str,
    per_page: usize,
    cursor: Option<&Cursor>,
) -> Page {
    let n = ds.len(w);
    let start = cursor.map_or(0, |c| (c.idx as usize + 1).min(n));
    let rest: Vec<u32> = (start..n)
        .map(|i| i as u32)
        .filter(|&i| ds.listed(w, i))
        .take(per_page + 1)
        .collect();
    page_of(
        &rest,
        ds.listed_len(w),
        scope,
        Sort::LIST,
        per_page,
        cursor,
        i64::from,
    )
}

fn page_of(
    rest: &[u32],
    total: usize,
    scope: &str,
    sort: Sort,
    per_page: usize,
    cursor: Option<&Cursor>,
    key: impl Fn(u32) -> i64,
) -> Page {
    let page = cursor.map_or(1, |c| c.page);
    let items: Vec<u32> = rest.iter().take(per_page).copied().collect();
    let next = match items.last() {
        Some(&last) if rest.len() > per_page => Some(
            Cursor {
                scope: scope.to_owned(),
                sort: sort.code(),
                page: page + 1,
                key: key(last),
                idx: last,
            }
            .encode(),
        ),
        _ => None,
    };
    Page {
        items,
        total,
        page,
        next,
    }
}

#[cfg(test)]
#[path = "search_tests.rs"]
mod tests;
