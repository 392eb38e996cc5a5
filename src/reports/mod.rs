//! The reports this tool exports, and how each is extracted.
//!
//! A report is a name ([`ReportName`]), the columns of its files
//! (`output::schema::Column`s, from which `schemas/<report>.json` is
//! generated) and an extractor that streams pages of API records into a
//! channel and returns the cursor to save. Adding a report means: a file
//! here with its columns and extractor, a variant in [`ReportName`], and its
//! schema under `schemas/` (`intercom-export schemas --write`).

pub mod contacts;
pub mod conversations;
pub mod fanout;
pub mod search;

use std::fmt;
use std::str::FromStr;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::http::IntercomClient;
use crate::output::schema::Column;

/// Every report, by its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReportName {
    /// All Conversations: every conversation, incremental on `updated_at`.
    Conversations,
    /// Contacts with role `user`.
    Users,
    /// Contacts with role `lead`.
    Leads,
}

impl ReportName {
    /// All reports, in export order.
    pub const ALL: &'static [ReportName] = &[
        ReportName::Conversations,
        ReportName::Users,
        ReportName::Leads,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReportName::Conversations => "conversations",
            ReportName::Users => "users",
            ReportName::Leads => "leads",
        }
    }

    /// The columns of this report's files.
    pub fn columns(self) -> &'static [Column] {
        match self {
            ReportName::Conversations => conversations::COLUMNS,
            ReportName::Users | ReportName::Leads => contacts::COLUMNS,
        }
    }

    /// One line for `--help` and the README.
    pub fn description(self) -> &'static str {
        match self {
            ReportName::Conversations => {
                "All Conversations: one row per conversation version (POST /conversations/search)"
            }
            ReportName::Users => "Contacts with role user (POST /contacts/search)",
            ReportName::Leads => "Contacts with role lead (POST /contacts/search)",
        }
    }
}

impl fmt::Display for ReportName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReportName {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let wanted = s.trim();
        ReportName::ALL
            .iter()
            .copied()
            .find(|r| r.as_str() == wanted)
            .ok_or_else(|| {
                let names: Vec<_> = ReportName::ALL.iter().map(|r| r.as_str()).collect();
                Error::Config(format!(
                    "unknown report {wanted:?}; valid reports are: {}",
                    names.join(", ")
                ))
            })
    }
}

/// What an extractor needs besides the client.
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// Page size for list and search requests (Intercom's maximum is 150).
    pub per_page: u32,
    /// Per-item fetches in flight at once (see [`fanout`]).
    pub concurrency: usize,
    /// Seconds before the cursor re-read on every sync (see [`search`]).
    pub lookback_secs: u64,
}

/// An item (e.g. one conversation's parts) that still failed after retries.
/// The run goes on without it; the state records it and the next run
/// retries it first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedItem {
    pub id: String,
    pub error: String,
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

/// Run a report's extractor from `cursor`, sending pages of records to `tx`.
/// `retry` holds ids of items that failed in earlier runs; extractors that
/// fetch per item fetch these first.
pub async fn extract(
    report: ReportName,
    client: &IntercomClient,
    options: &ExtractOptions,
    cursor: Option<&str>,
    retry: &[String],
    tx: mpsc::Sender<Vec<Value>>,
) -> Result<Extracted> {
    let _ = retry; // no per-item report yet
    let spec = match report {
        ReportName::Conversations => conversations::search_spec(),
        ReportName::Users => contacts::search_spec("user"),
        ReportName::Leads => contacts::search_spec("lead"),
    };
    let cursor = cursor
        .map(|c| {
            serde_json::from_str::<search::SearchCursor>(c).map_err(|e| {
                Error::Config(format!(
                    "the saved cursor of report {report} is not readable ({e}); reset it with \
                     `intercom-export state reset --report {report}` (the next sync re-exports it in full)"
                ))
            })
        })
        .transpose()?;
    let out = search::extract(
        client,
        &spec,
        options.per_page,
        options.lookback_secs,
        cursor,
        &tx,
    )
    .await?;
    let cursor = out.cursor.map(|c| json!(c).to_string());
    Ok(Extracted {
        rows: out.rows,
        cursor,
        ..Extracted::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
            err.contains("\"userz\"") && err.contains("conversations, users, leads"),
            "{err}"
        );
    }
}
