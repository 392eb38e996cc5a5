//! Per-report options: `[options.<report>]` tables in the config file and
//! `--option <report>.<key>=<value>` flags (flags win).
//!
//! Each report declares the keys it accepts ([`OptionSpec`]); an unknown key
//! is an error naming the valid ones. Lists are TOML arrays in the file and
//! comma-separated in flags.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// One option a report accepts.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    pub key: &'static str,
    /// Allowed values, when the option is a choice.
    pub choices: &'static [&'static str],
    pub default: &'static str,
    pub doc: &'static str,
    /// Changes which records are exported (and so gets its own cursor).
    /// False for options that only change how (order, failure handling).
    pub selects: bool,
}

/// The options given for one report, as strings (lists joined by commas).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportOptions {
    values: BTreeMap<String, String>,
}

impl ReportOptions {
    /// Build from a config table, validating keys and choices against `specs`.
    pub fn from_table(report: &str, table: &toml::Table, specs: &[OptionSpec]) -> Result<Self> {
        let mut options = ReportOptions::default();
        for (key, value) in table {
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Array(items) => items
                    .iter()
                    .map(|v| match v {
                        toml::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.to_string(),
            };
            options.set(report, key, &text, specs)?;
        }
        Ok(options)
    }

    /// Set one option, validating it.
    pub fn set(
        &mut self,
        report: &str,
        key: &str,
        value: &str,
        specs: &[OptionSpec],
    ) -> Result<()> {
        let Some(spec) = specs.iter().find(|s| s.key == key) else {
            let valid: Vec<_> = specs.iter().map(|s| s.key).collect();
            return Err(Error::Config(if valid.is_empty() {
                format!("report {report} takes no options (got {key:?})")
            } else {
                format!(
                    "report {report} has no option {key:?}; its options are: {}",
                    valid.join(", ")
                )
            }));
        };
        let value = value.trim();
        if !spec.choices.is_empty() && !spec.choices.contains(&value) {
            return Err(Error::Config(format!(
                "option {report}.{key} = {value:?} is not one of: {}",
                spec.choices.join(", ")
            )));
        }
        self.values.insert(key.to_string(), value.to_string());
        Ok(())
    }

    /// The value of a choice or string option, or its default.
    pub fn get<'a>(&'a self, spec: &'a OptionSpec) -> &'a str {
        self.values
            .get(spec.key)
            .map_or(spec.default, String::as_str)
    }

    /// A list option (comma-separated), empty when not set.
    pub fn list(&self, spec: &OptionSpec) -> Vec<String> {
        self.values
            .get(spec.key)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A stable text key of the options that change what is exported, for
    /// keeping one cursor per option set. Empty for the defaults.
    pub fn param_key(&self, specs: &[OptionSpec]) -> String {
        self.values
            .iter()
            .filter(|(k, v)| {
                specs
                    .iter()
                    .any(|s| s.key == k.as_str() && s.selects && s.default != v.as_str())
            })
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Parse `report.key=value` from a `--option` flag.
pub fn parse_flag(flag: &str) -> Result<(String, String, String)> {
    let bad = || {
        Error::Config(format!(
            "--option {flag:?} is not of the form REPORT.KEY=VALUE (e.g. conversations.state=open)"
        ))
    };
    let (lhs, value) = flag.split_once('=').ok_or_else(bad)?;
    let (report, key) = lhs.split_once('.').ok_or_else(bad)?;
    Ok((
        report.trim().to_string(),
        key.trim().to_string(),
        value.to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[OptionSpec] = &[
        OptionSpec {
            key: "state",
            choices: &["open", "closed", "all"],
            default: "all",
            doc: "",
            selects: true,
        },
        OptionSpec {
            key: "ids",
            choices: &[],
            default: "",
            doc: "",
            selects: true,
        },
    ];

    #[test]
    fn validates_keys_and_choices() {
        let mut o = ReportOptions::default();
        o.set("r", "state", "open", SPECS).expect("valid");
        assert_eq!(o.get(&SPECS[0]), "open");
        let e = o
            .set("r", "sate", "open", SPECS)
            .expect_err("unknown key")
            .to_string();
        assert!(e.contains("\"sate\"") && e.contains("state, ids"), "{e}");
        let e = o
            .set("r", "state", "opn", SPECS)
            .expect_err("bad choice")
            .to_string();
        assert!(e.contains("open, closed, all"), "{e}");
    }

    #[test]
    fn lists_from_toml_arrays_and_flags() {
        let table: toml::Table = toml::from_str("ids = [\"a\", 7]").expect("toml");
        let o = ReportOptions::from_table("r", &table, SPECS).expect("valid");
        assert_eq!(o.list(&SPECS[1]), vec!["a", "7"]);
        assert_eq!(o.param_key(SPECS), "ids=a,7");
        assert_eq!(ReportOptions::default().param_key(SPECS), "");
        assert_eq!(
            parse_flag("users_by_tag.tag_ids=1,2").expect("flag"),
            ("users_by_tag".into(), "tag_ids".into(), "1,2".into())
        );
        assert!(parse_flag("nodot=1").is_err());
    }
}
