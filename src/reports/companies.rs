//! `companies` (through `GET /companies/scroll`), and the company mapping
//! reports `company_tags` and `company_segments`.
//!
//! Companies have no server-side incremental filter: every run scrolls the
//! whole set and keeps the companies updated since the cursor (the same
//! cursor logic as search reports: highest `updated_at` plus the ids at that
//! second). The scroll follows Intercom's rules (one scroll at a time: the
//! pipeline runs reports one after another; the end is an empty `data`; the
//! `scroll_param` may repeat on every page) through
//! [`crate::api::paginate::Scroll`]: a scroll request that fails in any way
//! is never retried in place, because the server may already have moved on
//! and the retry would get the next page; the scroll starts again from the
//! beginning instead, a bounded number of times (each restart counted as a
//! `scroll_restarts` anomaly), and past that bound the report fails with
//! nothing committed. Rows already sent in this run are not sent twice.
//!
//! `company_tags` and `company_segments` write, for every changed company,
//! its complete list (tags inline on the company; segments from
//! `GET /companies/{id}/segments`) with the company's `updated_at`: the
//! latest `company_updated_at` per company is its current mapping. A company
//! version with no tags (segments) gets one row with null tag (segment)
//! columns. The segments are a fan-out over the scroll's changed companies
//! ([`crate::extract::fanout`]): a company whose segments answer 404
//! (deleted since the scroll) is skipped and counted as a skipped child; one
//! whose segments still fail after retries is a failed item
//! (`COMPANY@UPDATED_AT`), fetched again by the next run after its scroll.

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::anomalies::Anomalies;
use crate::error::{Error, Result};
use crate::extract::fanout::{self, FanOut, Feed, ItemKey, Job};
use crate::extract::{WriterHandle, url_safe_id};
use crate::http::IntercomClient;
use crate::output::schema::{ColType::*, Column};
use crate::reports::mappings::distinct_items;
use crate::reports::search::{CursorTracker, SearchCursor, identity};
use crate::reports::spec::{EXPAND, ExtractCtx, ExtractFuture, Plan, Probe, ReportSpec};
use crate::reports::{ExtractOptions, Extracted, ReportName, WriterMsg, expand, keys};

/// What `check` sends for a company report: `POST /companies/list`, which
/// needs the same read scope as the scroll the report reads. Not the scroll
/// itself: Intercom allows one open scroll per workspace and keeps an
/// unfinished one for a minute, so a `sync` started right after `check`
/// would wait for it (`scroll_exists`).
const SCROLL_PROBE: &[Probe] = &[Probe::Post("companies/list?per_page=1")];

/// `companies`: every company changed since the cursor, from the scroll.
pub static COMPANIES: ReportSpec = ReportSpec {
    name: "companies",
    description: "Companies changed since the last run (GET /companies/scroll over all companies)",
    model: Some("company"),
    columns: COLUMNS,
    expandable: expand::COMPANY,
    options: &[EXPAND],
    default_enabled: true,
    min_version: None,
    keys: keys::VERSIONED,
    probes: SCROLL_PROBE,
    skip_failed_option: None,
    plan: |_| Ok(Plan::Scroll(|c| run(c, CompanyReport::Companies))),
};

/// `company_tags`: the inline tags of each changed company.
pub static COMPANY_TAGS: ReportSpec = ReportSpec {
    name: "company_tags",
    description: "Tags of each changed company, one row per (company, tag)",
    model: None,
    columns: TAG_COLUMNS,
    expandable: &[],
    options: &[],
    keys: keys::mapping(
        &["company_id", "company_updated_at", "tag_id"],
        &[keys::COMPANY_TO_COMPANY, keys::TAG],
    ),
    plan: |_| Ok(Plan::Scroll(|c| run(c, CompanyReport::Tags))),
    ..COMPANIES
};

/// `company_segments`: the scroll, then `GET /companies/{id}/segments` per
/// changed company.
pub static COMPANY_SEGMENTS: ReportSpec = ReportSpec {
    name: "company_segments",
    description: "Segments of each changed company (GET /companies/{id}/segments)",
    columns: SEGMENT_COLUMNS,
    keys: keys::mapping(
        &["company_id", "company_updated_at", "segment_id"],
        &[keys::COMPANY_TO_COMPANY, keys::SEGMENT],
    ),
    plan: |_| {
        Ok(Plan::FanOut {
            run: |c| run(c, CompanyReport::Segments),
            parents: None,
        })
    },
    ..COMPANY_TAGS
};

#[allow(non_upper_case_globals)]
impl ReportName {
    /// `companies` ([`COMPANIES`]).
    pub const Companies: ReportName = ReportName::of(&COMPANIES);
    /// `company_tags` ([`COMPANY_TAGS`]).
    pub const CompanyTags: ReportName = ReportName::of(&COMPANY_TAGS);
    /// `company_segments` ([`COMPANY_SEGMENTS`]).
    pub const CompanySegments: ReportName = ReportName::of(&COMPANY_SEGMENTS);
}

/// [`extract`] of one company report, as its plan's extractor.
fn run(c: ExtractCtx<'_>, which: CompanyReport) -> ExtractFuture<'_> {
    Box::pin(extract(c.client, which, c.options, c.cursor, c.retry, c.tx))
}

/// Which report over companies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompanyReport {
    Companies,
    Tags,
    Segments,
}

/// Run one of the company reports from `cursor` (`retry`: companies whose
/// segments failed in earlier runs, `COMPANY@UPDATED_AT`).
///
/// The companies come from the run's one scroll
/// ([`crate::extract::company_scroll`]); the scroll is read by
/// [`crate::api::paginate::Scroll`]: a failed scroll request is never
/// retried in place (it could skip a page); the scroll starts again from
/// the beginning, a bounded number of times, each company handed on once
/// (so its tag and segment rows are computed once per run). When the
/// passes run out the report fails and nothing is committed.
pub async fn extract(
    client: &IntercomClient,
    which: CompanyReport,
    options: &ExtractOptions,
    cursor: Option<SearchCursor>,
    retry: &[String],
    tx: mpsc::Sender<WriterMsg>,
) -> Result<Extracted> {
    if which == CompanyReport::Segments {
        return segments(client, options, cursor, retry, tx).await;
    }
    let mut tracker = CursorTracker::with_lookback_secs(cursor, options.lookback_secs);
    let mut out = Extracted::default();
    // One scroll per run feeds the three company reports.
    crate::extract::company_scroll::read_companies(
        client,
        options,
        async |companies: Vec<Value>| -> Result<()> {
            let mut changed = Vec::new();
            for company in companies {
                let (id, updated_at) = identity(ENDPOINT, &company)?;
                if tracker.accept(id, updated_at) {
                    changed.push(company);
                }
            }
            let rows: Vec<Value> = match which {
                CompanyReport::Tags => changed
                    .iter()
                    .flat_map(|c| tag_rows(c, &options.anomalies))
                    .collect(),
                _ => changed,
            };
            out.rows += rows.len() as u64;
            crate::reports::send_rows(&tx, rows).await
        },
    )
    .await?;
    out.cursor = tracker.finish().cursor.map(|c| json!(c).to_string());
    Ok(out)
}

/// The scroll endpoint, as messages name it.
const ENDPOINT: &str = "GET /companies/scroll";

/// The segments endpoint, as messages name it.
const SEGMENTS: &str = "GET /companies/{id}/segments";

/// `company_segments`: the scroll's changed companies feed a fan-out of
/// `GET /companies/{id}/segments`.
async fn segments(
    client: &IntercomClient,
    options: &ExtractOptions,
    cursor: Option<SearchCursor>,
    retry: &[String],
    tx: mpsc::Sender<WriterMsg>,
) -> Result<Extracted> {
    let pipe = WriterHandle {
        tx: &tx,
        progress: &options.progress,
    };
    // What `item_rows` reads of a company: the rest is dropped before it
    // waits in the feed.
    let (feed, jobs) = Feed::channel(|company: Value| {
        let (id, updated_at) = identity(ENDPOINT, &company)?;
        let key = ItemKey::at(id, updated_at);
        Ok(Some(Job {
            key,
            parent: fanout::only_keys(company, &["id", "updated_at"]),
        }))
    });
    let scrolling = async move {
        let feed = feed;
        let mut tracker = CursorTracker::with_lookback_secs(cursor, options.lookback_secs);
        // The run's one scroll (see `company_scroll`).
        crate::extract::company_scroll::read_companies(
            client,
            options,
            async |companies: Vec<Value>| -> Result<()> {
                let mut changed = Vec::new();
                for company in companies {
                    let (id, updated_at) = identity(ENDPOINT, &company)?;
                    if tracker.accept(id, updated_at) {
                        changed.push(company);
                    }
                }
                feed.records(changed).await
            },
        )
        .await?;
        Ok::<_, Error>(tracker.finish().cursor)
    };
    let retry = retry
        .iter()
        .filter_map(|k| ItemKey::parse(k))
        .filter_map(|key| {
            let company = json!({"id": key.id, "updated_at": key.at?});
            Some(Job {
                key,
                parent: company,
            })
        })
        .collect();
    let fan = FanOut {
        endpoint: SEGMENTS,
        concurrency: options.concurrency,
        anomalies: &options.anomalies,
        out: &pipe,
    };
    let fetching = fan.run(jobs, retry, |company: Value| async move {
        let id = url_safe_id(company["id"].as_str().unwrap_or_default(), ENDPOINT)?;
        let body: Value = client.get(&format!("companies/{id}/segments")).await?;
        let list = crate::api::list_in(SEGMENTS, body, &["data", "segments"])?;
        let list = distinct_items(list, "company.segments", id, &options.anomalies);
        Ok(item_rows(&company, &list))
    });
    let (scrolled, fetched) = tokio::join!(scrolling, fetching);
    let fetched = fetched?;
    let cursor = scrolled?.map(|c| json!(c).to_string());
    Ok(fetched.into_extracted(cursor))
}

/// The mapping row shared by tags and segments: the company's id and
/// `updated_at`, then the item's fields (none for [`Value::Null`]: the row
/// of a company version with no items).
fn mapping_row(company: &Value, item: &Value) -> Value {
    let mut row = Map::new();
    row.insert("company_id".into(), company["id"].clone());
    row.insert("company_updated_at".into(), company["updated_at"].clone());
    if let Some(fields) = item.as_object() {
        for (k, v) in fields {
            row.insert(k.clone(), v.clone());
        }
    }
    Value::Object(row)
}

/// One row per inline tag (`tags.tags`); a company version without tags
/// gets one row with null tag columns, so that its latest version says so.
/// A tag listed twice (real Intercom does) is written once, counted in
/// `anomalies`.
fn tag_rows(company: &Value, anomalies: &Anomalies) -> Vec<Value> {
    let tags = company
        .pointer("/tags/tags")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let id = company["id"].as_str().unwrap_or_default();
    item_rows(
        company,
        &distinct_items(tags, "company.tags", id, anomalies),
    )
}

/// One mapping row per item, or one row with only the company's columns
/// when there are none.
fn item_rows(company: &Value, items: &[Value]) -> Vec<Value> {
    if items.is_empty() {
        return vec![mapping_row(company, &Value::Null)];
    }
    items.iter().map(|i| mapping_row(company, i)).collect()
}

#[rustfmt::skip]
pub static COLUMNS: &[Column] = &[
    Column::new("id", Str, "/id", "Company id (Intercom's)"),
    Column::new("company_id", Str, "/company_id", "Your id for the company"),
    Column::new("app_id", Str, "/app_id", "Workspace id"),
    Column::new("name", Str, "/name", "Name"),
    Column::new("created_at", Timestamp, "/created_at", "Created in Intercom"),
    Column::new("updated_at", Timestamp, "/updated_at", "Last change; with id, the key of a row version"),
    Column::new("remote_created_at", Timestamp, "/remote_created_at", "Created in your system"),
    Column::new("last_request_at", Timestamp, "/last_request_at", "Last request by one of its users"),
    Column::new("plan_id", Str, "/plan/id", "Plan id"),
    Column::new("plan_name", Str, "/plan/name", "Plan name"),
    Column::new("size", Int, "/size", "Number of employees"),
    Column::new("website", Str, "/website", "Website"),
    Column::new("industry", Str, "/industry", "Industry"),
    Column::new("monthly_spend", Float, "/monthly_spend", "Monthly spend"),
    Column::new("session_count", Int, "/session_count", "Sessions"),
    Column::new("user_count", Int, "/user_count", "Users"),
    Column::list("tag_ids", "/tags/tags", "id", "Tags"),
    Column::list("segment_ids", "/segments/segments", "id", "Segments"),
    Column::new("custom_attributes_json", Json, "/custom_attributes", "Company custom attributes as JSON"),
];

#[rustfmt::skip]
pub static TAG_COLUMNS: &[Column] = &[
    Column::new("company_id", Str, "/company_id", "Company id (Intercom's)"),
    Column::new("company_updated_at", Timestamp, "/company_updated_at", "The company's updated_at: the latest per company is current"),
    Column::new("tag_id", Str, "/id", "Tag id; null on the one row of a version with no tags"),
    Column::new("tag_name", Str, "/name", "Tag name"),
    Column::new("applied_at", Timestamp, "/applied_at", "When the tag was applied"),
];

#[rustfmt::skip]
pub static SEGMENT_COLUMNS: &[Column] = &[
    Column::new("company_id", Str, "/company_id", "Company id (Intercom's)"),
    Column::new("company_updated_at", Timestamp, "/company_updated_at", "The company's updated_at: the latest per company is current"),
    Column::new("segment_id", Str, "/id", "Segment id; null on the one row of a version with no segments"),
    Column::new("segment_name", Str, "/name", "Segment name"),
    Column::new("person_type", Str, "/person_type", "contact or user"),
    Column::new("created_at", Timestamp, "/created_at", "Segment created"),
    Column::new("updated_at", Timestamp, "/updated_at", "Segment last changed"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomalies::AnomalyKind;

    #[test]
    fn a_tag_listed_twice_is_written_once_and_counted() {
        // As a real company scroll answered: tag 4399420 twice, and 4399421
        // twice under two names.
        let c = json!({"id": "c1", "updated_at": 5, "tags": {"type": "tag.list", "tags": [
            {"type": "tag", "id": "4399420", "name": "Tag1"},
            {"type": "tag", "id": "4399421", "name": "Tag2"},
            {"type": "tag", "id": "4399420", "name": "Tag1"},
            {"type": "tag", "id": "4399421", "name": "Tag3"}
        ]}});
        let anomalies = Anomalies::default();
        let rows = tag_rows(&c, &anomalies);
        let ids: Vec<&str> = rows.iter().filter_map(|r| r["id"].as_str()).collect();
        assert_eq!(ids, ["4399420", "4399421"]);
        assert_eq!(rows[1]["name"], "Tag2", "the first listing wins");
        assert_eq!(anomalies.count(AnomalyKind::DuplicateItem), 2);
        assert_eq!(anomalies.entries()[0].1, "company.tags");
        assert_eq!(anomalies.entries()[0].2.samples, ["c1"]);
    }

    #[test]
    fn tag_rows_carry_the_company() {
        let c = json!({"id": "c1", "updated_at": 5, "tags": {"type": "tag.list", "tags": [{"id": "t1", "name": "VIP"}]}});
        let rows = tag_rows(&c, &Anomalies::default());
        assert_eq!(
            rows,
            vec![json!({"company_id": "c1", "company_updated_at": 5, "id": "t1", "name": "VIP"})]
        );
        // No tags: one row saying so (null tag columns).
        assert_eq!(
            tag_rows(
                &json!({"id": "c2", "updated_at": 6, "tags": {"type": "tag.list", "tags": []}}),
                &Anomalies::default()
            ),
            vec![json!({"company_id": "c2", "company_updated_at": 6})]
        );
    }
}
