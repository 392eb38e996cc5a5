//! [`Settings`]: the file, the environment and the flags ([`Overrides`])
//! resolved, defaulted and validated, one per workspace.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::file::FileConfig;
use super::token::token_file_from;
use super::{Region, defaults};
use crate::error::{Error, Result};
use crate::http::{ClientConfig, DEFAULT_INTERCOM_VERSION};
use crate::output::Format;
use crate::reports::{ReportName, ReportOptions, options};
use crate::secret::AccessToken;
use crate::state::StateLocation;

/// Values given as command-line flags; they override the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub base_url: Option<String>,
    pub output_dir: Option<PathBuf>,
    pub state_path: Option<PathBuf>,
    pub formats: Vec<Format>,
    pub reports: Vec<String>,
    /// `--exclude-reports` names (before the config's `exclude_reports`).
    pub exclude_reports: Vec<String>,
    /// `--option report.key=value` flags.
    pub options: Vec<String>,
}

/// Resolved, validated settings for a sync.
#[derive(Debug, Clone)]
pub struct Settings {
    pub base_url: Url,
    pub intercom_version: String,
    pub output_dir: PathBuf,
    /// The SQLite state file (for a Postgres state: its redacted URL, for
    /// messages only; see `state`).
    pub state_path: PathBuf,
    /// Where the state lives (SQLite file or shared Postgres).
    pub state: StateLocation,
    /// How long a worker's lease on a report lasts without a heartbeat.
    pub lease_ttl: Duration,
    pub formats: Vec<Format>,
    pub reports: Vec<ReportName>,
    /// Options of every report that has any set.
    pub report_options: BTreeMap<ReportName, ReportOptions>,
    pub page_size: u32,
    pub rows_per_file: u64,
    pub request_timeout: Duration,
    pub max_retries: usize,
    pub max_retry_time: Duration,
    /// Ceiling on calls per minute (`None`: follow Intercom's headers only).
    pub max_requests_per_minute: Option<u32>,
    /// The most calls in flight at once, and per-item fetches (conversation
    /// parts, notes...) started at once: an upper bound; the client keeps
    /// as many calls out as the rate limit needs at the measured latency.
    pub concurrency: usize,
    /// Seconds before the cursor that every sync re-reads (search index lag).
    pub lookback_secs: u64,
    /// A long search-based sync commits after a completed window once this
    /// much time passed since its last commit (zero: after every window).
    pub checkpoint_every: Duration,
    /// How often each running report logs a progress line when stderr is
    /// not a terminal (`progress_log_secs`; zero: never).
    pub progress_log_every: Duration,
    /// The `[[workspace]]` this is for (`''` without blocks): scopes the state.
    pub workspace: String,
    /// How many workspaces of the config run at once (`max_parallel_workspaces`,
    /// top level; the same in every workspace's settings).
    pub max_parallel_workspaces: usize,
    pub(super) token_file: Option<PathBuf>,
    /// Where `token_file` was given, for messages that must not show its
    /// value (`INTERCOM_TOKEN_FILE`, `` `token_file` in the config file P``).
    pub(super) token_file_from: String,
    /// A workspace's `token_env`: the variable its token is read from.
    pub(super) token_env: Option<String>,
}

impl Settings {
    /// Combine file and flags, apply defaults, and validate.
    pub fn resolve(file: FileConfig, flags: Overrides) -> Result<Self> {
        use super::exclude::{List, ListSource};
        // Where the report lists were given (before `file` is taken apart).
        let reports_source = if flags.reports.is_empty() {
            file.source_of(List::Reports)
        } else {
            Some(ListSource::Flag(List::Reports))
        };
        let exclude_source = if flags.exclude_reports.is_empty() {
            file.source_of(List::Exclude)
                .unwrap_or(ListSource::Flag(List::Exclude))
        } else {
            ListSource::Flag(List::Exclude)
        };
        let base_url = match (flags.base_url.or(file.base_url), file.region) {
            (Some(url), _) => url,
            (None, Some(region)) => region.base_url().to_string(),
            (None, None) => Region::Us.base_url().to_string(),
        };
        let base_url = Url::parse(&base_url)
            .map_err(|e| Error::Config(format!("base_url {base_url:?} is not a URL: {e}")))?;
        crate::http::validate_base_url(&base_url).map_err(Error::Config)?;

        let formats = if !flags.formats.is_empty() {
            flags.formats
        } else {
            file.formats.unwrap_or_else(|| vec![Format::Parquet])
        };
        if formats.is_empty() {
            return Err(Error::Config(
                "`formats` is empty; use [\"parquet\"], [\"csv\"] or both".into(),
            ));
        }
        let names = if !flags.reports.is_empty() {
            flags.reports
        } else {
            file.reports.unwrap_or_default()
        };
        if !names.is_empty() && names.iter().all(|n| n.trim().is_empty()) {
            // `--reports ''` (an unset variable in a script) is a mistake,
            // not a request for every report.
            return Err(Error::Config(
                "`reports` (--reports) is given but names no report; name some \
                 (`intercom-export reports` lists them) or leave it out for the default reports"
                    .into(),
            ));
        }
        let mut reports = match &reports_source {
            Some(source) => super::exclude::parse(&names, source)?,
            None => Vec::new(),
        };
        let named = !reports.is_empty();
        if !named {
            reports = ReportName::defaults();
        }
        let excluded = if flags.exclude_reports.is_empty() {
            file.exclude_reports.unwrap_or_default()
        } else {
            flags.exclude_reports
        };
        super::exclude::apply(
            &mut reports,
            reports_source.as_ref().filter(|_| named),
            &excluded,
            &exclude_source,
        )?;
        reports.sort();
        reports.dedup();

        let mut report_options: BTreeMap<ReportName, ReportOptions> = BTreeMap::new();
        for (name, table) in file.options.unwrap_or_default() {
            let report: ReportName = name.parse()?;
            let parsed = ReportOptions::from_table(&name, &table, report.options())?;
            report_options.insert(report, parsed);
        }
        for flag in &flags.options {
            let (name, key, value) = options::parse_flag(flag)?;
            let report: ReportName = name.parse()?;
            report_options
                .entry(report)
                .or_default()
                .set(&name, &key, &value, report.options())?;
        }
        warn_options_not_run(&flags.options, &reports);
        for &report in &reports {
            crate::reports::validate(
                report,
                report_options
                    .get(&report)
                    .unwrap_or(&ReportOptions::default()),
            )?;
        }

        let page_size = file.page_size.unwrap_or(defaults::PAGE_SIZE);
        if !(1..=150).contains(&page_size) {
            return Err(Error::Config(format!(
                "page_size = {page_size} is out of range; Intercom allows 1 to 150"
            )));
        }
        let rows_per_file = file.rows_per_file.unwrap_or(defaults::ROWS_PER_FILE);
        if rows_per_file == 0 {
            return Err(Error::Config("rows_per_file must be at least 1".into()));
        }
        if file.max_requests_per_minute == Some(0) {
            return Err(Error::Config(
                "max_requests_per_minute must be at least 1; leave it out to use Intercom's \
                 full rate limit"
                    .into(),
            ));
        }
        let concurrency = file.concurrency.unwrap_or(defaults::CONCURRENCY);
        if !(1..=defaults::MAX_CONCURRENCY).contains(&concurrency) {
            return Err(Error::Config(format!(
                "concurrency = {concurrency} is out of range; use 1 to {} (the most calls in \
                 flight; the client finds the right number below it itself, default {})",
                defaults::MAX_CONCURRENCY,
                defaults::CONCURRENCY
            )));
        }
        let max_parallel_workspaces = max_parallel_workspaces(file.max_parallel_workspaces)?;
        let state_text = match (flags.state_path, file.state, file.state_path) {
            (Some(flag), _, _) => flag.to_string_lossy().into_owned(),
            (None, Some(_), Some(_)) => {
                return Err(Error::Config(
                    "both `state` and `state_path` are set; keep one (`state` takes \
                     sqlite://PATH, a plain path or postgres://…)"
                        .into(),
                ));
            }
            (None, Some(url), None) => url,
            (None, None, Some(path)) => path.to_string_lossy().into_owned(),
            (None, None, None) => defaults::STATE_PATH.to_string(),
        };
        let state = StateLocation::parse(&state_text)?;
        let lease_ttl_secs = file.lease_ttl_secs.unwrap_or(defaults::LEASE_TTL_SECS);
        if lease_ttl_secs == 0 {
            return Err(Error::Config("lease_ttl_secs must be at least 1".into()));
        }
        Ok(Self {
            state_path: state.path_for_messages(),
            state,
            lease_ttl: Duration::from_secs(lease_ttl_secs),
            max_requests_per_minute: file.max_requests_per_minute,
            concurrency,
            lookback_secs: file.lookback_secs.unwrap_or(defaults::LOOKBACK_SECS),
            checkpoint_every: Duration::from_secs(
                file.checkpoint_secs.unwrap_or(defaults::CHECKPOINT_SECS),
            ),
            progress_log_every: Duration::from_secs(
                file.progress_log_secs
                    .unwrap_or(crate::telemetry::heartbeat::DEFAULT_EVERY_SECS),
            ),
            base_url,
            intercom_version: file
                .intercom_version
                .unwrap_or_else(|| DEFAULT_INTERCOM_VERSION.to_string()),
            output_dir: flags
                .output_dir
                .or(file.output_dir)
                .unwrap_or_else(|| defaults::OUTPUT_DIR.into()),
            formats,
            reports,
            report_options,
            page_size,
            rows_per_file,
            request_timeout: Duration::from_secs(
                file.request_timeout_secs
                    .unwrap_or(defaults::REQUEST_TIMEOUT_SECS),
            ),
            max_retries: file.max_retries.unwrap_or(defaults::MAX_RETRIES),
            max_retry_time: Duration::from_secs(
                file.max_retry_secs.unwrap_or(defaults::MAX_RETRY_SECS),
            ),
            workspace: String::new(),
            max_parallel_workspaces,
            token_file_from: token_file_from(&file.origin, None),
            token_file: file.token_file,
            token_env: None,
        })
    }

    /// One [`Settings`] per workspace to sync: every `[[workspace]]` block
    /// (or those named in `selected`, from `--workspace`), each laid over the
    /// top-level keys; without blocks, the one default workspace (`''`).
    ///
    /// Flags apply to every workspace; `--output` sets the base under which
    /// each workspace writes to `<output>/<name>` unless its block sets `output`.
    pub fn resolve_all(
        file: FileConfig,
        flags: Overrides,
        selected: &[String],
    ) -> Result<Vec<Self>> {
        // A top-level key: said as such, not as an error of the first block.
        max_parallel_workspaces(file.max_parallel_workspaces)?;
        let blocks = file.workspace.clone().unwrap_or_default();
        if blocks.is_empty() {
            if let Some(name) = selected.first() {
                return Err(Error::Config(format!(
                    "--workspace {name}: the config has no [[workspace]] blocks; add one named                      `{name}` or leave out --workspace"
                )));
            }
            return Ok(vec![Self::resolve(file, flags)?]);
        }
        let names: Vec<String> = blocks.iter().map(|b| b.name.clone()).collect();
        for (i, name) in names.iter().enumerate() {
            validate_workspace_name(name)?;
            if names[..i].contains(name) {
                return Err(Error::Config(format!(
                    "two [[workspace]] blocks are named `{name}`; names must be unique"
                )));
            }
        }
        for name in selected {
            if !names.contains(name) {
                return Err(Error::Config(format!(
                    "--workspace {name}: no [[workspace]] block has that name; the config has: {}",
                    names.join(", ")
                )));
            }
        }
        let base_output = flags
            .output_dir
            .clone()
            .or_else(|| file.output_dir.clone())
            .unwrap_or_else(|| defaults::OUTPUT_DIR.into());
        let mut all = Vec::new();
        for ws in blocks {
            if !selected.is_empty() && !selected.contains(&ws.name) {
                continue;
            }
            let mut f = file.clone();
            f.workspace = None;
            if ws.region.is_some() || ws.base_url.is_some() {
                f.region = ws.region;
                f.base_url = ws.base_url.clone();
            }
            f.intercom_version = ws.intercom_version.clone().or(f.intercom_version);
            f.formats = ws.formats.clone().or(f.formats);
            if ws.reports.is_some() {
                f.reports = ws.reports.clone();
                f.origin.reports_block = Some(ws.name.clone());
            }
            f.max_requests_per_minute = ws.max_requests_per_minute.or(f.max_requests_per_minute);
            f.concurrency = ws.concurrency.or(f.concurrency);
            f.lookback_secs = ws.lookback_secs.or(f.lookback_secs);
            if let Some(options) = ws.options.clone() {
                f.options.get_or_insert_with(BTreeMap::new).extend(options);
            }
            // A workspace's token is its own: never the top-level one.
            f.token_file = ws.token_file.clone();
            f.origin.from_env.retain(|k| k != "token_file");
            if ws.token_env.is_none() && ws.token_file.is_none() {
                return Err(Error::Config(format!(
                    "[[workspace]] `{}` has no token: set `token_env` to the name of the \
                     environment variable that holds its access token, or `token_file`",
                    ws.name
                )));
            }
            let flags = Overrides {
                output_dir: None,
                ..flags.clone()
            };
            let mut settings = Self::resolve(f, flags).map_err(|e| match e {
                Error::Config(msg) => Error::Config(format!("[[workspace]] `{}`: {msg}", ws.name)),
                other => other,
            })?;
            settings.output_dir = ws
                .output
                .clone()
                .unwrap_or_else(|| base_output.join(&ws.name));
            settings.token_env = ws.token_env.clone();
            settings.token_file_from = token_file_from(&file.origin, Some(&ws.name));
            settings.workspace = ws.name;
            if let Some(other) = all
                .iter()
                .find(|o: &&Settings| same_place(&o.output_dir, &settings.output_dir))
            {
                return Err(Error::Config(format!(
                    "[[workspace]] `{}` and `{}` both write to {}: their files would mix and \
                     each run's cleanup would remove the other's; give each its own `output` \
                     (or leave `output` out: each then writes to <output_dir>/<name>)",
                    other.workspace,
                    settings.workspace,
                    settings.output_dir.display()
                )));
            }
            all.push(settings);
        }
        Ok(all)
    }

    /// Settings for the HTTP client.
    pub fn client_config(&self, token: AccessToken) -> ClientConfig {
        ClientConfig {
            base_url: self.base_url.clone(),
            intercom_version: self.intercom_version.clone(),
            token,
            request_timeout: self.request_timeout,
            max_retries: self.max_retries,
            max_retry_time: self.max_retry_time,
            max_requests_per_minute: self.max_requests_per_minute,
            max_in_flight: self.concurrency,
        }
    }
}

/// `max_parallel_workspaces`, defaulted and checked.
fn max_parallel_workspaces(given: Option<usize>) -> Result<usize> {
    let n = given.unwrap_or(defaults::MAX_PARALLEL_WORKSPACES);
    if (1..=defaults::MAX_PARALLEL_WORKSPACES_CAP).contains(&n) {
        Ok(n)
    } else {
        Err(Error::Config(format!(
            "max_parallel_workspaces = {n} is out of range; use 1 (one workspace after \
             another) to {} (default {}; INTERCOM_MAX_PARALLEL_WORKSPACES sets it too)",
            defaults::MAX_PARALLEL_WORKSPACES_CAP,
            defaults::MAX_PARALLEL_WORKSPACES
        )))
    }
}

/// Workspace names become directory names and state keys: keep them plain.
/// Whether two outputs name one place: object-store URLs (`s3://…`) equal
/// but for a trailing `/`; local paths equal once made absolute (against
/// the working directory) and compared by component, so `out`, `./out/`
/// and `/cwd/out` are one place. Symlinks are not followed.
fn same_place(a: &std::path::Path, b: &std::path::Path) -> bool {
    let url = |p: &std::path::Path| {
        p.to_str()
            .filter(|s| s.contains("://"))
            .map(|s| s.trim_end_matches('/').to_owned())
    };
    match (url(a), url(b)) {
        (Some(a), Some(b)) => a == b,
        (None, None) => match (std::path::absolute(a), std::path::absolute(b)) {
            (Ok(a), Ok(b)) => a.components().eq(b.components()),
            _ => a.components().eq(b.components()),
        },
        _ => false,
    }
}

fn validate_workspace_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "[[workspace]] name {name:?} is not allowed; use 1 to 64 letters, digits, `-`, `_` \
             or `.` (not starting with `.`)"
        )))
    }
}

/// One WARN when `--option` flags name reports this run does not export
/// (`--option conversations.state=open --reports users`): they have no
/// effect. Options in the config file are not warned about (a config
/// serves runs of different reports).
fn warn_options_not_run(flags: &[String], reports: &[ReportName]) {
    let mut not_run: Vec<String> = flags
        .iter()
        .filter_map(|flag| options::parse_flag(flag).ok())
        .filter(|(name, _, _)| {
            name.parse::<ReportName>()
                .is_ok_and(|report| !reports.contains(&report))
        })
        .map(|(name, _, _)| name)
        .collect();
    not_run.sort();
    not_run.dedup();
    if !not_run.is_empty() {
        tracing::warn!(
            reports = %not_run.join(", "),
            "--option is given for report(s) this run does not export; it has no effect (add them to --reports to export them)"
        );
    }
}
