//! Denied scopes: the endpoint families a scope can be denied for
//! ([`SCOPES`]) and which scope a request lacks.

/// Endpoint families a scope can be denied for: (family, path prefixes,
/// the scope Intercom names in its 403 message).
pub const SCOPES: &[(&str, &[&str], &str)] = &[
    ("conversations", &["/conversations"], "read_conversations"),
    ("contacts", &["/contacts"], "read_users_companies"),
    ("companies", &["/companies"], "read_users_companies"),
    ("events", &["/events"], "read_events"),
    ("tickets", &["/tickets", "/ticket_types"], "read_tickets"),
    ("admins", &["/admins"], "read_admins"),
    ("teams", &["/teams"], "read_admins"),
    ("tags", &["/tags"], "read_tags"),
    ("segments", &["/segments"], "read_segments"),
    (
        "data_attributes",
        &["/data_attributes"],
        "read_data_attributes",
    ),
    ("articles", &["/help_center", "/articles"], "read_articles"),
];

/// The scope a request to `path` needs, if its family is in `denied`.
pub(super) fn denied_scope(denied: &[String], path: &str) -> Option<&'static str> {
    SCOPES
        .iter()
        .find(|(family, prefixes, _)| {
            denied.iter().any(|d| d == family)
                && prefixes.iter().any(|p| {
                    path.strip_prefix(p)
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
                })
        })
        .map(|(_, _, scope)| *scope)
}

/// Checks scope family names (for `--deny-scope` and `denied_scopes`).
pub fn check_scopes(denied: &[String]) -> Result<(), String> {
    for d in denied {
        if !SCOPES.iter().any(|(family, _, _)| family == d) {
            let names: Vec<&str> = SCOPES.iter().map(|(f, _, _)| *f).collect();
            return Err(format!(
                "unknown scope family {d:?}; use one of: {}",
                names.join(", ")
            ));
        }
    }
    Ok(())
}
