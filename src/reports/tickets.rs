//! `tickets`: every ticket, incremental through `POST /tickets/search` on
//! `updated_at` (exact to the second, like conversations).

use crate::output::schema::{ColType::*, Column};
use crate::reports::search::{Granularity, SearchSpec};

/// The search this report runs.
pub fn search_spec() -> SearchSpec {
    SearchSpec {
        path: "tickets/search",
        filter: None,
        granularity: Granularity::Second,
        sort: None,
    }
}

pub static COLUMNS: &[Column] = &[
    Column::new("id", Str, "/id", "Ticket id (the API's)"),
    Column::new(
        "ticket_id",
        Str,
        "/ticket_id",
        "The number shown in the inbox",
    ),
    Column::new(
        "category",
        Str,
        "/category",
        "Customer, Back-office or Tracker",
    ),
    Column::new("title", Str, "/ticket_attributes/_default_title_", "Title"),
    Column::new(
        "description",
        Str,
        "/ticket_attributes/_default_description_",
        "Description",
    ),
    Column::new("ticket_type_id", Str, "/ticket_type/id", "Ticket type"),
    Column::new(
        "ticket_type_name",
        Str,
        "/ticket_type/name",
        "Ticket type name",
    ),
    Column::new(
        "ticket_state_id",
        Str,
        "/ticket_state/id",
        "State id (2.16)",
    ),
    Column::new(
        "ticket_state_category",
        Str,
        "/ticket_state/category",
        "submitted, in_progress, waiting_on_customer, resolved (2.16)",
    ),
    Column::new(
        "ticket_state_internal_label",
        Str,
        "/ticket_state/internal_label",
        "State label for teammates (2.16)",
    ),
    Column::new(
        "ticket_state_external_label",
        Str,
        "/ticket_state/external_label",
        "State label for customers (2.16)",
    ),
    Column::new(
        "admin_assignee_id",
        Str,
        "/admin_assignee_id",
        "Assigned admin (0: none)",
    ),
    Column::new(
        "team_assignee_id",
        Str,
        "/team_assignee_id",
        "Assigned team (0: none)",
    ),
    Column::new("open", Bool, "/open", "Open"),
    Column::new("is_shared", Bool, "/is_shared", "Visible to the customer"),
    Column::new("created_at", Timestamp, "/created_at", "Created"),
    Column::new(
        "updated_at",
        Timestamp,
        "/updated_at",
        "Last change; with id, the key of a row version",
    ),
    Column::new(
        "snoozed_until",
        Timestamp,
        "/snoozed_until",
        "Snoozed until",
    ),
    Column::list(
        "contact_ids",
        "/contacts/contacts",
        "id",
        "Contacts on the ticket",
    ),
    Column::list(
        "linked_object_ids",
        "/linked_objects/data",
        "id",
        "Linked conversations and tickets",
    ),
    Column::new(
        "ticket_attributes_json",
        Json,
        "/ticket_attributes",
        "All ticket attributes as JSON",
    ),
];
