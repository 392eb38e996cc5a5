//! Conversations and their parts: derived attributes, searchable fields and
//! JSON shapes.
//!
//! What never changes (source, title, tags, custom attributes, second
//! participant) comes from `(seed, index)`. What evolves (state, assignee,
//! statistics, waiting/snoozed times, teammates) is replayed from the stored
//! parts, so a new part appended by `advance` is reflected everywhere.

use std::cell::OnceCell;

use serde_json::Value;

use super::super::query::{DateMode, Dialect, FieldDef, FieldType, FieldValue, Record};
use super::super::rng::Rng;
use super::super::text::html_to_text;
use super::super::vocab::{
    ADMIN_MESSAGES, BOT_MESSAGES, CATEGORIES, NOTES, REMARKS, SUBJECTS, TEAMS, USER_MESSAGES,
    admin_id,
};
use super::super::world::{
    AUTHOR_BOT, AUTHOR_CONTACT, ConvMeta, ConvState, NO_CONTACT, PartKind, PartMeta, World, salt,
};
use super::contact::{self, ContactIdentity};
use super::{admin_identity, bot_email, bot_id, obj};

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
    let rating = match (m.state, rated, &s.last_closed_by_id) {
        (ConvState::Closed, true, Some(by)) => Some((
            rating_value,
            remark,
            s.last_close_at.unwrap_or(m.updated_at),
            by.clone(),
        )),
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
