//! The config file as written: [`FileConfig`] (mirrors
//! `config/example.toml`) and its `[[workspace]]` blocks
//! ([`WorkspaceConfig`]), loaded with the environment laid over it; unknown
//! keys are errors naming the nearest valid one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Region;
use super::env::env_table;
use crate::error::{Error, Result};
use crate::output::Format;

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
    /// Reports left out of `reports` (or of the default reports).
    pub exclude_reports: Option<Vec<String>>,
    pub page_size: Option<u32>,
    pub rows_per_file: Option<u64>,
    pub request_timeout_secs: Option<u64>,
    pub max_retries: Option<usize>,
    pub max_retry_secs: Option<u64>,
    pub max_requests_per_minute: Option<u32>,
    pub concurrency: Option<usize>,
    pub lookback_secs: Option<u64>,
    pub checkpoint_secs: Option<u64>,
    /// Seconds between the progress lines each running report logs when
    /// stderr is not a terminal (0: none); see `telemetry::heartbeat`.
    pub progress_log_secs: Option<u64>,
    /// How many `[[workspace]]` blocks run at once (top level only; each has
    /// its own token, client, pacer and state lock). Default
    /// [`super::defaults::MAX_PARALLEL_WORKSPACES`]; 1 runs them one after another.
    pub max_parallel_workspaces: Option<usize>,
    /// `[options.<report>]` tables: per-report options.
    pub options: Option<BTreeMap<String, toml::Table>>,
    /// `[[workspace]]` blocks: several Intercom workspaces in one config.
    pub workspace: Option<Vec<WorkspaceConfig>>,
    /// Where the keys were given (not a key: filled by [`FileConfig::load`]
    /// and `Settings::resolve_all`), for messages about them.
    #[serde(skip)]
    pub(super) origin: Origin,
}

/// Where the keys of a [`FileConfig`] came from.
#[derive(Debug, Default, Clone)]
pub(super) struct Origin {
    /// The config file (`None`: none, or parsed from text).
    pub(super) path: Option<PathBuf>,
    /// The keys an `INTERCOM_*` variable set (over the file's).
    pub(super) from_env: Vec<String>,
    /// The `[[workspace]]` block whose `reports` replaced the top level's.
    pub(super) reports_block: Option<String>,
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

/// Keys whose environment value is a comma-separated list.
pub(super) const LIST_KEYS: &[&str] = &["formats", "reports", "exclude_reports"];

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
        // The variables `[[workspace]]` blocks read their tokens from.
        let token_envs: Vec<String> = table
            .get("workspace")
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|block| block.get("token_env")?.as_str().map(str::to_string))
            .collect();
        let from_env = env_table(env, &token_envs)?;
        let env_keys: Vec<String> = from_env.keys().cloned().collect();
        table.extend(from_env);
        let mut config = Self::from_table(table)?;
        config.origin = Origin {
            path: path.map(Path::to_path_buf),
            from_env: env_keys,
            reports_block: None,
        };
        Ok(config)
    }

    /// Where the list `list` (`reports`, `exclude_reports`) was given,
    /// `None` when it was not.
    pub(super) fn source_of(
        &self,
        list: super::exclude::List,
    ) -> Option<super::exclude::ListSource> {
        use super::exclude::{List, ListSource};
        let (given, key) = match list {
            List::Reports => (self.reports.is_some(), "reports"),
            List::Exclude => (self.exclude_reports.is_some(), "exclude_reports"),
        };
        if !given {
            return None;
        }
        let path = self.origin.path.clone();
        Some(match &self.origin.reports_block {
            Some(name) if list == List::Reports => ListSource::Block(list, path, name.clone()),
            _ if self.origin.from_env.iter().any(|k| k == key) => ListSource::Env(list),
            _ => ListSource::File(list, path),
        })
    }

    /// Parse config text (no environment).
    pub fn parse(text: &str) -> Result<Self> {
        Self::from_table(parse_table(text).map_err(Error::Config)?)
    }

    fn from_table(table: toml::Table) -> Result<Self> {
        // Every unknown key, of the top level and of every block, in one
        // error: a user fixing two typos should not need two runs.
        let mut unknown = Vec::new();
        let keys = Self::keys();
        unknown.extend(
            table
                .keys()
                .filter(|key| !keys.contains(key))
                .map(|key| Unknown::new(key, None, &keys)),
        );
        let mut blocks_of_tables = Vec::new();
        if let Some(blocks) = table.get("workspace") {
            let Some(blocks) = blocks.as_array() else {
                return Err(Error::Config(
                    "`workspace` must be [[workspace]] blocks (an array of tables)".into(),
                ));
            };
            let ws_keys = WorkspaceConfig::keys();
            for (i, block) in blocks.iter().enumerate() {
                let Some(block) = block.as_table() else {
                    return Err(Error::Config(format!(
                        "workspace block {} is not a table; write [[workspace]] blocks",
                        i + 1
                    )));
                };
                let name = block.get("name").and_then(|n| n.as_str()).unwrap_or("?");
                unknown.extend(
                    block
                        .keys()
                        .filter(|key| !ws_keys.contains(key))
                        .map(|key| Unknown::new(key, Some(name), &ws_keys)),
                );
                blocks_of_tables.push((name, block));
            }
            if !unknown.is_empty() {
                return Err(Error::Config(unknown_keys(&unknown, &keys, &ws_keys)));
            }
        } else if !unknown.is_empty() {
            return Err(Error::Config(unknown_keys(&unknown, &keys, &[])));
        }
        check_numbers(&table, None)?;
        for (name, block) in blocks_of_tables {
            check_numbers(block, Some(name))?;
        }
        table
            .try_into()
            .map_err(|e: toml::de::Error| Error::Config(e.to_string().trim().to_string()))
    }
}

/// Config keys whose value is a whole number: the key, what to write
/// instead of a wrong value, and the largest value its type holds.
const NUMBER_KEYS: &[(&str, &str, u64)] = &[
    ("page_size", "1 to 150", u32::MAX as u64),
    ("rows_per_file", "a count of rows, at least 1", u64::MAX),
    ("request_timeout_secs", "whole seconds, e.g. 60", u64::MAX),
    ("max_retries", "a count, e.g. 8", u64::MAX),
    ("max_retry_secs", "whole seconds, e.g. 600", u64::MAX),
    (
        "max_requests_per_minute",
        "calls per minute, at least 1",
        u32::MAX as u64,
    ),
    ("concurrency", "1 to 256", u64::MAX),
    ("lookback_secs", "whole seconds, e.g. 0 or 3600", u64::MAX),
    ("checkpoint_secs", "whole seconds, e.g. 60", u64::MAX),
    (
        "progress_log_secs",
        "whole seconds, e.g. 30 (0: none)",
        u64::MAX,
    ),
    ("lease_ttl_secs", "whole seconds, at least 1", u64::MAX),
    ("max_parallel_workspaces", "1 to 256", u64::MAX),
];

/// What to write for the number key `key` ("1 to 256"), `None` when it is
/// not a number key.
pub(super) fn number_hint(key: &str) -> Option<&'static str> {
    NUMBER_KEYS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, hint, _)| *hint)
}

/// Whether `text` (an environment value) is a whole number `key` can hold.
pub(super) fn fits_number_key(key: &str, text: &str) -> bool {
    let max = NUMBER_KEYS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map_or(u64::MAX, |(_, _, max)| *max);
    text.trim().parse::<u64>().is_ok_and(|n| n <= max)
}

/// The number keys of `table` (the top level, or the block named
/// `block`) hold whole numbers of their range: else an error naming the
/// key, the value and what to write (serde's "invalid type: string, expected
/// usize" says none of that).
fn check_numbers(table: &toml::Table, block: Option<&str>) -> Result<()> {
    for (key, hint, max) in NUMBER_KEYS {
        let Some(value) = table.get(*key) else {
            continue;
        };
        let fits = value
            .as_integer()
            .and_then(|n| u64::try_from(n).ok())
            .is_some_and(|n| n <= *max);
        if !fits {
            let place = block.map_or_else(String::new, |b| format!("in [[workspace]] `{b}`: "));
            let what = if value.is_integer() {
                "is out of range"
            } else {
                "is not a whole number"
            };
            return Err(Error::Config(format!(
                "{place}{key} = {value} {what}; use {hint}"
            )));
        }
    }
    Ok(())
}

/// An unknown key of the config, where it was, and its nearest valid key.
struct Unknown {
    key: String,
    block: Option<String>,
    nearest: Option<String>,
}

impl Unknown {
    fn new(key: &str, block: Option<&str>, keys: &[String]) -> Self {
        Self {
            key: key.to_string(),
            block: block.map(str::to_string),
            nearest: nearest_key(key, keys).cloned(),
        }
    }
}

/// One message for every unknown key: a single one as [`unknown_key`]
/// says it; several listed each with its nearest valid key, then the valid
/// keys of the places they were in (`keys` top level, `ws_keys` blocks).
fn unknown_keys(unknown: &[Unknown], keys: &[String], ws_keys: &[String]) -> String {
    if let [one] = unknown {
        let valid = if one.block.is_some() { ws_keys } else { keys };
        let text = unknown_key(&one.key, valid);
        return match &one.block {
            Some(name) => format!("in [[workspace]] `{name}`: {text}"),
            None => text,
        };
    }
    let listed: Vec<String> = unknown
        .iter()
        .map(|u| {
            let place = u
                .block
                .as_ref()
                .map_or_else(String::new, |b| format!(" in [[workspace]] `{b}`"));
            let near = u
                .nearest
                .as_ref()
                .map_or_else(String::new, |k| format!(" (did you mean `{k}`?)"));
            format!("`{}`{place}{near}", u.key)
        })
        .collect();
    let mut text = format!(
        "{} unknown config keys: {}.",
        unknown.len(),
        listed.join(", ")
    );
    if unknown.iter().any(|u| u.block.is_none()) {
        text.push_str(&format!(" Valid keys: {}.", keys.join(", ")));
    }
    if unknown.iter().any(|u| u.block.is_some()) {
        text.push_str(&format!(
            " Valid in a [[workspace]] block: {}.",
            ws_keys.join(", ")
        ));
    }
    text
}

fn parse_table(text: &str) -> std::result::Result<toml::Table, String> {
    toml::from_str(text).map_err(|e: toml::de::Error| e.to_string().trim().to_string())
}

/// The valid key `key` is most likely a typo of (at most 3 edits away).
fn nearest_key<'k>(key: &str, keys: &'k [String]) -> Option<&'k String> {
    keys.iter()
        .map(|k| (strsim::levenshtein(key, k), k))
        .min()
        .filter(|(d, _)| *d <= 3)
        .map(|(_, k)| k)
}

/// "unknown config key `x`; did you mean `y`?" with the list of valid keys.
fn unknown_key(key: &str, keys: &[String]) -> String {
    let nearest = nearest_key(key, keys)
        .map(|k| format!("; did you mean `{k}`?"))
        .unwrap_or_default();
    format!(
        "unknown config key `{key}`{nearest} Valid keys: {}",
        keys.join(", ")
    )
}
