//! Tickets: searchable fields and the JSON shape (`ticket`, 2.16 and 2.11),
//! with their parts (`ticket_part`, see `world/tickets.rs` for the history).
//!
//! `ticket_parts` is sent by `GET /tickets/{id}` and in ticket search
//! results alike, as the recorded search answers have it (airbyte's
//! tickets `70`, `71`, estuary's ticket `2`): the 500 most recent parts,
//! `total_count` all of them.

use std::cell::OnceCell;

use serde_json::Value;

use super::super::query::{DateMode, Dialect, FieldDef, FieldType, FieldValue, Record};
use super::super::rng::Rng;
use super::super::vocab::{ADMIN_MESSAGES, NOTES, SUBJECTS, TEAMS, USER_MESSAGES, admin_id};
use super::super::world::{AUTHOR_CONTACT, NO_CONTACT, TicketPart, TicketPartKind, World, salt};
use super::snapshot::{self, TICKET_TYPES};
use super::{admin_identity, bot_email, bot_id, contact, obj};

/// Only this many of the most recent parts are sent (as for conversations).
pub(crate) const MAX_TICKET_PARTS: usize = 500;

/// Field keys (created/updated share the contact/conversation keys).
pub(crate) mod key {
    pub const ID: u16 = 0;
    pub const CREATED_AT: u16 = 1;
    pub const UPDATED_AT: u16 = 2;
    pub const TITLE: u16 = 3;
    pub const CATEGORY: u16 = 4;
    pub const TICKET_TYPE_ID: u16 = 5;
    pub const CONTACT_IDS: u16 = 6;
    pub const ADMIN_ASSIGNEE_ID: u16 = 7;
    pub const TEAM_ASSIGNEE_ID: u16 = 8;
    pub const OPEN: u16 = 9;
    pub const STATE: u16 = 10;
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

/// Searchable ticket fields (`POST /tickets/search`).
pub(crate) static FIELDS: &[FieldDef] = &[
    field!("id", Str, ID),
    field!("created_at", Date, CREATED_AT),
    field!("updated_at", Date, UPDATED_AT),
    field!("title", Str, TITLE),
    field!("category", Str, CATEGORY),
    field!("ticket_type_id", Str, TICKET_TYPE_ID),
    field!("contact_ids", Str, CONTACT_IDS),
    field!("admin_assignee_id", Int, ADMIN_ASSIGNEE_ID),
    field!("team_assignee_id", Int, TEAM_ASSIGNEE_ID),
    field!("open", Bool, OPEN),
    field!("state", Str, STATE),
];

/// Ticket search: dates exact to the second.
pub(crate) static DIALECT: Dialect = Dialect {
    fields: FIELDS,
    dates: DateMode::Exact,
};

/// Derived ticket fields.
pub(crate) struct TicketData {
    id: String,
    title: &'static str,
    description: &'static str,
    contact_ids: Vec<String>,
    category_search: &'static str,
    type_id: String,
    admin: i64,
    team: i64,
    state: &'static str,
}

fn data(w: &World, idx: u32) -> TicketData {
    let m = w.tickets[idx as usize];
    let mut r = Rng::new(w.seed, salt::TICKETS, u64::from(idx), 2);
    let t = usize::from(m.ticket_type) % TICKET_TYPES.len();
    TicketData {
        id: w.ticket_id(idx).to_string(),
        title: r.pick(SUBJECTS),
        description: r.pick(USER_MESSAGES),
        contact_ids: contacts_of(w, idx)
            .into_iter()
            .map(|c| w.contact_id(c))
            .collect(),
        category_search: ["request", "task", "tracker"][t],
        type_id: snapshot::ticket_type_id(t),
        admin: if m.admin == 0 {
            0
        } else {
            admin_id(usize::from(m.admin) - 1) as i64
        },
        team: if m.team == 0 {
            0
        } else {
            TEAMS[usize::from(m.team) - 1].0 as i64
        },
        state: snapshot::ticket_state(m.state).1,
    }
}

/// The contacts of ticket `idx` (indexes): its opener and, for about one
/// ticket in five, one or two more contacts created before it (Intercom
/// lets a teammate add participants).
pub(crate) fn contacts_of(w: &World, idx: u32) -> Vec<u32> {
    let m = w.tickets[idx as usize];
    if m.contact == NO_CONTACT {
        return Vec::new();
    }
    let mut out = vec![m.contact];
    let mut r = Rng::new(w.seed, salt::TICKETS, u64::from(idx), 4);
    if r.chance(0.2) {
        let seen = w.contacts.partition_point(|c| c.created_at <= m.created_at) as u64;
        for _ in 0..1 + r.below(2) {
            let c = r.below(seen) as u32;
            if seen > 0 && !out.contains(&c) {
                out.push(c);
            }
        }
    }
    out
}

/// Lazily derived ticket for query evaluation.
pub(crate) struct TicketRecord<'w> {
    world: &'w World,
    idx: u32,
    data: OnceCell<TicketData>,
}

impl<'w> TicketRecord<'w> {
    /// A record view of ticket `idx`.
    pub(crate) fn new(world: &'w World, idx: u32) -> Self {
        TicketRecord {
            world,
            idx,
            data: OnceCell::new(),
        }
    }
}

impl Record for TicketRecord<'_> {
    fn field(&self, k: u16) -> FieldValue<'_> {
        let m = &self.world.tickets[self.idx as usize];
        match k {
            key::CREATED_AT => return FieldValue::Int(m.created_at),
            key::UPDATED_AT => return FieldValue::Int(m.updated_at),
            key::OPEN => return FieldValue::Bool(m.state != 3),
            _ => {}
        }
        let d = self.data.get_or_init(|| data(self.world, self.idx));
        match k {
            key::ID => FieldValue::Str(&d.id),
            key::TITLE => FieldValue::Str(d.title),
            key::CATEGORY => FieldValue::Str(d.category_search),
            key::TICKET_TYPE_ID => FieldValue::Str(&d.type_id),
            key::CONTACT_IDS => FieldValue::Many(&d.contact_ids),
            key::ADMIN_ASSIGNEE_ID => FieldValue::Int(d.admin),
            key::TEAM_ASSIGNEE_ID => FieldValue::Int(d.team),
            key::STATE => FieldValue::Str(d.state),
            _ => FieldValue::Null,
        }
    }
}

/// Ticket `idx` (`ticket`). Without `v211`, the 2.16 form (also what
/// `/__sim/truth` holds): the `ticket_state` object, assignee ids as integers
/// (0: unassigned). With `v211`, the 2.11 wire: string assignee ids
/// (`"0"` for none, as estuary's and airbyte's 2.11 captures have) and, for
/// every other ticket ([`wire_state_as_string`]), `ticket_state` as a plain
/// string with the labels at the top level (airbyte tickets `70`, `71`);
/// the others keep the object (estuary's 2.11 ticket `2`).
pub(crate) fn json(w: &World, idx: u32, v211: bool) -> Value {
    let m = w.tickets[idx as usize];
    let d = data(w, idx);
    let t = usize::from(m.ticket_type) % TICKET_TYPES.len();
    let contacts: Vec<Value> = d
        .contact_ids
        .iter()
        .map(|id| obj! { "type" => "contact", "id" => id.as_str(), "external_id" => Value::Null })
        .collect();
    let (_, cat, internal, external) = snapshot::ticket_state(m.state);
    let mut v = obj! {
        "type" => "ticket",
        "id" => d.id.clone(),
        "ticket_id" => (1000 + idx).to_string(),
        "category" => TICKET_TYPES[t].1,
        "ticket_attributes" => obj! {
            "_default_title_" => d.title,
            "_default_description_" => d.description,
        },
        "ticket_type" => snapshot::ticket_type(w, t, v211),
        "contacts" => obj! { "type" => "contact.list", "contacts" => contacts },
        "created_at" => m.created_at,
        "updated_at" => m.updated_at,
        "open" => m.state != 3,
        "is_shared" => t == 0,
        "linked_objects" => obj! {
            "type" => "list", "total_count" => 0, "has_more" => false, "data" => Vec::<Value>::new(),
        },
        "ticket_parts" => parts_json(w, idx),
    };
    if let Value::Object(o) = &mut v {
        if v211 {
            if wire_state_as_string(idx) {
                o.insert("ticket_state".into(), cat.into());
                o.insert("ticket_state_internal_label".into(), internal.into());
                o.insert("ticket_state_external_label".into(), external.into());
            } else {
                o.insert("ticket_state".into(), snapshot::ticket_state_obj(m.state));
            }
            o.insert("admin_assignee_id".into(), d.admin.to_string().into());
            o.insert("team_assignee_id".into(), d.team.to_string().into());
        } else {
            o.insert("ticket_state".into(), snapshot::ticket_state_obj(m.state));
            o.insert("admin_assignee_id".into(), d.admin.into());
            o.insert("team_assignee_id".into(), d.team.into());
            o.insert("previous_ticket_state_id".into(), previous_state_id(w, idx));
        }
    }
    w.writes.patch_ticket(idx, &mut v);
    v
}

/// Whether ticket `idx` sends `ticket_state` as a string in 2.11.
pub(crate) fn wire_state_as_string(idx: u32) -> bool {
    idx.is_multiple_of(2)
}

/// `previous_ticket_state_id` (2.16): the id of the state the latest
/// state change left (null before any change past the opening part).
fn previous_state_id(w: &World, idx: u32) -> Value {
    w.ticket_history(idx)
        .iter()
        .rev()
        .find(|p| p.kind == TicketPartKind::State)
        .map_or(Value::Null, |p| snapshot::ticket_state(p.extra).0.into())
}

/// Id of part `no` of ticket `idx` (0 is the opening part): numeric
/// strings above every conversation part id.
pub(crate) fn part_id(idx: u32, no: usize) -> String {
    (30_000_000_000_000 + (u64::from(idx) << 20 | no as u64)).to_string()
}

/// Part `no` of ticket `idx`: `None` is the opening part.
fn part_json(w: &World, idx: u32, no: usize, p: Option<&TicketPart>) -> Value {
    let m = w.tickets[idx as usize];
    let opening = TicketPart {
        at: m.created_at,
        kind: TicketPartKind::State,
        author: 0,
        extra: 0,
        state: 0,
    };
    let bot = p.is_none();
    let p = p.unwrap_or(&opening);
    let mut r = Rng::new(w.seed, salt::TICKET_PARTS, u64::from(idx), no as u64);
    let author = if bot {
        obj! { "id" => bot_id(), "type" => "bot", "name" => "Fin", "email" => bot_email(w) }
    } else if p.author == AUTHOR_CONTACT && m.contact != NO_CONTACT {
        let c = contact::identity(w, m.contact);
        obj! { "id" => c.id, "type" => "user", "name" => c.name, "email" => c.email }
    } else {
        let a = usize::from(p.author.max(1)) - 1;
        let (id, name, email) = admin_identity(w, a);
        obj! { "id" => id, "type" => "admin", "name" => name, "email" => email }
    };
    let mut o = serde_json::Map::new();
    o.insert("type".into(), "ticket_part".into());
    o.insert("id".into(), part_id(idx, no).into());
    o.insert("part_type".into(), p.kind.as_str().into());
    let from_contact = !bot && p.author == AUTHOR_CONTACT;
    match p.kind {
        TicketPartKind::Comment => {
            let body = if from_contact {
                r.pick(USER_MESSAGES)
            } else {
                r.pick(ADMIN_MESSAGES)
            };
            o.insert("body".into(), body.into());
        }
        TicketPartKind::Note => {
            o.insert("body".into(), r.pick(NOTES).into());
        }
        TicketPartKind::State => {
            o.insert(
                "previous_ticket_state".into(),
                snapshot::ticket_state(p.extra).1.into(),
            );
            o.insert(
                "ticket_state".into(),
                snapshot::ticket_state(p.state).1.into(),
            );
        }
        TicketPartKind::Assignment => {}
    }
    o.insert("created_at".into(), p.at.into());
    o.insert("updated_at".into(), p.at.into());
    if p.kind == TicketPartKind::Assignment && p.extra > 0 {
        o.insert(
            "assigned_to".into(),
            obj! { "type" => "admin", "id" => admin_id(usize::from(p.extra) - 1).to_string() },
        );
    }
    o.insert("author".into(), author);
    let share = match (p.kind, from_contact) {
        (TicketPartKind::Comment, true) => 0.15,
        (TicketPartKind::Comment, false) => 0.05,
        _ => 0.0,
    };
    let attachments = if share > 0.0 && r.chance(share) {
        vec![attachment(&mut r, from_contact)]
    } else {
        Vec::new()
    };
    o.insert("attachments".into(), attachments.into());
    o.insert("redacted".into(), false.into());
    Value::Object(o)
}

/// An uploaded file on a part (`part_attachment`): a screenshot (PNG, with
/// its pixel size) from a contact, or a PDF (no size: null) from either.
pub(crate) fn attachment(r: &mut Rng, from_contact: bool) -> Value {
    let n = r.below(1_000_000_000);
    if from_contact && r.chance(0.7) {
        obj! {
            "type" => "upload",
            "name" => "screenshot.png",
            "url" => format!("https://downloads.intercomcdn.com/i/o/{n}/screenshot.png"),
            "content_type" => "image/png",
            "filesize" => 20_000 + r.below(400_000),
            "width" => 1280 + 160 * r.below(5),
            "height" => 800,
        }
    } else {
        let name = r.pick(&["invoice.pdf", "error-log.pdf", "contract draft (v2).pdf"]);
        obj! {
            "type" => "upload",
            "name" => name,
            "url" => format!("https://downloads.intercomcdn.com/i/o/{n}/{}", name.replace(' ', "%20")),
            "content_type" => "application/pdf",
            "filesize" => 40_000 + r.below(2_000_000),
            "width" => Value::Null,
            "height" => Value::Null,
        }
    }
}

/// The `ticket_part.list` of ticket `idx`: the opening part, then the
/// stored history; only the last [`MAX_TICKET_PARTS`].
fn parts_json(w: &World, idx: u32) -> Value {
    let history = w.ticket_history(idx);
    let total = history.len() + 1;
    let start = total.saturating_sub(MAX_TICKET_PARTS);
    let items: Vec<Value> = (start..total)
        .map(|no| part_json(w, idx, no, no.checked_sub(1).map(|i| &history[i])))
        .collect();
    obj! {
        "type" => "ticket_part.list",
        "ticket_parts" => items,
        "total_count" => total as u64,
    }
}
