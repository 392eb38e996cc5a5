//! The columns of the five mapping tables (see [`super`]).

use crate::output::schema::{ColType::*, Column};

#[rustfmt::skip]
pub static CONVERSATION_TAG_COLUMNS: &[Column] = &[
    Column::new("conversation_id", Str, "/conversation_id", "Conversation id"),
    Column::new("conversation_updated_at", Timestamp, "/conversation_updated_at", "The conversation's updated_at: the latest per conversation is current"),
    Column::new("tag_id", Str, "/id", "Tag id; null on the one row of a version with no tags"),
    Column::new("tag_name", Str, "/name", "Tag name"),
    Column::new("applied_at", Timestamp, "/applied_at", "When the tag was applied"),
    Column::new("applied_by_id", Str, "/applied_by/id", "Who applied it"),
];

#[rustfmt::skip]
pub static CONVERSATION_CONTACT_COLUMNS: &[Column] = &[
    Column::new("conversation_id", Str, "/conversation_id", "Conversation id"),
    Column::new("conversation_updated_at", Timestamp, "/conversation_updated_at", "The conversation's updated_at: the latest per conversation is current"),
    Column::new("contact_id", Str, "/id", "Contact id; null on the one row of a version with no contacts"),
    Column::new("external_id", Str, "/external_id", "The contact's external id"),
];

#[rustfmt::skip]
pub static CONTACT_TAG_COLUMNS: &[Column] = &[
    Column::new("contact_id", Str, "/contact_id", "Contact id"),
    Column::new("contact_updated_at", Timestamp, "/contact_updated_at", "The contact's updated_at: the latest per contact is current"),
    Column::new("tag_id", Str, "/id", "Tag id; null on the one row of a version with no tags"),
    Column::new("tag_name", Str, "/name", "Tag name (when Intercom returns it)"),
];

#[rustfmt::skip]
pub static CONTACT_COMPANY_COLUMNS: &[Column] = &[
    Column::new("contact_id", Str, "/contact_id", "Contact id"),
    Column::new("contact_updated_at", Timestamp, "/contact_updated_at", "The contact's updated_at: the latest per contact is current"),
    Column::new("company_id", Str, "/id", "Company id (Intercom's); null on the one row of a version with no companies"),
    Column::new("company_name", Str, "/name", "Company name (when Intercom returns it)"),
];

#[rustfmt::skip]
pub static CONTACT_SEGMENT_COLUMNS: &[Column] = &[
    Column::new("contact_id", Str, "/contact_id", "Contact id"),
    Column::new("contact_updated_at", Timestamp, "/contact_updated_at", "The contact's updated_at: the latest per contact is current"),
    Column::new("segment_id", Str, "/id", "Segment id; null on the one row of a version with no segments"),
    Column::new("segment_name", Str, "/name", "Segment name"),
];
