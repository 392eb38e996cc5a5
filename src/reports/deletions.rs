//! `deletions`: tombstones, one row per contact, company or conversation
//! found gone from Intercom, so a warehouse can drop (or flag) records whose
//! versions it holds.
//!
//! Each sync runs:
//!
//! * **Conversations** (every sync; Intercom-Version 2.16 or later): the
//!   deleted conversations Intercom lists (`GET /conversations/deleted`,
//!   the same reader and cursor logic as `deleted_conversations`), with
//!   Intercom's `deleted_at`; `how` = `api_deleted`. Conversations are not
//!   listed id by id (there can be millions and the deleted list says it
//!   all); with 2.11 this part is skipped.
//! * **A reconciliation pass**, at most every `reconcile_every` seconds
//!   (report option, default 86400; `0`: every sync; timed by the
//!   exporter's clock from the start of the last completed pass):
//!   * *companies*: one complete `GET /companies/scroll` (every company; a
//!     scroll that cannot be completed fails the report, so an interrupted
//!     scroll never produces tombstones). A company known from an earlier
//!     pass and absent from it is gone: `how` = `missing_from_full_scan`.
//!   * *contacts*: every contact id from `GET /contacts?per_page=150` (the
//!     fewest calls the API allows: `N / 150` requests; the list, unlike
//!     search, has no indexing lag and leaves merged contacts out). Each
//!     known id not listed is a candidate, confirmed with
//!     `GET /contacts/{id}` before a tombstone is written: 200 is alive (it
//!     stays known, nothing is written), 404 is `api_deleted`, 410
//!     `contact_merged` is `merged` with `merged_into` from its
//!     `Link: </contacts/{id}>; rel="canonical"` (2.16; Intercom resolves up
//!     to 3 merges, so it names the surviving contact). With 2.11 a merged
//!     contact answers 404 and is written as `api_deleted`. A confirmation
//!     that still fails after retries writes nothing: the id stays known,
//!     is recorded as a failed item and is asked again by the next pass.
//!
//!   The ids seen (listed, and candidates found alive or not confirmed)
//!   become the new known sets ([`crate::state::known_ids`]), committed in
//!   the same state transaction as the tombstone files and the cursor: a
//!   crash anywhere leaves either the old sets and cursor (the next run
//!   makes the pass again and writes the same tombstones once) or the new
//!   ones (nothing is written twice). The first pass only learns the ids:
//!   a record created and removed between two passes was never known and
//!   gets no tombstone (nor was it necessarily exported).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::api::paginate::Scroll;
use crate::error::{Error, Result};
use crate::http::IntercomClient;
use crate::output::schema::{ColType::*, Column};
use crate::reports::keys::{Current, ReportKeys};
use crate::reports::search::SearchCursor;
use crate::reports::spec::{Plan, Probe, ReportSpec};
use crate::reports::{ExtractOptions, Extracted, OptionSpec, ReportName, ReportOptions};
use crate::state::StateStore;
use crate::state::known_ids::KnownIdsUpdate;

mod contacts;

use contacts::contacts;

/// The option `reconcile_every`: seconds between reconciliation passes.
pub const RECONCILE_EVERY: OptionSpec = OptionSpec {
    key: "reconcile_every",
    choices: &[],
    default: "86400",
    doc: "Seconds between reconciliation passes (company scroll and contact id listing); 0 = every sync",
    selects: false,
};

/// The options of `deletions`.
/// `deletions`: tombstones of contacts, companies and conversations gone
/// from Intercom (see the module docs).
pub static DELETIONS: ReportSpec = ReportSpec {
    name: "deletions",
    description: "Tombstones: contacts, companies and conversations gone from Intercom (GET /conversations/deleted; a reconciliation pass over GET /companies/scroll and GET /contacts, confirmed by GET /contacts/{id})",
    model: None,
    columns: COLUMNS,
    expandable: &[],
    options: OPTIONS,
    default_enabled: false,
    min_version: None,
    keys: ReportKeys {
        primary_key: &["object_type", "id", "detected_at"],
        nullable_key_columns: &[],
        entity_key: &["object_type", "id"],
        version_column: "detected_at",
        current: Current::Every,
        repeats_versions: false,
        foreign_keys: &[],
    },
    // Its pass lists contacts and scrolls companies (one scope).
    probes: &[Probe::Get("contacts?per_page=1")],
    skip_failed_option: None,
    plan: |o| {
        reconcile_every(o)?;
        Ok(Plan::Reconcile)
    },
};

impl ReportName {
    /// The `deletions` report.
    #[allow(non_upper_case_globals)]
    pub const Deletions: ReportName = ReportName::of(&DELETIONS);
}

pub static OPTIONS: &[OptionSpec] = &[RECONCILE_EVERY];

/// The columns of a tombstone.
pub static COLUMNS: &[Column] = &[
    Column::new(
        "object_type",
        Str,
        "/object_type",
        "What is gone: contact, company or conversation",
    ),
    Column::new(
        "id",
        Str,
        "/id",
        "Intercom's id of the record (contacts, companies: `id`; conversations: `id` of GET /conversations/deleted)",
    ),
    Column::new(
        "detected_at",
        Timestamp,
        "/detected_at",
        "When this exporter found it gone (start of the sync's pass, its own clock)",
    ),
    Column::new(
        "deleted_at",
        Timestamp,
        "/deleted_at",
        "When Intercom says it was deleted (conversations: `deleted_at` of GET /conversations/deleted); null where the API does not say (contacts, companies)",
    ),
    Column::new(
        "how",
        Str,
        "/how",
        "api_deleted (GET /contacts/{id} answered 404, or listed by GET /conversations/deleted), missing_from_full_scan (a known company absent from a complete GET /companies/scroll) or merged (GET /contacts/{id} answered 410 contact_merged)",
    ),
    Column::new(
        "merged_into",
        Str,
        "/merged_into",
        "For merged contacts: the id of the contact it was merged into (the `Link: </contacts/{id}>; rel=\"canonical\"` of the 410, Intercom-Version 2.16); else null",
    ),
];

/// The report's saved cursor.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Cursor {
    /// When the last completed reconciliation pass started (unix seconds,
    /// the exporter's clock); `None` before the first.
    #[serde(default)]
    reconciled_at: Option<i64>,
    /// The deleted-conversations cursor (as `deleted_conversations`'s).
    #[serde(default)]
    conversations: Option<SearchCursor>,
}

/// Everything one export of `deletions` needs.
pub struct Passes<'a> {
    pub client: &'a IntercomClient,
    pub options: &'a ExtractOptions,
    pub report_options: &'a ReportOptions,
    /// Where the known ids are read from (they are written by the commit).
    pub state: &'a StateStore,
    /// The configured Intercom-Version serves `GET /conversations/deleted`.
    pub conversations: bool,
    /// Now (unix seconds): `detected_at`, and when a pass is due.
    pub now: i64,
}

/// `reconcile_every` from the report's options, in seconds.
pub fn reconcile_every(options: &ReportOptions) -> Result<u64> {
    let text = options.get(&RECONCILE_EVERY);
    text.trim().parse::<u64>().map_err(|_| {
        Error::Config(format!(
            "option deletions.reconcile_every = {text:?} is not a whole number of seconds; give \
             e.g. 86400 (a day, the default) or 0 (a reconciliation pass on every sync)"
        ))
    })
}

/// Read the saved cursor.
fn parse_cursor(cursor: Option<&str>) -> Result<Cursor> {
    cursor.map_or_else(
        || Ok(Cursor::default()),
        |c| {
            serde_json::from_str(c).map_err(|e| {
                Error::Config(format!(
                    "the saved cursor of report deletions is not readable ({e}); reset it with \
                     `intercom-export state reset --report deletions`"
                ))
            })
        },
    )
}

/// Whether a reconciliation pass is due at `now`.
fn due(last: Option<i64>, every: u64, now: i64) -> bool {
    last.is_none_or(|t| now.saturating_sub(t) >= i64::try_from(every).unwrap_or(i64::MAX))
}

/// A tombstone row.
fn tombstone(
    object_type: &str,
    id: &str,
    detected_at: i64,
    deleted_at: Option<i64>,
    how: &str,
    merged_into: Option<&str>,
) -> Value {
    json!({
        "object_type": object_type,
        "id": id,
        "detected_at": detected_at,
        "deleted_at": deleted_at,
        "how": how,
        "merged_into": merged_into,
    })
}

async fn send(tx: &mpsc::Sender<Vec<Value>>, rows: &mut u64, batch: Vec<Value>) -> Result<()> {
    for part in batch.chunks(1000) {
        *rows += part.len() as u64;
        tx.send(part.to_vec())
            .await
            .map_err(|_| Error::Internal("the file writer stopped early".into()))?;
    }
    Ok(())
}

/// What one export found: the rows' outcome and cursor, and the new known
/// ids to commit with them (`None` when no reconciliation pass ran).
#[derive(Debug, Default)]
pub struct Found {
    pub extracted: Extracted,
    pub known_ids: Option<KnownIdsUpdate>,
}

/// Run the report: deleted conversations, and a reconciliation pass when
/// due. `retry`: contacts whose confirmation failed in earlier runs.
pub async fn extract(
    p: &Passes<'_>,
    cursor: Option<&str>,
    retry: &[String],
    tx: mpsc::Sender<Vec<Value>>,
) -> Result<Found> {
    let every = reconcile_every(p.report_options)?;
    let mut cursor = parse_cursor(cursor)?;
    let mut out = Extracted::default();
    let mut known_ids = None;
    if p.conversations {
        cursor.conversations = conversations(p, cursor.conversations.take(), &tx, &mut out).await?;
    }
    if due(cursor.reconciled_at, every, p.now) {
        let mut known = KnownIdsUpdate::new();
        known.insert("company", companies(p, &tx, &mut out.rows).await?);
        crate::failpoint::hit("reconcile");
        known.insert("contact", contacts(p, &tx, &mut out).await?);
        crate::failpoint::hit("reconcile");
        let failed: HashSet<&str> = out.failed.iter().map(|f| f.id.as_str()).collect();
        out.recovered = retry
            .iter()
            .filter(|id| !failed.contains(id.as_str()))
            .cloned()
            .collect();
        known_ids = Some(known);
        cursor.reconciled_at = Some(p.now);
    } else {
        tracing::debug!(
            every,
            last = ?cursor.reconciled_at,
            "deletions: no reconciliation pass due"
        );
    }
    out.cursor = Some(json!(cursor).to_string());
    Ok(Found {
        extracted: out,
        known_ids,
    })
}

/// Deleted conversations since `cursor`, as tombstones; returns the new cursor.
async fn conversations(
    p: &Passes<'_>,
    cursor: Option<SearchCursor>,
    tx: &mpsc::Sender<Vec<Value>>,
    out: &mut Extracted,
) -> Result<Option<SearchCursor>> {
    let (items_tx, mut items_rx) = mpsc::channel::<crate::reports::WriterMsg>(1);
    let read = crate::reports::deleted_conversations::extract(
        p.client,
        p.options,
        cursor.clone(),
        items_tx,
    );
    let mut rows = 0u64;
    let forward = async {
        while let Some(msg) = items_rx.recv().await {
            // The listing sends no checkpoints; only its rows matter here.
            let crate::reports::WriterMsg::Rows(items) = msg else {
                continue;
            };
            let batch = items
                .iter()
                .filter_map(|item| {
                    let id = item.get("id").and_then(Value::as_str)?;
                    let deleted_at = item
                        .get("deleted_at")
                        .and_then(crate::output::schema::timestamp_secs);
                    Some(tombstone(
                        "conversation",
                        id,
                        p.now,
                        deleted_at,
                        "api_deleted",
                        None,
                    ))
                })
                .collect();
            send(tx, &mut rows, batch).await?;
        }
        Ok::<(), Error>(())
    };
    let (read, forwarded) = tokio::join!(read, forward);
    let read = read?;
    forwarded?;
    out.rows += rows;
    // The reader's cursor is the deleted-conversations cursor, as JSON.
    match read.cursor {
        Some(c) => serde_json::from_str(&c)
            .map(Some)
            .map_err(|e| Error::Internal(format!("deleted conversations cursor: {e}"))),
        None => Ok(cursor),
    }
}

/// The company pass: every company id from one complete scroll; tombstones
/// for known ids not in it. Returns the ids seen.
async fn companies(
    p: &Passes<'_>,
    tx: &mpsc::Sender<Vec<Value>>,
    rows: &mut u64,
) -> Result<Vec<String>> {
    let known = p.state.known_ids("company").await?;
    let mut seen: HashSet<String> = HashSet::new();
    Scroll::new(p.client, "companies/scroll", p.options.anomalies.clone())
        .read(async |page: Vec<Value>| -> Result<()> {
            for company in page {
                if let Some(id) = company.get("id").and_then(Value::as_str) {
                    seen.insert(id.to_string());
                }
            }
            Ok(())
        })
        .await?;
    let gone: Vec<Value> = known
        .iter()
        .filter(|id| !seen.contains(*id))
        .map(|id| tombstone("company", id, p.now, None, "missing_from_full_scan", None))
        .collect();
    tracing::info!(
        known = known.len(),
        listed = seen.len(),
        gone = gone.len(),
        "deletions: companies reconciled"
    );
    send(tx, rows, gone).await?;
    Ok(seen.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::contacts::contact_in_link;
    use super::*;

    #[test]
    fn a_pass_is_due_after_reconcile_every() {
        assert!(due(None, 86_400, 1_000));
        assert!(!due(Some(1_000), 86_400, 1_000 + 86_399));
        assert!(due(Some(1_000), 86_400, 1_000 + 86_400));
        assert!(due(Some(1_000), 0, 1_000), "0: every sync");
        assert!(!due(Some(1_000), u64::MAX, i64::MAX));
    }

    #[test]
    fn reconcile_every_must_be_seconds() {
        let mut o = ReportOptions::default();
        assert_eq!(reconcile_every(&o).expect("default"), 86_400);
        o.set("deletions", "reconcile_every", "0", OPTIONS)
            .expect("set");
        assert_eq!(reconcile_every(&o).expect("zero"), 0);
        o.set("deletions", "reconcile_every", "1d", OPTIONS)
            .expect("set");
        let err = reconcile_every(&o).expect_err("not seconds").to_string();
        assert!(
            err.contains("reconcile_every") && err.contains("86400"),
            "{err}"
        );
    }

    #[test]
    fn the_merge_target_is_read_from_the_link() {
        assert_eq!(contact_in_link("/contacts/abc").as_deref(), Some("abc"));
        assert_eq!(
            contact_in_link("https://api.intercom.io/contacts/6a1c?x=1").as_deref(),
            Some("6a1c")
        );
        assert_eq!(contact_in_link("/companies/abc"), None);
    }

    #[test]
    fn an_old_or_empty_cursor_reads() {
        assert!(parse_cursor(None).expect("none").reconciled_at.is_none());
        let c = parse_cursor(Some(r#"{"reconciled_at":5}"#)).expect("partial");
        assert_eq!(c.reconciled_at, Some(5));
        assert!(parse_cursor(Some("[")).is_err());
    }
}
