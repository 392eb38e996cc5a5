//! The reports this tool exports, and how each is extracted.
//!
//! A report is declared once, by a `pub static` [`ReportSpec`] in its own
//! file (name, description, columns, options, keys, the probes `check`
//! sends, and a [`Plan`]: which kind of read it is), and listed in
//! [`registry::ALL`]. [`ReportName`] is a `Copy` handle on a spec. Nothing
//! here names a report to decide what to do: [`extract`] dispatches on the
//! plan's kind, the pipeline and `check` read the spec's fields.
//!
//! Adding a report: its file with its columns and its `pub static`
//! [`ReportSpec`], one line in [`registry::ALL`], and its schema under
//! `schemas/` (`intercom-export schemas --write`); the registry tests say
//! what is missing.

pub mod activity_logs;
pub mod both_parents;
pub mod companies;
pub mod contacts;
pub mod conversation_parts;
pub mod conversations;
pub mod custom;
pub mod deleted_conversations;
pub mod deletions;
pub mod events;
pub mod expand;
pub mod help_center;
pub mod keys;
pub mod lifecycle;
pub mod mappings;
pub mod notes;
pub mod options;
pub mod part_attachments;
pub mod part_cursor;
pub mod registry;
pub use crate::extract::search;
pub mod snapshot;
pub mod spec;
pub mod ticket_contacts;
pub mod ticket_parts;
pub mod tickets;

use std::sync::Arc;

use serde_json::json;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::extract::record_keys::{Projected, RecordKeys};
use crate::http::IntercomClient;
use crate::output::schema::Column;
pub use options::{OptionSpec, ReportOptions};
pub use registry::{ALL, ReportName};
pub use spec::{ExtractCtx, Extractor, Plan, Probe, ReportSpec};

/// The columns of a report's files in this run: its static columns, those
/// its `expand` option adds (see [`expand`]), then one typed column per
/// declared custom attribute (see [`custom`]; their names are kept in
/// `state`). The declarations are read afresh; a run reads them once for
/// all its reports with [`columns_in_run`].
pub async fn columns(
    report: ReportName,
    options: &ReportOptions,
    client: &IntercomClient,
    state: &crate::state::StateStore,
) -> Result<Vec<Column>> {
    columns_in_run(report, options, client, state, &Default::default()).await
}

/// [`columns`], with the custom-attribute declarations read through the
/// run's `lists` (at most once per run per model, see
/// [`crate::extract::run_lists`]).
pub async fn columns_in_run(
    report: ReportName,
    options: &ReportOptions,
    client: &IntercomClient,
    state: &crate::state::StateStore,
    lists: &crate::extract::run_lists::RunLists,
) -> Result<Vec<Column>> {
    let mut columns = report.columns().to_vec();
    let expanded = expand::columns(report, &expand_list(report, options), &columns);
    columns.extend(expanded);
    let model = report.spec().model;
    if let Some(model) = model {
        let extra = custom::columns(client, lists, model, &columns, state).await?;
        columns.extend(extra);
    }
    Ok(columns)
}

pub(crate) use crate::extract::send_rows;
pub use crate::extract::{ExtractOptions, Extracted, WriterHandle, WriterMsg, company_scroll};

/// An item (e.g. one conversation's parts) that still failed after retries
/// (defined with the state that records it, so the state imports nothing
/// from the reports).
pub use crate::state::FailedItem;

/// The objects listed in a report's `expand` option (empty when unset or
/// when the report has nothing to expand).
fn expand_list(report: ReportName, options: &ReportOptions) -> Vec<String> {
    if report.spec().expandable.is_empty() {
        return Vec::new();
    }
    options.list(&spec::EXPAND)
}

/// Check a report's options before anything runs (required options, limits).
pub fn validate(report: ReportName, options: &ReportOptions) -> Result<()> {
    expand::validate(report, &expand_list(report, options))?;
    plan(report, options).map(|_| ())
}

/// How `report` is read with `options` (see [`ReportSpec::plan`]).
pub fn plan(report: ReportName, options: &ReportOptions) -> Result<Plan> {
    (report.spec().plan)(options)
}

/// Run a report's extractor from `cursor`, sending pages of records (and,
/// for search-based reports, checkpoints) to `tx`. `retry` holds ids of
/// items that failed in earlier runs; extractors that fetch per item fetch
/// these first.
pub async fn extract(
    report: ReportName,
    report_options: &ReportOptions,
    client: &IntercomClient,
    options: &ExtractOptions,
    cursor: Option<&str>,
    retry: &[String],
    tx: mpsc::Sender<WriterMsg>,
) -> Result<Extracted> {
    let run = match plan(report, report_options)? {
        Plan::Search(spec) => {
            let out = search::extract_with_lookback(
                client,
                &spec,
                options,
                options.lookback_secs,
                parse_cursor(report, cursor)?,
                &Projected {
                    sink: WriterHandle {
                        tx: &tx,
                        progress: &options.progress,
                    },
                    keys: record_keys(report, report_options),
                },
                Some(options.checkpoint_every),
            )
            .await?;
            return Ok(Extracted {
                rows: out.rows,
                cursor: out.cursor.map(|c| json!(c).to_string()),
                ..Extracted::default()
            });
        }
        Plan::Snapshot(requests) => {
            return snapshot::extract(client, &options.lists, requests, cursor, tx).await;
        }
        Plan::List(run) | Plan::Scroll(run) | Plan::FanOut { run, .. } => run,
        Plan::Reconcile => {
            return Err(Error::Internal(format!(
                "report {report} reads the state store: the pipeline runs it with \
                 reports::deletions::extract"
            )));
        }
    };
    let saved_cursor = cursor;
    let cursor = parse_cursor(report, cursor)?;
    run(ExtractCtx {
        client,
        options,
        report_options,
        cursor,
        saved_cursor,
        range: None,
        retry,
        tx,
    })
    .await
}

/// The top-level keys of a record `report`'s columns read with `options`:
/// its own columns, those `expand` adds, and `custom_attributes` for a
/// model (custom-attribute columns are added when the run starts). A search
/// report's records are decoded with only these
/// ([`crate::extract::record_keys`]).
pub(crate) fn record_keys(report: ReportName, options: &ReportOptions) -> Arc<RecordKeys> {
    let columns = report.columns();
    let expanded = expand::columns(report, &expand_list(report, options), columns);
    let extra: &[&str] = match report.spec().model {
        Some(_) => &["custom_attributes"],
        None => &[],
    };
    Arc::new(RecordKeys::of(columns.iter().chain(&expanded), extra))
}

/// Read a saved search cursor.
fn parse_cursor(report: ReportName, cursor: Option<&str>) -> Result<Option<search::SearchCursor>> {
    cursor
        .map(|c| {
            serde_json::from_str::<search::SearchCursor>(c).map_err(|e| {
                Error::Config(format!(
                    "the saved cursor of report {report} is not readable ({e}); reset it with \
                     `intercom-export state reset --report {report}` (the next sync re-exports it in full)"
                ))
            })
        })
        .transpose()
}

/// The search behind a report, for reports that can be exported by
/// `updated_at` range (`backfill`): a search report's own, or the parent
/// search a fan-out declares (`conversation_parts`, the conversation and
/// contact mapping tables, `events`, `notes_by_user` without `contact_ids`);
/// `None` for the others (companies' scroll, snapshots,
/// `deleted_conversations`, lists of given ids).
pub fn range_spec(
    report: ReportName,
    report_options: &ReportOptions,
) -> Result<Option<search::SearchSpec>> {
    Ok(match plan(report, report_options)? {
        Plan::Search(spec) => Some(spec),
        Plan::FanOut { parents, .. } => parents,
        _ => None,
    })
}

/// Export one report's records with `from <= updated_at < until` (a backfill
/// window); for a fan-out, the children of the parents updated in it.
/// Cursors are neither read nor moved.
pub async fn extract_range(
    report: ReportName,
    report_options: &ReportOptions,
    client: &IntercomClient,
    options: &ExtractOptions,
    from: i64,
    until: i64,
    tx: mpsc::Sender<WriterMsg>,
) -> Result<Extracted> {
    let unrangeable = || {
        Error::Config(format!(
            "report {report} cannot be backfilled by date range; leave it out of --reports"
        ))
    };
    let spec = match plan(report, report_options)? {
        Plan::Search(spec) => spec,
        Plan::FanOut {
            run,
            parents: Some(_),
        } => {
            return run(ExtractCtx {
                client,
                options,
                report_options,
                cursor: None,
                saved_cursor: None,
                range: Some((from, until)),
                retry: &[],
                tx,
            })
            .await;
        }
        _ => return Err(unrangeable()),
    };
    let rows = search::extract_range(
        client,
        &spec,
        options,
        from,
        until,
        &Projected {
            sink: WriterHandle {
                tx: &tx,
                progress: &options.progress,
            },
            keys: record_keys(report, report_options),
        },
    )
    .await?;
    Ok(Extracted {
        rows,
        ..Extracted::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_report_is_registered_once() {
        let names: Vec<_> = ReportName::all().map(|r| r.as_str()).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
        for r in ReportName::all() {
            assert_eq!(r.as_str().parse::<ReportName>().expect("round trip"), r);
        }
    }

    #[test]
    fn unknown_report_lists_the_valid_names() {
        assert_eq!(
            "users".parse::<ReportName>().expect("valid"),
            ReportName::Users
        );
        let err = "userz"
            .parse::<ReportName>()
            .expect_err("invalid")
            .to_string();
        assert!(
            err.contains("\"userz\"") && err.contains("conversation_parts, users, leads"),
            "{err}"
        );
    }

    #[test]
    fn deleted_conversations_needs_2_16() {
        let r = ReportName::DeletedConversations;
        assert_eq!(r.min_version(), Some("2.16"));
        assert!(!r.offered_by("2.11"));
        assert!(!r.offered_by("2.9"));
        assert!(!r.offered_by("1.4"));
        assert!(r.offered_by("2.16"));
        assert!(r.offered_by("2.17"));
        assert!(r.offered_by("Unstable"));
        assert!(ReportName::Conversations.offered_by("2.11"));
    }

    #[test]
    fn reports_with_parameters_say_which_is_missing() {
        let err = validate(ReportName::UsersByTag, &ReportOptions::default())
            .expect_err("tag_ids missing")
            .to_string();
        assert!(
            err.contains("tag_ids") && err.contains("--option users_by_tag.tag_ids"),
            "{err}"
        );
        assert!(validate(ReportName::Users, &ReportOptions::default()).is_ok());
    }
}
