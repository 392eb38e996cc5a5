//! `tickets`: every ticket, incremental through `POST /tickets/search` on
//! `updated_at` (exact to the second, like conversations).

use crate::output::schema::{ColType::*, Column};
use crate::reports::search::{Granularity, SearchSpec};
use crate::reports::spec::{EXPAND, Plan, Probe, ReportSpec};
use crate::reports::{ReportName, expand, keys};

/// `tickets`: every ticket version, by ticket search.
pub static TICKETS: ReportSpec = ReportSpec {
    name: "tickets",
    description: "Tickets, incremental on updated_at (POST /tickets/search)",
    model: None,
    columns: COLUMNS,
    expandable: expand::TICKET,
    options: &[EXPAND],
    default_enabled: true,
    min_version: None,
    keys: keys::ReportKeys {
        foreign_keys: &[keys::TICKET_TYPE, keys::ADMIN_ASSIGNEE, keys::TEAM_ASSIGNEE],
        ..keys::VERSIONED
    },
    probes: &[Probe::Search(|_| Ok(search_spec()))],
    skip_failed_option: None,
    plan: |_| Ok(Plan::Search(search_spec())),
};

#[allow(non_upper_case_globals)]
impl ReportName {
    /// `tickets` ([`TICKETS`]).
    pub const Tickets: ReportName = ReportName::of(&TICKETS);
}

/// The search this report runs.
pub fn search_spec() -> SearchSpec {
    SearchSpec {
        path: "tickets/search",
        filter: None,
        granularity: Granularity::Second,
        sort: None,
    }
}

/// Output columns (see [`Column`] for how alternatives and sentinels are read).
#[rustfmt::skip]
pub static COLUMNS: &[Column] = &[
    Column::new("id", Str, "/id", "Ticket id (the API's)"),
    Column::new("ticket_id", Str, "/ticket_id", "The number shown in the inbox"),
    Column::new("category", Str, "/category", "Customer, Back-office or Tracker"),
    Column::new("title", Str, "/ticket_attributes/_default_title_", "Title"),
    Column::new("description", Str, "/ticket_attributes/_default_description_", "Description"),
    Column::new("ticket_type_id", Str, "/ticket_type/id", "Ticket type"),
    Column::new("ticket_type_name", Str, "/ticket_type/name", "Ticket type name"),
    Column::new("ticket_state_id", Str, "/ticket_state/id", "State id (only when `ticket_state` is an object, as in 2.16)"),
    Column::new("ticket_state_category", Str, "/ticket_state/category", "submitted, in_progress, waiting_on_customer, resolved: `ticket_state.category` (object, 2.16) or `ticket_state` itself (a string, as 2.11 sends it)").or(&["/ticket_state"]),
    Column::new("ticket_state_internal_label", Str, "/ticket_state/internal_label", "State label for teammates: `ticket_state.internal_label` (2.16) or the top-level `ticket_state_internal_label` (2.11)").or(&["/ticket_state_internal_label"]),
    Column::new("ticket_state_external_label", Str, "/ticket_state/external_label", "State label for customers: `ticket_state.external_label` (2.16) or the top-level `ticket_state_external_label` (2.11)").or(&["/ticket_state_external_label"]),
    Column::new("admin_assignee_id", Str, "/admin_assignee_id", "Assigned admin; null when unassigned. An integer (2.16) or string (2.11) id; Intercom's 0 / \"0\" for none become null").none_zero(),
    Column::new("team_assignee_id", Str, "/team_assignee_id", "Assigned team; null when unassigned (0 / \"0\" become null)").none_zero(),
    Column::new("open", Bool, "/open", "Open"),
    Column::new("is_shared", Bool, "/is_shared", "Visible to the customer"),
    Column::new("created_at", Timestamp, "/created_at", "Created"),
    Column::new("updated_at", Timestamp, "/updated_at", "Last change; with id, the key of a row version"),
    Column::new("snoozed_until", Timestamp, "/snoozed_until", "Snoozed until"),
    Column::list("contact_ids", "/contacts/contacts", "id", "Contacts on the ticket"),
    Column::list("linked_object_ids", "/linked_objects/data", "id", "Linked conversations and tickets"),
    Column::new("ticket_attributes_json", Json, "/ticket_attributes", "All ticket attributes as JSON"),
];
