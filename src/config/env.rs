//! Config keys given as `INTERCOM_<KEY>` environment variables
//! ([`ENV_PREFIX`]), read into a TOML table laid over the file.

use super::TOKEN_ENV;
use super::file::{FileConfig, LIST_KEYS, fits_number_key, number_hint};
use crate::error::{Error, Result};

/// Prefix of the environment variables that override config keys
/// (`INTERCOM_OUTPUT_DIR` for `output_dir`, ...).
pub const ENV_PREFIX: &str = "INTERCOM_";

/// The config key `key` (lower case, without the prefix) is one or two
/// edits away from, if any: `outpt_dir` → `output_dir`.
pub(super) fn near_key<'k>(key: &str, keys: &'k [String]) -> Option<&'k String> {
    keys.iter()
        .map(|k| (strsim::levenshtein(key, k), k))
        .min()
        .filter(|(d, _)| (1..=2).contains(d))
        .map(|(_, k)| k)
}

/// Config keys given as `INTERCOM_<KEY>` environment variables.
pub(super) fn env_table(env: impl IntoIterator<Item = (String, String)>) -> Result<toml::Table> {
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
            // A near miss of a config key is most likely a typo the user
            // expects to take effect: say so (other INTERCOM_* variables,
            // e.g. of other tools, are left alone).
            match near_key(&key, &keys) {
                Some(k) => tracing::warn!(
                    variable = %name,
                    "{name} is not a config key and is ignored; did you mean {ENV_PREFIX}{}?",
                    k.to_ascii_uppercase()
                ),
                None => tracing::debug!(variable = %name, "not a config key; ignored"),
            }
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
        } else if let Some(hint) = number_hint(&key) {
            // Said here, with the variable's name: serde would only say
            // "invalid type: string, expected usize".
            if !fits_number_key(&key, &value) {
                let what = if value.trim().parse::<i128>().is_ok() {
                    "is out of range"
                } else {
                    "is not a number"
                };
                return Err(Error::Config(format!("{name}={value} {what}; use {hint}")));
            }
            match value.trim().parse::<i64>() {
                Ok(n) => toml::Value::Integer(n),
                Err(_) => toml::Value::String(value),
            }
        } else if let Ok(n) = value.trim().parse::<i64>() {
            toml::Value::Integer(n)
        } else {
            toml::Value::String(value)
        };
        table.insert(key, parsed);
    }
    Ok(table)
}
