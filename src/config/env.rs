//! Config keys given as `INTERCOM_<KEY>` environment variables
//! ([`ENV_PREFIX`]), read into a TOML table laid over the file.

use super::TOKEN_ENV;
use super::file::{FileConfig, LIST_KEYS, fits_number_key, number_hint};
use crate::error::{Error, Result};

/// Prefix of the environment variables that override config keys
/// (`INTERCOM_OUTPUT_DIR` for `output_dir`, ...).
pub const ENV_PREFIX: &str = "INTERCOM_";

/// The prefix of `INTERCOM_*` variables read elsewhere than as config keys:
/// the project's test hooks (the debug-build failpoints of
/// [`crate::failpoint`], the Postgres and S3 endpoints of its test suite).
const TEST_VARIABLES_PREFIX: &str = "INTERCOM_EXPORT_TEST_";

/// Every `INTERCOM_*` variable a user sets for this program: the token's,
/// the log format's ([`crate::telemetry::LOG_FORMAT_ENV`]) and one per
/// config key that the environment can set.
pub(super) fn known_variables(keys: &[String]) -> Vec<String> {
    let mut names: Vec<String> = keys
        .iter()
        .filter(|k| !matches!(k.as_str(), "options" | "workspace" | "intercom_version"))
        .map(|k| format!("{ENV_PREFIX}{}", k.to_ascii_uppercase()))
        .collect();
    names.push(TOKEN_ENV.to_string());
    names.push(format!("{ENV_PREFIX}VERSION"));
    names.push(crate::telemetry::LOG_FORMAT_ENV.to_string());
    names.sort();
    names
}

/// The known variable `name` is most likely a typo of, if any is close:
/// one whose name (after the prefix) starts with `name`'s or the other way
/// round, the shorter being most of the longer, at least half
/// (`INTERCOM_OUTPUT` → `INTERCOM_OUTPUT_DIR`, `INTERCOM_REPORT` →
/// `INTERCOM_REPORTS`), or one at most
/// [`MAX_TYPO_EDITS`] edits away (`INTERCOM_OUTPT_DIR`); the fewest edits
/// first, then the first in name order. `None` for a name close to none
/// (`INTERCOM_FOO_BAR`): a guess there would be noise.
///
/// A name with `TOKEN` in it (`INTERCOM_TOKEN`, `INTERCOM_API_TOKEN`) gets
/// [`TOKEN_ENV`], never `INTERCOM_TOKEN_FILE`: its value is most likely the
/// token itself, and following a guess of `INTERCOM_TOKEN_FILE` would put
/// the token where a path is expected (the third trial).
pub(super) fn closest_variable<'k>(name: &str, known: &'k [String]) -> Option<&'k String> {
    let rest = name.strip_prefix(ENV_PREFIX).unwrap_or(name);
    if is_token_like(name) {
        return known.iter().find(|k| *k == TOKEN_ENV);
    }
    known
        .iter()
        .filter_map(|k| {
            let k_rest = k.strip_prefix(ENV_PREFIX).unwrap_or(k);
            let edits = strsim::levenshtein(rest, k_rest);
            let (short, long) = if rest.len() <= k_rest.len() {
                (rest, k_rest)
            } else {
                (k_rest, rest)
            };
            let held =
                !short.is_empty() && long.starts_with(short) && 2 * short.len() >= long.len();
            (held || edits <= MAX_TYPO_EDITS).then_some((!held, edits, k))
        })
        .min()
        .map(|(_, _, k)| k)
}

/// Whether `name` looks like a variable meant to hold the access token:
/// `TOKEN` in it (any case), other than [`TOKEN_ENV`] and
/// `INTERCOM_TOKEN_FILE`.
pub(super) fn is_token_like(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    upper.contains("TOKEN") && upper != TOKEN_ENV && upper != TOKEN_FILE_ENV
}

/// The variable of the `token_file` key.
const TOKEN_FILE_ENV: &str = "INTERCOM_TOKEN_FILE";

/// The `INTERCOM_*` variables set in this process that look like the token
/// meant for [`TOKEN_ENV`] ([`is_token_like`]) and are read by nothing
/// (not a config key's, not in `also_read`: the `token_env` of
/// `[[workspace]]` blocks), sorted; names only, never values.
pub(super) fn unread_token_variables(also_read: &[String]) -> Vec<String> {
    let known = known_variables(&FileConfig::keys());
    let mut names: Vec<String> = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| {
            name.starts_with(ENV_PREFIX)
                && !name.starts_with(TEST_VARIABLES_PREFIX)
                && is_token_like(name)
                && !known.contains(name)
                && !also_read.contains(name)
        })
        .collect();
    names.sort();
    names
}

/// How many edits (Levenshtein) a variable name may be from a known one
/// to be suggested as its typo.
const MAX_TYPO_EDITS: usize = 2;

/// Config keys given as `INTERCOM_<KEY>` environment variables. An
/// `INTERCOM_*` variable this program does not read (not a config key, not
/// the token's nor the log format's, not in `also_read`: the `token_env` of `[[workspace]]`
/// blocks) gets one WARN naming the closest one it reads; it stays a
/// warning (other tools may set `INTERCOM_*` variables of their own).
pub(super) fn env_table(
    env: impl IntoIterator<Item = (String, String)>,
    also_read: &[String],
) -> Result<toml::Table> {
    let keys = FileConfig::keys();
    let known = known_variables(&keys);
    let mut table = toml::Table::new();
    for (name, value) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        // The log format's is read before logging starts (`main`), not
        // as a config key.
        if name == TOKEN_ENV
            || name == crate::telemetry::LOG_FORMAT_ENV
            || name.starts_with(TEST_VARIABLES_PREFIX)
            || also_read.contains(&name)
        {
            continue;
        }
        let key = match rest.to_ascii_lowercase().as_str() {
            "version" => "intercom_version".to_string(),
            other => other.to_string(),
        };
        if key == "options" || key == "workspace" || !keys.contains(&key) {
            // Most likely a typo the user expects to take effect (the trial:
            // INTERCOM_OUTPUT for INTERCOM_OUTPUT_DIR): say so, once. Only a
            // warning: another tool may have set it.
            match closest_variable(&name, &known) {
                Some(k) if k == TOKEN_ENV => tracing::warn!(
                    variable = %name,
                    "{name} is not a variable intercom-export reads and is ignored; did you \
                     mean {k} (it holds the access token itself; {TOKEN_FILE_ENV} takes the \
                     path of a file that holds it)?"
                ),
                Some(k) => tracing::warn!(
                    variable = %name,
                    "{name} is not a variable intercom-export reads and is ignored; did you mean {k}?"
                ),
                None => {
                    tracing::warn!(variable = %name, "{name} is not a variable intercom-export reads and is ignored")
                }
            }
            continue;
        }
        if key == "region"
            && let Err(e) = super::Region::try_from(value.clone())
        {
            // Said with the variable's name: serde would only say "in `region`".
            return Err(Error::Config(format!("{name}={value}: {e}")));
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
