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
    pub page_size: Option<u32>,
    pub rows_per_file: Option<u64>,
    pub request_timeout_secs: Option<u64>,
    pub max_retries: Option<usize>,
    pub max_retry_secs: Option<u64>,
    pub max_requests_per_minute: Option<u32>,
    pub concurrency: Option<usize>,
    pub lookback_secs: Option<u64>,
    pub checkpoint_secs: Option<u64>,
    /// How many `[[workspace]]` blocks run at once (top level only; each has
    /// its own token, client, pacer and state lock). Default
    /// [`super::defaults::MAX_PARALLEL_WORKSPACES`]; 1 runs them one after another.
    pub max_parallel_workspaces: Option<usize>,
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

/// Keys whose environment value is a comma-separated list.
pub(super) const LIST_KEYS: &[&str] = &["formats", "reports"];

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
