//! The `expand` option (Domo's "Option to Expand"): which nested objects of a
//! record become columns.
//!
//! Without `expand` a report has the columns in `schemas/<report>.json`: a
//! fixed, curated flattening (e.g. `location_city`, `time_to_assignment`),
//! which is the contract loaders rely on. With `expand` set:
//!
//! - each listed object gets every field as a `<object>_<field>` column
//!   (nested one level more as `<object>_<field>_<subfield>`, lists of items
//!   as `List<Utf8>`), typed like the rest;
//! - every other nested object the report knows is added whole, as one JSON
//!   text column `<object>`;
//! - the default columns all stay; a column whose name already exists is not
//!   added twice.
//!
//! `expand` does not change which rows are exported, so it shares the
//! report's cursor; but it changes the columns, so files of one report
//! written with different `expand` values have different schemas (read them
//! with `union_by_name` or per run).

use crate::error::{Error, Result};
use crate::output::schema::{ColType::*, Column};
use crate::reports::ReportName;

/// A nested object a report can expand: its name and its columns.
#[derive(Debug)]
pub struct Expandable {
    pub name: &'static str,
    pub columns: &'static [Column],
    /// The whole object as JSON text, when not expanded.
    pub whole: Column,
}

const fn obj(name: &'static str, columns: &'static [Column], whole: Column) -> Expandable {
    Expandable {
        name,
        columns,
        whole,
    }
}

const fn json(name: &'static str, path: &'static str) -> Column {
    Column::new(
        name,
        Json,
        path,
        "The whole object as JSON text (expand lists it to flatten it)",
    )
}

#[rustfmt::skip]
static LOCATION_COLUMNS: &[Column] = &[
    Column::new("location_type", Str, "/location/type", "location"),
    Column::new("location_country", Str, "/location/country", "Country"),
    Column::new("location_region", Str, "/location/region", "Region"),
    Column::new("location_city", Str, "/location/city", "City"),
    Column::new("location_country_code", Str, "/location/country_code", "ISO country code"),
    Column::new("location_continent_code", Str, "/location/continent_code", "Continent code"),
];

#[rustfmt::skip]
static AVATAR_COLUMNS: &[Column] = &[
    Column::new("avatar_type", Str, "/avatar/type", "avatar"),
    Column::new("avatar_image_url", Str, "/avatar/image_url", "Avatar URL"),
];

#[rustfmt::skip]
static SOCIAL_PROFILES_COLUMNS: &[Column] = &[
    Column::list("social_profiles_names", "/social_profiles/data", "name", "Social networks (Twitter, ...)"),
    Column::list("social_profiles_urls", "/social_profiles/data", "url", "Profile URLs, in the same order"),
];

#[rustfmt::skip]
static SOURCE_COLUMNS: &[Column] = &[
    Column::new("source_type", Str, "/source/type", "conversation, email, push, ..."),
    Column::new("source_id", Str, "/source/id", "Source message id"),
    Column::new("source_delivered_as", Str, "/source/delivered_as", "How it was delivered"),
    Column::new("source_subject", Str, "/source/subject", "Subject"),
    Column::new("source_body", Str, "/source/body", "First message (HTML)"),
    Column::new("source_url", Str, "/source/url", "Page it was sent from"),
    Column::new("source_redacted", Bool, "/source/redacted", "Redacted"),
    Column::new("source_author_type", Str, "/source/author/type", "Author type"),
    Column::new("source_author_id", Str, "/source/author/id", "Author id"),
    Column::new("source_author_name", Str, "/source/author/name", "Author name"),
    Column::new("source_author_email", Str, "/source/author/email", "Author email"),
];

#[rustfmt::skip]
static STATISTICS_COLUMNS: &[Column] = &[
    Column::new("statistics_type", Str, "/statistics/type", "conversation_statistics"),
    Column::new("statistics_time_to_assignment", Int, "/statistics/time_to_assignment", "Seconds"),
    Column::new("statistics_time_to_admin_reply", Int, "/statistics/time_to_admin_reply", "Seconds"),
    Column::new("statistics_time_to_first_close", Int, "/statistics/time_to_first_close", "Seconds"),
    Column::new("statistics_time_to_last_close", Int, "/statistics/time_to_last_close", "Seconds"),
    Column::new("statistics_median_time_to_reply", Int, "/statistics/median_time_to_reply", "Seconds"),
    Column::new("statistics_handling_time", Int, "/statistics/handling_time", "Seconds"),
    Column::new("statistics_first_contact_reply_at", Timestamp, "/statistics/first_contact_reply_at", ""),
    Column::new("statistics_first_assignment_at", Timestamp, "/statistics/first_assignment_at", ""),
    Column::new("statistics_first_admin_reply_at", Timestamp, "/statistics/first_admin_reply_at", ""),
    Column::new("statistics_first_close_at", Timestamp, "/statistics/first_close_at", ""),
    Column::new("statistics_last_assignment_at", Timestamp, "/statistics/last_assignment_at", ""),
    Column::new("statistics_last_assignment_admin_reply_at", Timestamp, "/statistics/last_assignment_admin_reply_at", ""),
    Column::new("statistics_last_contact_reply_at", Timestamp, "/statistics/last_contact_reply_at", ""),
    Column::new("statistics_last_admin_reply_at", Timestamp, "/statistics/last_admin_reply_at", ""),
    Column::new("statistics_last_close_at", Timestamp, "/statistics/last_close_at", ""),
    Column::new("statistics_last_closed_by_id", Str, "/statistics/last_closed_by_id", "Admin id"),
    Column::new("statistics_count_reopens", Int, "/statistics/count_reopens", ""),
    Column::new("statistics_count_assignments", Int, "/statistics/count_assignments", ""),
    Column::new("statistics_count_conversation_parts", Int, "/statistics/count_conversation_parts", ""),
];

#[rustfmt::skip]
static SLA_APPLIED_COLUMNS: &[Column] = &[
    Column::new("sla_applied_type", Str, "/sla_applied/type", "conversation_sla_summary"),
    Column::new("sla_applied_sla_name", Str, "/sla_applied/sla_name", "SLA name"),
    Column::new("sla_applied_sla_status", Str, "/sla_applied/sla_status", "hit, missed, cancelled, active"),
];

#[rustfmt::skip]
static CONVERSATION_RATING_COLUMNS: &[Column] = &[
    Column::new("conversation_rating_rating", Int, "/conversation_rating/rating", "1 to 5"),
    Column::new("conversation_rating_remark", Str, "/conversation_rating/remark", "Remark"),
    Column::new("conversation_rating_created_at", Timestamp, "/conversation_rating/created_at", ""),
    Column::new("conversation_rating_updated_at", Timestamp, "/conversation_rating/updated_at", ""),
    Column::new("conversation_rating_contact_id", Str, "/conversation_rating/contact/id", "Who rated"),
    Column::new("conversation_rating_contact_external_id", Str, "/conversation_rating/contact/external_id", "Their external id"),
    Column::new("conversation_rating_teammate_id", Str, "/conversation_rating/teammate/id", "Rated teammate"),
];

#[rustfmt::skip]
static FIRST_CONTACT_REPLY_COLUMNS: &[Column] = &[
    Column::new("first_contact_reply_created_at", Timestamp, "/first_contact_reply/created_at", ""),
    Column::new("first_contact_reply_type", Str, "/first_contact_reply/type", ""),
    Column::new("first_contact_reply_url", Str, "/first_contact_reply/url", ""),
];

#[rustfmt::skip]
static AI_AGENT_COLUMNS: &[Column] = &[
    Column::new("ai_agent_source_type", Str, "/ai_agent/source_type", "essentials_plan_setup, profile, workflow, ..."),
    Column::new("ai_agent_source_title", Str, "/ai_agent/source_title", ""),
    Column::new("ai_agent_last_answer_type", Str, "/ai_agent/last_answer_type", ""),
    Column::new("ai_agent_resolution_state", Str, "/ai_agent/resolution_state", ""),
    Column::new("ai_agent_rating", Int, "/ai_agent/rating", ""),
    Column::new("ai_agent_rating_remark", Str, "/ai_agent/rating_remark", ""),
    Column::new("ai_agent_created_at", Timestamp, "/ai_agent/created_at", ""),
    Column::new("ai_agent_updated_at", Timestamp, "/ai_agent/updated_at", ""),
];

#[rustfmt::skip]
static CHANNEL_COLUMNS: &[Column] = &[
    Column::new("channel_initial", Str, "/channel/initial", "First channel"),
    Column::new("channel_current", Str, "/channel/current", "Current channel"),
];

#[rustfmt::skip]
static PLAN_COLUMNS: &[Column] = &[
    Column::new("plan_type", Str, "/plan/type", "plan"),
    Column::new("plan_id", Str, "/plan/id", "Plan id"),
    Column::new("plan_name", Str, "/plan/name", "Plan name"),
];

#[rustfmt::skip]
static TICKET_TYPE_COLUMNS: &[Column] = &[
    Column::new("ticket_type_id", Str, "/ticket_type/id", ""),
    Column::new("ticket_type_name", Str, "/ticket_type/name", ""),
    Column::new("ticket_type_description", Str, "/ticket_type/description", ""),
    Column::new("ticket_type_category", Str, "/ticket_type/category", ""),
    Column::new("ticket_type_icon", Str, "/ticket_type/icon", ""),
    Column::new("ticket_type_archived", Bool, "/ticket_type/archived", ""),
    Column::new("ticket_type_created_at", Timestamp, "/ticket_type/created_at", ""),
    Column::new("ticket_type_updated_at", Timestamp, "/ticket_type/updated_at", ""),
];

#[rustfmt::skip]
static TICKET_STATE_COLUMNS: &[Column] = &[
    Column::new("ticket_state_type", Str, "/ticket_state/type", ""),
    Column::new("ticket_state_id", Str, "/ticket_state/id", ""),
    Column::new("ticket_state_category", Str, "/ticket_state/category", ""),
    Column::new("ticket_state_internal_label", Str, "/ticket_state/internal_label", ""),
    Column::new("ticket_state_external_label", Str, "/ticket_state/external_label", ""),
];

/// What contact reports can expand.
pub static CONTACT: &[Expandable] = &[
    obj("location", LOCATION_COLUMNS, json("location", "/location")),
    obj("avatar", AVATAR_COLUMNS, json("avatar", "/avatar")),
    obj(
        "social_profiles",
        SOCIAL_PROFILES_COLUMNS,
        json("social_profiles", "/social_profiles/data"),
    ),
];

/// What conversation reports can expand.
pub static CONVERSATION: &[Expandable] = &[
    obj("source", SOURCE_COLUMNS, json("source", "/source")),
    obj(
        "statistics",
        STATISTICS_COLUMNS,
        json("statistics", "/statistics"),
    ),
    obj(
        "sla_applied",
        SLA_APPLIED_COLUMNS,
        json("sla_applied", "/sla_applied"),
    ),
    obj(
        "conversation_rating",
        CONVERSATION_RATING_COLUMNS,
        json("conversation_rating", "/conversation_rating"),
    ),
    obj(
        "first_contact_reply",
        FIRST_CONTACT_REPLY_COLUMNS,
        json("first_contact_reply", "/first_contact_reply"),
    ),
    obj("ai_agent", AI_AGENT_COLUMNS, json("ai_agent", "/ai_agent")),
    obj("channel", CHANNEL_COLUMNS, json("channel", "/channel")),
];

/// What `companies` can expand.
pub static COMPANY: &[Expandable] = &[obj("plan", PLAN_COLUMNS, json("plan", "/plan"))];

/// What `tickets` can expand.
pub static TICKET: &[Expandable] = &[
    obj(
        "ticket_type",
        TICKET_TYPE_COLUMNS,
        json("ticket_type", "/ticket_type"),
    ),
    obj(
        "ticket_state",
        TICKET_STATE_COLUMNS,
        json("ticket_state", "/ticket_state"),
    ),
];

/// The nested objects a report can expand (none for most): its spec's
/// [`expandable`](crate::reports::ReportSpec::expandable).
pub fn objects(report: ReportName) -> &'static [Expandable] {
    report.spec().expandable
}

/// Check that every listed object is one the report knows.
pub fn validate(report: ReportName, expand: &[String]) -> Result<()> {
    let known = objects(report);
    for name in expand {
        if !known.iter().any(|o| o.name == name) {
            let names: Vec<&str> = known.iter().map(|o| o.name).collect();
            return Err(Error::Config(format!(
                "option {report}.expand: {name:?} is not a nested object of {report}; it can \
                 expand: {}",
                names.join(", ")
            )));
        }
    }
    Ok(())
}

/// The columns `expand` adds to `base` (none when `expand` is empty).
pub fn columns(report: ReportName, expand: &[String], base: &[Column]) -> Vec<Column> {
    if expand.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<Column> = Vec::new();
    for object in objects(report) {
        let candidates: &[Column] = if expand.iter().any(|e| e == object.name) {
            object.columns
        } else {
            std::slice::from_ref(&object.whole)
        };
        for c in candidates {
            let taken = base.iter().chain(out.iter()).any(|b| b.name == c.name);
            if !taken {
                out.push(c.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_objects_flatten_and_others_stay_whole() {
        let base = crate::reports::conversations::COLUMNS;
        assert!(columns(ReportName::Conversations, &[], base).is_empty());
        let extra = columns(ReportName::Conversations, &["statistics".into()], base);
        let names: Vec<&str> = extra.iter().map(|c| c.name.as_ref()).collect();
        assert!(names.contains(&"statistics_count_reopens"), "{names:?}");
        assert!(names.contains(&"source") && names.contains(&"sla_applied"));
        assert!(!names.contains(&"statistics"));
        for c in &extra {
            assert!(
                !base.iter().any(|b| b.name == c.name),
                "{} is already a default column",
                c.name
            );
        }
        let err = validate(ReportName::Users, &["statistics".into()])
            .expect_err("not a contact object")
            .to_string();
        assert!(err.contains("location, avatar, social_profiles"), "{err}");
        assert!(validate(ReportName::Users, &["location".into()]).is_ok());
    }
}
