//! `conversations` (All Conversations): one row per conversation, exported
//! incrementally through `POST /conversations/search` on `updated_at`.
//!
//! Search results carry no parts; the `conversation_parts` report (Conversation
//! Details) fetches them per conversation.

use serde_json::Value;

use crate::api::query::leaf;
use crate::error::{Error, Result};
use crate::output::schema::{ColType::*, Column};
use crate::reports::options::{OptionSpec, ReportOptions};
use crate::reports::search::{Granularity, SearchSpec};
use crate::reports::spec::{EXPAND, Plan, Probe, ReportSpec, behaviour, choice, list, required};
use crate::reports::{ReportName, expand, keys};

/// Option `state` of `conversations`.
const STATE: OptionSpec = choice(
    "state",
    &["all", "open", "closed", "snoozed"],
    "all",
    "Only conversations in this state",
);
/// Option `order` of `conversations`.
const ORDER: OptionSpec = behaviour(
    "order",
    &["updated_at", "created_at"],
    "updated_at",
    "Sort order of the search",
);
/// Option `admin_type` of `conversations_by_admin`.
const ADMIN_TYPE: OptionSpec = choice(
    "admin_type",
    &["all", "specific", "unassigned"],
    "all",
    "all: assigned to any admin; specific: to admin_ids; unassigned: to none",
);
/// Option `admin_ids` of `conversations_by_admin`.
const ADMIN_IDS: OptionSpec = list("admin_ids", "Admin ids, with admin_type = specific");

/// `conversations`: every conversation version, by conversation search.
pub static CONVERSATIONS: ReportSpec = ReportSpec {
    name: "conversations",
    description: "All Conversations: one row per conversation version (POST /conversations/search)",
    model: Some("conversation"),
    columns: COLUMNS,
    expandable: expand::CONVERSATION,
    options: &[STATE, ORDER, EXPAND],
    default_enabled: true,
    min_version: None,
    keys: keys::CONVERSATIONS,
    probes: &[Probe::Search(conversations_search)],
    skip_failed_option: None,
    plan: |o| conversations_search(o).map(Plan::Search),
};

/// `conversations_by_admin`: conversations by their assigned admin.
pub static CONVERSATIONS_BY_ADMIN: ReportSpec = ReportSpec {
    name: "conversations_by_admin",
    description: "Conversations by assigned admin: all assigned, specific admins, or unassigned",
    options: &[ADMIN_TYPE, ADMIN_IDS, EXPAND],
    default_enabled: false,
    probes: &[Probe::Search(by_admin_search)],
    plan: |o| by_admin_search(o).map(Plan::Search),
    ..CONVERSATIONS
};

#[allow(non_upper_case_globals)]
impl ReportName {
    /// `conversations` ([`CONVERSATIONS`]).
    pub const Conversations: ReportName = ReportName::of(&CONVERSATIONS);
    /// `conversations_by_admin` ([`CONVERSATIONS_BY_ADMIN`]).
    pub const ConversationsByAdmin: ReportName = ReportName::of(&CONVERSATIONS_BY_ADMIN);
}

/// The search of `conversations` with its options.
fn conversations_search(o: &ReportOptions) -> Result<SearchSpec> {
    Ok(search_spec(o.get(&STATE), o.get(&ORDER)))
}

/// The search of `conversations_by_admin` with its options.
fn by_admin_search(o: &ReportOptions) -> Result<SearchSpec> {
    let admin_type = o.get(&ADMIN_TYPE);
    let ids = if admin_type == "specific" {
        required(CONVERSATIONS_BY_ADMIN.name, &ADMIN_IDS, o)?
    } else {
        Vec::new()
    };
    by_admin_spec(admin_type, &ids)
}

/// The search this report runs: conversations in `state` (or all), sorted by
/// `order`. Conversation search compares dates to the second.
pub fn search_spec(state: &str, order: &str) -> SearchSpec {
    SearchSpec {
        path: "conversations/search",
        filter: (state != "all").then(|| leaf("state", "=", state)),
        granularity: Granularity::Second,
        sort: (order != "updated_at").then_some(("created_at", "ascending")),
    }
}

/// `conversations_by_admin`: assigned to any admin, to `admin_ids`, or to none.
pub fn by_admin_spec(admin_type: &str, admin_ids: &[String]) -> Result<SearchSpec> {
    let filter = match admin_type {
        "unassigned" => leaf("admin_assignee_id", "=", 0),
        "specific" => {
            let ids = admin_ids
                .iter()
                .map(|id| {
                    id.parse::<i64>().map(Value::from).map_err(|_| {
                        Error::Config(format!(
                            "admin id {id:?} is not a number; admin ids are numeric"
                        ))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            leaf("admin_assignee_id", "IN", ids)
        }
        _ => leaf("admin_assignee_id", ">", 0),
    };
    Ok(SearchSpec {
        path: "conversations/search",
        filter: Some(filter),
        granularity: Granularity::Second,
        sort: None,
    })
}

/// Output columns.
#[rustfmt::skip]
pub static COLUMNS: &[Column] = &[
    Column::new("id", Str, "/id", "Conversation id"),
    Column::new("created_at", Timestamp, "/created_at", "When the conversation started"),
    Column::new("updated_at", Timestamp, "/updated_at", "Last change; with id, the key of a row version"),
    Column::new("title", Str, "/title", "Title, if set"),
    Column::new("state", Str, "/state", "open, closed or snoozed"),
    Column::new("open", Bool, "/open", "Whether the conversation is open"),
    Column::new("read", Bool, "/read", "Whether the last contact message was read by a teammate"),
    Column::new("priority", Str, "/priority", "none, low, medium, high, urgent (2.16) or priority/not_priority (2.11)"),
    Column::new("waiting_since", Timestamp, "/waiting_since", "Since when the contact waits for a reply"),
    Column::new("snoozed_until", Timestamp, "/snoozed_until", "When a snoozed conversation reopens"),
    Column::new("admin_assignee_id", Str, "/admin_assignee_id", "Assigned admin id; null when unassigned. Accepts an integer or string id (Intercom's 0 / \"0\" for none become null), else the legacy `assignee.id` object some older conversations carry instead").or(&["/assignee/id"]).none_zero(),
    Column::new("team_assignee_id", Str, "/team_assignee_id", "Assigned team id; null when unassigned (Intercom's 0 / \"0\" for none become null)").none_zero(),
    Column::new("source_type", Str, "/source/type", "Channel of the first message (conversation, email, ...)"),
    Column::new("source_id", Str, "/source/id", "Id of the first message"),
    Column::new("source_delivered_as", Str, "/source/delivered_as", "How the first message was delivered"),
    Column::new("source_subject", Str, "/source/subject", "Subject of the first message"),
    Column::new("source_body", Str, "/source/body", "Body of the first message (HTML)"),
    Column::new("source_url", Str, "/source/url", "Page the conversation started on"),
    Column::new("source_author_type", Str, "/source/author/type", "Author type of the first message"),
    Column::new("source_author_id", Str, "/source/author/id", "Author id of the first message"),
    Column::new("source_author_name", Str, "/source/author/name", "Author name of the first message"),
    Column::new("source_author_email", Str, "/source/author/email", "Author email of the first message"),
    Column::list("contact_ids", "/contacts/contacts", "id", "Contacts in the conversation"),
    Column::list("teammate_ids", "/teammates/admins", "id", "Teammates who took part: ids of `teammates.admins` (what Intercom sends), else of `teammates.teammates` (the OpenAPI description's shape)").or(&["/teammates/teammates"]),
    Column::list("tag_ids", "/tags/tags", "id", "Tags applied"),
    Column::list("tag_names", "/tags/tags", "name", "Names of the tags applied"),
    Column::new("first_contact_reply_at", Timestamp, "/first_contact_reply/created_at", "First reply by the contact"),
    Column::new("first_contact_reply_type", Str, "/first_contact_reply/type", "Channel of the first contact reply"),
    Column::new("rating", Int, "/conversation_rating/rating", "Conversation rating, 1 to 5"),
    Column::new("rating_remark", Str, "/conversation_rating/remark", "Remark left with the rating"),
    Column::new("rating_created_at", Timestamp, "/conversation_rating/created_at", "When the rating was given"),
    Column::new("rating_teammate_id", Str, "/conversation_rating/teammate/id", "Teammate who was rated"),
    Column::new("time_to_assignment", Int, "/statistics/time_to_assignment", "Seconds until first assignment"),
    Column::new("time_to_admin_reply", Int, "/statistics/time_to_admin_reply", "Seconds until first admin reply"),
    Column::new("time_to_first_close", Int, "/statistics/time_to_first_close", "Seconds until first close"),
    Column::new("time_to_last_close", Int, "/statistics/time_to_last_close", "Seconds until last close"),
    Column::new("median_time_to_reply", Int, "/statistics/median_time_to_reply", "Median seconds to admin reply"),
    Column::new("first_admin_reply_at", Timestamp, "/statistics/first_admin_reply_at", "First admin reply"),
    Column::new("first_assignment_at", Timestamp, "/statistics/first_assignment_at", "First assignment"),
    Column::new("first_close_at", Timestamp, "/statistics/first_close_at", "First close"),
    Column::new("last_assignment_at", Timestamp, "/statistics/last_assignment_at", "Last assignment"),
    Column::new("last_contact_reply_at", Timestamp, "/statistics/last_contact_reply_at", "Last contact reply"),
    Column::new("last_admin_reply_at", Timestamp, "/statistics/last_admin_reply_at", "Last admin reply"),
    Column::new("last_close_at", Timestamp, "/statistics/last_close_at", "Last close"),
    Column::new("last_closed_by_id", Str, "/statistics/last_closed_by_id", "Admin who closed it last"),
    Column::new("count_reopens", Int, "/statistics/count_reopens", "Times reopened"),
    Column::new("count_assignments", Int, "/statistics/count_assignments", "Times assigned"),
    Column::new("count_conversation_parts", Int, "/statistics/count_conversation_parts", "Number of parts (may exceed the 500 Intercom returns)"),
    Column::new("sla_name", Str, "/sla_applied/sla_name", "SLA applied"),
    Column::new("sla_status", Str, "/sla_applied/sla_status", "hit, missed, cancelled or active"),
    Column::new("ai_agent_participated", Bool, "/ai_agent_participated", "Whether the AI agent took part"),
    Column::new("custom_attributes_json", Json, "/custom_attributes", "Conversation custom attributes as JSON"),
];
