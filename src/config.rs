//! Configuration: a TOML file, the environment, and flags, resolved into
//! [`Settings`].
//!
//! [`FileConfig`] mirrors `config/example.toml` key for key (a test keeps the
//! two in sync); unknown keys are errors. Flags given on the command line
//! win over the file. The access token is never a flag or a config value:
//! it comes from `INTERCOM_ACCESS_TOKEN` or from the file named by
//! `token_file`.
//!
//! One config can name several Intercom workspaces (`[[workspace]]` blocks,
//! [`WorkspaceConfig`]): each gets its own token, base URL, reports, output
//! and options, layered over the top-level keys; [`Settings::resolve_all`]
//! gives one [`Settings`] per workspace. Without blocks there is one
//! workspace named `''`, exactly as before.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, Result};
use crate::http::{ClientConfig, DEFAULT_INTERCOM_VERSION};
use crate::output::Format;
use crate::reports::{ReportName, ReportOptions, options};
use crate::secret::AccessToken;
pub use crate::state::StateLocation;

/// The environment variable that holds the access token.
pub const TOKEN_ENV: &str = "INTERCOM_ACCESS_TOKEN";

/// Intercom's data-hosting regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    Us,
    Eu,
    Au,
}

impl Region {
    pub fn base_url(self) -> &'static str {
        match self {
            Region::Us => "https://api.intercom.io",
            Region::Eu => "https://api.eu.intercom.io",
            Region::Au => "https://api.au.intercom.io",
        }
    }
}

/// The config file, as written. Every key is optional; see `config/example.toml`.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub region: Option<Region>,
    pub base_url: Option<String>,
    pub intercom_version: Option<String>,
    pub token_file: Option<PathBuf>,
    pub output_dir: Option<PathBuf>,
    pub state_path: Option<PathBuf>,
    /// Where the state lives: `sqlite://PATH` (or a plain path, like
    /// `state_path`) or `postgres://…` (shared by several workers).
    pub state: Option<String>,
    /// Shared (Postgres) state: seconds a worker's lease on a report lasts
    /// without a heartbeat before another worker may take the report over.
    pub lease_ttl_secs: Option<u64>,
    pub formats: Option<Vec<Format>>,
    pub reports: Option<Vec<String>>,
    pub page_size: Option<u32>,
    pub rows_per_file: Option<u64>,
    pub request_timeout_secs: Option<u64>,
    pub max_retries: Option<usize>,
    pub max_retry_secs: Option<u64>,
    pub max_requests_per_minute: Option<u32>,
    pub concurrency: Option<usize>,
    pub lookback_secs: Option<u64>,
    pub checkpoint_secs: Option<u64>,
    /// `[options.<report>]` tables: per-report options.
    pub options: Option<BTreeMap<String, toml::Table>>,
    /// `[[workspace]]` blocks: several Intercom workspaces in one config.
    pub workspace: Option<Vec<WorkspaceConfig>>,
}

/// One `[[workspace]]` block: an Intercom workspace with its own token and
/// output. Keys it leaves out come from the top level of the config.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceConfig {
    /// Names the workspace in the state, the output path and `--workspace`.
    pub name: String,
    /// The environment variable that holds this workspace's access token.
    pub token_env: Option<String>,
    /// Or a file that holds it.
    pub token_file: Option<PathBuf>,
    pub region: Option<Region>,
    pub base_url: Option<String>,
    pub intercom_version: Option<String>,
    /// Where its files go; default `<output_dir>/<name>`.
    pub output: Option<PathBuf>,
    pub formats: Option<Vec<Format>>,
    pub reports: Option<Vec<String>>,
    pub max_requests_per_minute: Option<u32>,
    pub concurrency: Option<usize>,
    pub lookback_secs: Option<u64>,
    /// `[workspace.options.<report>]`: replaces the top-level options of that report.
    pub options: Option<BTreeMap<String, toml::Table>>,
}

impl WorkspaceConfig {
    /// Every key a `[[workspace]]` block accepts.
    pub fn keys() -> Vec<String> {
        match serde_json::to_value(WorkspaceConfig::default()) {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }
}

/// Prefix of the environment variables that override config keys
/// (`INTERCOM_OUTPUT_DIR` for `output_dir`, ...).
pub const ENV_PREFIX: &str = "INTERCOM_";

/// Keys whose environment value is a comma-separated list.
const LIST_KEYS: &[&str] = &["formats", "reports"];

impl FileConfig {
    /// Every key the config file accepts.
    pub fn keys() -> Vec<String> {
        match serde_json::to_value(FileConfig::default()) {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// The file (if any) with `INTERCOM_*` environment variables laid over it.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self> {
        let mut table = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Error::Config(format!("cannot read config file {}: {e}", path.display()))
                })?;
                parse_table(&text)
                    .map_err(|msg| Error::Config(format!("{}: {msg}", path.display())))?
            }
            None => toml::Table::new(),
        };
        table.extend(env_table(env)?);
        Self::from_table(table)
    }

    /// Parse config text (no environment).
    pub fn parse(text: &str) -> Result<Self> {
        Self::from_table(parse_table(text).map_err(Error::Config)?)
    }

    fn from_table(table: toml::Table) -> Result<Self> {
        let keys = Self::keys();
        for key in table.keys() {
            if !keys.contains(key) {
                return Err(Error::Config(unknown_key(key, &keys)));
            }
        }
        if let Some(blocks) = table.get("workspace") {
            let Some(blocks) = blocks.as_array() else {
                return Err(Error::Config(
                    "`workspace` must be [[workspace]] blocks (an array of tables)".into(),
                ));
            };
            let keys = WorkspaceConfig::keys();
            for (i, block) in blocks.iter().enumerate() {
                let Some(block) = block.as_table() else {
                    return Err(Error::Config(format!(
                        "workspace block {} is not a table; write [[workspace]] blocks",
                        i + 1
                    )));
                };
                let name = block.get("name").and_then(|n| n.as_str()).unwrap_or("?");
                for key in block.keys() {
                    if !keys.contains(key) {
                        return Err(Error::Config(format!(
                            "in [[workspace]] `{name}`: {}",
                            unknown_key(key, &keys)
                        )));
                    }
                }
            }
        }
        table
            .try_into()
            .map_err(|e: toml::de::Error| Error::Config(e.to_string().trim().to_string()))
    }
}

fn parse_table(text: &str) -> std::result::Result<toml::Table, String> {
    toml::from_str(text).map_err(|e: toml::de::Error| e.to_string().trim().to_string())
}

/// "unknown config key `x`; did you mean `y`?" with the list of valid keys.
fn unknown_key(key: &str, keys: &[String]) -> String {
    let nearest = keys
        .iter()
        .map(|k| (strsim::levenshtein(key, k), k))
        .min()
        .filter(|(d, _)| *d <= 3)
        .map(|(_, k)| format!("; did you mean `{k}`?"))
        .unwrap_or_default();
    format!(
        "unknown config key `{key}`{nearest} Valid keys: {}",
        keys.join(", ")
    )
}

/// Config keys given as `INTERCOM_<KEY>` environment variables.
fn env_table(env: impl IntoIterator<Item = (String, String)>) -> Result<toml::Table> {
    let keys = FileConfig::keys();
    let mut table = toml::Table::new();
    for (name, value) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if name == TOKEN_ENV {
            continue;
        }
        let key = match rest.to_ascii_lowercase().as_str() {
            "version" => "intercom_version".to_string(),
            other => other.to_string(),
        };
        if key == "options" || key == "workspace" || !keys.contains(&key) {
            tracing::debug!(variable = %name, "not a config key; ignored");
            continue;
        }
        let parsed = if LIST_KEYS.contains(&key.as_str()) {
            toml::Value::Array(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(|v| toml::Value::String(v.to_string()))
                    .collect(),
            )
        } else if let Ok(n) = value.trim().parse::<i64>() {
            toml::Value::Integer(n)
        } else {
            toml::Value::String(value)
        };
        table.insert(key, parsed);
    }
    Ok(table)
}

/// Values given as command-line flags; they override the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub base_url: Option<String>,
    pub output_dir: Option<PathBuf>,
    pub state_path: Option<PathBuf>,
    pub formats: Vec<Format>,
    pub reports: Vec<String>,
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
    /// Per-item requests in flight at once (conversation parts, notes...).
    pub concurrency: usize,
    /// Seconds before the cursor that every sync re-reads (search index lag).
    pub lookback_secs: u64,
    /// A long search-based sync commits after a completed window once this
    /// much time passed since its last commit (zero: after every window).
    pub checkpoint_every: Duration,
    /// The `[[workspace]]` this is for (`''` without blocks): scopes the state.
    pub workspace: String,
    token_file: Option<PathBuf>,
    /// A workspace's `token_env`: the variable its token is read from.
    token_env: Option<String>,
}

/// Defaults, shared with `config/example.toml`.
pub mod defaults {
    pub const OUTPUT_DIR: &str = "intercom-export-output";
    pub const STATE_PATH: &str = "intercom-export-state.db";
    pub const PAGE_SIZE: u32 = 150;
    pub const ROWS_PER_FILE: u64 = 1_000_000;
    pub const REQUEST_TIMEOUT_SECS: u64 = 60;
    pub const MAX_RETRIES: usize = 8;
    pub const MAX_RETRY_SECS: u64 = 600;
    pub const CONCURRENCY: usize = 8;
    pub const LOOKBACK_SECS: u64 = 0;
    pub const CHECKPOINT_SECS: u64 = 60;
    pub const LEASE_TTL_SECS: u64 = crate::state::DEFAULT_LEASE_TTL_SECS;
}

impl Settings {
    /// Combine file and flags, apply defaults, and validate.
    pub fn resolve(file: FileConfig, flags: Overrides) -> Result<Self> {
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
        let mut reports = names
            .iter()
            .filter(|n| !n.trim().is_empty())
            .map(|n| n.parse::<ReportName>())
            .collect::<Result<Vec<_>>>()?;
        if reports.is_empty() {
            reports = ReportName::defaults();
        }
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
        if !(1..=64).contains(&concurrency) {
            return Err(Error::Config(format!(
                "concurrency = {concurrency} is out of range; use 1 to 64"
            )));
        }
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
            f.reports = ws.reports.clone().or(f.reports);
            f.max_requests_per_minute = ws.max_requests_per_minute.or(f.max_requests_per_minute);
            f.concurrency = ws.concurrency.or(f.concurrency);
            f.lookback_secs = ws.lookback_secs.or(f.lookback_secs);
            if let Some(options) = ws.options.clone() {
                f.options.get_or_insert_with(BTreeMap::new).extend(options);
            }
            // A workspace's token is its own: never the top-level one.
            f.token_file = ws.token_file.clone();
            if ws.token_env.is_none() && ws.token_file.is_none() {
                return Err(Error::Config(format!(
                    "[[workspace]] `{}` has no token: set `token_env` to the name of the                      environment variable that holds its access token, or `token_file`",
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
            settings.workspace = ws.name;
            all.push(settings);
        }
        Ok(all)
    }

    /// The access token: `INTERCOM_ACCESS_TOKEN`, else the `token_file`.
    pub fn token(&self) -> Result<AccessToken> {
        if let Some(var) = &self.token_env {
            return std::env::var(var)
                .ok()
                .and_then(AccessToken::new)
                .ok_or_else(|| {
                    Error::Config(format!(
                        "no access token for workspace `{}`: the environment variable {var} \
                         (its `token_env`) is not set or empty",
                        self.workspace
                    ))
                });
        }
        if let Some(t) = std::env::var(TOKEN_ENV).ok().and_then(AccessToken::new) {
            return Ok(t);
        }
        if let Some(path) = &self.token_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::Config(format!("cannot read token_file {}: {e}", path.display()))
            })?;
            return AccessToken::new(text)
                .ok_or_else(|| Error::Config(format!("token_file {} is empty", path.display())));
        }
        Err(Error::Config(format!(
            "no access token: set the {TOKEN_ENV} environment variable to your Intercom access \
             token, or set `token_file` in the config to a file that holds it"
        )))
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
        }
    }
}

/// Workspace names become directory names and state keys: keep them plain.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_named_with_the_nearest_valid_one() {
        let err = FileConfig::parse("output_dri = \"x\"\n")
            .expect_err("unknown key")
            .to_string();
        assert!(
            err.contains("`output_dri`") && err.contains("did you mean `output_dir`"),
            "{err}"
        );
    }

    #[test]
    fn environment_overrides_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "output_dir = \"file\"\npage_size = 100\n").expect("write");
        let env = [
            ("INTERCOM_OUTPUT_DIR", "env"),
            ("INTERCOM_REPORTS", "users, leads"),
            ("INTERCOM_PAGE_SIZE", "50"),
            ("INTERCOM_VERSION", "2.11"),
            ("INTERCOM_ACCESS_TOKEN", "secret"),
            ("INTERCOM_SOMETHING_ELSE", "x"),
            ("HOME", "/root"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let c = FileConfig::load(Some(&path), env).expect("load");
        assert_eq!(c.output_dir, Some(PathBuf::from("env")));
        assert_eq!(
            c.reports,
            Some(vec!["users".to_string(), "leads".to_string()])
        );
        assert_eq!(c.page_size, Some(50));
        assert_eq!(c.intercom_version.as_deref(), Some("2.11"));
    }

    #[test]
    fn flags_override_the_file_and_defaults_apply() {
        let file = FileConfig::parse(
            "region = \"eu\"\noutput_dir = \"from-file\"\nreports = [\"users\"]\n",
        )
        .expect("parse");
        let s = Settings::resolve(
            file,
            Overrides {
                output_dir: Some("from-flag".into()),
                ..Overrides::default()
            },
        )
        .expect("resolve");
        assert_eq!(s.base_url.as_str(), "https://api.eu.intercom.io/");
        assert_eq!(s.output_dir, PathBuf::from("from-flag"));
        assert_eq!(s.reports, vec![ReportName::Users]);
        assert_eq!(s.formats, vec![Format::Parquet]);
        assert_eq!(s.page_size, 150);
        assert_eq!(s.intercom_version, "2.16");
    }

    #[test]
    fn workspace_blocks_layer_over_the_top_level() {
        let file = FileConfig::parse(
            "output_dir = \"out\"\nreports = [\"users\"]\npage_size = 100\n\
             [options.conversations]\nstate = \"open\"\n\
             [[workspace]]\nname = \"a\"\ntoken_env = \"TOKEN_A\"\nregion = \"eu\"\n\
             [[workspace]]\nname = \"b\"\ntoken_file = \"/t\"\noutput = \"/data/b\"\n\
             reports = [\"leads\"]\n",
        )
        .expect("parse");
        let all = Settings::resolve_all(file.clone(), Overrides::default(), &[]).expect("resolve");
        assert_eq!(all.len(), 2);
        let (a, b) = (&all[0], &all[1]);
        assert_eq!((a.workspace.as_str(), b.workspace.as_str()), ("a", "b"));
        assert_eq!(a.output_dir, PathBuf::from("out/a"));
        assert_eq!(b.output_dir, PathBuf::from("/data/b"));
        assert_eq!(a.base_url.as_str(), "https://api.eu.intercom.io/");
        assert_eq!(b.base_url.as_str(), "https://api.intercom.io/");
        assert_eq!(a.reports, vec![ReportName::Users]);
        assert_eq!(b.reports, vec![ReportName::Leads]);
        assert_eq!((a.page_size, b.page_size), (100, 100));
        assert!(a.report_options.contains_key(&ReportName::Conversations));
        let err = a.token().expect_err("TOKEN_A is unset").to_string();
        assert!(err.contains("TOKEN_A") && err.contains("`a`"), "{err}");
        // --workspace picks; unknown names are listed.
        let only_b = Settings::resolve_all(file.clone(), Overrides::default(), &["b".into()])
            .expect("resolve");
        assert_eq!(only_b.len(), 1);
        let err = Settings::resolve_all(file, Overrides::default(), &["c".into()])
            .expect_err("no such workspace")
            .to_string();
        assert!(err.contains("a, b"), "{err}");
        // Without blocks: one unnamed workspace, as before.
        let plain = Settings::resolve_all(FileConfig::default(), Overrides::default(), &[])
            .expect("resolve");
        assert_eq!(plain.len(), 1);
        assert_eq!(plain[0].workspace, "");
        assert_eq!(plain[0].output_dir, PathBuf::from(defaults::OUTPUT_DIR));
    }

    #[test]
    fn bad_workspace_blocks_are_named() {
        let e = |toml: &str| match FileConfig::parse(toml) {
            Err(e) => e.to_string(),
            Ok(f) => Settings::resolve_all(f, Overrides::default(), &[])
                .expect_err("invalid")
                .to_string(),
        };
        let err = e("[[workspace]]\nname = \"a\"\ntoken_evn = \"X\"\n");
        assert!(err.contains("did you mean `token_env`"), "{err}");
        assert!(e("[[workspace]]\nname = \"a\"\n").contains("has no token"));
        assert!(e("[[workspace]]\nname = \"a/b\"\ntoken_env = \"X\"\n").contains("not allowed"));
        let twice = "[[workspace]]\nname = \"a\"\ntoken_env = \"X\"\n";
        assert!(e(&format!("{twice}{twice}")).contains("unique"));
        assert!(
            e("[[workspace]]\nname = \"a\"\ntoken_env = \"X\"\npage_size = 5\n")
                .contains("unknown config key `page_size`")
        );
    }

    #[test]
    fn bad_values_are_rejected_with_the_reason() {
        let e = |toml: &str| {
            Settings::resolve(
                FileConfig::parse(toml).expect("parse"),
                Overrides::default(),
            )
            .expect_err("invalid")
            .to_string()
        };
        assert!(e("page_size = 500").contains("1 to 150"));
        assert!(e("concurrency = 0").contains("1 to 64"));
        assert!(e("max_requests_per_minute = 0").contains("at least 1"));
        assert!(e("base_url = \"http://example.com\"").contains("plain http"));
        assert!(e("reports = [\"nope\"]").contains("valid reports are"));
    }
}
