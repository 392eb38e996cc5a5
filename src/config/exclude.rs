//! `exclude_reports` / `--exclude-reports`: reports left out of the run's
//! list (the named `reports`, or the default reports).

use crate::error::{Error, Result};
use crate::reports::ReportName;

/// Remove the `excluded` names from `reports`. Each name must be a report
/// (an unknown one is the same error as in `--reports`, naming it);
/// blank names are ignored. Excluding every report is an error: a run of
/// nothing is a mistake in the config, not a success.
pub(super) fn apply(reports: &mut Vec<ReportName>, excluded: &[String]) -> Result<()> {
    let excluded = excluded
        .iter()
        .filter(|n| !n.trim().is_empty())
        .map(|n| n.parse::<ReportName>())
        .collect::<Result<Vec<_>>>()?;
    if excluded.is_empty() {
        return Ok(());
    }
    reports.retain(|r| !excluded.contains(r));
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

    #[test]
    fn excluded_reports_leave_the_list_and_unknown_names_are_errors() {
        let mut reports = ReportName::defaults();
        let before = reports.len();
        let tickets: ReportName = "tickets".parse().expect("a report");
        assert!(reports.contains(&tickets));
        apply(&mut reports, &names(&["tickets", "ticket_parts", " "])).expect("valid");
        assert_eq!(reports.len(), before - 2);
        assert!(!reports.contains(&tickets));

        let err = apply(&mut reports, &names(&["tickets", "tikets"]))
            .expect_err("unknown")
            .to_string();
        assert!(err.contains("\"tikets\""), "{err}");

        let mut one = vec![tickets];
        let err = apply(&mut one, &names(&["tickets"]))
            .expect_err("nothing left")
            .to_string();
        assert!(err.contains("leaves no report"), "{err}");
    }
}
