//! Writes through the API: what `POST /contacts`, `PUT /contacts/{id}`,
//! `POST /companies`, replies, tickets and messages change in the world.
//!
//! Generated records stay derived from `(seed, index, version)`; what a
//! write sets is kept in [`Writes`], an overlay of JSON values by record
//! index that the shape builders lay over the generated object (so a
//! written record has exactly the keys of a generated one). A record created
//! through the API gets compact metadata like a generated one (so lists,
//! search, cursors and `advance` treat it alike) and an overlay that blanks
//! every generated value it did not write: it has no browser, tags, notes or
//! events until something writes them.
//!
//! Every write happens at the simulated "now": it sets the record's
//! `updated_at` to it and bumps the world generation (search caches).

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::super::query::FieldValue;
use super::super::text::html_to_text;
use super::{
    CompanyMeta, ContactMeta, ConvMeta, ConvState, DELETED, LIVE, PartKind, PartMeta, TicketMeta,
    World,
};

/// A conversation part written by `POST /conversations/{id}/reply`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WrittenPart {
    /// Index of the part in the conversation (`ConvMeta::parts`).
    pub part_no: usize,
    /// The reply's `body` (HTML as sent).
    pub body: String,
    /// The reply's `attachment_urls`.
    pub attachment_urls: Vec<String>,
}

/// A record removed through the API, for `/__sim/truth/deletions`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Deletion {
    /// Unix seconds (simulated clock).
    pub deleted_at: i64,
}

/// The overlay of values written through the API.
#[derive(Debug, Default)]
pub(crate) struct Writes {
    /// Written contact fields by contact index: top-level keys of the contact
    /// object; `custom_attributes` holds only the written attributes.
    pub contacts: HashMap<u32, Map<String, Value>>,
    /// Contacts created through the API (nothing about them is generated).
    pub created_contacts: HashSet<u32>,
    /// Companies attached through the API, by contact index.
    pub attached: HashMap<u32, Vec<u32>>,
    /// Written company fields by company index.
    pub companies: HashMap<u32, Map<String, Value>>,
    /// Companies created through the API.
    pub created_companies: HashSet<u32>,
    /// Replies written through the API, by conversation index.
    pub parts: HashMap<u32, Vec<WrittenPart>>,
    /// Written conversation fields (messages) by conversation index.
    pub conversations: HashMap<u32, Map<String, Value>>,
    /// Written ticket fields by ticket index.
    pub tickets: HashMap<u32, Map<String, Value>>,
    /// Contacts deleted through the API, by contact index.
    pub deleted_contacts: HashMap<u32, Deletion>,
}

/// What `POST /contacts` and `PUT /contacts/{id}` set (validated by the route).
#[derive(Clone, Debug, Default)]
pub(crate) struct ContactFields {
    /// Top-level fields in their JSON form (`role`, `email`, `name`, ...).
    pub fields: Map<String, Value>,
    /// Custom attributes to set (declared names only).
    pub custom_attributes: Map<String, Value>,
}

/// What `POST /companies` sets.
#[derive(Clone, Debug, Default)]
pub(crate) struct CompanyFields {
    /// Top-level fields in their JSON form (`name`, `plan` object, ...).
    pub fields: Map<String, Value>,
    pub custom_attributes: Map<String, Value>,
}

impl World {
    /// Ends a write: search caches and truth streams see a new world.
    fn wrote(&mut self) {
        self.generation += 1;
    }

    fn touch_contact(&mut self, idx: u32) {
        let now = self.now;
        let c = &mut self.contacts[idx as usize];
        self.contacts_by_updated.remove(&(c.updated_at, idx));
        c.updated_at = c.updated_at.max(now);
        self.contacts_by_updated.insert((c.updated_at, idx));
    }

    /// `POST /contacts`: a new contact at "now"; returns its index.
    pub(crate) fn create_contact(&mut self, f: ContactFields) -> u32 {
        let idx = self.contacts.len() as u32;
        let now = self.now;
        self.contacts.push(ContactMeta {
            created_at: now,
            updated_at: now,
            version: 0,
            gone: LIVE,
        });
        self.contacts_by_updated.insert((now, idx));
        self.writes.created_contacts.insert(idx);
        let mut patch = Map::new();
        patch.insert("role".into(), "user".into());
        patch.insert("email".into(), "".into());
        patch.insert("email_domain".into(), "".into());
        self.writes.contacts.insert(idx, patch);
        self.apply_contact(idx, f);
        self.wrote();
        idx
    }

    /// `PUT /contacts/{id}`: sets the given fields of live contact `idx`.
    pub(crate) fn update_contact(&mut self, idx: u32, f: ContactFields) {
        self.apply_contact(idx, f);
        self.touch_contact(idx);
        self.wrote();
    }

    fn apply_contact(&mut self, idx: u32, f: ContactFields) {
        let patch = self.writes.contacts.entry(idx).or_default();
        for (k, v) in f.fields {
            if k == "email" {
                // A string in the API, empty without an email.
                let domain = v
                    .as_str()
                    .and_then(|e| e.rsplit_once('@'))
                    .map_or(String::new(), |(_, d)| d.to_ascii_lowercase());
                patch.insert("email_domain".into(), domain.into());
            }
            if k == "phone" {
                let formatted = v.as_str().map(|p| {
                    p.chars()
                        .filter(|c| c.is_ascii_digit() || *c == '+')
                        .collect::<String>()
                });
                patch.insert("formatted_phone".into(), formatted.into());
            }
            patch.insert(k, v);
        }
        if !f.custom_attributes.is_empty() {
            let ca = patch
                .entry("custom_attributes")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = ca {
                m.extend(f.custom_attributes);
            }
        }
    }

    /// `DELETE /contacts/{id}`: removes live contact `idx` from lists and search.
    pub(crate) fn delete_contact(&mut self, idx: u32) {
        self.remove_contact(idx, DELETED);
        self.writes.deleted_contacts.insert(
            idx,
            Deletion {
                deleted_at: self.now,
            },
        );
        self.wrote();
    }

    /// `POST /contacts/{id}/companies`: attaches company `company` to
    /// contact `idx` (nothing if already attached). Both get a new `updated_at`.
    pub(crate) fn attach_company(&mut self, idx: u32, company: u32) {
        if !self.contact_companies(idx).contains(&company) {
            self.writes.attached.entry(idx).or_default().push(company);
            self.company_users[company as usize] += 1;
        }
        self.touch_contact(idx);
        let now = self.now;
        let c = &mut self.companies[company as usize];
        c.updated_at = c.updated_at.max(now);
        self.wrote();
    }

    /// Companies attached through the API to contact `idx`, live ones.
    pub(super) fn attached_companies(&self, idx: u32) -> impl Iterator<Item = u32> + '_ {
        self.writes
            .attached
            .get(&idx)
            .into_iter()
            .flatten()
            .copied()
            .filter(|&c| !self.companies[c as usize].deleted)
    }

    /// The live company whose `company_id` (the workspace's own id) is `cid`.
    pub(crate) fn find_company_by_company_id(&self, cid: &str) -> Option<u32> {
        if let Some((&idx, _)) =
            self.writes.companies.iter().find(|(i, p)| {
                p.get("company_id") == Some(&Value::from(cid)) && self.company_live(**i)
            })
        {
            return Some(idx);
        }
        // Generated companies are `cmp-00001`, ... (index + 1).
        let n: u32 = cid.strip_prefix("cmp-")?.parse().ok()?;
        let idx = n.checked_sub(1)?;
        (format!("cmp-{n:05}") == cid
            && (idx as usize) < self.companies.len()
            && self.company_live(idx)
            && !self.writes.created_companies.contains(&idx))
        .then_some(idx)
    }

    fn company_live(&self, idx: u32) -> bool {
        !self.companies[idx as usize].deleted
    }

    /// `POST /companies`: creates company `company_id` or updates it.
    /// Returns its index.
    pub(crate) fn upsert_company(&mut self, company_id: &str, f: CompanyFields) -> u32 {
        let now = self.now;
        let idx = match self.find_company_by_company_id(company_id) {
            Some(idx) => {
                let c = &mut self.companies[idx as usize];
                c.updated_at = c.updated_at.max(now);
                idx
            }
            None => {
                let idx = self.companies.len() as u32;
                self.companies.push(CompanyMeta {
                    created_at: now,
                    updated_at: now,
                    version: 0,
                    deleted: false,
                });
                self.company_users.push(0);
                self.writes.created_companies.insert(idx);
                let mut p = Map::new();
                p.insert("company_id".into(), company_id.into());
                p.insert("remote_created_at".into(), now.into());
                self.writes.companies.insert(idx, p);
                idx
            }
        };
        let patch = self.writes.companies.entry(idx).or_default();
        patch.extend(f.fields);
        if !f.custom_attributes.is_empty() {
            let ca = patch
                .entry("custom_attributes")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = ca {
                m.extend(f.custom_attributes);
            }
        }
        self.wrote();
        idx
    }

    /// `POST /conversations/{id}/reply` by admin index `admin`: a comment or
    /// note at `at` (≤ now, ≥ the last part); the conversation's
    /// `updated_at` becomes now.
    pub(crate) fn reply(
        &mut self,
        idx: u32,
        admin: usize,
        note: bool,
        at: i64,
        body: String,
        attachment_urls: Vec<String>,
    ) {
        let now = self.now;
        let conv = &mut self.conversations[idx as usize];
        self.conversations_by_updated
            .remove(&(conv.updated_at, idx));
        if !note {
            conv.read = true;
        }
        let part_no = conv.parts.len();
        conv.parts.push(PartMeta {
            at: u32::try_from(at).unwrap_or(u32::MAX),
            kind: if note {
                PartKind::Note
            } else {
                PartKind::Comment
            },
            author: u8::try_from(admin + 1).unwrap_or(u8::MAX - 1),
            extra: 0,
            state: conv.state,
        });
        conv.updated_at = conv.updated_at.max(now);
        self.conversations_by_updated.insert((conv.updated_at, idx));
        self.writes.parts.entry(idx).or_default().push(WrittenPart {
            part_no,
            body,
            attachment_urls,
        });
        self.wrote();
    }

    /// The latest part time of conversation `idx` (its `created_at` without parts).
    pub(crate) fn last_part_at(&self, idx: u32) -> i64 {
        let c = &self.conversations[idx as usize];
        c.parts.last().map_or(c.created_at, |p| i64::from(p.at))
    }

    /// `POST /messages`: a new admin-initiated conversation with contact
    /// `contact` at now; `source` holds the written `source` fields and
    /// `title`. Returns its index.
    pub(crate) fn start_conversation(&mut self, contact: u32, fields: Map<String, Value>) -> u32 {
        let now = self.now;
        let idx = self.conversations.len() as u32;
        self.conversations.push(ConvMeta {
            created_at: now,
            updated_at: now,
            contact,
            state: ConvState::Open,
            admin: 0,
            team: 0,
            priority: 0,
            read: false,
            parts: Vec::new(),
            deleted_at: 0,
            outbound: true,
        });
        self.conversations_by_updated.insert((now, idx));
        self.writes.conversations.insert(idx, fields);
        self.wrote();
        idx
    }

    /// `POST /tickets`: a submitted, unassigned ticket of type `ticket_type`
    /// for `contact`; `fields` are written ticket fields. Returns its index.
    pub(crate) fn create_ticket(
        &mut self,
        ticket_type: u8,
        contact: u32,
        fields: Map<String, Value>,
    ) -> u32 {
        let now = self.now;
        let idx = self.tickets.len() as u32;
        self.tickets.push(TicketMeta {
            created_at: now,
            updated_at: now,
            contact,
            state: 0,
            admin: 0,
            team: 0,
            ticket_type,
        });
        self.tickets_by_updated.insert((now, idx));
        self.writes.tickets.insert(idx, fields);
        self.wrote();
        idx
    }

    /// The index of a ticket id.
    pub(crate) fn parse_ticket_id(&self, id: &str) -> Option<u32> {
        if id.is_empty() || id.len() > 20 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u64 = id.parse().ok()?;
        let idx = u32::try_from(n.checked_sub(self.conv_base + 900_000_000)?).ok()?;
        ((idx as usize) < self.tickets.len() && self.ticket_id(idx).to_string() == id)
            .then_some(idx)
    }

    /// The live contact whose written or generated `field` (`email` or
    /// `external_id`) is `value`, other than `except`.
    pub(crate) fn find_contact_by(
        &self,
        field: &str,
        value: &str,
        except: Option<u32>,
    ) -> Option<u32> {
        let want = Value::from(value);
        if let Some((&idx, _)) = self.writes.contacts.iter().find(|(i, p)| {
            Some(**i) != except && self.contact_live(**i) && p.get(field) == Some(&want)
        }) {
            return Some(idx);
        }
        // Generated values: `usr_<index + 1000>` and `<first>.<last><index>@<domain>`.
        let idx: u32 = match field {
            "external_id" => value
                .strip_prefix("usr_")?
                .parse::<u32>()
                .ok()?
                .checked_sub(1000)?,
            "email" => {
                let local = value.split('@').next()?;
                let digits =
                    local.len() - local.trim_end_matches(|c: char| c.is_ascii_digit()).len();
                local[local.len() - digits..].parse().ok()?
            }
            _ => return None,
        };
        if (idx as usize) >= self.contacts.len()
            || Some(idx) == except
            || !self.contact_live(idx)
            || self.writes.created_contacts.contains(&idx)
            || self
                .writes
                .contacts
                .get(&idx)
                .is_some_and(|p| p.contains_key(field))
        {
            return None;
        }
        let ident = super::super::shapes::contact::identity(self, idx);
        let generated = match field {
            "external_id" => ident.external_id,
            _ => Some(ident.email),
        };
        (generated.as_deref() == Some(value)).then_some(idx)
    }
}

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
