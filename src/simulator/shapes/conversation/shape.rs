//! The JSON of a conversation and its parts, canonical and as the wire
//! sends it (2.11 shapes, legacy `assignee` objects).

use serde_json::Value;

use super::super::super::rng::Rng;
use super::super::super::text::html_to_text;
use super::super::super::vocab::{ADMIN_MESSAGES, BOT_MESSAGES, NOTES, USER_MESSAGES, admin_id};
use super::super::super::world::{
    AUTHOR_BOT, AUTHOR_CONTACT, ConvState, PartKind, PartMeta, World, salt,
};
use super::super::obj;
use super::*;

fn statistics(s: &Stats, created_at: i64) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("type".into(), "conversation_statistics".into());
    let mut put = |k: &str, v: Option<i64>| {
        if let Some(v) = v {
            m.insert(k.into(), v.into());
        }
    };
    let since = |t: Option<i64>| t.map(|t| t - created_at);
    put("time_to_assignment", since(s.first_assignment_at));
    put("time_to_admin_reply", since(s.first_admin_reply_at));
    put("time_to_first_close", since(s.first_close_at));
    put("time_to_last_close", since(s.last_close_at));
    put("median_time_to_reply", s.median_time_to_reply);
    put("first_contact_reply_at", s.first_contact_reply_at);
    put("first_assignment_at", s.first_assignment_at);
    put("first_admin_reply_at", s.first_admin_reply_at);
    put("first_close_at", s.first_close_at);
    put("last_assignment_at", s.last_assignment_at);
    put(
        "last_assignment_admin_reply_at",
        s.last_assignment_admin_reply_at,
    );
    put("last_contact_reply_at", s.last_contact_reply_at);
    put("last_admin_reply_at", s.last_admin_reply_at);
    put("last_close_at", s.last_close_at);
    put("handling_time", since(s.last_close_at));
    put("count_reopens", Some(s.count_reopens));
    put("count_assignments", Some(s.count_assignments));
    put("count_conversation_parts", Some(s.count_parts));
    if let Some(by) = &s.last_closed_by_id {
        m.insert("last_closed_by_id".into(), by.as_str().into());
    }
    Value::Object(m)
}

fn author_json(a: &Author, part: bool) -> Value {
    let mut v = obj! {
        "type" => a.ty,
        "id" => a.id.clone(),
        "name" => a.name.clone(),
        "email" => a.email.clone(),
    };
    if part && let Value::Object(m) = &mut v {
        m.insert("from_ai_agent".into(), (a.ty == "bot").into());
        m.insert("is_ai_answer".into(), (a.ty == "bot").into());
    }
    v
}

fn part_json(
    world: &World,
    idx: u32,
    part_no: usize,
    p: &PartMeta,
    d: &ConversationData,
    plaintext: bool,
) -> Value {
    let mut r = Rng::new(world.seed, salt::PART_BODY, u64::from(idx), part_no as u64);
    let author = match p.author {
        AUTHOR_BOT => bot_author(world),
        AUTHOR_CONTACT => match &d.primary {
            Some(c) => contact_author(c),
            None => bot_author(world),
        },
        a => admin_author(world, usize::from(a) - 1),
    };
    let html: Option<&str> = match (p.kind, p.author) {
        (PartKind::Comment, AUTHOR_CONTACT) => Some(r.pick(USER_MESSAGES)),
        (PartKind::Comment, AUTHOR_BOT) => Some(r.pick(BOT_MESSAGES)),
        (PartKind::Comment, _) => Some(r.pick(ADMIN_MESSAGES)),
        (PartKind::Note, _) => Some(r.pick(NOTES)),
        _ => None,
    };
    let body = html.map(|h| {
        if plaintext {
            html_to_text(h)
        } else {
            h.to_owned()
        }
    });
    let attachments: Vec<Value> =
        if p.kind == PartKind::Comment && p.author == AUTHOR_CONTACT && r.chance(0.05) {
            let n = r.below(1_000_000_000);
            vec![obj! {
                "type" => "upload",
                "name" => "screenshot.png",
                "url" => format!("https://downloads.intercomcdn.com/i/o/{n}/screenshot.png"),
                "content_type" => "image/png",
                "filesize" => 20_000 + r.below(400_000),
                "width" => 1280,
                "height" => 800,
            }]
        } else {
            Vec::new()
        };
    let at = i64::from(p.at);
    let part_id = (u64::from(idx) << 20 | part_no as u64) + 10_000_000_000;
    let mut v = obj! {
        "type" => "conversation_part",
        "id" => part_id.to_string(),
        "part_type" => p.kind.as_str(),
        "body" => body,
        "created_at" => at,
        "updated_at" => at,
        "notified_at" => at,
        "author" => author_json(&author, true),
        "attachments" => attachments,
        "external_id" => Value::Null,
        "redacted" => false,
        "state" => p.state.as_str(),
        "tags" => Vec::<Value>::new(),
        "app_package_code" => Value::Null,
    };
    // `assigned_to` is a `$ref` with a sibling `nullable` in the spec, which
    // strict validators ignore, so it is left out rather than set to null.
    if p.kind == PartKind::Assignment
        && p.extra > 0
        && let Value::Object(m) = &mut v
    {
        m.insert(
            "assigned_to".into(),
            obj! { "type" => "admin", "id" => admin_id(usize::from(p.extra) - 1).to_string() },
        );
    }
    v
}

/// Conversation `idx` as list/search items show it (`parts == None`) or as
/// `GET /conversations/{id}` does (`parts == Some(plaintext)`).
pub(crate) fn json(world: &World, idx: u32, parts: Option<bool>) -> Value {
    let d = data(world, idx);
    let plaintext = parts == Some(true);
    let text = |h: &str| {
        if plaintext {
            html_to_text(h)
        } else {
            h.to_owned()
        }
    };
    let tags: Vec<Value> = d
        .tags
        .iter()
        .map(|(id, name, at, by)| {
            obj! {
                "type" => "tag", "id" => id.to_string(), "name" => name.as_str(), "applied_at" => *at,
                "applied_by" => obj! { "type" => "admin", "id" => by.as_str() },
            }
        })
        .collect();
    let contacts: Vec<Value> = d
        .contacts
        .iter()
        .map(|(id, ext)| obj! { "type" => "contact", "id" => id.as_str(), "external_id" => ext.clone() })
        .collect();
    let teammates: Vec<Value> = d
        .teammate_ids
        .iter()
        .map(|id| obj! { "type" => "admin", "id" => id.as_str() })
        .collect();
    let mut custom = serde_json::Map::new();
    custom.insert("Category".into(), d.category.into());
    if let Some(n) = d.order_number {
        custom.insert("Order number".into(), n.into());
    }
    let rating = match &d.rating {
        Some((rating, remark, at, by)) => {
            let (cid, ext) = d.contacts.first().cloned().unwrap_or_default();
            obj! {
                "rating" => *rating, "remark" => *remark, "created_at" => *at, "updated_at" => *at,
                "contact" => obj! { "type" => "contact", "id" => cid, "external_id" => ext },
                "teammate" => obj! { "type" => "admin", "id" => by.as_str() },
            }
        }
        None => Value::Null,
    };
    let first_contact_reply = match d.first_contact_reply {
        Some(at) => obj! { "created_at" => at, "type" => "conversation", "url" => d.source_url },
        None => Value::Null,
    };
    let sla = match d.sla {
        Some((name, status)) => obj! {
            "type" => "conversation_sla_summary", "sla_name" => name, "sla_status" => status,
        },
        None => Value::Null,
    };
    let mut v = obj! {
        "type" => "conversation",
        "id" => d.id.as_str(),
        "title" => d.title,
        "created_at" => d.created_at,
        "updated_at" => d.updated_at,
        "waiting_since" => d.waiting_since,
        "snoozed_until" => d.snoozed_until,
        "open" => d.state != ConvState::Closed,
        "state" => d.state.as_str(),
        "read" => d.read,
        "priority" => d.priority,
        // 0 when unassigned, as 2.16 sends it (Intercom's "none" sentinel).
        "admin_assignee_id" => d.admin_assignee_id,
        "team_assignee_id" => d.team_assignee_id,
        "tags" => obj! { "type" => "tag.list", "tags" => tags },
        "conversation_rating" => rating,
        "source" => obj! {
            "type" => d.source_type,
            "id" => d.source_id.as_str(),
            "delivered_as" => d.delivered_as,
            "subject" => text(d.subject),
            "body" => text(d.body),
            "author" => author_json(&d.source_author, false),
            "attachments" => Vec::<Value>::new(),
            "url" => d.source_url,
            "redacted" => false,
        },
        "contacts" => obj! { "type" => "contact.list", "contacts" => contacts },
        // `admins`, as every capture has it (the description says `teammates`).
        "teammates" => obj! { "type" => "admin.list", "admins" => teammates },
        "custom_attributes" => custom,
        "first_contact_reply" => first_contact_reply,
        "sla_applied" => sla,
        "statistics" => statistics(&d.stats, d.created_at),
        "linked_objects" => obj! {
            "type" => "list", "total_count" => 0, "has_more" => false, "data" => Vec::<Value>::new(),
        },
        "ai_agent_participated" => d.ai.is_some(),
        "sales_agent_participated" => false,
        "channel" => obj! { "initial" => d.channel, "current" => d.channel },
        "external_references" => Vec::<Value>::new(),
    };
    let Value::Object(map) = &mut v else {
        return v;
    };
    if let Some((first, last, resolution)) = d.ai {
        map.insert(
            "ai_agent".into(),
            obj! {
                "source_type" => "workflow",
                "source_title" => "Fin for support",
                "last_answer_type" => "ai_answer",
                "resolution_state" => resolution,
                "rating" => Value::Null,
                "rating_remark" => Value::Null,
                "created_at" => first,
                "updated_at" => last,
            },
        );
    }
    if parts.is_some() {
        let m = &world.conversations[idx as usize];
        let start = m.parts.len().saturating_sub(MAX_PARTS_RETURNED);
        let items: Vec<Value> = m.parts[start..]
            .iter()
            .enumerate()
            .map(|(i, p)| part_json(world, idx, start + i, p, &d, plaintext))
            .collect();
        map.insert(
            "conversation_parts".into(),
            obj! {
                "type" => "conversation_part.list",
                "conversation_parts" => items,
                "total_count" => m.parts.len() as u64,
            },
        );
    }
    world.writes.patch_conversation(idx, &mut v, plaintext);
    v
}

/// Conversation `v` (canonical, from [`json`]) as the API sends it: as is
/// in 2.16; in 2.11 [`to_v211`], and some older assigned conversations
/// carry a legacy `assignee` object and a null `admin_assignee_id` (airbyte
/// `expected_records.jsonl`, conversations `60`, `61`): see
/// [`wire_legacy_assignee`].
pub(crate) fn wire(v: Value, v211: bool) -> Value {
    if v211 {
        let legacy = v
            .get("id")
            .and_then(Value::as_str)
            .and_then(|id| id.parse::<u64>().ok())
            .is_some_and(wire_legacy_assignee);
        let mut v = to_v211(v);
        if legacy
            && let Value::Object(m) = &mut v
            && let Some(admin) = m.get("admin_assignee_id").and_then(Value::as_i64)
        {
            m.insert("admin_assignee_id".into(), Value::Null);
            m.insert(
                "assignee".into(),
                obj! { "type" => "admin", "id" => admin.to_string() },
            );
        }
        return v;
    }
    v
}

/// Whether conversation `id` is one of the older ones whose 2.11 answer
/// names its admin in a legacy `assignee` object: every 4th.
pub(crate) fn wire_legacy_assignee(id: u64) -> bool {
    id % 4 == 1
}

/// Rewrites a 2.16 conversation (list item or full) into its 2.11 shape:
/// `priority` is `priority`/`not_priority` and unassigned assignee ids are
/// null instead of 0.
pub(crate) fn to_v211(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        let urgent = matches!(
            m.get("priority").and_then(Value::as_str),
            Some("medium" | "high" | "urgent")
        );
        m.insert(
            "priority".into(),
            (if urgent { "priority" } else { "not_priority" }).into(),
        );
        // 2.11's conversation_rating and first_contact_reply are not
        // nullable: left out when absent.
        for k in ["conversation_rating", "first_contact_reply"] {
            if m.get(k).is_some_and(Value::is_null) {
                m.remove(k);
            }
        }
        // 2.11 names Fin's hand-over `routed_to_team` (2.16: `escalated`).
        if let Some(Value::Object(ai)) = m.get_mut("ai_agent")
            && ai.get("resolution_state").and_then(Value::as_str) == Some("escalated")
        {
            ai.insert("resolution_state".into(), "routed_to_team".into());
        }
        for k in ["admin_assignee_id", "team_assignee_id"] {
            if m.get(k).and_then(Value::as_i64) == Some(0) {
                m.insert(k.into(), Value::Null);
            }
        }
    }
    v
}
