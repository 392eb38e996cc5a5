//! JSON builders for every object the simulator serves (Intercom 2.16 shapes,
//! 2.11 where they differ).
//!
//! Each record is derived on demand from the compact [`World`] metadata and
//! the seed, so nothing here is cached. Shapes follow the 2.16 OpenAPI
//! schemas (`contact`, `conversation`, `conversation_part`, `admin_with_app`,
//! `cursor_pages`, `error`): types, nullability and enums match, optional
//! objects whose schema is not nullable are left out rather than set to null,
//! except where the wire wins: Intercom's recorded answers differ from the
//! description, and the simulator answers as Intercom does ([`wire`] lists
//! every such place with the capture it comes from).
//!
//! **Canonical and wire forms.** Builders give the canonical form of a record
//! (what `/__sim/truth` serves: 2.16 shapes, `0` for "unassigned" as 2.16
//! sends it, timestamps in unix seconds); the API routes send the wire form,
//! which for a realistic share of records is one of the recorded variants:
//! contact avatars as plain URL strings, `signed_up_at` in milliseconds and
//! inline `tags`/`companies` cut short of their `total_count` (`contact`),
//! company `remote_created_at` in milliseconds (`company::wire_json`), legacy `assignee` objects in 2.11 (`conversation::wire`),
//! string ticket states and `"0"` ids in 2.11 (`ticket`). An exporter must turn each back into the canonical value.

pub(crate) mod activity;
pub(crate) mod company;
pub(crate) mod contact;
pub(crate) mod conversation;
pub(crate) mod event;
pub(crate) mod help_center;
pub(crate) mod lifecycle;
pub(crate) mod note;
pub(crate) mod snapshot;
pub(crate) mod ticket;
pub mod wire;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::vocab::{ADMINS, BOT_ID, TEAMS, admin_id};
use super::world::World;

/// Builds a JSON object from `"key" => value` pairs (any `Into<Value>`);
/// unlike `json!` it has no recursion limit for large objects.
macro_rules! obj {
    ($($k:literal => $v:expr),* $(,)?) => {{
        let mut m = serde_json::Map::new();
        $( m.insert(String::from($k), serde_json::Value::from($v)); )*
        serde_json::Value::Object(m)
    }};
}
pub(crate) use obj;

/// A paginated list response: `{type, <key>: [items], total_count, pages}`.
pub(crate) struct ListEnvelope<T> {
    /// `list` or `conversation.list`.
    pub kind: &'static str,
    /// `data` or `conversations`.
    pub key: &'static str,
    pub items: Vec<T>,
    pub total: usize,
    /// The `pages` object (see [`pages`]).
    pub pages: Value,
}

impl<T: Serialize> Serialize for ListEnvelope<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("type", self.kind)?;
        m.serialize_entry(self.key, &self.items)?;
        m.serialize_entry("total_count", &self.total)?;
        m.serialize_entry("pages", &self.pages)?;
        m.end()
    }
}

/// Admin id, display name and email for index `i` (into `world.admins`).
pub(crate) fn admin_identity(world: &World, i: usize) -> (String, String, String) {
    let a = &world.admins[i];
    (
        admin_id(i).to_string(),
        a.name.clone(),
        format!("{}@{}", a.local, admin_domain(world)),
    )
}

/// Domain of teammate emails.
pub(crate) fn admin_domain(world: &World) -> String {
    let slug: String = world
        .workspace_name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("{}.example.com", slug.to_ascii_lowercase())
}

/// The bot's email.
pub(crate) fn bot_email(world: &World) -> String {
    format!("operator+{}@intercom.io", world.id_code)
}

/// Bot id as a string.
pub(crate) fn bot_id() -> String {
    BOT_ID.to_string()
}

/// `GET /me`: the token's admin (`admin_with_app`).
pub(crate) fn me(world: &World) -> Value {
    let (id, name, email) = admin_identity(world, 0);
    let team = TEAMS[ADMINS[0].3].0;
    obj! {
        "type" => "admin",
        "id" => id.clone(),
        "name" => name,
        "email" => email,
        "job_title" => ADMINS[0].2,
        "away_mode_enabled" => false,
        "away_mode_reassign" => false,
        "has_inbox_seat" => true,
        "team_ids" => vec![team],
        "avatar" => obj! {
            "type" => "avatar",
            "image_url" => format!("https://static.intercomassets.com/avatars/{id}/square_128/avatar.png"),
        },
        "email_verified" => true,
        "app" => obj! {
            "type" => "app",
            "id_code" => world.id_code.clone(),
            "name" => world.workspace_name,
            "region" => "US",
            "timezone" => "UTC",
            "created_at" => world.workspace_created_at,
            "identity_verification" => false,
        },
    }
}

/// The `pages` object of a cursor-paginated response (`cursor_pages`);
/// `next` is left out on the last page.
pub(crate) fn pages(page: u64, per_page: usize, total: usize, next: Option<String>) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), "pages".into());
    m.insert("page".into(), page.into());
    m.insert("per_page".into(), (per_page as u64).into());
    m.insert(
        "total_pages".into(),
        (total.div_ceil(per_page.max(1)) as u64).into(),
    );
    if let Some(cursor) = next {
        m.insert(
            "next".into(),
            obj! { "page" => page + 1, "starting_after" => cursor },
        );
    }
    Value::Object(m)
}

/// Intercom's error body (`error`).
pub(crate) fn error_list(request_id: &str, code: &str, message: &str) -> Value {
    obj! {
        "type" => "error.list",
        "request_id" => request_id,
        "errors" => vec![obj! { "code" => code, "message" => message }],
    }
}

#[cfg(test)]
mod tests {
    use super::super::SimConfig;
    use super::super::world::World;
    use super::{contact, conversation};
    use serde_json::Value;

    fn world(seed: u64, parts: usize) -> World {
        World::generate(&SimConfig {
            seed,
            contacts: 150,
            conversations: 40,
            parts,
            ..SimConfig::default()
        })
    }

    fn render(w: &World) -> String {
        let mut out = String::new();
        for i in 0..w.contacts.len() as u32 {
            out.push_str(&contact::json(w, i).to_string());
        }
        for i in 0..w.conversations.len() as u32 {
            out.push_str(&conversation::json(w, i, Some(false)).to_string());
        }
        out
    }

    #[test]
    fn same_config_same_bytes() {
        let a = render(&world(5, 6));
        assert_eq!(a, render(&world(5, 6)));
        assert_ne!(a, render(&world(6, 6)));
    }

    #[test]
    fn contacts_have_realistic_variety() {
        let w = world(5, 6);
        let all: Vec<Value> = (0..150).map(|i| contact::json(&w, i)).collect();
        let users = all.iter().filter(|c| c["role"] == "user").count();
        assert!((80..=130).contains(&users), "{users} users of 150");
        for (i, c) in all.iter().enumerate() {
            let id = c["id"].as_str().unwrap();
            assert_eq!(id.len(), 24);
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
            assert_eq!(c["external_id"].is_string(), c["role"] == "user");
            let email = c["email"].as_str().unwrap();
            assert!(email.ends_with(c["email_domain"].as_str().unwrap()));
            assert!(c["created_at"].as_i64() <= c["updated_at"].as_i64());
            let ca = &c["custom_attributes"];
            // Every 41st contact (from the 5th) has a `seats` that is not an integer.
            assert_eq!(ca["seats"].is_i64(), i % 41 != 5, "{ca}");
            assert!(ca["MRR"].is_f64() && ca["beta_tester"].is_boolean());
            assert!(ca["Tier ✨"].is_string());
            assert_eq!(c["tags"]["url"], format!("/contacts/{id}/tags"));
        }
    }

    #[test]
    fn conversations_are_consistent_and_cap_parts_at_500() {
        let w = world(9, 300);
        let mut capped = 0;
        for i in 0..w.conversations.len() as u32 {
            let c = conversation::json(&w, i, Some(false));
            let meta = &w.conversations[i as usize];
            let parts = c["conversation_parts"]["conversation_parts"]
                .as_array()
                .unwrap();
            let total = c["conversation_parts"]["total_count"].as_u64().unwrap() as usize;
            assert_eq!(total, meta.parts.len());
            assert_eq!(parts.len(), total.min(500));
            assert_eq!(c["statistics"]["count_conversation_parts"], total);
            if total > 500 {
                capped += 1;
            }
            // The newest parts are kept, in ascending order.
            if let Some(last) = parts.last() {
                assert_eq!(last["created_at"], c["updated_at"]);
            }
            assert!(
                parts
                    .windows(2)
                    .all(|p| p[0]["created_at"].as_i64() <= p[1]["created_at"].as_i64())
            );
            let state = c["state"].as_str().unwrap();
            assert_eq!(c["open"], state != "closed");
            assert_eq!(c["snoozed_until"].is_i64(), state == "snoozed");
            assert!(c["admin_assignee_id"].is_i64() && c["team_assignee_id"].is_i64());
            assert!(c["teammates"]["admins"].is_array());
            let contact_id = c["contacts"]["contacts"][0]["id"].as_str().unwrap();
            assert!(w.parse_contact_id(contact_id).is_some());
            // List items carry no parts; plain text drops the markup.
            assert!(
                conversation::json(&w, i, None)
                    .get("conversation_parts")
                    .is_none()
            );
            let plain = conversation::json(&w, i, Some(true));
            for p in plain["conversation_parts"]["conversation_parts"]
                .as_array()
                .unwrap()
            {
                assert!(!p["body"].as_str().unwrap_or("").contains("</p>"));
            }
        }
        assert!(capped > 0, "no conversation above the cap");
    }
}
