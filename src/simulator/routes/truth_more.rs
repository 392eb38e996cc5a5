//! The `/__sim/truth/<name>` datasets of tickets' histories, the help
//! center and the activity log (issue #17), served by `control.rs` like the
//! others: one JSON object per line, ids as strings, times in unix seconds,
//! canonical (2.16) values.
//!
//! * `ticket_parts`: the parts `GET /tickets/{id}` returns (its last 500,
//!   opening part first), each with `ticket_id` and `ticket_updated_at`
//!   (the ticket's `updated_at`), tickets in creation order. A part has
//!   `body` only for `comment`/`note`, `previous_ticket_state` and
//!   `ticket_state` (category names) only for
//!   `ticket_state_updated_by_admin`, `assigned_to` only for `assignment`.
//! * `ticket_contacts`: `{"ticket_id", "contact_id", "external_id",
//!   "ticket_updated_at"}`, one per contact in a ticket's `contacts.contacts`.
//! * `lifecycle_events`: `{"event_key", "event", "occurred_at",
//!   "object_type" ("conversation"|"ticket"), "conversation_id",
//!   "ticket_id", "part_id", "contact_ids", "admin_id", "rating",
//!   "remark"}` by the rules in `shapes/lifecycle.rs` (every live
//!   conversation's events in time order, then every ticket's).
//! * `part_attachments`: `{"part_id", "parent_type"
//!   ("conversation"|"ticket"), "parent_id", "part_created_at", "type",
//!   "name", "url", "content_type", "filesize", "width", "height"}` (width
//!   and height null where the API has none), one per attachment of a part
//!   the API returns; conversations first.
//! * `activity_logs`: every `activity_log` up to now, oldest first.
//! * `help_centers`, `collections`, `articles`: as
//!   `GET /help_center/help_centers`, `/help_center/collections` and
//!   `/articles` send them (2.16), in id order.

use serde_json::Value;

use super::super::shapes::{activity, conversation, help_center, lifecycle, ticket};
use super::super::world::World;

/// One of these datasets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum More {
    TicketParts,
    TicketContacts,
    LifecycleEvents,
    PartAttachments,
    ActivityLogs,
    HelpCenters,
    Collections,
    Articles,
}

impl More {
    pub(super) fn from_name(name: &str) -> Option<More> {
        Some(match name {
            "ticket_parts" => More::TicketParts,
            "ticket_contacts" => More::TicketContacts,
            "lifecycle_events" => More::LifecycleEvents,
            "part_attachments" => More::PartAttachments,
            "activity_logs" => More::ActivityLogs,
            "help_centers" => More::HelpCenters,
            "collections" => More::Collections,
            "articles" => More::Articles,
            _ => return None,
        })
    }

    /// Units streamed (a ticket, a conversation, an hour, an article...).
    pub(super) fn units(self, w: &World) -> usize {
        match self {
            More::TicketParts | More::TicketContacts => w.tickets.len(),
            More::LifecycleEvents | More::PartAttachments => {
                w.conversations.len() + w.tickets.len()
            }
            More::ActivityLogs => activity::hours(w, w.now),
            More::HelpCenters => help_center::HELP_CENTERS,
            More::Collections => help_center::COLLECTIONS,
            More::Articles => help_center::ARTICLES,
        }
    }

    /// The lines of unit `i`.
    pub(super) fn render(self, w: &World, i: u32) -> Vec<Value> {
        match self {
            More::TicketParts => {
                let mut t = ticket::json(w, i, false);
                let (id, updated) = (t["id"].clone(), t["updated_at"].clone());
                let Value::Array(mut parts) = t["ticket_parts"]["ticket_parts"].take() else {
                    return Vec::new();
                };
                for p in &mut parts {
                    if let Value::Object(m) = p {
                        m.insert("ticket_id".into(), id.clone());
                        m.insert("ticket_updated_at".into(), updated.clone());
                    }
                }
                parts
            }
            More::TicketContacts => lifecycle::ticket_contacts(&ticket::json(w, i, false)),
            More::LifecycleEvents | More::PartAttachments => {
                let events = self == More::LifecycleEvents;
                let nc = w.conversations.len() as u32;
                if i < nc {
                    if w.conversations[i as usize].deleted_at != 0 {
                        return Vec::new();
                    }
                    let c = conversation::json(w, i, Some(false));
                    if events {
                        lifecycle::conversation_events(&c)
                    } else {
                        lifecycle::attachments(&c, "conversation")
                    }
                } else {
                    let t = ticket::json(w, i - nc, false);
                    if events {
                        lifecycle::ticket_events(&t)
                    } else {
                        lifecycle::attachments(&t, "ticket")
                    }
                }
            }
            More::ActivityLogs => activity::of_hour(w, i as usize, w.now),
            More::HelpCenters => vec![help_center::help_center(w, i as usize)],
            More::Collections => help_center::collection(w, i as usize, w.now)
                .into_iter()
                .collect(),
            More::Articles => help_center::article(w, i as usize, w.now)
                .into_iter()
                .collect(),
        }
    }
}
