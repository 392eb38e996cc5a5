//! The tap's config: a JSON object with the Singer/Meltano keys
//! (`access_token`, `start_date`) and the exporter's own (`region`,
//! `base_url`, `intercom_version`, `options`, limits), which mean what they
//! mean in the TOML config (see `config/example.toml`).

use std::path::Path;

use serde_json::Value;

use crate::config::{FileConfig, Overrides, Settings};
use crate::error::{Error, Result};
use crate::secret::AccessToken;

/// Keys of the Singer convention, handled here.
const SINGER_KEYS: &[&str] = &["access_token", "start_date", "skip_failed"];

/// Keys passed on to the exporter's config ([`FileConfig`]), same meaning.
const EXPORTER_KEYS: &[&str] = &[
    "region",
    "base_url",
    "intercom_version",
    "token_file",
    "options",
    "page_size",
    "request_timeout_secs",
    "max_retries",
    "max_retry_secs",
    "max_requests_per_minute",
    "concurrency",
    "lookback_secs",
    "checkpoint_secs",
];

/// Every key a tap config accepts.
pub fn keys() -> impl Iterator<Item = &'static str> {
    SINGER_KEYS.iter().chain(EXPORTER_KEYS).copied()
}

/// A tap config, resolved and validated.
#[derive(Debug, Clone)]
pub struct TapConfig {
    /// The exporter settings (output and state keys are unused in tap mode).
    pub settings: Settings,
    /// `access_token`, else `INTERCOM_ACCESS_TOKEN` or `token_file`.
    pub token: AccessToken,
    /// `start_date` (unix seconds): a stream without a bookmark exports
    /// records updated at or after it (all of them when unset). Snapshot
    /// streams (admins, teams, tags, ...) are always whole.
    pub start_date: Option<i64>,
    /// `skip_failed`: items that still fail after retries (kept in the
    /// STATE and retried next run) do not make the exit status 4.
    pub skip_failed: bool,
}

impl TapConfig {
    /// Read and resolve the config file at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let value = super::read_json(path, "config")?;
        Self::from_value(value).map_err(|e| match e {
            Error::Config(msg) => Error::Config(format!("config {}: {msg}", path.display())),
            other => other,
        })
    }

    /// Resolve a config object.
    pub fn from_value(value: Value) -> Result<Self> {
        let Value::Object(map) = value else {
            return Err(Error::Config(
                "the tap config must be a JSON object, e.g. {\"access_token\": \"...\", \
                 \"start_date\": \"2024-01-01T00:00:00Z\"}"
                    .into(),
            ));
        };
        let mut table = toml::Table::new();
        let mut token = None;
        let mut start_date = None;
        let mut skip_failed = false;
        for (key, value) in map {
            if value.is_null() {
                // Meltano passes unset settings as null: the same as absent.
                continue;
            }
            match key.as_str() {
                "access_token" => {
                    let text = value
                        .as_str()
                        .ok_or_else(|| Error::Config("`access_token` must be a string".into()))?;
                    token = Some(
                        AccessToken::new(text)
                            .map(|t| t.with_source("the tap config's `access_token`"))
                            .ok_or_else(|| {
                                Error::Config(
                                    "`access_token` is empty; set it to your Intercom access token"
                                        .into(),
                                )
                            })?,
                    );
                }
                "start_date" => {
                    let secs = crate::output::schema::timestamp_secs(&value).ok_or_else(|| {
                        Error::Config(format!(
                            "`start_date` {value} is not a date; use RFC 3339 like \
                             \"2024-01-01T00:00:00Z\" or \"2024-01-01\""
                        ))
                    })?;
                    start_date = Some(secs);
                }
                "skip_failed" => {
                    skip_failed = value.as_bool().ok_or_else(|| {
                        Error::Config(format!("`skip_failed` must be true or false, not {value}"))
                    })?;
                }
                k if EXPORTER_KEYS.contains(&k) => {
                    let v: toml::Value = serde_json::from_value(value.clone()).map_err(|e| {
                        Error::Config(format!("`{k}` has a value TOML cannot hold ({e})"))
                    })?;
                    table.insert(key, v);
                }
                _ => return Err(Error::Config(unknown_key(&key))),
            }
        }
        let text = toml::to_string(&table)
            .map_err(|e| Error::Internal(format!("re-encoding the tap config: {e}")))?;
        let file = FileConfig::parse(&text)?;
        let settings = Settings::resolve(file, Overrides::default())?;
        let token = match token {
            Some(t) => t,
            None => settings.token().map_err(|_| {
                Error::Config(
                    "no access token: set `access_token` in the tap config (or the \
                     INTERCOM_ACCESS_TOKEN environment variable, or `token_file`)"
                        .into(),
                )
            })?,
        };
        Ok(Self {
            settings,
            token,
            start_date,
            skip_failed,
        })
    }

    /// Check the options of the selected `reports` (a report that needs
    /// ids fails here, naming the option and where to set it).
    pub fn validate_streams(&self, reports: &[crate::reports::ReportName]) -> Result<()> {
        for &report in reports {
            crate::reports::validate(
                report,
                self.settings
                    .report_options
                    .get(&report)
                    .unwrap_or(&Default::default()),
            )
            .map_err(|e| match e {
                Error::Config(msg) => Error::Config(format!(
                    "stream {report} is selected but {msg}; set it under `options` in the tap \
                     config, e.g. {{\"options\": {{\"{report}\": {{...}}}}}}"
                )),
                other => other,
            })?;
        }
        Ok(())
    }
}

/// "unknown tap config key `x`; did you mean `y`?" with the valid keys.
fn unknown_key(key: &str) -> String {
    let all: Vec<&str> = keys().collect();
    let nearest = all
        .iter()
        .map(|k| (strsim::levenshtein(key, k), *k))
        .min()
        .filter(|(d, _)| *d <= 3)
        .map(|(_, k)| format!("; did you mean `{k}`?"))
        .unwrap_or_default();
    format!(
        "unknown tap config key `{key}`{nearest} Valid keys: {}",
        all.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn singer_keys_and_ours_resolve() {
        let c = TapConfig::from_value(json!({
            "access_token": " tok ",
            "start_date": "2024-01-02T00:00:00Z",
            "region": "eu",
            "intercom_version": "2.11",
            "options": {"conversations": {"state": "open"}},
            "page_size": 50,
            "token_file": null,
        }))
        .expect("valid");
        assert_eq!(c.start_date, Some(1_704_153_600));
        assert_eq!(c.settings.base_url.as_str(), "https://api.eu.intercom.io/");
        assert_eq!(c.settings.intercom_version, "2.11");
        assert_eq!(c.settings.page_size, 50);
        assert_eq!(c.token.expose(), "tok");
        assert_eq!(c.token.source(), "the tap config's `access_token`");
        assert_eq!(c.settings.report_options.len(), 1);
    }

    #[test]
    fn bad_keys_and_values_are_named() {
        let e = TapConfig::from_value(json!({"access_token": "t", "start_dat": "2024-01-01"}))
            .expect_err("unknown key");
        assert!(e.to_string().contains("did you mean `start_date`"), "{e}");
        let e = TapConfig::from_value(json!({"access_token": "t", "start_date": "yesterday"}))
            .expect_err("bad date");
        assert!(e.to_string().contains("`start_date`"), "{e}");
        let e = TapConfig::from_value(json!({"access_token": "t", "region": "mars"}))
            .expect_err("bad region");
        assert!(e.to_string().contains("mars"), "{e}");
        let e = TapConfig::from_value(json!(["x"])).expect_err("not an object");
        assert!(e.to_string().contains("JSON object"), "{e}");
    }
}
