//! `reports` and `exclude_reports` / `--reports` and `--exclude-reports`:
//! the reports a run exports, each list with where it was given
//! ([`ListSource`]), so that an error names the flag, the variable or the
//! config file and key it is about, and the command line wins over the
//! config file when the two disagree.

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

/// Where a list of report names was given. The layers of the config
/// (see [`Self::layer`]): the config file, a `[[workspace]]` block of it,
/// an `INTERCOM_*` variable, a flag; a later one overrides an earlier.
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

impl ListSource {
    /// How strong: the command line over the environment over a block over
    /// the top level of the file.
    fn layer(&self) -> u8 {
        match self {
            ListSource::File(..) => 0,
            ListSource::Block(..) => 1,
            ListSource::Env(_) => 2,
            ListSource::Flag(_) => 3,
        }
    }
}

/// `the config file PATH` (`the config` when parsed from text).
fn file_name(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => format!("the config file {}", p.display()),
        None => "the config".to_string(),
    }
}

impl std::fmt::Display for ListSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let file = file_name;
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

/// Remove the `excluded` names (given in `exclude_source`) from `reports`
/// (named in `reports_source`, `None`: the default reports). Each excluded
/// name must be a report ([`parse`]). A report named in both lists:
/// - kept, with one WARN, when the list that names it is on the command
///   line and the exclusion is in the config file (or the report list is a
///   `[[workspace]]` block's and the exclusion the file's top level): the
///   stronger layer wins;
/// - an error naming both when both lists come from the same layer
///   (`--reports a,b --exclude-reports b`): one of them is a mistake;
/// - left out when the exclusion is the stronger (`--exclude-reports` over
///   the config's `reports`).
///
/// Excluding every report is an error: a run of nothing is a mistake in
/// the config, not a success.
pub(super) fn apply(
    reports: &mut Vec<ReportName>,
    reports_source: Option<&ListSource>,
    excluded: &[String],
    exclude_source: &ListSource,
) -> Result<()> {
    let excluded = parse(excluded, exclude_source)?;
    if excluded.is_empty() {
        return Ok(());
    }
    if let Some(named_by) = reports_source {
        let both: Vec<&str> = reports
            .iter()
            .filter(|r| excluded.contains(r))
            .map(|r| r.as_str())
            .collect();
        if !both.is_empty() {
            let listed = both.join(", ");
            let one = both.len() == 1;
            if named_by.layer() == exclude_source.layer() {
                // One config file: named once (the third trial: "`reports`
                // in the config file both.toml and `exclude_reports` in the
                // config file both.toml").
                let both_named = match (named_by, exclude_source) {
                    (ListSource::File(a, p), ListSource::File(b, q)) if p == q => {
                        format!("`{}` and `{}` in {}", a.key(), b.key(), file_name(p))
                    }
                    _ => format!("{named_by} and {exclude_source}"),
                };
                return Err(Error::Config(format!(
                    "{both_named} both name {listed}; keep {} in one \
                     of them (to export {}, take {} out of {exclude_source})",
                    if one { "it" } else { "each" },
                    if one { "it" } else { "them" },
                    if one { "it" } else { "them" },
                )));
            }
            if named_by.layer() > exclude_source.layer() {
                // The two layers really involved (the third trial: "the
                // command line overrides the config file" with no file).
                let what = match (named_by, exclude_source) {
                    (ListSource::Flag(_), ListSource::Env(_)) => {
                        "the command line overrides the environment"
                    }
                    (ListSource::Flag(_), _) => "the command line overrides the config file",
                    (ListSource::Env(_), _) => "the environment overrides the config file",
                    _ => "a [[workspace]] block overrides the top level",
                };
                tracing::warn!(
                    reports = %listed,
                    "{exclude_source} leaves out {listed}, which {named_by} names: {} \
                     exported ({what})",
                    if one { "it is" } else { "they are" }
                );
                // The rest of the exclusion names reports not in the list.
                return Ok(());
            }
        }
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
            None,
            &names(&["tickets", "ticket_parts", " "]),
            &flag,
        )
        .expect("valid");
        assert_eq!(reports.len(), before - 2);
        assert!(!reports.contains(&tickets));

        let err = apply(&mut reports, None, &names(&["tickets", "tikets"]), &flag)
            .expect_err("unknown")
            .to_string();
        assert!(err.contains("\"tikets\""), "{err}");

        let mut one = vec![tickets];
        let err = apply(&mut one, None, &names(&["tickets"]), &flag)
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
            let err = apply(&mut reports, None, &names(&["tikets"]), &source)
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

    #[test]
    fn the_stronger_list_wins_and_the_same_layer_naming_both_is_an_error() {
        let parse_all = |l: &[&str]| -> Vec<ReportName> {
            l.iter().map(|n| n.parse().expect("report")).collect()
        };
        // --reports over the config's exclude_reports: kept.
        let mut reports = parse_all(&["admins", "tickets"]);
        apply(
            &mut reports,
            Some(&ListSource::Flag(List::Reports)),
            &names(&["tickets", "teams"]),
            &file(List::Exclude),
        )
        .expect("the command line wins");
        assert_eq!(reports, parse_all(&["admins", "tickets"]));
        // INTERCOM_REPORTS too.
        apply(
            &mut reports,
            Some(&ListSource::Env(List::Reports)),
            &names(&["tickets"]),
            &file(List::Exclude),
        )
        .expect("the environment wins");
        assert_eq!(reports, parse_all(&["admins", "tickets"]));

        // --exclude-reports over the config's reports: left out.
        apply(
            &mut reports,
            Some(&file(List::Reports)),
            &names(&["tickets"]),
            &ListSource::Flag(List::Exclude),
        )
        .expect("the command line wins");
        assert_eq!(reports, parse_all(&["admins"]));

        // One layer naming a report in both: an error naming both.
        for (r, x, said) in [
            (
                ListSource::Flag(List::Reports),
                ListSource::Flag(List::Exclude),
                "--reports and --exclude-reports both name tickets",
            ),
            (
                ListSource::Env(List::Reports),
                ListSource::Env(List::Exclude),
                "INTERCOM_REPORTS and INTERCOM_EXCLUDE_REPORTS both name tickets",
            ),
            (
                file(List::Reports),
                file(List::Exclude),
                "`reports` and `exclude_reports` in the config file /etc/ie.toml both name \
                 tickets",
            ),
        ] {
            let mut reports = parse_all(&["admins", "tickets"]);
            let err = apply(&mut reports, Some(&r), &names(&["tickets"]), &x)
                .expect_err("both")
                .to_string();
            assert!(err.contains(said), "{err}");
        }
    }
}
