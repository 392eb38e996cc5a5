//! How written values show: [`Writes`]'s patches that the shape builders
//! lay over a generated contact, company, conversation or ticket (see
//! `writes.rs` for what a write changes in the world).

use serde_json::{Map, Value};

use super::super::query::FieldValue;
use super::super::text::html_to_text;
use super::writes::Writes;

impl Writes {
    /// Whether contact `idx` was created through the API.
    pub(crate) fn contact_created(&self, idx: u32) -> bool {
        self.created_contacts.contains(&idx)
    }

    /// The written value of searchable contact field `name` (`email`,
    /// `custom_attributes.plan`, ...) of contact `idx`; `None` to use the
    /// generated one. A contact created through the API has no generated
    /// values: unwritten fields are null (false for flags).
    pub(crate) fn contact_field(
        &self,
        idx: u32,
        name: &str,
        is_bool: bool,
    ) -> Option<FieldValue<'_>> {
        if matches!(name, "id" | "created_at" | "updated_at" | "segment_id") {
            return None;
        }
        let patch = self.contacts.get(&idx)?;
        let found = match name.split_once('.') {
            Some(("custom_attributes", attr)) => {
                patch.get("custom_attributes").and_then(|ca| ca.get(attr))
            }
            Some((obj, sub)) => patch.get(obj).and_then(|o| o.get(sub)),
            None => patch.get(name),
        };
        match found {
            Some(v) => Some(field_value(v)),
            None if self.created_contacts.contains(&idx) => {
                Some(if is_bool && !name.starts_with("custom_attributes.") {
                    FieldValue::Bool(false)
                } else {
                    FieldValue::Null
                })
            }
            None => None,
        }
    }

    /// Lays the writes over generated contact `idx` (`v`, its JSON).
    pub(crate) fn patch_contact(&self, idx: u32, v: &mut Value, v211: bool) {
        let created = self.created_contacts.contains(&idx);
        let Some(patch) = self.contacts.get(&idx) else {
            return;
        };
        let Value::Object(m) = v else { return };
        if created {
            for (k, val) in m.iter_mut() {
                match (k.as_str(), val) {
                    (
                        "type" | "id" | "workspace_id" | "created_at" | "updated_at" | "companies",
                        _,
                    ) => {}
                    // Unset custom attributes are null, whatever their type.
                    ("custom_attributes", Value::Object(ca)) => {
                        ca.values_mut().for_each(|x| *x = Value::Null);
                    }
                    (_, val) => blank(val),
                }
            }
        }
        overlay(m, patch);
        if v211
            && let Some(o) = m.get_mut("owner_id")
            && let Some(s) = o.as_str()
        {
            *o = s.parse::<i64>().map_or(Value::Null, Value::from);
        }
    }

    /// Lays the writes over generated company `idx`.
    pub(crate) fn patch_company(&self, idx: u32, v: &mut Value) {
        let Some(patch) = self.companies.get(&idx) else {
            return;
        };
        let Value::Object(m) = v else { return };
        if self.created_companies.contains(&idx) {
            for (k, val) in m.iter_mut() {
                match k.as_str() {
                    "type" | "id" | "app_id" | "created_at" | "updated_at" | "user_count" => {}
                    "size" | "monthly_spend" | "session_count" => *val = 0.into(),
                    "last_request_at" => {}
                    _ => blank(val),
                }
            }
            if let Some(created) = m.get("created_at").cloned() {
                m.insert("last_request_at".into(), created);
            }
            for k in ["website", "industry", "name"] {
                if !patch.contains_key(k) {
                    m.remove(k);
                }
            }
            if !patch.contains_key("plan") {
                m.insert("plan".into(), Value::Object(Map::new()));
            }
        }
        overlay(m, patch);
    }

    /// Lays the writes over conversation `idx` (`parts`: rendered with
    /// parts, `plaintext`: bodies as text).
    pub(crate) fn patch_conversation(&self, idx: u32, v: &mut Value, plaintext: bool) {
        let text = |h: &str| {
            if plaintext {
                html_to_text(h)
            } else {
                h.to_owned()
            }
        };
        let Value::Object(m) = v else { return };
        if let Some(patch) = self.conversations.get(&idx) {
            for k in ["tags", "custom_attributes", "conversation_rating"] {
                if let Some(val) = m.get_mut(k) {
                    blank(val);
                }
            }
            m.insert("sla_applied".into(), Value::Null);
            m.insert("first_contact_reply".into(), Value::Null);
            m.remove("ai_agent");
            m.insert("ai_agent_participated".into(), false.into());
            overlay(m, patch);
            if let Some(Value::Object(src)) = m.get_mut("source") {
                for k in ["body", "subject"] {
                    if let Some(Value::String(s)) = src.get_mut(k) {
                        *s = text(s);
                    }
                }
            }
        }
        let Some(written) = self.parts.get(&idx) else {
            return;
        };
        let Some(Value::Array(parts)) = m
            .get_mut("conversation_parts")
            .and_then(|p| p.get_mut("conversation_parts"))
        else {
            return;
        };
        for p in parts.iter_mut() {
            let Some(id) = p["id"].as_str().and_then(|s| s.parse::<u64>().ok()) else {
                continue;
            };
            let part_no = (id - 10_000_000_000) & ((1 << 20) - 1);
            let Some(w) = written.iter().find(|w| w.part_no as u64 == part_no) else {
                continue;
            };
            if let Value::Object(pm) = p {
                pm.insert("body".into(), text(&w.body).into());
                let attachments: Vec<Value> =
                    w.attachment_urls.iter().map(|u| attachment(u)).collect();
                pm.insert("attachments".into(), attachments.into());
            }
        }
    }

    /// Lays the writes over ticket `idx`.
    pub(crate) fn patch_ticket(&self, idx: u32, v: &mut Value) {
        if let (Some(patch), Value::Object(m)) = (self.tickets.get(&idx), v) {
            overlay(m, patch);
        }
    }
}

/// An `attachment` object for a URL given in `attachment_urls`.
fn attachment(url: &str) -> Value {
    let name = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or("attachment");
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    let content_type = match ext.as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("pdf") => "application/pdf",
        _ => "application/octet-stream",
    };
    super::super::shapes::obj! {
        "type" => "upload",
        "name" => name,
        "url" => url,
        "content_type" => content_type,
        "filesize" => 0,
    }
}

/// Sets `m`'s keys from `patch`; `custom_attributes` key by key.
fn overlay(m: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (k, v) in patch {
        match (k.as_str(), m.get_mut(k), v) {
            ("custom_attributes", Some(Value::Object(base)), Value::Object(w)) => {
                for (a, x) in w {
                    base.insert(a.clone(), x.clone());
                }
            }
            _ => {
                m.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The value an unwritten field of a record created through the API has:
/// null, false, an empty list, or an object of such (keeping its `type`
/// and `url`).
fn blank(v: &mut Value) {
    match v {
        Value::Bool(b) => *b = false,
        Value::Array(a) => a.clear(),
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                match (k.as_str(), &x) {
                    ("type" | "url", _) => {}
                    ("total_count", _) => *x = 0.into(),
                    (_, Value::Array(_) | Value::Object(_) | Value::Bool(_)) => blank(x),
                    _ => *x = Value::Null,
                }
            }
        }
        _ => *v = Value::Null,
    }
}

fn field_value(v: &Value) -> FieldValue<'_> {
    match v {
        Value::String(s) => FieldValue::Str(s),
        Value::Bool(b) => FieldValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => FieldValue::Int(i),
            None => n.as_f64().map_or(FieldValue::Null, FieldValue::Float),
        },
        _ => FieldValue::Null,
    }
}
