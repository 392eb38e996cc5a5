//! The small dimensions: admins, teams, tags, segments, data attributes and
//! ticket types. All derive from the world's definitions and the seed; none
//! is paginated.

use serde_json::Value;

use super::super::rng::{Rng, hash};
use super::super::vocab::{TEAMS, admin_id};
use super::super::world::World;
use super::{admin_identity, obj};

/// Segment names; more segments get generated names.
const SEGMENT_NAMES: &[&str] = &[
    "Active",
    "New",
    "Slipping away",
    "VIP customers ✨",
    "EMEA leads",
    "Trial ending (7 days)",
];

/// An admin (`admin`); `v211` gives the 2.11 avatar object.
pub(crate) fn admin(world: &World, i: usize, v211: bool) -> Value {
    let (id, name, email) = admin_identity(world, i);
    let a = &world.admins[i];
    let avatar_url =
        format!("https://static.intercomassets.com/avatars/{id}/square_128/avatar.png");
    let avatar = match (i % 3 == 2, v211) {
        (true, _) => Value::Null,
        (false, true) => obj! { "image_url" => avatar_url },
        (false, false) => Value::from(avatar_url),
    };
    let mut v = obj! {
        "type" => "admin",
        "id" => id,
        "name" => name,
        "email" => email,
        "job_title" => a.job_title,
        "away_mode_enabled" => i % 7 == 3,
        "away_mode_reassign" => i % 7 == 3 && i % 2 == 1,
        "has_inbox_seat" => i % 11 != 10,
        "team_ids" => vec![TEAMS[a.team].0],
        "avatar" => avatar,
    };
    if !v211 && let Value::Object(m) = &mut v {
        m.insert("away_status_reason_id".into(), Value::Null);
    }
    v
}

/// A team (`team`).
pub(crate) fn team(world: &World, t: usize) -> Value {
    let members: Vec<u64> = (0..world.admins.len())
        .filter(|&i| world.admins[i].team == t)
        .map(admin_id)
        .collect();
    let (primary, secondary) = members.split_at(members.len().min(2));
    obj! {
        "type" => "team",
        "id" => TEAMS[t].0.to_string(),
        "name" => TEAMS[t].1,
        "admin_ids" => members.clone(),
        "admin_priority_level" => obj! {
            "primary_admin_ids" => primary.to_vec(),
            "secondary_admin_ids" => secondary.to_vec(),
        },
    }
}

/// A tag (`tag`) as `GET /tags` lists it.
pub(crate) fn tag(world: &World, i: usize) -> Value {
    let (id, name) = &world.tags[i];
    obj! { "type" => "tag", "id" => id.to_string(), "name" => name.as_str() }
}

/// Segment id `j` (24 hex digits).
pub(crate) fn segment_id(world: &World, j: usize) -> String {
    format!(
        "{:024x}",
        u128::from(hash(&[world.seed, 0x5e9, j as u64])) << 32 | j as u128
    )[..24]
        .to_owned()
}

/// Whether contact `idx` is in segment `j` (a fixed share per segment).
pub(crate) fn in_segment(world: &World, j: usize, idx: u32) -> bool {
    hash(&[world.seed, 0x5e9, j as u64, u64::from(idx)]).is_multiple_of(j as u64 + 2)
}

/// Segment `j`; `count` adds the member count (`include_count=true`).
pub(crate) fn segment(world: &World, j: usize, count: bool) -> Value {
    let mut r = Rng::new(world.seed, 0x5e9, j as u64, 0);
    let created = world.workspace_created_at + r.below(86_400 * 30) as i64;
    let name = SEGMENT_NAMES
        .get(j)
        .map_or_else(|| format!("Segment #{j}"), |n| (*n).to_owned());
    let mut v = obj! {
        "type" => "segment",
        "id" => segment_id(world, j),
        "name" => name,
        "created_at" => created,
        "updated_at" => created + r.below(86_400 * 60) as i64,
        "person_type" => if j % 3 == 2 { "contact" } else { "user" },
    };
    if count && let Value::Object(m) = &mut v {
        let n = (0..world.contacts.len() as u32)
            .filter(|&i| world.contact_live(i) && in_segment(world, j, i))
            .count();
        m.insert("count".into(), n.into());
    }
    v
}

/// `(name, data_type, description)` of the contact custom attributes the
/// world generates (see `contact::CustomAttributes`).
pub(crate) const CONTACT_CUSTOM: &[(&str, &str, &str)] = &[
    ("plan", "string", "Billing plan"),
    ("seats", "integer", "Paid seats"),
    ("MRR", "float", "Monthly recurring revenue (USD)"),
    ("beta_tester", "boolean", "Opted into beta features"),
    ("renewal date", "date", "Next contract renewal"),
    ("Tier ✨", "string", "Customer tier"),
    ("referral code", "string", "Code used at sign-up"),
];

/// Company custom attributes (see `company::json`).
pub(crate) const COMPANY_CUSTOM: &[(&str, &str, &str)] = &[
    ("account tier", "string", "Account tier"),
    ("employees (est.)", "integer", "Estimated head count"),
    ("ARR $", "float", "Annual recurring revenue"),
    ("churned?", "boolean", "Cancelled the subscription"),
    ("contract.end", "date", "End of the current contract"),
];

/// Built-in contact attributes: `(full_name, data_type)`.
const CONTACT_BUILTIN: &[(&str, &str)] = &[
    ("name", "string"),
    ("email", "string"),
    ("phone", "string"),
    ("external_id", "string"),
    ("role", "string"),
    ("owner_id", "integer"),
    ("created_at", "date"),
    ("signed_up_at", "date"),
    ("updated_at", "date"),
    ("last_seen_at", "date"),
    ("last_contacted_at", "date"),
    ("unsubscribed_from_emails", "boolean"),
    ("location.country", "string"),
    ("location.city", "string"),
    ("browser", "string"),
];

/// Built-in company attributes.
const COMPANY_BUILTIN: &[(&str, &str)] = &[
    ("company.name", "string"),
    ("company.company_id", "string"),
    ("company.created_at", "date"),
    ("company.last_request_at", "date"),
    ("company.monthly_spend", "float"),
    ("company.session_count", "integer"),
    ("company.user_count", "integer"),
    ("company.size", "integer"),
    ("company.website", "string"),
    ("company.industry", "string"),
    ("company.plan.name", "string"),
];

/// Conversation attributes (2.11 only).
const CONVERSATION_ATTRS: &[(&str, &str)] = &[
    ("Category", "string"),
    ("Order number", "integer"),
    ("Escalated", "boolean"),
];

/// Data attributes of `model` (`contact`, `company` or `conversation`).
pub(crate) fn data_attributes(world: &World, model: &str) -> Vec<Value> {
    type Builtin = &'static [(&'static str, &'static str)];
    type Custom = &'static [(&'static str, &'static str, &'static str)];
    let (builtin, custom): (Builtin, Custom) = match model {
        "contact" => (CONTACT_BUILTIN, CONTACT_CUSTOM),
        "company" => (COMPANY_BUILTIN, COMPANY_CUSTOM),
        _ => (&[], &[]),
    };
    let created = world.workspace_created_at;
    let mut out: Vec<Value> = builtin
        .iter()
        .map(|&(full_name, ty)| {
            let name = full_name.rsplit('.').next().unwrap_or(full_name);
            obj! {
                "type" => "data_attribute",
                "model" => model,
                "name" => name,
                "full_name" => full_name,
                "label" => label(name),
                "description" => format!("The {} of the {model}", label(name).to_lowercase()),
                "data_type" => ty,
                "api_writable" => false,
                "messenger_writable" => false,
                "ui_writable" => full_name != "created_at",
                "custom" => false,
                "archived" => false,
            }
        })
        .collect();
    let model_no: i64 = if model == "company" { 2 } else { 1 };
    let custom_iter = custom.iter().map(|&(n, t, d)| (n, t, d)).chain(
        if model == "conversation" {
            CONVERSATION_ATTRS
        } else {
            &[]
        }
        .iter()
        .map(|&(n, t)| (n, t, "Conversation data")),
    );
    for (k, (name, ty, desc)) in custom_iter.enumerate() {
        let id = 13_000_000 + model_no * 1000 + k as i64;
        let full_name = format!("custom_attributes.{name}");
        out.push(obj! {
            "type" => "data_attribute",
            "id" => id,
            "model" => model,
            "name" => name,
            "full_name" => full_name,
            "label" => name,
            "description" => desc,
            "data_type" => ty,
            "options" => if name == "plan" { vec!["free", "starter", "pro", "enterprise"] } else { Vec::new() },
            "api_writable" => true,
            "messenger_writable" => k % 2 == 0,
            "ui_writable" => true,
            "custom" => true,
            "archived" => false,
            "created_at" => created + k as i64 * 86_400,
            "updated_at" => created + k as i64 * 86_400 + 3600,
            "admin_id" => admin_id(0).to_string(),
        });
    }
    out
}

/// `GET /conversations/attributes` (2.16): the conversation attributes, in
/// 2.16's own data types (`list` with options, `integer`, `boolean`).
pub(crate) fn conversation_attributes(world: &World) -> Vec<Value> {
    let created = world.workspace_created_at;
    let types = ["list", "integer", "boolean"];
    CONVERSATION_ATTRS
        .iter()
        .zip(types)
        .enumerate()
        .map(|(k, (&(name, _), data_type))| {
            let mut v = obj! {
                "type" => "conversation_attribute",
                "id" => k as i64 + 1,
                "name" => name,
                "description" => "Conversation data",
                "data_type" => data_type,
                "required" => false,
                "visible_to_team_ids" => Vec::<String>::new(),
                "archived" => false,
                "created_at" => created + k as i64 * 86_400,
                "updated_at" => created + k as i64 * 86_400 + 3600,
                "admin_id" => admin_id(0).to_string(),
            };
            if let (Value::Object(m), "list") = (&mut v, data_type) {
                let options: Vec<Value> = super::super::vocab::CATEGORIES
                    .iter()
                    .enumerate()
                    .map(|(i, label)| {
                        obj! {
                            "id" => format!("00000000-0000-4000-8000-{i:012}"),
                            "label" => *label,
                            "archived" => false,
                        }
                    })
                    .collect();
                m.insert("options".into(), options.into());
            }
            v
        })
        .collect()
}

fn label(name: &str) -> String {
    let mut s = name.replace('_', " ");
    if let Some(f) = s.get_mut(0..1) {
        f.make_ascii_uppercase();
    }
    s
}

/// Ticket types: `(name, category, description, icon)`.
pub(crate) const TICKET_TYPES: &[(&str, &str, &str, &str)] = &[
    ("Bug report", "Customer", "Something is broken", "🐞"),
    (
        "Refund request",
        "Back-office",
        "Money back, approved by billing",
        "💸",
    ),
    (
        "Outage",
        "Tracker",
        "Tracks customer reports of an incident",
        "🚨",
    ),
];

/// Ticket type id `t`.
pub(crate) fn ticket_type_id(t: usize) -> String {
    (2_400_001 + t).to_string()
}

/// Ticket state `(id, category, internal label, external label)` of state `s`.
pub(crate) fn ticket_state(s: u8) -> (String, &'static str, &'static str, &'static str) {
    let (cat, internal, external) = match s {
        0 => ("submitted", "Submitted", "Submitted"),
        1 => ("in_progress", "In progress", "In progress"),
        2 => (
            "waiting_on_customer",
            "Waiting on customer",
            "Waiting on you",
        ),
        _ => ("resolved", "Resolved", "Resolved"),
    };
    (
        (7_700_001 + u64::from(s)).to_string(),
        cat,
        internal,
        external,
    )
}

/// The `ticket_state` object (2.16).
pub(crate) fn ticket_state_obj(s: u8) -> Value {
    let (id, cat, internal, external) = ticket_state(s);
    obj! {
        "type" => "ticket_state", "id" => id, "category" => cat,
        "internal_label" => internal, "external_label" => external,
    }
}

/// Ticket type `t` (`ticket_type`).
pub(crate) fn ticket_type(world: &World, t: usize, v211: bool) -> Value {
    let (name, category, description, icon) = TICKET_TYPES[t];
    let created = world.workspace_created_at + t as i64 * 86_400;
    let attrs: Vec<Value> = [
        ("_default_title_", "string"),
        ("_default_description_", "string"),
    ]
    .iter()
    .enumerate()
    .map(|(k, (n, ty))| {
        obj! {
            "type" => "ticket_type_attribute",
            "id" => (8_800_001 + t * 10 + k).to_string(),
            "workspace_id" => world.id_code.clone(),
            "name" => *n,
            "description" => "",
            "data_type" => *ty,
            "input_options" => obj! { "multiline" => k == 1 },
            "order" => k as i64,
            "required_to_create" => k == 0,
            "required_to_create_for_contacts" => false,
            "visible_on_create" => true,
            "visible_to_contacts" => true,
            "default" => true,
            "ticket_type_id" => (2_400_001 + t) as i64,
            "archived" => false,
            "created_at" => created,
            "updated_at" => created,
        }
    })
    .collect();
    let mut v = obj! {
        "type" => "ticket_type",
        "id" => ticket_type_id(t),
        "category" => category,
        "name" => name,
        "description" => description,
        "icon" => icon,
        "workspace_id" => world.id_code.clone(),
        "archived" => false,
        // Sent by Intercom (estuary and airbyte captures), though only the
        // description's example has it: Tracker and Back-office types are internal.
        "is_internal" => category != "Customer",
        "created_at" => created,
        "updated_at" => created + 3600,
        // `{type: list, data}` as every capture has it (estuary, airbyte);
        // the 2.11 schema says `ticket_type_attributes.list` / `ticket_type_attributes`.
        "ticket_type_attributes" => obj! {
            "type" => "list",
            "data" => attrs,
        },
    };
    if !v211 && let Value::Object(m) = &mut v {
        m.insert(
            "ticket_states".into(),
            obj! { "type" => "list", "data" => (0..4).map(ticket_state_obj).collect::<Vec<_>>() },
        );
    }
    v
}
