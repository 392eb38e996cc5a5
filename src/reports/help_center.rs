//! The help center: `articles`, `collections` (with their sections) and
//! `help_centers`.
//!
//! * `articles` (`GET /articles`) and `collections`
//!   (`GET /help_center/collections`) are **incremental on `updated_at`**:
//!   both listings are sorted by `updated_at`, newest first (as Intercom
//!   documents, and the simulator serves), paged by `page`/`per_page`. A sync
//!   reads pages until it passes the cursor (the newest `updated_at`
//!   exported plus the ids at that second, [`CursorTracker`]; with
//!   `lookback_secs`, that much below it, without writing a version twice),
//!   like `deleted_conversations`. Each changed article or collection is one
//!   row per version (`id`, `updated_at`). The cursor is saved once the read
//!   is done, not between pages: the list is newest first, so a cursor saved
//!   after a page would claim the older, unread pages. Edits and new items
//!   while the list is read move items to its front, so later items shift
//!   back (read twice, written once), never skipped; an item deleted while
//!   the list is read can pull one unread item onto a read page, which
//!   `lookback_secs` covers. A listing read to its end with fewer items than
//!   its `total_count` is counted as a short read.
//! * `help_centers` (`GET /help_center/help_centers`, not paginated, no
//!   order) is a **full refresh**: a snapshot (see [`super::snapshot`]),
//!   written whole when it changed.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::anomalies::AnomalyKind;
use crate::error::Result;
use crate::extract::list::{List, Style};
use crate::output::schema::{ColType::*, Column};
use crate::reports::keys::{self, ReportKeys, fk};
use crate::reports::search::CursorTracker;
use crate::reports::snapshot::ListRequest;
use crate::reports::spec::{ExtractCtx, ExtractFuture, Plan, Probe, ReportSpec};
use crate::reports::{Extracted, ReportName};

/// `articles`: every changed article version, newest first down to the
/// cursor.
pub static ARTICLES: ReportSpec = ReportSpec {
    name: "articles",
    description: "Help center articles; incremental on updated_at (GET /articles, newest first)",
    model: None,
    columns: ARTICLE_COLUMNS,
    expandable: &[],
    options: &[],
    default_enabled: true,
    min_version: None,
    keys: ReportKeys {
        foreign_keys: &[
            fk(&["author_id"], &[ReportName::Admins], &["id"]),
            fk(&["parent_id"], &[ReportName::of(&COLLECTIONS)], &["id"]),
        ],
        ..keys::VERSIONED
    },
    probes: &[Probe::Get("articles?per_page=1")],
    skip_failed_option: None,
    plan: |_| Ok(Plan::List(run_articles)),
};

/// `collections`: every changed collection or section version, newest
/// first down to the cursor.
pub static COLLECTIONS: ReportSpec = ReportSpec {
    name: "collections",
    description: "Help center collections and sections; incremental on updated_at (GET /help_center/collections, newest first)",
    columns: COLLECTION_COLUMNS,
    keys: ReportKeys {
        foreign_keys: &[
            fk(&["parent_id"], &[ReportName::of(&COLLECTIONS)], &["id"]),
            fk(&["help_center_id"], &[ReportName::HelpCenters], &["id"]),
        ],
        ..keys::VERSIONED
    },
    probes: &[Probe::Get("help_center/collections?per_page=1")],
    plan: |_| Ok(Plan::List(run_collections)),
    ..ARTICLES
};

/// `help_centers`: the whole list on every run, written when it changed.
pub static HELP_CENTERS: ReportSpec = ReportSpec {
    name: "help_centers",
    description: "Help centers (GET /help_center/help_centers); snapshot, written when it changed",
    columns: HELP_CENTER_COLUMNS,
    keys: keys::SNAPSHOT,
    probes: &[Probe::Get("help_center/help_centers")],
    plan: |_| Ok(Plan::Snapshot(HELP_CENTER_LISTS)),
    ..ARTICLES
};

#[allow(non_upper_case_globals)]
impl ReportName {
    /// `articles` ([`ARTICLES`]).
    pub const Articles: ReportName = ReportName::of(&ARTICLES);
    /// `collections` ([`COLLECTIONS`]).
    pub const Collections: ReportName = ReportName::of(&COLLECTIONS);
    /// `help_centers` ([`HELP_CENTERS`]).
    pub const HelpCenters: ReportName = ReportName::of(&HELP_CENTERS);
}

/// The request of `help_centers`.
pub static HELP_CENTER_LISTS: &[ListRequest] = &[ListRequest {
    path: "help_center/help_centers",
    keys: &["data"],
    optional: false,
    adapt: None,
    unless_served: None,
    unless_listed: None,
}];

#[rustfmt::skip]
pub static ARTICLE_COLUMNS: &[Column] = &[
    Column::new("id", Str, "/id", "Article id"),
    Column::new("workspace_id", Str, "/workspace_id", "Workspace (app) id"),
    Column::new("title", Str, "/title", "Title"),
    Column::new("description", Str, "/description", "Description"),
    Column::new("body", Str, "/body", "Body (HTML)"),
    Column::new("author_id", Str, "/author_id", "Admin who wrote it (an integer in the API, as text)"),
    Column::new("state", Str, "/state", "published or draft"),
    Column::new("created_at", Timestamp, "/created_at", "Created"),
    Column::new("updated_at", Timestamp, "/updated_at", "Last changed"),
    Column::new("url", Str, "/url", "Public URL (null for drafts)"),
    Column::new("parent_id", Str, "/parent_id", "Collection or section it is in: `parent_id` (2.11), else the first of `parent_ids` (2.16)").or(&["/parent_ids/0"]),
    Column::new("parent_type", Str, "/parent_type", "Type of parent_id, e.g. collection (2.11 sends it; null in 2.16)"),
    Column::list("parent_ids", "/parent_ids", "", "Every collection or section it is in (2.16)"),
    Column::new("default_locale", Str, "/default_locale", "Default language, e.g. en (2.11)"),
    Column::new("statistics", Json, "/statistics", "`statistics` as JSON: views, conversions, reactions and reaction percentages (2.11)"),
    Column::new("translated_content", Json, "/translated_content", "`translated_content` as JSON: the article per locale (2.11)"),
];

#[rustfmt::skip]
pub static COLLECTION_COLUMNS: &[Column] = &[
    Column::new("id", Str, "/id", "Collection id"),
    Column::new("workspace_id", Str, "/workspace_id", "Workspace (app) id"),
    Column::new("name", Str, "/name", "Name"),
    Column::new("description", Str, "/description", "Description"),
    Column::new("url", Str, "/url", "Public URL"),
    Column::new("icon", Str, "/icon", "Icon name"),
    Column::new("order", Int, "/order", "Position among its siblings"),
    Column::new("default_locale", Str, "/default_locale", "Default language, e.g. en (2.11)"),
    Column::new("parent_id", Str, "/parent_id", "The collection a section is in (null for a top-level collection)"),
    Column::new("help_center_id", Str, "/help_center_id", "Help center of a top-level collection (an integer in the API, as text)"),
    Column::new("created_at", Timestamp, "/created_at", "Created"),
    Column::new("updated_at", Timestamp, "/updated_at", "Last changed"),
];

#[rustfmt::skip]
pub static HELP_CENTER_COLUMNS: &[Column] = &[
    Column::new("id", Str, "/id", "Help center id"),
    Column::new("workspace_id", Str, "/workspace_id", "Workspace (app) id"),
    Column::new("identifier", Str, "/identifier", "Its identifier (the URL slug)"),
    Column::new("website_turned_on", Bool, "/website_turned_on", "Whether its website is live"),
    Column::new("display_name", Str, "/display_name", "Name shown to readers"),
    Column::new("created_at", Timestamp, "/created_at", "Created"),
    Column::new("updated_at", Timestamp, "/updated_at", "Last changed"),
];

/// One of the two listings sorted by `updated_at` descending.
struct Newest {
    path: &'static str,
    endpoint: &'static str,
}

const ARTICLE_LIST: Newest = Newest {
    path: "articles",
    endpoint: "GET /articles",
};

const COLLECTION_LIST: Newest = Newest {
    path: "help_center/collections",
    endpoint: "GET /help_center/collections",
};

/// Intercom's maximum page size for these listings.
const MAX_PER_PAGE: u32 = 150;

fn run_articles(c: ExtractCtx<'_>) -> ExtractFuture<'_> {
    Box::pin(extract(c, ARTICLE_LIST))
}

fn run_collections(c: ExtractCtx<'_>) -> ExtractFuture<'_> {
    Box::pin(extract(c, COLLECTION_LIST))
}

/// Read `list` newest first down to the cursor (minus `lookback_secs`),
/// sending the versions the cursor does not hold. An item without a string
/// `id` or an `updated_at` timestamp fails the report (a protocol error
/// naming the endpoint).
async fn extract(c: ExtractCtx<'_>, list: Newest) -> Result<Extracted> {
    let anomalies = &c.options.anomalies;
    let lookback = i64::try_from(c.options.lookback_secs).unwrap_or(i64::MAX / 4);
    let from = c
        .cursor
        .as_ref()
        .map_or(i64::MIN, |cur| cur.updated_at.saturating_sub(lookback));
    let mut tracker = CursorTracker::with_lookback_secs(c.cursor.clone(), c.options.lookback_secs);
    let mut seen: HashSet<String> = HashSet::new();
    let mut rows = 0u64;
    let read = List {
        client: c.client,
        path: list.path.into(),
        endpoint: list.endpoint,
        keys: &["data"],
        style: Style::PageNumber,
        per_page: c.options.per_page.clamp(1, MAX_PER_PAGE),
        anomalies,
    }
    .read(async |items: Vec<Value>| {
        let mut fresh = Vec::new();
        let mut oldest = i64::MAX;
        for item in items {
            let (id, updated_at) = crate::extract::cursor::identity(list.endpoint, &item)?;
            oldest = oldest.min(updated_at);
            // Items edited while we read move to the front: later ones are
            // listed again.
            if seen.insert(id.to_string()) && tracker.accept(id, updated_at) {
                fresh.push(item);
            }
        }
        rows += fresh.len() as u64;
        crate::reports::send_rows(&c.tx, fresh).await?;
        // Stop below the cursor: the rest is older, not read.
        Ok(oldest >= from)
    })
    .await?;
    if read.complete
        && let Some(total) = read.total_count
        && (seen.len() as u64) < total
    {
        anomalies.record(AnomalyKind::ShortRead, list.endpoint, None);
    }
    Ok(Extracted {
        rows,
        cursor: tracker.finish().cursor.map(|cur| json!(cur).to_string()),
        ..Extracted::default()
    })
}
