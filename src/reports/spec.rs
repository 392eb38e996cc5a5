//! What a report declares: [`ReportSpec`], with the [`Plan`] saying which
//! kind of read it is and the [`Probe`]s `check` sends for it.
//!
//! Each report file holds its `pub static` spec next to its columns;
//! [`super::registry::ALL`] lists them. Nothing outside a spec names a
//! report to decide how it is read, checked or tolerated: the pipeline,
//! `check` and the extractor dispatch ([`super::extract`]) go by the spec's
//! fields.

use futures::future::LocalBoxFuture;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::http::IntercomClient;
use crate::output::schema::Column;
use crate::reports::expand::Expandable;
use crate::reports::keys::ReportKeys;
use crate::reports::options::{OptionSpec, ReportOptions};
use crate::reports::search::{SearchCursor, SearchSpec};
use crate::reports::snapshot::ListRequest;
use crate::reports::{ExtractOptions, Extracted};

/// Everything the exporter knows about one report.
#[derive(Debug)]
pub struct ReportSpec {
    /// The snake_case name: `--reports`, output directory, state key.
    pub name: &'static str,
    /// One line for `intercom-export reports` and the README.
    pub description: &'static str,
    /// The Intercom data model whose custom attributes become typed columns
    /// (`GET /data_attributes?model=…`: `contact`, `company`,
    /// `conversation`), or `None`.
    pub model: Option<&'static str>,
    /// The columns of this report's files (`schemas/<name>.json`).
    pub columns: &'static [Column],
    /// The nested objects its `expand` option can flatten (empty: the
    /// report takes no `expand`).
    pub expandable: &'static [Expandable],
    /// The options it accepts (`--option <name>.<key>=…`).
    pub options: &'static [OptionSpec],
    /// Exported when no report list is given. Reports that need a parameter
    /// (ids, tags, ...) are not.
    pub default_enabled: bool,
    /// The oldest `Intercom-Version` serving its endpoint (`None`: every
    /// supported version).
    pub min_version: Option<&'static str>,
    /// Which columns identify its rows and point at other reports.
    pub keys: ReportKeys,
    /// The small requests `check` sends to show the report is readable, in
    /// order (never empty: a test checks).
    pub probes: &'static [Probe],
    /// The option that, set to `true`, lets items that still failed after
    /// retries (see [`super::FailedItem`]) not make the run partial.
    pub skip_failed_option: Option<&'static OptionSpec>,
    /// How the report is read, from its options. An option that is missing
    /// or wrong is an [`Error::Config`] naming it.
    pub plan: fn(&ReportOptions) -> Result<Plan>,
}

/// The plan of a shared template (`..TEMPLATE` in a spec): a report built
/// from a template that does not declare its own plan fails here, and the
/// registry tests say so, instead of running another report's read.
pub fn undeclared_plan(_: &ReportOptions) -> Result<Plan> {
    Err(Error::Internal(
        "this report does not declare its plan (it kept its template's)".into(),
    ))
}

/// A report's own extractor, for read kinds that the engine does not run
/// generically yet: it streams pages of rows to `ctx.tx` and returns the
/// cursor to save.
pub type Extractor = for<'a> fn(ExtractCtx<'a>) -> ExtractFuture<'a>;

/// What an [`Extractor`] returns. Not `Send`: the extractors' bodies hold
/// closures that rustc cannot prove `Send` for every lifetime (it need not:
/// a report's export runs on the pipeline's task, never spawned).
pub type ExtractFuture<'a> = LocalBoxFuture<'a, Result<Extracted>>;

/// Which kind of read a report is, with what that kind needs.
pub enum Plan {
    /// `POST /<…>/search` on `updated_at` in time windows (see
    /// [`super::search`]): checkpoints after completed windows, honours
    /// `lookback_secs`, and can be backfilled by date range.
    Search(SearchSpec),
    /// A listing paged by page numbers or `pages.next`, read by the
    /// report's extractor.
    List(Extractor),
    /// `GET /companies/scroll`, read by the report's extractor.
    Scroll(Extractor),
    /// Small lists read whole on every run and written when their hash
    /// changed (see [`super::snapshot`]).
    Snapshot(&'static [ListRequest]),
    /// A parent listing with one fetch per parent, run by the report's
    /// extractor on [`crate::extract::fanout`] (checkpoints after completed
    /// parent windows; failed parents become [`super::FailedItem`]s).
    FanOut {
        /// The extractor; given [`ExtractCtx::range`] it reads the children
        /// of the parents updated in that backfill window.
        run: Extractor,
        /// The parent search when the parents can be read by `updated_at`
        /// range (`backfill`); `None` for a scroll or a list of given ids.
        parents: Option<SearchSpec>,
    },
    /// Reconciliation against the ids known from earlier runs (kept in the
    /// state store): the pipeline runs [`super::deletions::extract`] with
    /// the state, since no plain extractor sees the store.
    Reconcile,
}

impl Plan {
    /// The kind, as messages name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Plan::Search(_) => "search",
            Plan::List(_) => "list",
            Plan::Scroll(_) => "scroll",
            Plan::Snapshot(_) => "snapshot",
            Plan::FanOut { .. } => "fan-out",
            Plan::Reconcile => "reconcile",
        }
    }
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Plan::Search(spec) => f.debug_tuple("Search").field(&spec.path).finish(),
            Plan::Snapshot(requests) => f.debug_tuple("Snapshot").field(requests).finish(),
            other => f.write_str(other.kind()),
        }
    }
}

/// What a report's [`Extractor`] gets.
pub struct ExtractCtx<'a> {
    /// The Intercom client (auth, version, retries, pacing).
    pub client: &'a IntercomClient,
    /// Page size, concurrency, lookback, progress and anomaly counters.
    pub options: &'a ExtractOptions,
    /// The report's `--option`s.
    pub report_options: &'a ReportOptions,
    /// The saved cursor (`None`: first run, or a backfill window).
    pub cursor: Option<SearchCursor>,
    /// The saved cursor as the state holds it (opaque JSON), for extractors
    /// whose cursor carries more than a [`SearchCursor`] (its fields, and
    /// their own next to them: see `reports::part_cursor`).
    pub saved_cursor: Option<&'a str>,
    /// A backfill window `(from, until)` in unix seconds UTC
    /// (`from <= updated_at < until` of the parents): set only for a
    /// [`Plan::FanOut`] that declares `parents`; the cursor is then unused.
    pub range: Option<(i64, i64)>,
    /// Ids of items that failed in earlier runs, retried after the parents.
    pub retry: &'a [String],
    /// Where pages of rows and checkpoints go (the report's writer).
    pub tx: mpsc::Sender<super::WriterMsg>,
}

impl ExtractCtx<'_> {
    /// The parents a fan-out reads: changed since the cursor, or updated in
    /// the backfill window ([`ExtractCtx::range`]).
    pub fn parents(&self) -> crate::extract::fanout::Parents {
        match self.range {
            Some((from, until)) => crate::extract::fanout::Parents::Range { from, until },
            None => crate::extract::fanout::Parents::Since(self.cursor.clone()),
        }
    }
}

/// One request `check` sends for a report. Only whether it succeeds
/// matters; none of them changes anything.
#[derive(Debug, Clone, Copy)]
pub enum Probe {
    /// The search the report (or its parent listing) runs, built from the
    /// report's options, with `updated_at > now` added and one result per
    /// page: `POST /<path>`.
    Search(fn(&ReportOptions) -> Result<SearchSpec>),
    /// `GET /<path>` (relative to the base URL, query included).
    Get(&'static str),
    /// `POST /<path>` with body `{}`.
    Post(&'static str),
    /// `GET /<path>` naming a record that does not exist on purpose: a 404
    /// shows the endpoint answers, a 403 that the scope is missing.
    GetUnknown(&'static str),
    /// As [`Probe::Search`], for a half of the report it exports without
    /// when the token lacks that half's scope (the ticket half of
    /// `lifecycle_events` and `part_attachments`: see
    /// `reports::both_parents`): a 403 here leaves the report readable,
    /// without that half.
    HalfSearch(fn(&ReportOptions) -> Result<SearchSpec>),
}

/// An option choosing between `choices` that changes which records are
/// exported (so it gets its own cursor).
pub const fn choice(
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
pub const fn behaviour(
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

/// A list option (comma-separated in flags, a TOML array in the file).
pub const fn list(key: &'static str, doc: &'static str) -> OptionSpec {
    choice(key, &[], "", doc)
}

/// `expand`: see [`super::expand`]. It changes columns, not rows: no own
/// cursor.
pub const EXPAND: OptionSpec = behaviour(
    "expand",
    &[],
    "",
    "Nested objects to flatten to <object>_<field> columns; the report's other nested objects are \
     added as JSON columns. Unset: the columns in schemas/",
);

/// The values of list option `spec` of `report`; none is an error saying
/// how to set it.
pub fn required(report: &str, spec: &OptionSpec, options: &ReportOptions) -> Result<Vec<String>> {
    let values = options.list(spec);
    if values.is_empty() {
        let key = spec.key;
        return Err(Error::Config(format!(
            "report {report} needs option {key}: set it with --option {report}.{key}=A,B or \
             under [options.{report}] in the config"
        )));
    }
    Ok(values)
}
