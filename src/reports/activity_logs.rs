//! `activity_logs`: the admins' activity (audit) log, one row per
//! `activity_log`, from `GET /admins/activity_logs?created_at_after=&
//! created_at_before=` (both bounds unix seconds, inclusive; the listing is
//! newest first, paged by `pages.next`).
//!
//! **Incremental on `created_at`.** The cursor is the newest `created_at`
//! exported plus the ids at that second
//! ([`SearchCursor`](crate::reports::search::SearchCursor), as searches keep
//! it). A sync asks from `cursor - lookback_secs` (the ids at the cursor's
//! second and those exported in the lookback margin are not written again:
//! [`CursorTracker`]) up to now. The first sync starts at option `since`:
//! `<N>d` is N days before the newest log (one request with
//! `created_at_after=0&per_page=1` finds it: the span is measured on
//! Intercom's clock, not this machine's), `90d` by default (Intercom
//! documents no retention for the log; Airbyte asks for a `start_date`);
//! or a date `YYYY-MM-DD`, an ISO-8601 time or unix seconds. `since` only
//! matters for the first sync (and after `state reset`).
//!
//! **One request when one page holds the range.** The whole range (cursor
//! minus lookback up to now) is asked first, as one request: when its
//! answer has no next page, that is every log of the range, and a sync with
//! little new makes this one request, however long ago the last log was.
//! "Now" is this machine's clock, not Intercom's (the API states no server
//! time); a server clock behind it (the simulator's, which starts at
//! 2026-06-01 and moves only when told) only widens the range asked, not
//! the requests made. When the answer has more pages, nothing of it is
//! written and the range is read window by window, as follows.
//!
//! **Read window by window, not checkpointed between pages.** The listing is
//! newest first, so a cursor saved after a page would claim the older,
//! unread logs of the same request. The range is instead cut into windows of
//! [`WINDOW_SECS`] (30 days), read oldest window first, each with a fixed
//! `created_at_before` (so logs created while it is read do not shift its
//! pages). After a completed window the cursor covers everything up to it:
//! the report checkpoints there (once `checkpoint_secs` has passed since its
//! last commit), so an interrupted first sync over a long range resumes at
//! the last committed window. Ids seen twice in one window (pages shifting
//! when a late log appears) are written once.

use std::collections::HashSet;
use std::time::Instant;

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::extract::list::{List, Style};
use crate::extract::{Checkpoint, WriterHandle};
use crate::output::schema::{ColType::*, Column};
use crate::reports::keys::{Current, ReportKeys, fk};
use crate::reports::search::CursorTracker;
use crate::reports::spec::{ExtractCtx, ExtractFuture, Plan, Probe, ReportSpec, behaviour};
use crate::reports::{Extracted, OptionSpec, ReportName, ReportOptions};

/// Option `since`: where the first sync starts.
pub static SINCE: OptionSpec = behaviour(
    "since",
    &[],
    "90d",
    "Where the first sync starts: <N>d (N days before the newest log), a date YYYY-MM-DD \
     (UTC), an ISO-8601 time or unix seconds. Later syncs go on from the cursor",
);

/// `activity_logs`: the admins' activity log, incremental on `created_at`.
pub static ACTIVITY_LOGS: ReportSpec = ReportSpec {
    name: "activity_logs",
    description: "Admins' activity log, incremental on created_at (GET /admins/activity_logs)",
    model: None,
    columns: COLUMNS,
    expandable: &[],
    options: std::slice::from_ref(&SINCE),
    default_enabled: true,
    min_version: None,
    keys: ReportKeys {
        primary_key: &["id"],
        nullable_key_columns: &[],
        entity_key: &["id"],
        version_column: "created_at",
        current: Current::Every,
        repeats_versions: false,
        foreign_keys: &[fk(&["performed_by_id"], &[ReportName::Admins], &["id"])],
    },
    probes: &[Probe::Get(
        "admins/activity_logs?created_at_after=0&created_at_before=1&per_page=1",
    )],
    skip_failed_option: None,
    plan: |options| {
        since(options)?;
        Ok(Plan::List(run))
    },
};

#[allow(non_upper_case_globals)]
impl ReportName {
    /// `activity_logs` ([`ACTIVITY_LOGS`]).
    pub const ActivityLogs: ReportName = ReportName::of(&ACTIVITY_LOGS);
}

#[rustfmt::skip]
pub static COLUMNS: &[Column] = &[
    Column::new("id", Str, "/id", "Activity log id"),
    Column::new("performed_by_type", Str, "/performed_by/type", "Who did it: `performed_by.type` (admin)"),
    Column::new("performed_by_id", Str, "/performed_by/id", "Admin id (`performed_by.id`)"),
    Column::new("performed_by_email", Str, "/performed_by/email", "Admin email (`performed_by.email`)"),
    Column::new("performed_by_ip", Str, "/performed_by/ip", "IP address it came from (`performed_by.ip`)"),
    Column::new("activity_type", Str, "/activity_type", "What happened, e.g. admin_login_success, app_team_membership_modification"),
    Column::new("activity_description", Str, "/activity_description", "Intercom's sentence for it"),
    Column::new("metadata", Json, "/metadata", "Details of the activity (differ by activity_type), as JSON"),
    Column::new("created_at", Timestamp, "/created_at", "When it happened"),
];

const ENDPOINT: &str = "GET /admins/activity_logs";

/// The span of one request window (both bounds inclusive), in seconds.
pub const WINDOW_SECS: i64 = 30 * 86_400;

/// Intercom's maximum page size.
const MAX_PER_PAGE: u32 = 150;

/// Where the first sync starts (option `since`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// This many days before the newest log (`<N>d`).
    DaysBeforeNewest(i64),
    /// At this unix time.
    At(i64),
}

/// Option `since`, read; a value that is none of its forms is an
/// [`Error::Config`] saying which forms there are.
pub fn since(options: &ReportOptions) -> Result<Since> {
    let text = options.get(&SINCE).trim();
    let days = text
        .strip_suffix('d')
        .and_then(|d| d.trim().parse::<i64>().ok());
    let start = match days {
        Some(d) if d >= 0 => Some(Since::DaysBeforeNewest(d)),
        Some(_) => None,
        None => crate::output::schema::timestamp_secs(&Value::String(text.to_string()))
            .map(|t| Since::At(t.max(0))),
    };
    start.ok_or_else(|| {
        Error::Config(format!(
            "option activity_logs.since = {text:?} is not a start: use <N>d (e.g. 90d, days \
             before the newest log), a date YYYY-MM-DD, an ISO-8601 time or unix seconds"
        ))
    })
}

/// The `created_at` of the newest log (`None`: the log is empty).
async fn newest(c: &ExtractCtx<'_>) -> Result<Option<i64>> {
    let body: Value = c
        .client
        .get("admins/activity_logs?created_at_after=0&per_page=1")
        .await?;
    let items = crate::api::list_in(ENDPOINT, body, &["activity_logs"])?;
    items
        .first()
        .map(|item| identity(item).map(|(_, t)| t))
        .transpose()
}

/// [`extract`] as the plan's extractor.
fn run(c: ExtractCtx<'_>) -> ExtractFuture<'_> {
    Box::pin(extract(c))
}

/// Read the log from the cursor (or `since`) to now, window by window (see
/// the module docs). An item without a string `id` or a `created_at`
/// timestamp fails the report.
async fn extract(c: ExtractCtx<'_>) -> Result<Extracted> {
    let now = crate::state::unix_now();
    let lookback = i64::try_from(c.options.lookback_secs).unwrap_or(i64::MAX / 4);
    let mut after = match (&c.cursor, since(c.report_options)?) {
        (Some(cursor), _) => cursor.updated_at.saturating_sub(lookback).max(0),
        (None, Since::At(t)) => t,
        (None, Since::DaysBeforeNewest(days)) => match newest(&c).await? {
            Some(t) => t.saturating_sub(days.saturating_mul(86_400)).max(0),
            None => return Ok(Extracted::default()),
        },
    };
    let mut tracker = CursorTracker::with_lookback_secs(c.cursor.clone(), c.options.lookback_secs);
    let pipe = WriterHandle {
        tx: &c.tx,
        progress: &c.options.progress,
    };
    if after <= now
        && let Some(rows) = read_in_one_page(&c, after, now, &mut tracker).await?
    {
        return Ok(Extracted {
            rows,
            cursor: tracker.finish().cursor.map(|c| json!(c).to_string()),
            ..Extracted::default()
        });
    }
    let mut rows = 0u64;
    let mut last_checkpoint = Instant::now();
    while after <= now {
        let before = after.saturating_add(WINDOW_SECS - 1).min(now);
        rows += read_window(&c, after, before, &mut tracker).await?;
        after = before + 1;
        let due = last_checkpoint.elapsed() >= c.options.checkpoint_every;
        if after <= now
            && due
            && let Some(cursor) = tracker.clone().finish().cursor
        {
            pipe.commit_point(Checkpoint {
                cursor: json!(cursor).to_string(),
                ..Checkpoint::default()
            })
            .await?;
            last_checkpoint = Instant::now();
        }
    }
    Ok(Extracted {
        rows,
        cursor: tracker.finish().cursor.map(|c| json!(c).to_string()),
        ..Extracted::default()
    })
}

/// The logs with `after <= created_at <= before` in one request, sending
/// those the tracker admits: the number sent, or `None` (nothing sent) when
/// the answer has more pages or the request failed in a way smaller pages
/// may mend (the windows read the range then).
async fn read_in_one_page(
    c: &ExtractCtx<'_>,
    after: i64,
    before: i64,
    tracker: &mut CursorTracker,
) -> Result<Option<u64>> {
    let per_page = c.options.per_page.clamp(1, MAX_PER_PAGE);
    let path = format!(
        "admins/activity_logs?created_at_after={after}&created_at_before={before}&per_page={per_page}"
    );
    let body: Value = match c.client.get(&path).await {
        Ok(body) => body,
        Err(e) => {
            let e = Error::from(e);
            if crate::extract::search::degradable(&e) {
                tracing::debug!(error = %e, "activity logs in one request failed; reading windows");
                return Ok(None);
            }
            return Err(e);
        }
    };
    let more_pages = body
        .pointer("/pages/next")
        .is_some_and(|n| !n.is_null() && n.as_str() != Some(""))
        || body
            .pointer("/pages/total_pages")
            .and_then(Value::as_u64)
            .is_some_and(|pages| pages > 1);
    if more_pages {
        return Ok(None);
    }
    let items = crate::api::list_in(ENDPOINT, body, &["activity_logs"])?;
    let fresh = admit(items, &mut HashSet::new(), tracker)?;
    let rows = fresh.len() as u64;
    crate::reports::send_rows(&c.tx, fresh).await?;
    Ok(Some(rows))
}

/// The logs of `items` not seen before in this read and admitted by the
/// tracker.
fn admit(
    items: Vec<Value>,
    seen: &mut HashSet<String>,
    tracker: &mut CursorTracker,
) -> Result<Vec<Value>> {
    let mut fresh = Vec::new();
    for item in items {
        let (id, created_at) = identity(&item)?;
        if seen.insert(id.to_string()) && tracker.accept(id, created_at) {
            fresh.push(item);
        }
    }
    Ok(fresh)
}

/// Read the logs with `after <= created_at <= before`, sending those the
/// tracker admits; the number sent.
async fn read_window(
    c: &ExtractCtx<'_>,
    after: i64,
    before: i64,
    tracker: &mut CursorTracker,
) -> Result<u64> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut rows = 0u64;
    List {
        client: c.client,
        path: format!("admins/activity_logs?created_at_after={after}&created_at_before={before}"),
        endpoint: ENDPOINT,
        keys: &["activity_logs"],
        style: Style::NextUrl,
        per_page: c.options.per_page.clamp(1, MAX_PER_PAGE),
        anomalies: &c.options.anomalies,
    }
    .read(async |items: Vec<Value>| {
        let fresh = admit(items, &mut seen, tracker)?;
        rows += fresh.len() as u64;
        crate::reports::send_rows(&c.tx, fresh).await?;
        Ok(true)
    })
    .await?;
    Ok(rows)
}

/// The id and `created_at` (unix seconds) every log must have.
fn identity(item: &Value) -> Result<(&str, i64)> {
    let id = item.get("id").and_then(Value::as_str);
    let created_at = item
        .get("created_at")
        .and_then(crate::output::schema::timestamp_secs);
    match (id, created_at) {
        (Some(id), Some(t)) => Ok((id, t)),
        _ => Err(Error::Protocol {
            endpoint: ENDPOINT.into(),
            message: "an activity log without a string id or a created_at timestamp (unix \
                      seconds, milliseconds or ISO-8601)"
                .into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_since(v: &str) -> ReportOptions {
        let mut o = ReportOptions::default();
        o.set("activity_logs", "since", v, std::slice::from_ref(&SINCE))
            .expect("free text");
        o
    }

    #[test]
    fn since_reads_days_dates_and_unix_seconds() {
        assert_eq!(
            since(&ReportOptions::default()).expect("default"),
            Since::DaysBeforeNewest(90)
        );
        assert_eq!(
            since(&with_since("7d")).expect("days"),
            Since::DaysBeforeNewest(7)
        );
        assert_eq!(
            since(&with_since("2026-01-01")).expect("date"),
            Since::At(1_767_225_600)
        );
        assert_eq!(
            since(&with_since("1700000000")).expect("unix"),
            Since::At(1_700_000_000)
        );
        for bad in ["yesterday", "-3d", "d"] {
            let e = since(&with_since(bad)).expect_err(bad).to_string();
            assert!(
                e.contains("activity_logs.since") && e.contains("90d"),
                "{e}"
            );
        }
    }
}
