//! Conversations and their parts: derived attributes, searchable fields and
//! JSON shapes.
//!
//! What never changes (source, title, tags, custom attributes, second
//! participant) comes from `(seed, index)`. What evolves (state, assignee,
//! statistics, waiting/snoozed times, teammates) is replayed from the stored
//! parts, so a new part appended by `advance` is reflected everywhere.

use std::cell::OnceCell;

use super::super::query::{DateMode, Dialect, FieldDef, FieldType, FieldValue, Record};
use super::super::rng::Rng;
use super::super::vocab::{
    ADMIN_MESSAGES, BOT_MESSAGES, CATEGORIES, REMARKS, SUBJECTS, TEAMS, USER_MESSAGES, admin_id,
};
use super::super::world::{
    AUTHOR_BOT, AUTHOR_CONTACT, ConvMeta, ConvState, NO_CONTACT, PartKind, World, salt,
};
use super::contact::{self, ContactIdentity};
use super::{admin_identity, bot_email, bot_id};

mod shape;
pub(crate) use shape::{json, to_v211, wire};

/// Only this many of the most recent parts are returned by
/// `GET /conversations/{id}` (the real API's cap).
pub const MAX_PARTS_RETURNED: usize = 500;

/// Field keys shared with the search engine.
pub(crate) mod key {
    pub const ID: u16 = 0;
    pub const CREATED_AT: u16 = 1;
    pub const UPDATED_AT: u16 = 2;
    pub const WAITING_SINCE: u16 = 3;
    pub const SNOOZED_UNTIL: u16 = 4;
    pub const STATE: u16 = 5;
    pub const OPEN: u16 = 6;
    pub const READ: u16 = 7;
    pub const PRIORITY: u16 = 8;
    pub const ADMIN_ASSIGNEE_ID: u16 = 9;
    pub const TEAM_ASSIGNEE_ID: u16 = 10;
    pub const CONTACT_IDS: u16 = 11;
    pub const TEAMMATE_IDS: u16 = 12;
    pub const TAG_IDS: u16 = 13;
    pub const SOURCE_TYPE: u16 = 14;
    pub const SOURCE_ID: u16 = 15;
    pub const SOURCE_DELIVERED_AS: u16 = 16;
    pub const SOURCE_SUBJECT: u16 = 17;
    pub const SOURCE_BODY: u16 = 18;
    pub const SOURCE_AUTHOR_TYPE: u16 = 19;
    pub const SOURCE_AUTHOR_ID: u16 = 20;
    pub const SOURCE_AUTHOR_NAME: u16 = 21;
    pub const SOURCE_AUTHOR_EMAIL: u16 = 22;
    pub const SOURCE_URL: u16 = 23;
    pub const TITLE: u16 = 24;
    pub const COUNT_PARTS: u16 = 25;
    pub const COUNT_REOPENS: u16 = 26;
    pub const COUNT_ASSIGNMENTS: u16 = 27;
    pub const AI_AGENT_PARTICIPATED: u16 = 28;
}

macro_rules! field {
    ($name:literal, $ty:ident, $key:ident) => {
        FieldDef {
            name: $name,
            ty: FieldType::$ty,
            key: key::$key,
        }
    };
}

/// Searchable conversation fields (`POST /conversations/search`).
pub(crate) static FIELDS: &[FieldDef] = &[
    field!("id", Str, ID),
    field!("created_at", Date, CREATED_AT),
    field!("updated_at", Date, UPDATED_AT),
    field!("waiting_since", Date, WAITING_SINCE),
    field!("snoozed_until", Date, SNOOZED_UNTIL),
    field!("state", Str, STATE),
    field!("open", Bool, OPEN),
    field!("read", Bool, READ),
    field!("priority", Str, PRIORITY),
    field!("admin_assignee_id", Int, ADMIN_ASSIGNEE_ID),
    field!("team_assignee_id", Int, TEAM_ASSIGNEE_ID),
    field!("contact_ids", Str, CONTACT_IDS),
    field!("teammate_ids", Str, TEAMMATE_IDS),
    field!("tag_ids", Str, TAG_IDS),
    field!("source.type", Str, SOURCE_TYPE),
    field!("source.id", Str, SOURCE_ID),
    field!("source.delivered_as", Str, SOURCE_DELIVERED_AS),
    field!("source.subject", Str, SOURCE_SUBJECT),
    field!("source.body", Str, SOURCE_BODY),
    field!("source.author.type", Str, SOURCE_AUTHOR_TYPE),
    field!("source.author.id", Str, SOURCE_AUTHOR_ID),
    field!("source.author.name", Str, SOURCE_AUTHOR_NAME),
    field!("source.author.email", Str, SOURCE_AUTHOR_EMAIL),
    field!("source.url", Str, SOURCE_URL),
    field!("title", Str, TITLE),
    field!("statistics.count_conversation_parts", Int, COUNT_PARTS),
    field!("statistics.count_reopens", Int, COUNT_REOPENS),
    field!("statistics.count_assignments", Int, COUNT_ASSIGNMENTS),
    field!("ai_agent_participated", Bool, AI_AGENT_PARTICIPATED),
];

/// Conversation search: dates exact to the second.
pub(crate) static DIALECT: Dialect = Dialect {
    fields: FIELDS,
    dates: DateMode::Exact,
};

const PRIORITIES: [&str; 5] = ["none", "low", "medium", "high", "urgent"];
const SOURCE_TYPES: [&str; 7] = [
    "conversation",
    "email",
    "twitter",
    "facebook",
    "whatsapp",
    "phone_call",
    "sms",
];

/// A message author (`conversation_source_author` / part author).
#[derive(Clone, Debug)]
pub(crate) struct Author {
    pub ty: &'static str,
    pub id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
}

/// Statistics replayed from the parts (absent values are left out of JSON).
#[derive(Clone, Debug, Default)]
pub(crate) struct Stats {
    pub first_contact_reply_at: Option<i64>,
    pub first_assignment_at: Option<i64>,
    pub last_assignment_at: Option<i64>,
    pub first_admin_reply_at: Option<i64>,
    pub last_admin_reply_at: Option<i64>,
    pub last_assignment_admin_reply_at: Option<i64>,
    pub first_close_at: Option<i64>,
    pub last_close_at: Option<i64>,
    pub last_closed_by_id: Option<String>,
    pub last_contact_reply_at: Option<i64>,
    pub median_time_to_reply: Option<i64>,
    pub count_reopens: i64,
    pub count_assignments: i64,
    pub count_parts: i64,
}

/// A fully derived conversation (without part bodies).
#[derive(Clone, Debug)]
pub(crate) struct ConversationData {
    pub id: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub title: Option<&'static str>,
    pub state: ConvState,
    pub read: bool,
    pub priority: &'static str,
    pub admin_assignee_id: i64,
    pub team_assignee_id: i64,
    pub source_type: &'static str,
    pub source_id: String,
    pub delivered_as: &'static str,
    pub subject: &'static str,
    pub body: &'static str,
    pub source_author: Author,
    pub source_url: Option<&'static str>,
    pub primary: Option<ContactIdentity>,
    pub contacts: Vec<(String, Option<String>)>,
    pub contact_ids: Vec<String>,
    pub teammate_ids: Vec<String>,
    pub tags: Vec<(u64, String, i64, String)>,
    pub tag_ids: Vec<String>,
    pub category: &'static str,
    pub order_number: Option<i64>,
    pub waiting_since: Option<i64>,
    pub snoozed_until: Option<i64>,
    pub stats: Stats,
    pub rating: Option<(i64, &'static str, i64, String)>,
    pub first_contact_reply: Option<i64>,
    pub sla: Option<(&'static str, &'static str)>,
    /// (first bot part, last bot part, resolution state) when Fin took part.
    pub ai: Option<(i64, i64, &'static str)>,
    pub channel: &'static str,
}

fn contact_author(c: &ContactIdentity) -> Author {
    Author {
        ty: c.role,
        id: Some(c.id.clone()),
        name: c.name.clone(),
        email: Some(c.email.clone()),
    }
}

fn admin_author(world: &World, i: usize) -> Author {
    let (id, name, email) = admin_identity(world, i);
    Author {
        ty: "admin",
        id: Some(id),
        name: Some(name),
        email: Some(email),
    }
}

fn bot_author(world: &World) -> Author {
    Author {
        ty: "bot",
        id: Some(bot_id()),
        name: Some("Fin".to_owned()),
        email: Some(bot_email(world)),
    }
}

/// Derives conversation `idx` as it is now.
pub(crate) fn data(world: &World, idx: u32) -> ConversationData {
    let m: &ConvMeta = &world.conversations[idx as usize];
    let mut r = Rng::new(world.seed, salt::CONV_IDENTITY, u64::from(idx), 0);
    let source_type = SOURCE_TYPES[r.weighted(&[60, 25, 3, 3, 3, 3, 3])];
    let primary = (m.contact != NO_CONTACT).then(|| contact::identity(world, m.contact));
    let delivered = match r.weighted(&[85, 10, 5]) {
        _ if primary.is_none() => "automated",
        _ if m.outbound => "admin_initiated",
        0 => "customer_initiated",
        1 => "admin_initiated",
        _ => "automated",
    };
    let subject_pick = r.pick(SUBJECTS);
    let subject = if source_type == "email" {
        subject_pick
    } else {
        ""
    };
    let title = if source_type == "email" || r.chance(0.5) {
        Some(subject_pick)
    } else {
        None
    };
    let (body, source_author) = match (delivered, &primary) {
        ("customer_initiated", Some(c)) => (r.pick(USER_MESSAGES), contact_author(c)),
        ("admin_initiated", _) => (
            r.pick(ADMIN_MESSAGES),
            admin_author(world, r.below(world.admins.len() as u64) as usize),
        ),
        _ => (r.pick(BOT_MESSAGES), bot_author(world)),
    };
    let source_url = (source_type == "conversation" && r.chance(0.5)).then(|| {
        r.pick(&[
            "https://app.example.com/settings/billing",
            "https://app.example.com/dashboard?tab=reports&range=7d",
            "https://www.example.com/pricing",
        ])
    });
    let mut contacts = Vec::new();
    if let Some(c) = &primary {
        contacts.push((c.id.clone(), c.external_id.clone()));
        if r.chance(0.05) && m.contact > 0 {
            let other = contact::identity(world, r.below(u64::from(m.contact)) as u32);
            contacts.push((other.id, other.external_id));
        }
    }
    let contact_ids = contacts.iter().map(|c| c.0.clone()).collect();
    let tag_count = r.weighted(&[65, 25, 10]);
    let mut tags: Vec<(u64, String, i64, String)> = Vec::new();
    for _ in 0..tag_count {
        let (tid, tname) = &world.tags[r.below(world.tags.len() as u64) as usize];
        let by = admin_id(r.below(world.admins.len() as u64) as usize).to_string();
        if !tags.iter().any(|t| t.0 == *tid) {
            tags.push((*tid, tname.clone(), m.created_at + r.below(3600) as i64, by));
        }
    }
    let tag_ids = tags.iter().map(|t| t.0.to_string()).collect();
    let category = r.pick(CATEGORIES);
    let order_number = r.chance(0.5).then(|| 10_000 + r.below(90_000) as i64);
    let rated = r.chance(0.35);
    let rating_value = 1 + r.below(5) as i64;
    let remark = r.pick(REMARKS);
    let sla = r.chance(0.2).then(|| {
        (
            r.pick(&["VIP first response 1h", "Standard 24h"]),
            r.pick(&["hit", "missed", "active"]),
        )
    });
    let resolution = r.pick(&["assumed_resolution", "escalated", "confirmed_resolution"]);

    // Replay the parts.
    let customer_initiated = delivered == "customer_initiated";
    let mut s = Stats {
        count_parts: m.parts.len() as i64,
        ..Stats::default()
    };
    if customer_initiated {
        s.first_contact_reply_at = Some(m.created_at);
        s.last_contact_reply_at = Some(m.created_at);
    }
    let mut waiting = customer_initiated.then_some(m.created_at);
    let mut delays: Vec<i64> = Vec::new();
    // Who closed it first: the teammate a rating names (see `rating` below).
    let mut first_closed_by: Option<String> = None;
    let mut teammate_ids: Vec<String> = Vec::new();
    let mut bot: Option<(i64, i64)> =
        (delivered == "automated").then_some((m.created_at, m.created_at));
    let mut prev = ConvState::Open;
    let mut snoozed_until = None;
    for p in &m.parts {
        let at = i64::from(p.at);
        let admin = (p.author != AUTHOR_CONTACT && p.author != AUTHOR_BOT)
            .then(|| usize::from(p.author) - 1);
        if let Some(a) = admin {
            let id = admin_id(a).to_string();
            if !teammate_ids.contains(&id) {
                teammate_ids.push(id);
            }
        }
        match (p.kind, p.author) {
            (PartKind::Comment, AUTHOR_CONTACT) => {
                s.first_contact_reply_at.get_or_insert(at);
                s.last_contact_reply_at = Some(at);
                waiting.get_or_insert(at);
            }
            (PartKind::Comment, AUTHOR_BOT) => {
                bot = Some(bot.map_or((at, at), |b| (b.0, at)));
            }
            (PartKind::Comment, _) => {
                s.first_admin_reply_at.get_or_insert(at);
                s.last_admin_reply_at = Some(at);
                if s.last_assignment_at.is_some() {
                    s.last_assignment_admin_reply_at.get_or_insert(at);
                }
                if let Some(w) = waiting.take() {
                    delays.push(at - w);
                }
            }
            (PartKind::Assignment, _) => {
                s.count_assignments += 1;
                s.first_assignment_at.get_or_insert(at);
                s.last_assignment_at = Some(at);
                s.last_assignment_admin_reply_at = None;
            }
            (PartKind::Close, _) => {
                if s.first_close_at.is_none() {
                    first_closed_by = admin.map(|a| admin_id(a).to_string());
                }
                s.first_close_at.get_or_insert(at);
                s.last_close_at = Some(at);
                s.last_closed_by_id = admin.map(|a| admin_id(a).to_string());
                waiting = None;
            }
            (PartKind::Snoozed, _) => {
                snoozed_until = Some(at + i64::from(p.extra) * 3600);
            }
            _ => {}
        }
        if prev == ConvState::Closed && p.state == ConvState::Open {
            s.count_reopens += 1;
        }
        prev = p.state;
    }
    if !delays.is_empty() {
        delays.sort_unstable();
        s.median_time_to_reply = Some(delays[delays.len() / 2]);
    }
    // A customer rates a conversation once, after its first close by a
    // teammate: the rating keeps that time and teammate when the
    // conversation is reopened or closed again (a rating that moved with
    // the last close would be a new `conversation_rated` event on every
    // close, which Intercom does not record).
    let rating = match (rated, s.first_close_at, first_closed_by) {
        (true, Some(at), Some(by)) => Some((rating_value, remark, at, by)),
        _ => None,
    };
    ConversationData {
        id: world.conversation_id(idx).to_string(),
        created_at: m.created_at,
        updated_at: m.updated_at,
        title,
        state: m.state,
        read: m.read,
        priority: PRIORITIES[usize::from(m.priority) % PRIORITIES.len()],
        admin_assignee_id: if m.admin == 0 {
            0
        } else {
            admin_id(usize::from(m.admin) - 1) as i64
        },
        team_assignee_id: if m.team == 0 {
            0
        } else {
            TEAMS[usize::from(m.team) - 1].0 as i64
        },
        source_type,
        source_id: (world.conversation_id(idx) + 200_000_000_000).to_string(),
        delivered_as: delivered,
        subject,
        body,
        source_author,
        source_url,
        contacts,
        contact_ids,
        teammate_ids,
        tags,
        tag_ids,
        category,
        order_number,
        waiting_since: waiting.filter(|_| m.state == ConvState::Open),
        snoozed_until: snoozed_until.filter(|_| m.state == ConvState::Snoozed),
        first_contact_reply: s.first_contact_reply_at,
        stats: s,
        rating,
        sla,
        ai: bot.map(|(a, b)| (a, b, resolution)),
        channel: match source_type {
            "email" => "email",
            "twitter" => "twitter",
            _ => "messenger",
        },
        primary,
    }
}

/// Lazily derived conversation for query evaluation.
pub(crate) struct ConversationRecord<'w> {
    world: &'w World,
    idx: u32,
    data: OnceCell<ConversationData>,
}

impl<'w> ConversationRecord<'w> {
    /// A record view of conversation `idx`.
    pub(crate) fn new(world: &'w World, idx: u32) -> Self {
        ConversationRecord {
            world,
            idx,
            data: OnceCell::new(),
        }
    }
}

fn opt_int(v: Option<i64>) -> FieldValue<'static> {
    v.map_or(FieldValue::Null, FieldValue::Int)
}

fn opt_str(v: Option<&str>) -> FieldValue<'_> {
    v.map_or(FieldValue::Null, FieldValue::Str)
}

impl Record for ConversationRecord<'_> {
    fn field(&self, k: u16) -> FieldValue<'_> {
        let m = &self.world.conversations[self.idx as usize];
        match k {
            key::CREATED_AT => return FieldValue::Int(m.created_at),
            key::UPDATED_AT => return FieldValue::Int(m.updated_at),
            key::STATE => return FieldValue::Str(m.state.as_str()),
            key::OPEN => return FieldValue::Bool(m.state != ConvState::Closed),
            key::READ => return FieldValue::Bool(m.read),
            key::COUNT_PARTS => return FieldValue::Int(m.parts.len() as i64),
            _ => {}
        }
        let d = self.data.get_or_init(|| data(self.world, self.idx));
        match k {
            key::ID => FieldValue::Str(&d.id),
            key::WAITING_SINCE => opt_int(d.waiting_since),
            key::SNOOZED_UNTIL => opt_int(d.snoozed_until),
            key::PRIORITY => FieldValue::Str(d.priority),
            key::ADMIN_ASSIGNEE_ID => FieldValue::Int(d.admin_assignee_id),
            key::TEAM_ASSIGNEE_ID => FieldValue::Int(d.team_assignee_id),
            key::CONTACT_IDS => FieldValue::Many(&d.contact_ids),
            key::TEAMMATE_IDS => FieldValue::Many(&d.teammate_ids),
            key::TAG_IDS => FieldValue::Many(&d.tag_ids),
            key::SOURCE_TYPE => FieldValue::Str(d.source_type),
            key::SOURCE_ID => FieldValue::Str(&d.source_id),
            key::SOURCE_DELIVERED_AS => FieldValue::Str(d.delivered_as),
            key::SOURCE_SUBJECT => FieldValue::Str(d.subject),
            key::SOURCE_BODY => FieldValue::Str(d.body),
            key::SOURCE_AUTHOR_TYPE => FieldValue::Str(d.source_author.ty),
            key::SOURCE_AUTHOR_ID => opt_str(d.source_author.id.as_deref()),
            key::SOURCE_AUTHOR_NAME => opt_str(d.source_author.name.as_deref()),
            key::SOURCE_AUTHOR_EMAIL => opt_str(d.source_author.email.as_deref()),
            key::SOURCE_URL => opt_str(d.source_url),
            key::TITLE => opt_str(d.title),
            key::COUNT_REOPENS => FieldValue::Int(d.stats.count_reopens),
            key::COUNT_ASSIGNMENTS => FieldValue::Int(d.stats.count_assignments),
            key::AI_AGENT_PARTICIPATED => FieldValue::Bool(d.ai.is_some()),
            _ => FieldValue::Null,
        }
    }
}
