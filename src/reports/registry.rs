//! The registry: [`ALL`] lists every report's [`ReportSpec`], in export
//! order (the order of `intercom-export reports`, the README and a sync),
//! and [`ReportName`] is the small `Copy` handle the rest of the exporter
//! passes around.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::output::schema::Column;
use crate::reports::options::OptionSpec;
use crate::reports::spec::ReportSpec;
use crate::reports::{
    activity_logs, companies, contacts, conversation_parts, conversations, deleted_conversations,
    deletions, events, help_center, lifecycle, mappings, notes, part_attachments, snapshot,
    ticket_contacts, ticket_parts, tickets,
};

/// Every report, in export order. Adding a report: its file with its
/// `pub static` [`ReportSpec`], and one line here.
pub static ALL: &[&ReportSpec] = &[
    &conversations::CONVERSATIONS,
    &conversations::CONVERSATIONS_BY_ADMIN,
    &conversation_parts::CONVERSATION_PARTS,
    &contacts::USERS,
    &contacts::LEADS,
    &contacts::LEAD_BY_ID,
    &contacts::USERS_BY_USERNAME,
    &contacts::USERS_BY_TAG,
    &contacts::USERS_BY_SEGMENT,
    &contacts::USERS_BY_COMPANY,
    &events::EVENTS,
    &notes::NOTES_BY_USER,
    &companies::COMPANIES,
    &companies::COMPANY_TAGS,
    &companies::COMPANY_SEGMENTS,
    &tickets::TICKETS,
    &deleted_conversations::DELETED_CONVERSATIONS,
    &mappings::CONVERSATION_TAGS,
    &mappings::CONVERSATION_CONTACTS,
    &mappings::CONTACT_TAGS,
    &mappings::CONTACT_COMPANIES,
    &mappings::CONTACT_SEGMENTS,
    &snapshot::ADMINS,
    &snapshot::TEAMS,
    &snapshot::TAGS,
    &snapshot::SEGMENTS,
    &snapshot::DATA_ATTRIBUTES,
    &snapshot::TICKET_TYPES,
    &deletions::DELETIONS,
    &ticket_parts::TICKET_PARTS,
    &lifecycle::LIFECYCLE_EVENTS,
    &ticket_contacts::TICKET_CONTACTS,
    &part_attachments::PART_ATTACHMENTS,
    &activity_logs::ACTIVITY_LOGS,
    &help_center::ARTICLES,
    &help_center::COLLECTIONS,
    &help_center::HELP_CENTERS,
];

/// A report: a handle on its [`ReportSpec`] in [`ALL`]. Compared and hashed
/// by name, ordered by registry position. Reports that code names directly
/// have a handle constant next to their spec (e.g. `ReportName::Users` in
/// `contacts.rs`).
#[derive(Clone, Copy)]
pub struct ReportName(&'static ReportSpec);

impl ReportName {
    /// The handle of `spec` (usable in constants).
    pub const fn of(spec: &'static ReportSpec) -> Self {
        ReportName(spec)
    }

    /// All reports, in export order.
    pub fn all() -> impl Iterator<Item = ReportName> {
        ALL.iter().map(|s| ReportName(s))
    }

    /// The reports exported when none are named.
    pub fn defaults() -> Vec<ReportName> {
        ReportName::all()
            .filter(|r| r.spec().default_enabled)
            .collect()
    }

    /// Its declaration.
    pub fn spec(self) -> &'static ReportSpec {
        self.0
    }

    /// Its declaration (the older name of [`ReportName::spec`]).
    pub fn info(self) -> &'static ReportSpec {
        self.0
    }

    /// Its snake_case name ([`ReportSpec::name`]).
    pub fn as_str(self) -> &'static str {
        self.0.name
    }

    /// The columns of this report's files.
    pub fn columns(self) -> &'static [Column] {
        self.0.columns
    }

    /// The options this report accepts.
    pub fn options(self) -> &'static [OptionSpec] {
        self.0.options
    }

    /// The oldest `Intercom-Version` that serves this report's endpoint
    /// (`None`: every supported version). `GET /conversations/deleted` exists
    /// from 2.16; older versions answer 400 `intercom_version_invalid`.
    pub fn min_version(self) -> Option<&'static str> {
        self.0.min_version
    }

    /// Whether Intercom-Version `version` serves this report. A version that
    /// is not `MAJOR.MINOR` (e.g. `Unstable`, `Preview`) counts as newest.
    pub fn offered_by(self, version: &str) -> bool {
        let Some(needed) = self.min_version() else {
            return true;
        };
        match (version_number(version), version_number(needed)) {
            (Some(have), Some(need)) => have >= need,
            _ => true,
        }
    }

    /// Position in [`ALL`] (`ALL.len()` for a spec not registered).
    fn position(self) -> usize {
        ALL.iter()
            .position(|s| s.name == self.0.name)
            .unwrap_or(ALL.len())
    }
}

/// `MAJOR.MINOR` as numbers (`"2.11"` → `(2, 11)`).
fn version_number(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.trim().split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

impl PartialEq for ReportName {
    fn eq(&self, other: &Self) -> bool {
        self.0.name == other.0.name
    }
}

impl Eq for ReportName {}

impl Hash for ReportName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.name.hash(state);
    }
}

impl PartialOrd for ReportName {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ReportName {
    fn cmp(&self, other: &Self) -> Ordering {
        self.position()
            .cmp(&other.position())
            .then_with(|| self.0.name.cmp(other.0.name))
    }
}

impl fmt::Debug for ReportName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for ReportName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReportName {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let wanted = s.trim();
        ReportName::all()
            .find(|r| r.as_str() == wanted)
            .ok_or_else(|| {
                let names: Vec<_> = ReportName::all().map(|r| r.as_str()).collect();
                // The nearest name, when it is a likely typo (≤ 3 edits).
                let hint = names
                    .iter()
                    .map(|n| (strsim::levenshtein(wanted, n), *n))
                    .min()
                    .filter(|(d, _)| *d <= 3)
                    .map(|(_, n)| format!(" (did you mean {n:?}?)"))
                    .unwrap_or_default();
                Error::Config(format!(
                    "unknown report {wanted:?}{hint}; valid reports are: {}",
                    names.join(", ")
                ))
            })
    }
}
