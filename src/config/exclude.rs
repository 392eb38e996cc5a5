//! `reports` and `exclude_reports` / `--reports` and `--exclude-reports`:
//! the reports a run exports, each list with where it was given
//! ([`ListSource`]), so that an error names the flag, the variable or the
//! config file and key it is about.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::reports::ReportName;

/// Which of the two lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum List {
    Reports,
    Exclude,
}

impl List {
    fn key(self) -> &'static str {
        match self {
            List::Reports => "reports",
            List::Exclude => "exclude_reports",
        }
    }

    fn flag(self) -> &'static str {
        match self {
            List::Reports => "--reports",
            List::Exclude => "--exclude-reports",
        }
    }

    fn variable(self) -> String {
        format!("{}{}", super::ENV_PREFIX, self.key().to_ascii_uppercase())
    }
}

/// Where a list of report names was given: the config file, a
/// `[[workspace]]` block of it, an `INTERCOM_*` variable, a flag; a later
/// one overrides an earlier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ListSource {
    /// The config file (its path; `None`: parsed from text), at the top level.
    File(List, Option<PathBuf>),
    /// A `[[workspace]]` block of the config file (its name).
    Block(List, Option<PathBuf>, String),
    /// `INTERCOM_REPORTS` / `INTERCOM_EXCLUDE_REPORTS`.
    Env(List),
    /// `--reports` / `--exclude-reports`.
    Flag(List),
}

impl std::fmt::Display for ListSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let file = |path: &Option<PathBuf>| match path {
            Some(p) => format!("the config file {}", p.display()),
            None => "the config".to_string(),
        };
        match self {
            ListSource::File(list, path) => write!(f, "`{}` in {}", list.key(), file(path)),
            ListSource::Block(list, path, name) => write!(
                f,
                "`{}` of [[workspace]] `{name}` in {}",
                list.key(),
                file(path)
            ),
            ListSource::Env(list) => f.write_str(&list.variable()),
            ListSource::Flag(list) => f.write_str(list.flag()),
        }
    }
}

/// The report names of `names` (blank ones ignored); an unknown one is an
/// error naming `source` (the flag, the variable, or the config file and
/// key), the name, the nearest valid name and every valid one.
pub(super) fn parse(names: &[String], source: &ListSource) -> Result<Vec<ReportName>> {
    names
        .iter()
        .filter(|n| !n.trim().is_empty())
        .map(|n| {
            n.parse::<ReportName>().map_err(|e| match e {
                Error::Config(msg) => Error::Config(format!("{source}: {msg}")),
                other => other,
            })
        })
        .collect()
}

/// Remove the `excluded` names (given in `exclude_source`) from `reports`.
/// Each name must be a report ([`parse`]). Excluding every report is an
/// error: a run of nothing is a mistake in the config, not a success.
pub(super) fn apply(
    reports: &mut Vec<ReportName>,
    excluded: &[String],
    exclude_source: &ListSource,
) -> Result<()> {
    let excluded = parse(excluded, exclude_source)?;
    if excluded.is_empty() {
        return Ok(());
    }
    reports.retain(|r| !excluded.contains(r));
    nothing_left(reports)
}

fn nothing_left(reports: &[ReportName]) -> Result<()> {
    if reports.is_empty() {
        return Err(Error::Config(
            "`exclude_reports` (--exclude-reports) leaves no report to run; exclude fewer, or \
             name the reports to run in `reports` (--reports)"
                .into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn file(list: List) -> ListSource {
        ListSource::File(list, Some(PathBuf::from("/etc/ie.toml")))
    }

    #[test]
    fn excluded_reports_leave_the_list_and_unknown_names_are_errors() {
        let mut reports = ReportName::defaults();
        let before = reports.len();
        let tickets: ReportName = "tickets".parse().expect("a report");
        assert!(reports.contains(&tickets));
        let flag = ListSource::Flag(List::Exclude);
        apply(
            &mut reports,
            &names(&["tickets", "ticket_parts", " "]),
            &flag,
        )
        .expect("valid");
        assert_eq!(reports.len(), before - 2);
        assert!(!reports.contains(&tickets));

        let err = apply(&mut reports, &names(&["tickets", "tikets"]), &flag)
            .expect_err("unknown")
            .to_string();
        assert!(err.contains("\"tikets\""), "{err}");

        let mut one = vec![tickets];
        let err = apply(&mut one, &names(&["tickets"]), &flag)
            .expect_err("nothing left")
            .to_string();
        assert!(err.contains("leaves no report"), "{err}");
    }

    /// The second trial: an unknown name in `exclude_reports` did not say
    /// where it came from.
    #[test]
    fn an_unknown_excluded_name_names_its_source_and_the_valid_names() {
        for (source, said) in [
            (ListSource::Flag(List::Exclude), "--exclude-reports: "),
            (ListSource::Env(List::Exclude), "INTERCOM_EXCLUDE_REPORTS: "),
            (
                file(List::Exclude),
                "`exclude_reports` in the config file /etc/ie.toml: ",
            ),
        ] {
            let mut reports = ReportName::defaults();
            let err = apply(&mut reports, &names(&["tikets"]), &source)
                .expect_err("unknown")
                .to_string();
            assert!(
                err.contains(&format!("{said}unknown report \"tikets\"")),
                "{err}"
            );
            assert!(err.contains("did you mean \"tickets\"?"), "{err}");
            assert!(err.contains("valid reports are: "), "{err}");
            assert!(err.contains("conversation_parts"), "{err}");
        }
    }
}
