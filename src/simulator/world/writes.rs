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
