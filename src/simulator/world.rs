//! The simulated workspace: compact per-record metadata plus mutations.
//!
//! Only what changes over time is stored (timestamps, a version counter, a
//! few enums and flags, one small struct per conversation part). Everything
//! else, names, emails, bodies, custom attributes, is derived on demand from
//! `(seed, index, version)` by [`shapes`](super::shapes), so a world with a
//! million contacts stays small.
//!
//! Records are generated in creation order, so a record's index is also its
//! position in `created_at` order, and ids are built to sort the same way
//! (contact ids start with the hex creation time, conversation ids are
//! `base + index`). Two ordered indexes keyed by `(updated_at, index)` let
//! searches with an `updated_at` bound avoid scanning the whole world.

use std::collections::{BTreeMap, BTreeSet};

mod advance;
mod generate;
mod overlay;
mod tickets;
mod writes;
pub use tickets::{TICKET_CREATES_PER_HOUR, TICKET_UPDATES_PER_HOUR};
pub(crate) use tickets::{TicketPart, TicketPartKind};
pub(crate) use writes::{CompanyFields, ContactFields, Writes};

use super::rng::Rng;

/// Salts that separate the independent random streams.
pub(crate) mod salt {
    pub const CONTACT_CREATED: u64 = 1;
    pub const CONTACT_INIT: u64 = 2;
    pub const CONV_CREATED: u64 = 3;
    pub const CONV_PARTS: u64 = 4;
    pub const ADVANCE: u64 = 5;
    pub const CONTACT_IDENTITY: u64 = 10;
    pub const CONTACT_STATE: u64 = 11;
    pub const CONV_IDENTITY: u64 = 12;
    pub const PART_BODY: u64 = 13;
    pub const WORKSPACE: u64 = 14;
    pub const COMPANY_CREATED: u64 = 15;
    pub const COMPANY_STATE: u64 = 16;
    pub const CONTACT_COMPANIES: u64 = 17;
    pub const TICKETS: u64 = 18;
    pub const NOTES: u64 = 19;
    pub const EVENTS: u64 = 20;
    pub const ADMINS: u64 = 22;
    pub const MOVES: u64 = 23;
    pub const TICKET_MOVES: u64 = 24;
    pub const TICKET_PARTS: u64 = 25;
    pub const HELP_CENTER: u64 = 26;
    pub const ACTIVITY: u64 = 27;
}

/// Share of contacts merged into another per simulated hour by `advance`.
pub const CONTACT_MERGES_PER_HOUR: f64 = 0.0005;
/// Share of contacts deleted per simulated hour.
pub const CONTACT_DELETES_PER_HOUR: f64 = 0.0005;
/// Share of companies updated per simulated hour.
pub const COMPANY_UPDATES_PER_HOUR: f64 = 0.005;
/// Share of companies created per simulated hour.
pub const COMPANY_CREATES_PER_HOUR: f64 = 0.002;
/// Share of companies deleted per simulated hour.
pub const COMPANY_DELETES_PER_HOUR: f64 = 0.0002;
/// Share of conversations deleted per simulated hour.
pub const CONVERSATION_DELETES_PER_HOUR: f64 = 0.0005;

/// `ContactMeta::gone` of a live contact.
pub(crate) const LIVE: u32 = u32::MAX;
/// `ContactMeta::gone` of a deleted contact (other values: merged into that index).
pub(crate) const DELETED: u32 = u32::MAX - 1;
/// Every `LONG_EVERY`-th conversation (from `LONG_OFFSET`) has more than 500 parts.
pub(crate) const LONG_EVERY: usize = 97;
const LONG_OFFSET: usize = 13;
/// Every `OUTBOUND_EVERY`-th conversation is an outbound message nobody answered.
pub(crate) const OUTBOUND_EVERY: usize = 53;
const OUTBOUND_OFFSET: usize = 7;

/// A teammate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AdminDef {
    pub name: String,
    /// Local part of the email address.
    pub local: String,
    pub job_title: &'static str,
    /// Index into `TEAMS`.
    pub team: usize,
}

/// Per-company metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CompanyMeta {
    pub created_at: i64,
    pub updated_at: i64,
    pub version: u32,
    pub deleted: bool,
}

/// Per-ticket metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TicketMeta {
    pub created_at: i64,
    pub updated_at: i64,
    /// Contact index ([`NO_CONTACT`] if none).
    pub contact: u32,
    /// 0 submitted, 1 in_progress, 2 waiting_on_customer, 3 resolved.
    pub state: u8,
    /// Admin index + 1 (0 = unassigned).
    pub admin: u8,
    /// Team index + 1 (0 = unassigned).
    pub team: u8,
    /// Index into the ticket types.
    pub ticket_type: u8,
}

/// Share of contacts updated per simulated hour by `advance`.
pub const CONTACT_UPDATES_PER_HOUR: f64 = 0.005;
/// Share of contacts created per simulated hour by `advance`.
pub const CONTACT_CREATES_PER_HOUR: f64 = 0.002;
/// Share of conversations that get a new part per simulated hour.
pub const CONVERSATION_UPDATES_PER_HOUR: f64 = 0.005;
/// Share of conversations created per simulated hour.
pub const CONVERSATION_CREATES_PER_HOUR: f64 = 0.002;

/// Per-contact metadata (24 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ContactMeta {
    /// Creation time; non-decreasing in the contact's index.
    pub created_at: i64,
    /// Last change; bumped with `version` by `advance`.
    pub updated_at: i64,
    /// Selects the mutable attributes (browser, custom attributes, tags...).
    pub version: u32,
    /// [`LIVE`], [`DELETED`], or the index of the contact it was merged into.
    pub gone: u32,
}

/// Conversation state (2.16 enum).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConvState {
    Open,
    Closed,
    Snoozed,
}

impl ConvState {
    /// The API spelling.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ConvState::Open => "open",
            ConvState::Closed => "closed",
            ConvState::Snoozed => "snoozed",
        }
    }
}

/// Kind of a conversation part (its `part_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PartKind {
    Comment,
    Note,
    Assignment,
    Open,
    Close,
    Snoozed,
    AttributeUpdated,
}

impl PartKind {
    /// The API `part_type`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PartKind::Comment => "comment",
            PartKind::Note => "note",
            PartKind::Assignment => "assignment",
            PartKind::Open => "open",
            PartKind::Close => "close",
            PartKind::Snoozed => "snoozed",
            PartKind::AttributeUpdated => "conversation_attribute_updated_by_admin",
        }
    }
}

/// `PartMeta::author` value for the conversation's contact.
pub(crate) const AUTHOR_CONTACT: u8 = 0;
/// `PartMeta::author` value for the bot; admins are `1..=ADMINS.len()`.
pub(crate) const AUTHOR_BOT: u8 = u8::MAX;
/// `ConvMeta::contact` when the world has no contacts.
pub(crate) const NO_CONTACT: u32 = u32::MAX;

/// One conversation part (8 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PartMeta {
    /// Creation time (unix seconds; fits until 2106).
    pub at: u32,
    pub kind: PartKind,
    /// [`AUTHOR_CONTACT`], [`AUTHOR_BOT`] or admin index + 1.
    pub author: u8,
    /// Assignment: assigned admin index + 1. Snoozed: hours snoozed.
    pub extra: u8,
    /// Conversation state right after this part.
    pub state: ConvState,
}

/// Per-conversation metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ConvMeta {
    /// Creation time; non-decreasing in the conversation's index.
    pub created_at: i64,
    /// Time of the latest part (or `created_at` without parts).
    pub updated_at: i64,
    /// Index of the primary contact ([`NO_CONTACT`] if none).
    pub contact: u32,
    pub state: ConvState,
    /// Assigned admin index + 1 (0 = unassigned).
    pub admin: u8,
    /// Assigned team index + 1 (0 = unassigned).
    pub team: u8,
    /// Index into `none, low, medium, high, urgent`.
    pub priority: u8,
    pub read: bool,
    /// Parts in ascending time order.
    pub parts: Vec<PartMeta>,
    /// When it was deleted (0 = live).
    pub deleted_at: i64,
    /// An outbound message (admin initiated) that nobody answered.
    pub outbound: bool,
}

/// Counts reported by [`World::advance`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct AdvanceSummary {
    pub created_contacts: usize,
    pub created_conversations: usize,
    pub updated_contacts: usize,
    pub updated_conversations: usize,
    pub merged_contacts: usize,
    pub deleted_contacts: usize,
    pub created_companies: usize,
    pub updated_companies: usize,
    pub deleted_companies: usize,
    pub deleted_conversations: usize,
    pub created_tickets: usize,
    pub updated_tickets: usize,
}

/// The whole simulated workspace.
#[derive(Debug)]
pub(crate) struct World {
    pub seed: u64,
    /// Workspace `id_code` (8 lowercase alphanumerics).
    pub id_code: String,
    pub workspace_name: &'static str,
    /// When the workspace was created (start of history).
    pub workspace_created_at: i64,
    /// Middle 24 bits of contact ids (ObjectId "machine" part).
    machine: u32,
    /// Counter offset in contact ids.
    counter_base: u64,
    /// Conversation ids are `conv_base + index`.
    conv_base: u64,
    pub contacts: Vec<ContactMeta>,
    pub contacts_by_updated: BTreeSet<(i64, u32)>,
    pub conversations: Vec<ConvMeta>,
    pub conversations_by_updated: BTreeSet<(i64, u32)>,
    /// Average parts per new conversation at generation time.
    avg_parts: usize,
    /// Bumped by every `advance`; search caches are keyed by it.
    pub generation: u64,
    /// Teammates (`--admins`); the first ones come from `ADMINS`.
    pub admins: Vec<AdminDef>,
    /// Tags `(id, name)` (`--tags`).
    pub tags: Vec<(u64, String)>,
    /// Number of segments (`--segments`).
    pub segments: usize,
    /// Companies in creation order (`--companies`).
    pub companies: Vec<CompanyMeta>,
    /// Company ids are ObjectId-like with this counter offset.
    company_base: u64,
    /// Live contacts per company (merged and deleted contacts not counted).
    pub company_users: Vec<u32>,
    /// Tickets in creation order (`--tickets`).
    pub tickets: Vec<TicketMeta>,
    pub tickets_by_updated: BTreeSet<(i64, u32)>,
    /// The stored parts of each ticket, by ticket index (`world/tickets.rs`;
    /// shorter than `tickets` when the last ones have none).
    pub ticket_parts: Vec<Vec<TicketPart>>,
    /// Deleted conversation indexes in deletion order.
    pub deleted_conversations: Vec<u32>,
    /// Merged or deleted contacts.
    pub gone_contacts: usize,
    /// The simulated "now" of the last generation or advance.
    pub now: i64,
    /// The start time (events and notes are generated up to it).
    pub start_time: i64,
    /// Contacts changed less than this many seconds ago are not searchable yet.
    pub search_lag: i64,
    /// Average events per contact.
    pub events_per_user: u32,
    /// Values written through the API (`world/writes.rs`).
    pub writes: Writes,
    /// Events recorded after the start: contact index → times. `advance`
    /// gives every contact it updates one event at its new `updated_at`
    /// (activity is what changed it); see `shapes::event`.
    pub new_events: BTreeMap<u32, Vec<i64>>,
}

impl World {
    /// Companies contact `idx` belongs to (live ones, creation order).
    /// Derived from the seed alone (cheap): about 45 % of contacts have one
    /// company, and every 50th (from the 11th) has a dozen, more than the 10
    /// a contact inlines.
    pub(crate) fn contact_companies(&self, idx: u32) -> Vec<u32> {
        let Some(meta) = self.contacts.get(idx as usize) else {
            return Vec::new();
        };
        if self.writes.contact_created(idx) {
            return self.attached_companies(idx).collect();
        }
        let avail = self
            .companies
            .partition_point(|c| c.created_at <= meta.created_at) as u64;
        if avail == 0 {
            return self.attached_companies(idx).collect();
        }
        let mut r = Rng::new(self.seed, salt::CONTACT_COMPANIES, u64::from(idx), 0);
        let want = if idx % 50 == 11 {
            12
        } else {
            usize::from(r.chance(0.45))
        };
        let mut out: Vec<u32> = Vec::with_capacity(want);
        for _ in 0..want.min(avail as usize) {
            let mut c = r.below(avail) as u32;
            while out.contains(&c) {
                c = (c + 1) % avail as u32;
            }
            out.push(c);
        }
        out.sort_unstable();
        out.retain(|&c| !self.companies[c as usize].deleted);
        out.extend(self.attached_companies(idx));
        out
    }

    /// Whether contact `idx` is neither merged nor deleted.
    pub(crate) fn contact_live(&self, idx: u32) -> bool {
        self.contacts[idx as usize].gone == LIVE
    }

    /// Whether a search sees contact `idx` yet (live and older than the lag).
    pub(crate) fn contact_searchable(&self, idx: u32) -> bool {
        let c = &self.contacts[idx as usize];
        c.gone == LIVE && c.updated_at <= self.now.saturating_sub(self.search_lag)
    }

    /// Company id: 24 lowercase hex digits like contact ids.
    pub(crate) fn company_id(&self, idx: u32) -> String {
        let created = self.companies[idx as usize].created_at as u32;
        format!(
            "{created:08x}{:06x}{:010x}",
            self.machine ^ 0x5a5a5a,
            self.company_base + u64::from(idx)
        )
    }

    /// The index of a live company id.
    pub(crate) fn parse_company_id(&self, id: &str) -> Option<u32> {
        if id.len() != 24 || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let counter = u64::from_str_radix(&id[14..], 16).ok()?;
        let idx = u32::try_from(counter.checked_sub(self.company_base)?).ok()?;
        ((idx as usize) < self.companies.len()
            && !self.companies[idx as usize].deleted
            && self.company_id(idx) == id)
            .then_some(idx)
    }

    /// Ticket id (numeric string in the API).
    pub(crate) fn ticket_id(&self, idx: u32) -> u64 {
        self.conv_base + 900_000_000 + u64::from(idx)
    }

    /// Contact id: 24 lowercase hex digits, ObjectId-like (creation time,
    /// workspace bits, counter), so ids sort like indexes.
    pub(crate) fn contact_id(&self, idx: u32) -> String {
        let created = self.contacts[idx as usize].created_at as u32;
        format!(
            "{created:08x}{:06x}{:010x}",
            self.machine,
            self.counter_base + u64::from(idx)
        )
    }

    /// The index of a contact id, if it names an existing contact.
    pub(crate) fn parse_contact_id(&self, id: &str) -> Option<u32> {
        if id.len() != 24 || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let counter = u64::from_str_radix(&id[14..], 16).ok()?;
        let idx = u32::try_from(counter.checked_sub(self.counter_base)?).ok()?;
        ((idx as usize) < self.contacts.len() && self.contact_id(idx) == id).then_some(idx)
    }

    /// Conversation id as a number (ids are numeric strings in the API).
    pub(crate) fn conversation_id(&self, idx: u32) -> u64 {
        self.conv_base + u64::from(idx)
    }

    /// The index of a conversation id, if it names a live (not deleted) conversation.
    pub(crate) fn parse_conversation_id(&self, id: &str) -> Option<u32> {
        if id.is_empty() || id.len() > 20 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u64 = id.parse().ok()?;
        let idx = u32::try_from(n.checked_sub(self.conv_base)?).ok()?;
        ((idx as usize) < self.conversations.len()
            && self.conversations[idx as usize].deleted_at == 0
            && self.conversation_id(idx).to_string() == id)
            .then_some(idx)
    }
}

impl World {
    /// Takes contact `idx` out of lists, search and company counts.
    fn remove_contact(&mut self, idx: u32, gone: u32) {
        for c in self.contact_companies(idx) {
            let n = &mut self.company_users[c as usize];
            *n = n.saturating_sub(1);
        }
        let c = &mut self.contacts[idx as usize];
        self.contacts_by_updated.remove(&(c.updated_at, idx));
        c.gone = gone;
        self.gone_contacts += 1;
    }
}

#[cfg(test)]
#[path = "world_tests.rs"]
mod tests;
