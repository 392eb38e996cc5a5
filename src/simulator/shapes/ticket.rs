//! Tickets: searchable fields and the JSON shape (`ticket`, 2.16 and 2.11).

use std::cell::OnceCell;

use serde_json::Value;

use super::super::query::{DateMode, Dialect, FieldDef, FieldType, FieldValue, Record};
use super::super::rng::Rng;
use super::super::vocab::{SUBJECTS, TEAMS, USER_MESSAGES, admin_id};
use super::super::world::{NO_CONTACT, World, salt};
use super::dims::{self, TICKET_TYPES};
use super::obj;

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
        contact_ids: if m.contact == NO_CONTACT {
            Vec::new()
        } else {
            vec![w.contact_id(m.contact)]
        },
        category_search: ["request", "task", "tracker"][t],
        type_id: dims::ticket_type_id(t),
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
        state: dims::ticket_state(m.state).1,
    }
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
    let (_, cat, internal, external) = dims::ticket_state(m.state);
    let mut v = obj! {
        "type" => "ticket",
        "id" => d.id.clone(),
        "ticket_id" => (1000 + idx).to_string(),
        "category" => TICKET_TYPES[t].1,
        "ticket_attributes" => obj! {
            "_default_title_" => d.title,
            "_default_description_" => d.description,
        },
        "ticket_type" => dims::ticket_type(w, t, v211),
        "contacts" => obj! { "type" => "contact.list", "contacts" => contacts },
        "created_at" => m.created_at,
        "updated_at" => m.updated_at,
        "open" => m.state != 3,
        "is_shared" => t == 0,
        "linked_objects" => obj! {
            "type" => "list", "total_count" => 0, "has_more" => false, "data" => Vec::<Value>::new(),
        },
        "ticket_parts" => obj! {
            "type" => "ticket_part.list", "ticket_parts" => Vec::<Value>::new(), "total_count" => 0,
        },
    };
    if let Value::Object(o) = &mut v {
        if v211 {
            if wire_state_as_string(idx) {
                o.insert("ticket_state".into(), cat.into());
                o.insert("ticket_state_internal_label".into(), internal.into());
                o.insert("ticket_state_external_label".into(), external.into());
            } else {
                o.insert("ticket_state".into(), dims::ticket_state_obj(m.state));
            }
            o.insert("admin_assignee_id".into(), d.admin.to_string().into());
            o.insert("team_assignee_id".into(), d.team.to_string().into());
        } else {
            o.insert("ticket_state".into(), dims::ticket_state_obj(m.state));
            o.insert("admin_assignee_id".into(), d.admin.into());
            o.insert("team_assignee_id".into(), d.team.into());
            o.insert("previous_ticket_state_id".into(), Value::Null);
        }
    }
    w.writes.patch_ticket(idx, &mut v);
    v
}

/// Whether ticket `idx` sends `ticket_state` as a string in 2.11.
pub(crate) fn wire_state_as_string(idx: u32) -> bool {
    idx.is_multiple_of(2)
}
