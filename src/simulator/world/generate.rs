//! Generating the initial world from the seed: admins, tags, contacts,
//! conversations with their parts, companies and tickets with their
//! histories.

use std::collections::{BTreeMap, BTreeSet};

use super::super::SimConfig;
use super::super::rng::Rng;
use super::super::vocab::{ADMINS, FIRST_NAMES, LAST_NAMES, TAGS, TEAMS, WORKSPACES};
use super::*;

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
        w.ticket_parts = w
            .tickets
            .iter()
            .enumerate()
            .map(|(j, m)| {
                let mut r = Rng::new(seed, salt::TICKETS, j as u64, 3);
                super::tickets::generated_history(&mut r, m, &w.admins)
            })
            .collect();
        w
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
            ticket_parts: Vec::new(),
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

pub(super) fn new_conversation(r: &mut Rng, created_at: i64, contact: u32) -> ConvMeta {
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
