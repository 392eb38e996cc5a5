//! The reports this tool exports, and how each is extracted.
//!
//! A report is a name ([`ReportName`]), the columns of its files
//! (`output::schema::Column`s, from which `schemas/<report>.json` is
//! generated), the options it takes ([`options::OptionSpec`]) and an
//! extractor that streams pages of API records into a channel and returns the
//! cursor to save. Adding a report means: its columns and extractor in a file
//! here, a variant in [`ReportName`] with its [`ReportInfo`], and its schema
//! under `schemas/` (`intercom-export schemas --write`).

pub mod companies;
pub mod company_scroll;
pub mod contacts;
pub mod conversation_parts;
pub mod conversations;
pub mod custom;
pub mod deleted_conversations;
pub mod events;
pub mod expand;
pub mod fanout;
pub mod keys;
pub mod mappings;
pub mod notes;
pub mod options;
pub mod search;
pub mod snapshot;
pub mod tickets;

use std::fmt;
use std::str::FromStr;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::http::IntercomClient;
use crate::output::schema::Column;
pub use options::{OptionSpec, ReportOptions};

/// Every report, by its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReportName {
    Conversations,
    ConversationsByAdmin,
    ConversationParts,
    Users,
    Leads,
    LeadById,
    UsersByUsername,
    UsersByTag,
    UsersBySegment,
    UsersByCompany,
    Events,
    NotesByUser,
    Companies,
    CompanyTags,
    CompanySegments,
    Tickets,
    DeletedConversations,
    ConversationTags,
    ConversationContacts,
    ContactTags,
    ContactCompanies,
    ContactSegments,
    Admins,
    Teams,
    Tags,
    Segments,
    DataAttributes,
    TicketTypes,
}

/// What the registry knows about a report.
#[derive(Debug)]
pub struct ReportInfo {
    pub name: &'static str,
    /// One line for `intercom-export reports` and the README.
    pub description: &'static str,
    pub columns: &'static [Column],
    pub options: &'static [OptionSpec],
    /// Exported when no report list is given. Reports that need a parameter
    /// (ids, tags, ...) are not.
    pub default_enabled: bool,
}

const fn choice(
    key: &'static str,
    choices: &'static [&'static str],
    default: &'static str,
    doc: &'static str,
) -> OptionSpec {
    OptionSpec {
        key,
        choices,
        default,
        doc,
        selects: true,
    }
}

/// An option that changes how, not which records are exported: it does not
/// get its own cursor.
const fn behaviour(
    key: &'static str,
    choices: &'static [&'static str],
    default: &'static str,
    doc: &'static str,
) -> OptionSpec {
    OptionSpec {
        selects: false,
        ..choice(key, choices, default, doc)
    }
}

const fn list(key: &'static str, doc: &'static str) -> OptionSpec {
    choice(key, &[], "", doc)
}

/// `expand`: see [`expand`]. It changes columns, not rows: no own cursor.
const EXPAND: OptionSpec = behaviour(
    "expand",
    &[],
    "",
    "Nested objects to flatten to <object>_<field> columns; the report's other nested objects are \
     added as JSON columns. Unset: the columns in schemas/",
);

static CONVERSATION_OPTIONS: &[OptionSpec] = &[
    choice(
        "state",
        &["all", "open", "closed", "snoozed"],
        "all",
        "Only conversations in this state",
    ),
    behaviour(
        "order",
        &["updated_at", "created_at"],
        "updated_at",
        "Sort order of the search",
    ),
    EXPAND,
];

static REPORTS: &[(ReportName, ReportInfo)] = &[
    (
        ReportName::Conversations,
        ReportInfo {
            name: "conversations",
            description: "All Conversations: one row per conversation version (POST /conversations/search)",
            columns: conversations::COLUMNS,
            options: CONVERSATION_OPTIONS,
            default_enabled: true,
        },
    ),
    (
        ReportName::ConversationsByAdmin,
        ReportInfo {
            name: "conversations_by_admin",
            description: "Conversations by assigned admin: all assigned, specific admins, or unassigned",
            columns: conversations::COLUMNS,
            options: &[
                choice(
                    "admin_type",
                    &["all", "specific", "unassigned"],
                    "all",
                    "all: assigned to any admin; specific: to admin_ids; unassigned: to none",
                ),
                list("admin_ids", "Admin ids, with admin_type = specific"),
                EXPAND,
            ],
            default_enabled: false,
        },
    ),
    (
        ReportName::ConversationParts,
        ReportInfo {
            name: "conversation_parts",
            description: "Conversation Details: one row per part of every changed conversation (GET /conversations/{id})",
            columns: conversation_parts::COLUMNS,
            options: &[behaviour(
                "skip_failed_conversations",
                &["false", "true"],
                "false",
                "A conversation that still fails after retries does not make the run partial (it is retried next run either way)",
            )],
            default_enabled: true,
        },
    ),
    (
        ReportName::Users,
        ReportInfo {
            name: "users",
            description: "Contacts with role user (POST /contacts/search; successor of Domo's Users (Scroll API))",
            columns: contacts::COLUMNS,
            options: &[EXPAND],
            default_enabled: true,
        },
    ),
    (
        ReportName::Leads,
        ReportInfo {
            name: "leads",
            description: "Contacts with role lead (POST /contacts/search; successor of Domo's Leads (Scroll API))",
            columns: contacts::COLUMNS,
            options: &[EXPAND],
            default_enabled: true,
        },
    ),
    (
        ReportName::LeadById,
        ReportInfo {
            name: "lead_by_id",
            description: "Leads with the given ids",
            columns: contacts::COLUMNS,
            options: &[list("ids", "Contact ids (required)"), EXPAND],
            default_enabled: false,
        },
    ),
    (
        ReportName::UsersByUsername,
        ReportInfo {
            name: "users_by_username",
            description: "Users with the given names or emails",
            columns: contacts::COLUMNS,
            options: &[
                list("names", "Names (exact)"),
                list("emails", "Email addresses (exact)"),
                EXPAND,
            ],
            default_enabled: false,
        },
    ),
    (
        ReportName::UsersByTag,
        ReportInfo {
            name: "users_by_tag",
            description: "Users with any of the given tags",
            columns: contacts::COLUMNS,
            options: &[list("tag_ids", "Tag ids (required, at most 15)"), EXPAND],
            default_enabled: false,
        },
    ),
    (
        ReportName::UsersBySegment,
        ReportInfo {
            name: "users_by_segment",
            description: "Users in any of the given segments",
            columns: contacts::COLUMNS,
            options: &[
                list("segment_ids", "Segment ids (required, at most 15)"),
                EXPAND,
            ],
            default_enabled: false,
        },
    ),
    (
        ReportName::UsersByCompany,
        ReportInfo {
            name: "users_by_company",
            description: "Users of the given companies (GET /companies/{id}/contacts)",
            columns: contacts::COLUMNS,
            options: &[
                list("company_ids", "Company ids, Intercom's (required)"),
                EXPAND,
            ],
            default_enabled: false,
        },
    ),
    (
        ReportName::Events,
        ReportInfo {
            name: "events",
            description: "Data events of users (or leads, or both) changed since the last run, last 90 days (GET /events per contact)",
            columns: events::COLUMNS,
            options: events::OPTIONS,
            default_enabled: true,
        },
    ),
    (
        ReportName::NotesByUser,
        ReportInfo {
            name: "notes_by_user",
            description: "Notes of the given contacts, or of every changed contact (GET /contacts/{id}/notes)",
            columns: notes::COLUMNS,
            options: &[list(
                "contact_ids",
                "Contact ids; without it, every contact changed since the last run",
            )],
            default_enabled: false,
        },
    ),
    (
        ReportName::Companies,
        ReportInfo {
            name: "companies",
            description: "Companies changed since the last run (GET /companies/scroll over all companies)",
            columns: companies::COLUMNS,
            options: &[EXPAND],
            default_enabled: true,
        },
    ),
    (
        ReportName::CompanyTags,
        ReportInfo {
            name: "company_tags",
            description: "Tags of each changed company, one row per (company, tag)",
            columns: companies::TAG_COLUMNS,
            options: &[],
            default_enabled: true,
        },
    ),
    (
        ReportName::CompanySegments,
        ReportInfo {
            name: "company_segments",
            description: "Segments of each changed company (GET /companies/{id}/segments)",
            columns: companies::SEGMENT_COLUMNS,
            options: &[],
            default_enabled: true,
        },
    ),
    (
        ReportName::Tickets,
        ReportInfo {
            name: "tickets",
            description: "Tickets, incremental on updated_at (POST /tickets/search)",
            columns: tickets::COLUMNS,
            options: &[EXPAND],
            default_enabled: true,
        },
    ),
    (
        ReportName::DeletedConversations,
        ReportInfo {
            name: "deleted_conversations",
            description: "Deleted conversation ids with deleted_at (GET /conversations/deleted, 2.16)",
            columns: deleted_conversations::COLUMNS,
            options: &[],
            default_enabled: true,
        },
    ),
    (
        ReportName::ConversationTags,
        ReportInfo {
            name: "conversation_tags",
            description: "Tags of each changed conversation, one row per (conversation, tag)",
            columns: mappings::CONVERSATION_TAG_COLUMNS,
            options: &[],
            default_enabled: true,
        },
    ),
    (
        ReportName::ConversationContacts,
        ReportInfo {
            name: "conversation_contacts",
            description: "Contacts of each changed conversation, one row per (conversation, contact)",
            columns: mappings::CONVERSATION_CONTACT_COLUMNS,
            options: &[],
            default_enabled: true,
        },
    ),
    (
        ReportName::ContactTags,
        ReportInfo {
            name: "contact_tags",
            description: "Tags of each changed contact, past the 10 inline (GET /contacts/{id}/tags)",
            columns: mappings::CONTACT_TAG_COLUMNS,
            options: &[],
            default_enabled: true,
        },
    ),
    (
        ReportName::ContactCompanies,
        ReportInfo {
            name: "contact_companies",
            description: "Companies of each changed contact, past the 10 inline (GET /contacts/{id}/companies)",
            columns: mappings::CONTACT_COMPANY_COLUMNS,
            options: &[],
            default_enabled: true,
        },
    ),
    (
        ReportName::ContactSegments,
        ReportInfo {
            name: "contact_segments",
            description: "Segments of each changed contact (GET /contacts/{id}/segments; one request per contact)",
            columns: mappings::CONTACT_SEGMENT_COLUMNS,
            options: &[],
            default_enabled: true,
        },
    ),
    (
        ReportName::Admins,
        ReportInfo {
            name: "admins",
            description: "Teammates (GET /admins); snapshot, written when it changed",
            columns: snapshot::ADMIN_COLUMNS,
            options: &[],
            default_enabled: true,
        },
    ),
    (
        ReportName::Teams,
        ReportInfo {
            name: "teams",
            description: "Teams (GET /teams); snapshot, written when it changed",
            columns: snapshot::TEAM_COLUMNS,
            options: &[],
            default_enabled: true,
        },
    ),
    (
        ReportName::Tags,
        ReportInfo {
            name: "tags",
            description: "Tags (GET /tags); snapshot, written when it changed",
            columns: snapshot::TAG_COLUMNS,
            options: &[],
            default_enabled: true,
        },
    ),
    (
        ReportName::Segments,
        ReportInfo {
            name: "segments",
            description: "Segments with their counts (GET /segments); snapshot, written when it changed",
            columns: snapshot::SEGMENT_COLUMNS,
            options: &[],
            default_enabled: true,
        },
    ),
    (
        ReportName::DataAttributes,
        ReportInfo {
            name: "data_attributes",
            description: "Contact, company and conversation attributes (GET /data_attributes, /conversations/attributes); snapshot",
            columns: snapshot::DATA_ATTRIBUTE_COLUMNS,
            options: &[],
            default_enabled: true,
        },
    ),
    (
        ReportName::TicketTypes,
        ReportInfo {
            name: "ticket_types",
            description: "Ticket types (GET /ticket_types); snapshot, written when it changed",
            columns: snapshot::TICKET_TYPE_COLUMNS,
            options: &[],
            default_enabled: true,
        },
    ),
];

impl ReportName {
    /// All reports, in export order.
    pub fn all() -> impl Iterator<Item = ReportName> {
        REPORTS.iter().map(|(r, _)| *r)
    }

    /// The reports exported when none are named.
    pub fn defaults() -> Vec<ReportName> {
        REPORTS
            .iter()
            .filter(|(_, i)| i.default_enabled)
            .map(|(r, _)| *r)
            .collect()
    }

    /// Position in the registry table. Exhaustive, so a new variant cannot be
    /// forgotten; a unit test checks the table has the same order.
    fn index(self) -> usize {
        use ReportName::*;
        match self {
            Conversations => 0,
            ConversationsByAdmin => 1,
            ConversationParts => 2,
            Users => 3,
            Leads => 4,
            LeadById => 5,
            UsersByUsername => 6,
            UsersByTag => 7,
            UsersBySegment => 8,
            UsersByCompany => 9,
            Events => 10,
            NotesByUser => 11,
            Companies => 12,
            CompanyTags => 13,
            CompanySegments => 14,
            Tickets => 15,
            DeletedConversations => 16,
            ConversationTags => 17,
            ConversationContacts => 18,
            ContactTags => 19,
            ContactCompanies => 20,
            ContactSegments => 21,
            Admins => 22,
            Teams => 23,
            Tags => 24,
            Segments => 25,
            DataAttributes => 26,
            TicketTypes => 27,
        }
    }

    pub fn info(self) -> &'static ReportInfo {
        // Every variant has an entry (checked by a unit test).
        &REPORTS[self.index()].1
    }

    pub fn as_str(self) -> &'static str {
        self.info().name
    }

    /// The columns of this report's files.
    pub fn columns(self) -> &'static [Column] {
        self.info().columns
    }

    /// The options this report accepts.
    pub fn options(self) -> &'static [OptionSpec] {
        self.info().options
    }

    /// The oldest `Intercom-Version` that serves this report's endpoint
    /// (`None`: every supported version). `GET /conversations/deleted` exists
    /// from 2.16; older versions answer 400 `intercom_version_invalid`.
    pub fn min_version(self) -> Option<&'static str> {
        match self {
            ReportName::DeletedConversations => Some("2.16"),
            _ => None,
        }
    }

    /// Whether Intercom-Version `version` serves this report. A version that
    /// is not `MAJOR.MINOR` (e.g. `Unstable`, `Preview`) counts as newest.
    pub fn offered_by(self, version: &str) -> bool {
        let Some(needed) = self.min_version() else {
            return true;
        };
        match (version_number(version), version_number(needed)) {
            (Some(have), Some(need)) => have >= need,
            _ => true,
        }
    }
}

/// `MAJOR.MINOR` as numbers (`"2.11"` → `(2, 11)`).
fn version_number(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.trim().split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
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
        ReportName::all()
            .find(|r| r.as_str() == wanted)
            .ok_or_else(|| {
                let names: Vec<_> = ReportName::all().map(|r| r.as_str()).collect();
                Error::Config(format!(
                    "unknown report {wanted:?}; valid reports are: {}",
                    names.join(", ")
                ))
            })
    }
}

/// The columns of a report's files in this run: its static columns, those
/// its `expand` option adds (see [`expand`]), then one typed column per
/// declared custom attribute (see [`custom`]; their names are kept in
/// `state`).
pub async fn columns(
    report: ReportName,
    options: &ReportOptions,
    client: &IntercomClient,
    state: &crate::state::StateStore,
) -> Result<Vec<Column>> {
    let mut columns = report.columns().to_vec();
    let expanded = expand::columns(report, &expand_list(report, options), &columns);
    columns.extend(expanded);
    let model = match report {
        ReportName::Conversations | ReportName::ConversationsByAdmin => Some("conversation"),
        ReportName::Users
        | ReportName::Leads
        | ReportName::LeadById
        | ReportName::UsersByUsername
        | ReportName::UsersByTag
        | ReportName::UsersBySegment
        | ReportName::UsersByCompany => Some("contact"),
        ReportName::Companies => Some("company"),
        _ => None,
    };
    if let Some(model) = model {
        let extra = custom::columns(client, model, &columns, state).await?;
        columns.extend(extra);
    }
    Ok(columns)
}

/// What an extractor hands the report's writer, in order.
#[derive(Debug)]
pub enum Msg {
    /// Records to write.
    Rows(Vec<Value>),
    /// Every record sent so far is covered by this cursor (opaque JSON, as
    /// in [`Extracted::cursor`]): the writer makes its files durable and the
    /// pipeline commits them with it before going on (a search window
    /// completed; see [`search`]).
    Checkpoint(String),
}

/// The pipeline's channel as a search sees it.
struct Pipe<'a> {
    tx: &'a mpsc::Sender<Msg>,
    progress: &'a crate::telemetry::Progress,
}

impl search::Sink for Pipe<'_> {
    async fn rows(&self, rows: Vec<Value>) -> Result<()> {
        self.tx
            .send(Msg::Rows(rows))
            .await
            .map_err(|_| writer_stopped())
    }

    async fn checkpoint(&self, cursor: &search::SearchCursor) -> Result<()> {
        self.tx
            .send(Msg::Checkpoint(json!(cursor).to_string()))
            .await
            .map_err(|_| writer_stopped())
    }

    fn total(&self, rows: u64) {
        self.progress.set_total(rows);
    }
}

fn writer_stopped() -> Error {
    Error::Internal("the file writer stopped early".into())
}

/// Hand a batch of rows to the report's writer. The only way this fails is
/// the writer having stopped, whose own error is the one reported.
pub(crate) async fn send_rows(tx: &mpsc::Sender<Vec<Value>>, rows: Vec<Value>) -> Result<()> {
    tx.send(rows).await.map_err(|_| writer_stopped())
}

/// Run an extractor that sends plain pages of rows, passing them on to the
/// pipeline's channel as [`Msg::Rows`].
async fn forward_rows<F>(
    out: &mpsc::Sender<Msg>,
    extract: impl FnOnce(mpsc::Sender<Vec<Value>>) -> F,
) -> Result<Extracted>
where
    F: Future<Output = Result<Extracted>>,
{
    let (tx, mut rx) = mpsc::channel::<Vec<Value>>(1);
    let forward = async move {
        while let Some(rows) = rx.recv().await {
            if out.send(Msg::Rows(rows)).await.is_err() {
                // The writer stopped: dropping `rx` stops the extractor too.
                return;
            }
        }
    };
    let (extracted, ()) = tokio::join!(extract(tx), forward);
    extracted
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
    /// A search-based report commits its files and cursor after a completed
    /// window once this much time has passed since its last commit (see
    /// [`search`]): a long sync that is interrupted resumes from there. Zero
    /// checkpoints after every window (tests).
    pub checkpoint_every: std::time::Duration,
    /// The report's progress bar, told the expected total when the API
    /// gives one (the pipeline sets it per export; hidden by default).
    pub progress: crate::telemetry::Progress,
    /// The report's anomaly counters (skipped children, scroll restarts,
    /// degraded windows, …): the pipeline makes one per export.
    pub anomalies: crate::anomalies::Anomalies,
    /// The run's one companies scroll, shared by the company reports (see
    /// [`company_scroll`]): one per run, cloned into every export.
    pub companies: company_scroll::CompanySpool,
}

/// An item (e.g. one conversation's parts) that still failed after retries
/// (defined with the state that records it, so the state imports nothing
/// from the reports).
pub use crate::state::FailedItem;

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

/// The objects listed in a report's `expand` option (empty when unset).
fn expand_list(report: ReportName, options: &ReportOptions) -> Vec<String> {
    report
        .options()
        .iter()
        .find(|o| o.key == "expand")
        .map(|spec| options.list(spec))
        .unwrap_or_default()
}

/// Check a report's options before anything runs (required options, limits).
pub fn validate(report: ReportName, options: &ReportOptions) -> Result<()> {
    expand::validate(report, &expand_list(report, options))?;
    search_spec(report, options).map(|_| ())
}

/// The search a search-based report runs, from its options.
fn search_spec(report: ReportName, options: &ReportOptions) -> Result<Option<search::SearchSpec>> {
    let opt = |key: &str| {
        report
            .options()
            .iter()
            .find(|s| s.key == key)
            .ok_or_else(|| Error::Internal(format!("{report} has no option {key}")))
    };
    let required = |key: &str| -> Result<Vec<String>> {
        let values = options.list(opt(key)?);
        if values.is_empty() {
            return Err(Error::Config(format!(
                "report {report} needs option {key}: set it with --option {report}.{key}=A,B or \
                 under [options.{report}] in the config"
            )));
        }
        Ok(values)
    };
    Ok(Some(match report {
        ReportName::ConversationParts
        | ReportName::Admins
        | ReportName::Teams
        | ReportName::Tags
        | ReportName::Segments
        | ReportName::DataAttributes
        | ReportName::TicketTypes
        | ReportName::Companies
        | ReportName::CompanyTags
        | ReportName::CompanySegments
        | ReportName::DeletedConversations
        | ReportName::ConversationTags
        | ReportName::ConversationContacts
        | ReportName::ContactTags
        | ReportName::ContactCompanies
        | ReportName::ContactSegments
        | ReportName::Events
        | ReportName::NotesByUser => return Ok(None),
        ReportName::UsersByCompany => {
            required("company_ids")?;
            return Ok(None);
        }
        ReportName::Tickets => tickets::search_spec(),
        ReportName::Conversations => {
            conversations::search_spec(options.get(opt("state")?), options.get(opt("order")?))
        }
        ReportName::ConversationsByAdmin => {
            let admin_type = options.get(opt("admin_type")?);
            let ids = if admin_type == "specific" {
                required("admin_ids")?
            } else {
                Vec::new()
            };
            conversations::by_admin_spec(admin_type, &ids)?
        }
        ReportName::Users => contacts::search_spec("user", None),
        ReportName::Leads => contacts::search_spec("lead", None),
        ReportName::LeadById => {
            contacts::search_spec("lead", Some(contacts::any_of("id", &required("ids")?)?))
        }
        ReportName::UsersByUsername => {
            let names = options.list(opt("names")?);
            let emails = options.list(opt("emails")?);
            if names.is_empty() && emails.is_empty() {
                return Err(Error::Config(format!(
                    "report {report} needs option names or emails (--option {report}.emails=a@b.c)"
                )));
            }
            contacts::search_spec("user", Some(contacts::names_or_emails(&names, &emails)))
        }
        ReportName::UsersByTag => contacts::search_spec(
            "user",
            Some(contacts::any_of("tag_id", &required("tag_ids")?)?),
        ),
        ReportName::UsersBySegment => contacts::search_spec(
            "user",
            Some(contacts::any_of("segment_id", &required("segment_ids")?)?),
        ),
    }))
}

/// The requests of a snapshot report (`None` for the others).
pub fn snapshot_requests(report: ReportName) -> Option<&'static [snapshot::ListRequest]> {
    match report {
        ReportName::Admins => Some(snapshot::ADMINS),
        ReportName::Teams => Some(snapshot::TEAMS),
        ReportName::Tags => Some(snapshot::TAGS),
        ReportName::Segments => Some(snapshot::SEGMENTS),
        ReportName::DataAttributes => Some(snapshot::DATA_ATTRIBUTES),
        ReportName::TicketTypes => Some(snapshot::TICKET_TYPES),
        _ => None,
    }
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
    tx: mpsc::Sender<Msg>,
) -> Result<Extracted> {
    let Some(spec) = search_spec(report, report_options)? else {
        return forward_rows(&tx, |rows| {
            extract_rows(report, report_options, client, options, cursor, retry, rows)
        })
        .await;
    };
    let out = search::extract_with_lookback(
        client,
        &spec,
        options,
        options.lookback_secs,
        parse_cursor(report, cursor)?,
        &Pipe {
            tx: &tx,
            progress: &options.progress,
        },
        Some(options.checkpoint_every),
    )
    .await?;
    Ok(Extracted {
        rows: out.rows,
        cursor: out.cursor.map(|c| json!(c).to_string()),
        ..Extracted::default()
    })
}

/// The extractors of reports that are not plain searches.
async fn extract_rows(
    report: ReportName,
    report_options: &ReportOptions,
    client: &IntercomClient,
    options: &ExtractOptions,
    cursor: Option<&str>,
    retry: &[String],
    tx: mpsc::Sender<Vec<Value>>,
) -> Result<Extracted> {
    if let Some(requests) = snapshot_requests(report) {
        return snapshot::extract(client, requests, cursor, tx).await;
    }
    let cursor = parse_cursor(report, cursor)?;
    let company = |which| companies::extract(client, which, options, cursor.clone(), tx.clone());
    match report {
        ReportName::Companies => return company(companies::CompanyReport::Companies).await,
        ReportName::CompanyTags => return company(companies::CompanyReport::Tags).await,
        ReportName::CompanySegments => return company(companies::CompanyReport::Segments).await,
        ReportName::DeletedConversations => {
            return deleted_conversations::extract(client, &options.anomalies, cursor, tx).await;
        }
        ReportName::ConversationTags
        | ReportName::ConversationContacts
        | ReportName::ContactTags
        | ReportName::ContactCompanies
        | ReportName::ContactSegments => {
            let mapping = match report {
                ReportName::ConversationTags => mappings::Mapping::ConversationTags,
                ReportName::ConversationContacts => mappings::Mapping::ConversationContacts,
                ReportName::ContactTags => mappings::Mapping::ContactTags,
                ReportName::ContactCompanies => mappings::Mapping::ContactCompanies,
                _ => mappings::Mapping::ContactSegments,
            };
            return mappings::extract(client, mapping, options, cursor, tx).await;
        }
        ReportName::Events => {
            let event_type = events::EventType::parse(report_options.get(&events::EVENT_TYPE))?;
            return events::extract(client, options, event_type, cursor, retry, tx).await;
        }
        ReportName::NotesByUser => {
            let spec = report.options().iter().find(|o| o.key == "contact_ids");
            let ids = spec.map(|s| report_options.list(s)).unwrap_or_default();
            return notes::extract(client, options, &ids, cursor, retry, tx).await;
        }
        ReportName::UsersByCompany => {
            let spec = report.options().iter().find(|o| o.key == "company_ids");
            let ids = spec.map(|s| report_options.list(s)).unwrap_or_default();
            return contacts::by_company(client, &ids, options, cursor, tx).await;
        }
        _ => {}
    }
    conversation_parts::extract(client, options, cursor, retry, tx).await
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
/// `updated_at` range (`backfill`); `None` for the others.
pub fn range_spec(
    report: ReportName,
    report_options: &ReportOptions,
) -> Result<Option<search::SearchSpec>> {
    search_spec(report, report_options)
}

/// Export one report's records with `from <= updated_at < until` (a backfill
/// window). Cursors are neither read nor moved.
pub async fn extract_range(
    report: ReportName,
    report_options: &ReportOptions,
    client: &IntercomClient,
    options: &ExtractOptions,
    from: i64,
    until: i64,
    tx: mpsc::Sender<Msg>,
) -> Result<Extracted> {
    let spec = range_spec(report, report_options)?.ok_or_else(|| {
        Error::Config(format!(
            "report {report} cannot be backfilled by date range; leave it out of --reports"
        ))
    })?;
    let rows = search::extract_range(
        client,
        &spec,
        options,
        from,
        until,
        &Pipe {
            tx: &tx,
            progress: &options.progress,
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
    fn the_table_is_in_index_order() {
        for (i, (r, _)) in REPORTS.iter().enumerate() {
            assert_eq!(r.index(), i, "{r:?}");
        }
        assert_eq!(
            ReportName::TicketTypes.index(),
            REPORTS.len() - 1,
            "every variant has an entry"
        );
    }

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
