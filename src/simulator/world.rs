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

mod overlay;
mod writes;
pub(crate) use writes::{CompanyFields, ContactFields, Writes};

use super::SimConfig;
use super::rng::Rng;
use super::vocab::{ADMINS, FIRST_NAMES, LAST_NAMES, TAGS, TEAMS, WORKSPACES};

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
    /// Builds the initial world for `cfg`, with "now" = `cfg.start_time`.
    pub(crate) fn generate(cfg: &SimConfig) -> World {
        let seed = cfg.seed;
        let now = cfg.start_time;
        let start = (now - i64::from(cfg.history_days) * 86_400).max(0).min(now);
        let mut w = World::empty(seed, start, cfg.parts);
        w.now = now;
        w.start_time = now;
        w.search_lag = i64::try_from(cfg.search_lag_secs).unwrap_or(i64::MAX);
        w.events_per_user = cfg.events_per_user;
        w.admins = make_admins(seed, cfg.admins.clamp(1, 250));
        w.tags = make_tags(cfg.tags.max(1));
        w.segments = cfg.segments;

        // Companies: sorted creation times and an update history.
        let mut rng = Rng::new(seed, salt::COMPANY_CREATED, 0, 0);
        let span = (now - start).max(1) as u64;
        let mut created: Vec<i64> = (0..cfg.companies)
            .map(|_| start + rng.below(span) as i64)
            .collect();
        created.sort_unstable();
        w.companies = created
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let mut r = Rng::new(seed, salt::COMPANY_STATE, i as u64, u64::MAX);
                let u = c + ((now - c) as f64 * r.unit()) as i64;
                CompanyMeta {
                    created_at: c,
                    updated_at: u.min(now),
                    version: r.below(4) as u32,
                    deleted: false,
                }
            })
            .collect();

        // Contacts: sorted creation times, then per-contact update history.
        let mut rng = Rng::new(seed, salt::CONTACT_CREATED, 0, 0);
        let span = (now - start).max(1) as u64;
        let mut created: Vec<i64> = (0..cfg.contacts)
            .map(|_| start + rng.below(span) as i64)
            .collect();
        created.sort_unstable();
        w.contacts = created
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let mut r = Rng::new(seed, salt::CONTACT_INIT, i as u64, 0);
                if r.chance(0.3) {
                    ContactMeta {
                        created_at: c,
                        updated_at: c,
                        version: 0,
                        gone: LIVE,
                    }
                } else {
                    let u = c + ((now - c) as f64 * r.unit().sqrt()) as i64;
                    ContactMeta {
                        created_at: c,
                        updated_at: u.min(now),
                        version: 1 + r.below(5) as u32,
                        gone: LIVE,
                    }
                }
            })
            .collect();
        w.contacts_by_updated = w
            .contacts
            .iter()
            .enumerate()
            .map(|(i, c)| (c.updated_at, i as u32))
            .collect();

        w.company_users = vec![0; w.companies.len()];
        for i in 0..w.contacts.len() as u32 {
            for c in w.contact_companies(i) {
                w.company_users[c as usize] += 1;
            }
        }

        // Conversations: each starts after its contact was created.
        let mut convs: Vec<(i64, u32)> = (0..cfg.conversations)
            .map(|j| {
                let mut r = Rng::new(seed, salt::CONV_CREATED, j as u64, 0);
                if w.contacts.is_empty() {
                    (start + r.below(span) as i64, NO_CONTACT)
                } else {
                    let c = r.below(w.contacts.len() as u64) as u32;
                    let base = w.contacts[c as usize].created_at;
                    (base + r.below((now - base).max(1) as u64) as i64, c)
                }
            })
            .collect();
        convs.sort_unstable();
        for (j, (created_at, contact)) in convs.into_iter().enumerate() {
            let mut r = Rng::new(seed, salt::CONV_PARTS, j as u64, 0);
            let mut conv = new_conversation(&mut r, created_at, contact);
            let mut k = w.part_count(&mut r);
            if w.avg_parts > 0 && j % LONG_EVERY == LONG_OFFSET {
                k = 501 + r.below(120) as usize;
            }
            if j % OUTBOUND_EVERY == OUTBOUND_OFFSET && contact != NO_CONTACT {
                k = 0;
                conv.outbound = true;
            }
            conv.parts.reserve_exact(k);
            let window = (now - created_at).min(3600 * (1 + r.below(24 * 21) as i64));
            if window > 0 {
                let mut offsets: Vec<i64> =
                    (0..k).map(|_| 1 + r.below(window as u64) as i64).collect();
                offsets.sort_unstable();
                for off in offsets {
                    push_part(&mut r, &mut conv, created_at + off, &w.admins);
                }
            }
            w.conversations.push(conv);
        }
        w.conversations_by_updated = w
            .conversations
            .iter()
            .enumerate()
            .map(|(i, c)| (c.updated_at, i as u32))
            .collect();

        // Tickets: opened by contacts, some worked on since.
        let mut created: Vec<(i64, u32)> = (0..cfg.tickets)
            .map(|j| {
                let mut r = Rng::new(seed, salt::TICKETS, j as u64, 0);
                let c = if w.contacts.is_empty() {
                    NO_CONTACT
                } else {
                    r.below(w.contacts.len() as u64) as u32
                };
                let base = w.contacts.get(c as usize).map_or(start, |m| m.created_at);
                (base + r.below((now - base).max(1) as u64) as i64, c)
            })
            .collect();
        created.sort_unstable();
        for (j, (t, c)) in created.into_iter().enumerate() {
            let mut r = Rng::new(seed, salt::TICKETS, j as u64, 1);
            let state = r.below(4) as u8;
            let admin = if state == 0 {
                0
            } else {
                1 + r.below(w.admins.len() as u64) as u8
            };
            let updated = t + r.below((now - t).max(0) as u64 + 1) as i64;
            w.tickets.push(TicketMeta {
                created_at: t,
                updated_at: updated.min(now),
                contact: c,
                state,
                admin,
                team: if admin == 0 {
                    0
                } else {
                    w.admins[usize::from(admin) - 1].team as u8 + 1
                },
                ticket_type: r.below(3) as u8,
            });
        }
        w.tickets_by_updated = w
            .tickets
            .iter()
            .enumerate()
            .map(|(i, t)| (t.updated_at, i as u32))
            .collect();
        w
    }

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

    fn empty(seed: u64, start: i64, avg_parts: usize) -> World {
        let mut r = Rng::new(seed, salt::WORKSPACE, 0, 0);
        let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let id_code: String = (0..8).map(|_| r.pick(alphabet) as char).collect();
        World {
            seed,
            id_code,
            workspace_name: r.pick(WORKSPACES),
            workspace_created_at: start,
            machine: (r.next_u64() & 0xff_ffff) as u32,
            counter_base: r.below(1 << 36),
            conv_base: 100_000_000_000 + r.below(50_000_000_000),
            contacts: Vec::new(),
            contacts_by_updated: BTreeSet::new(),
            conversations: Vec::new(),
            conversations_by_updated: BTreeSet::new(),
            avg_parts,
            generation: 0,
            admins: Vec::new(),
            tags: Vec::new(),
            segments: 0,
            companies: Vec::new(),
            company_base: r.below(1 << 36),
            company_users: Vec::new(),
            tickets: Vec::new(),
            tickets_by_updated: BTreeSet::new(),
            deleted_conversations: Vec::new(),
            gone_contacts: 0,
            now: start,
            start_time: start,
            search_lag: 0,
            events_per_user: 0,
            writes: Writes::default(),
            new_events: BTreeMap::new(),
        }
    }

    /// Number of parts for a new conversation: uniform in `1..=2p-1` (mean `p`).
    fn part_count(&self, r: &mut Rng) -> usize {
        if self.avg_parts == 0 {
            0
        } else {
            1 + r.below(2 * self.avg_parts as u64 - 1) as usize
        }
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

    /// Moves the world from `old` to `new` (unix seconds): creates and updates
    /// records with timestamps in `(old, new]`, deterministically from the seed
    /// and the two instants.
    pub(crate) fn advance(&mut self, old: i64, new: i64) -> AdvanceSummary {
        let mut summary = AdvanceSummary::default();
        if new <= old {
            return summary;
        }
        let secs = new - old;
        let mut rng = Rng::new(self.seed, salt::ADVANCE, old as u64, new as u64);
        let time_in = |r: &mut Rng| old + 1 + r.below(secs as u64) as i64;

        // Contacts: new versions of existing ones, then new ones.
        let n0 = self.contacts.len();
        let k = amount(&mut rng, n0, CONTACT_UPDATES_PER_HOUR, secs).min(n0);
        for idx in sample(&mut rng, n0, k) {
            let t = time_in(&mut rng);
            let c = &mut self.contacts[idx as usize];
            self.contacts_by_updated.remove(&(c.updated_at, idx));
            c.updated_at = t;
            c.version += 1;
            self.contacts_by_updated.insert((t, idx));
            if self.events_per_user > 0 {
                self.new_events.entry(idx).or_default().push(t);
            }
        }
        summary.updated_contacts = k;
        let k = amount(&mut rng, n0, CONTACT_CREATES_PER_HOUR, secs);
        for t in sorted_times(&mut rng, k, old, new) {
            let idx = self.contacts.len() as u32;
            self.contacts.push(ContactMeta {
                created_at: t,
                updated_at: t,
                version: 0,
                gone: LIVE,
            });
            self.contacts_by_updated.insert((t, idx));
            for c in self.contact_companies(idx) {
                self.company_users[c as usize] += 1;
            }
        }
        summary.created_contacts = k;

        // Merges (into an older live contact, which gets a new version) and deletions.
        let mut moves = Rng::new(self.seed, salt::MOVES, old as u64, new as u64);
        let n1 = self.contacts.len();
        let k = amount(&mut moves, n0, CONTACT_MERGES_PER_HOUR, secs).min(n0);
        for idx in sample(&mut moves, n1, k) {
            let target = moves.below(n1 as u64) as u32;
            if idx == target || !self.contact_live(idx) || !self.contact_live(target) {
                continue;
            }
            self.remove_contact(idx, target);
            let t = time_in(&mut moves);
            let c = &mut self.contacts[target as usize];
            self.contacts_by_updated.remove(&(c.updated_at, target));
            c.updated_at = c.updated_at.max(t);
            c.version += 1;
            self.contacts_by_updated.insert((c.updated_at, target));
            summary.merged_contacts += 1;
        }
        let k = amount(&mut moves, n0, CONTACT_DELETES_PER_HOUR, secs).min(n0);
        for idx in sample(&mut moves, n1, k) {
            if self.contact_live(idx) {
                self.remove_contact(idx, DELETED);
                summary.deleted_contacts += 1;
            }
        }

        // Companies: updates, creations, deletions.
        let c0 = self.companies.len();
        let k = amount(&mut moves, c0, COMPANY_UPDATES_PER_HOUR, secs).min(c0);
        for idx in sample(&mut moves, c0, k) {
            let t = time_in(&mut moves);
            let c = &mut self.companies[idx as usize];
            if !c.deleted {
                c.updated_at = t;
                c.version += 1;
                summary.updated_companies += 1;
            }
        }
        let k = if c0 == 0 {
            0
        } else {
            amount(&mut moves, c0, COMPANY_CREATES_PER_HOUR, secs)
        };
        for t in sorted_times(&mut moves, k, old, new) {
            self.companies.push(CompanyMeta {
                created_at: t,
                updated_at: t,
                version: 0,
                deleted: false,
            });
            self.company_users.push(0);
        }
        summary.created_companies = k;
        let k = amount(&mut moves, c0, COMPANY_DELETES_PER_HOUR, secs).min(c0);
        for idx in sample(&mut moves, c0, k) {
            let c = &mut self.companies[idx as usize];
            if !c.deleted {
                c.deleted = true;
                summary.deleted_companies += 1;
            }
        }

        // Conversations: a new part on existing ones, then new ones.
        let m0 = self.conversations.len();
        let k = amount(&mut rng, m0, CONVERSATION_UPDATES_PER_HOUR, secs).min(m0);
        for idx in sample(&mut rng, m0, k) {
            let t = time_in(&mut rng);
            let conv = &mut self.conversations[idx as usize];
            self.conversations_by_updated
                .remove(&(conv.updated_at, idx));
            push_part(&mut rng, conv, t, &self.admins);
            self.conversations_by_updated.insert((t, idx));
        }
        summary.updated_conversations = k;
        let k = amount(&mut rng, m0, CONVERSATION_CREATES_PER_HOUR, secs);
        for t in sorted_times(&mut rng, k, old, new) {
            let seen = self.contacts.partition_point(|c| c.created_at <= t);
            let contact = if seen == 0 {
                NO_CONTACT
            } else {
                rng.below(seen as u64) as u32
            };
            let mut conv = new_conversation(&mut rng, t, contact);
            let parts = if t < new { rng.below(3) as usize } else { 0 };
            let mut times: Vec<i64> = (0..parts).map(|_| rng.range(t + 1, new)).collect();
            times.sort_unstable();
            for at in times {
                push_part(&mut rng, &mut conv, at, &self.admins);
            }
            let idx = self.conversations.len() as u32;
            self.conversations_by_updated.insert((conv.updated_at, idx));
            self.conversations.push(conv);
        }
        summary.created_conversations = k;
        let k = amount(&mut moves, m0, CONVERSATION_DELETES_PER_HOUR, secs).min(m0);
        for idx in sample(&mut moves, m0, k) {
            let conv = &mut self.conversations[idx as usize];
            if conv.deleted_at == 0 {
                conv.deleted_at = time_in(&mut moves);
                self.conversations_by_updated
                    .remove(&(conv.updated_at, idx));
                self.deleted_conversations.push(idx);
                summary.deleted_conversations += 1;
            }
        }
        self.now = new;
        self.generation += 1;
        summary
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

/// The first admins come from `ADMINS`; more get generated names.
fn make_admins(seed: u64, n: usize) -> Vec<AdminDef> {
    (0..n)
        .map(|i| match ADMINS.get(i) {
            Some(&(name, local, job_title, team)) => AdminDef {
                name: name.to_owned(),
                local: local.to_owned(),
                job_title,
                team,
            },
            None => {
                let mut r = Rng::new(seed, salt::ADMINS, i as u64, 0);
                let (first, first_ascii) = r.pick(FIRST_NAMES);
                let (last, _) = r.pick(LAST_NAMES);
                AdminDef {
                    name: format!("{first} {last}"),
                    local: format!("{}{i}", first_ascii.to_ascii_lowercase()),
                    job_title: r.pick(&["Support Engineer", "Account Executive", "Support Lead"]),
                    team: i % TEAMS.len(),
                }
            }
        })
        .collect()
}

/// The first tags come from `TAGS`; more get generated (awkward) names.
fn make_tags(n: usize) -> Vec<(u64, String)> {
    (0..n)
        .map(|i| match TAGS.get(i) {
            Some(&(id, name)) => (id, name.to_owned()),
            None => (
                9_100_001 + i as u64,
                format!("Campaign: Q{} / “{i}”", 1 + i % 4),
            ),
        })
        .collect()
}

/// How many records to touch: `size * rate * hours`, rounded randomly, and at
/// least one once a full hour has passed.
fn amount(rng: &mut Rng, size: usize, rate_per_hour: f64, secs: i64) -> usize {
    let x = size as f64 * rate_per_hour * secs as f64 / 3600.0;
    let k = x.floor() as usize + usize::from(rng.chance(x.fract()));
    if secs >= 3600 { k.max(1) } else { k }
}

/// `k` distinct indexes below `n`, ascending (Floyd's algorithm).
fn sample(rng: &mut Rng, n: usize, k: usize) -> Vec<u32> {
    if k >= n {
        return (0..n as u32).collect();
    }
    let mut set = BTreeSet::new();
    for j in (n - k)..n {
        let t = rng.below(j as u64 + 1) as u32;
        if !set.insert(t) {
            set.insert(j as u32);
        }
    }
    set.into_iter().collect()
}

/// `k` times in `(old, new]`, ascending.
fn sorted_times(rng: &mut Rng, k: usize, old: i64, new: i64) -> Vec<i64> {
    let mut v: Vec<i64> = (0..k).map(|_| rng.range(old + 1, new)).collect();
    v.sort_unstable();
    v
}

fn new_conversation(r: &mut Rng, created_at: i64, contact: u32) -> ConvMeta {
    ConvMeta {
        created_at,
        updated_at: created_at,
        contact,
        state: ConvState::Open,
        admin: 0,
        team: 0,
        priority: r.weighted(&[70, 10, 10, 7, 3]) as u8,
        read: false,
        parts: Vec::new(),
        deleted_at: 0,
        outbound: false,
    }
}

/// Appends one part at `at` and applies its effect (state, assignee, read).
pub(crate) fn push_part(r: &mut Rng, conv: &mut ConvMeta, at: i64, admin_defs: &[AdminDef]) {
    let has_contact = conv.contact != NO_CONTACT;
    let admins = admin_defs.len() as u64;
    let any_admin = |r: &mut Rng| 1 + r.below(admins) as u8;
    let acting = |r: &mut Rng, assigned: u8| {
        if assigned != 0 && r.chance(0.8) {
            assigned
        } else {
            any_admin(r)
        }
    };
    // 0 user comment, 1 admin comment, 2 note, 3 assignment, 4 close,
    // 5 snooze, 6 bot comment, 7 attribute update, 8 reopen.
    let weights: [u32; 9] = match conv.state {
        ConvState::Open => [
            30,
            28,
            8,
            if conv.admin == 0 { 28 } else { 8 },
            14,
            5,
            4,
            3,
            0,
        ],
        ConvState::Closed => [50, 0, 15, 0, 0, 0, 0, 10, 25],
        ConvState::Snoozed => [40, 0, 20, 0, 0, 0, 0, 0, 40],
    };
    let mut choice = r.weighted(&weights);
    if choice == 0 && !has_contact {
        choice = 6;
    }
    let (kind, author, extra) = match choice {
        0 => {
            conv.state = ConvState::Open;
            conv.read = false;
            (PartKind::Comment, AUTHOR_CONTACT, 0)
        }
        1 => {
            conv.read = true;
            (PartKind::Comment, acting(r, conv.admin), 0)
        }
        2 => (PartKind::Note, acting(r, conv.admin), 0),
        3 => {
            let mut to = any_admin(r);
            if to == conv.admin {
                to = (to % admins as u8) + 1;
            }
            conv.admin = to;
            if r.chance(0.7) {
                conv.team = admin_defs[usize::from(to) - 1].team as u8 + 1;
            }
            (PartKind::Assignment, any_admin(r), to)
        }
        4 => {
            conv.state = ConvState::Closed;
            conv.read = true;
            (PartKind::Close, acting(r, conv.admin), 0)
        }
        5 => {
            conv.state = ConvState::Snoozed;
            (
                PartKind::Snoozed,
                acting(r, conv.admin),
                1 + r.below(72) as u8,
            )
        }
        6 => (PartKind::Comment, AUTHOR_BOT, 0),
        7 => (PartKind::AttributeUpdated, acting(r, conv.admin), 0),
        _ => {
            conv.state = ConvState::Open;
            (PartKind::Open, acting(r, conv.admin), 0)
        }
    };
    conv.parts.push(PartMeta {
        at: at as u32,
        kind,
        author,
        extra,
        state: conv.state,
    });
    conv.updated_at = conv.updated_at.max(at);
}

#[cfg(test)]
#[path = "world_tests.rs"]
mod tests;
