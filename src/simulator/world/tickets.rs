//! Ticket histories: the parts of every ticket and how `advance` moves
//! tickets through their states.
//!
//! A ticket's history is one compact [`TicketPart`] per part, in time
//! order, stored in `World::ticket_parts` (indexed like `World::tickets`;
//! a ticket created through `POST /tickets` has none stored until `advance`
//! moves it). The first part of every ticket is not stored: it is the
//! `ticket_state_updated_by_admin` part (`submitted` → `submitted`, by the
//! workspace bot, at `created_at`) Intercom writes when a ticket is opened
//! (airbyte's tickets `70`, `71`; estuary's ticket `2`).
//!
//! States follow Intercom's categories: `submitted` (0) → `in_progress` (1)
//! → `waiting_on_customer` (2) → `resolved` (3), with assignments, teammate
//! replies and notes, customer replies (which move a ticket waiting on the
//! customer back to in progress) and reopenings of resolved tickets. Every
//! move adds parts at one instant and sets the ticket's `updated_at` to it,
//! so an incremental ticket search finds the ticket again.

use super::super::rng::Rng;
use super::*;

/// Share of tickets that move (get new parts) per simulated hour.
pub const TICKET_UPDATES_PER_HOUR: f64 = 0.02;
/// Share of tickets created per simulated hour (at least one per full hour).
pub const TICKET_CREATES_PER_HOUR: f64 = 0.005;

/// Ticket state categories, by `TicketMeta::state`.
pub(crate) const SUBMITTED: u8 = 0;
pub(crate) const IN_PROGRESS: u8 = 1;
pub(crate) const WAITING: u8 = 2;
pub(crate) const RESOLVED: u8 = 3;

/// Kind of a ticket part (its `part_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TicketPartKind {
    /// `ticket_state_updated_by_admin`; `extra` is the previous state.
    State,
    /// `assignment`; `extra` is the assigned admin index + 1.
    Assignment,
    /// `comment` by the contact ([`AUTHOR_CONTACT`]) or a teammate.
    Comment,
    /// `note` by a teammate.
    Note,
}

impl TicketPartKind {
    /// The API `part_type`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TicketPartKind::State => "ticket_state_updated_by_admin",
            TicketPartKind::Assignment => "assignment",
            TicketPartKind::Comment => "comment",
            TicketPartKind::Note => "note",
        }
    }
}

/// One stored ticket part (16 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TicketPart {
    /// Creation time (unix seconds).
    pub at: i64,
    pub kind: TicketPartKind,
    /// [`AUTHOR_CONTACT`] or admin index + 1.
    pub author: u8,
    /// State: the previous state. Assignment: the admin index + 1.
    pub extra: u8,
    /// The ticket's state right after this part.
    pub state: u8,
}

impl World {
    /// The stored parts of ticket `idx` (the opening part is not stored).
    pub(crate) fn ticket_history(&self, idx: u32) -> &[TicketPart] {
        self.ticket_parts
            .get(idx as usize)
            .map_or(&[], Vec::as_slice)
    }

    /// Moves ticket `idx` one step at `t` (see the module doc); returns
    /// whether it changed. Resolved tickets mostly stay resolved.
    pub(super) fn move_ticket(&mut self, r: &mut Rng, idx: u32, t: i64) -> bool {
        let admins = self.admins.len() as u64;
        if self.ticket_parts.len() <= idx as usize {
            self.ticket_parts.resize(idx as usize + 1, Vec::new());
        }
        let m = self.tickets[idx as usize];
        let has_contact = m.contact != NO_CONTACT;
        let mut s = Step {
            meta: m,
            parts: Vec::new(),
            at: t,
        };
        let owner = |r: &mut Rng, m: &TicketMeta| {
            if m.admin != 0 {
                m.admin
            } else {
                1 + r.below(admins) as u8
            }
        };
        match m.state {
            SUBMITTED => {
                if has_contact && r.chance(0.25) {
                    s.push(TicketPartKind::Comment, AUTHOR_CONTACT, 0, SUBMITTED);
                } else {
                    let a = owner(r, &m);
                    if m.admin == 0 {
                        s.assign(a, &self.admins);
                    }
                    s.state(a, IN_PROGRESS);
                }
            }
            IN_PROGRESS => {
                let a = owner(r, &m);
                match r.weighted(&[35, 30, 20, 15]) {
                    0 => s.push(TicketPartKind::Comment, a, 0, IN_PROGRESS),
                    1 => {
                        s.push(TicketPartKind::Comment, a, 0, IN_PROGRESS);
                        s.state(a, WAITING);
                    }
                    2 => s.state(a, RESOLVED),
                    _ => {
                        let to = 1 + r.below(admins) as u8;
                        if to == m.admin {
                            s.push(TicketPartKind::Note, a, 0, IN_PROGRESS);
                        } else {
                            s.assign(to, &self.admins);
                        }
                    }
                }
            }
            WAITING => {
                let a = owner(r, &m);
                match r.weighted(&[60, 25, 15]) {
                    0 if has_contact => {
                        s.push(TicketPartKind::Comment, AUTHOR_CONTACT, 0, WAITING);
                        s.state(a, IN_PROGRESS);
                    }
                    1 => s.state(a, RESOLVED),
                    _ => s.push(TicketPartKind::Comment, a, 0, WAITING),
                }
            }
            _ => {
                if !r.chance(0.3) {
                    return false;
                }
                let a = owner(r, &m);
                if has_contact {
                    s.push(TicketPartKind::Comment, AUTHOR_CONTACT, 0, RESOLVED);
                }
                s.state(a, IN_PROGRESS);
            }
        }
        let Step { meta, parts, .. } = s;
        self.tickets_by_updated.remove(&(m.updated_at, idx));
        let new = TicketMeta {
            updated_at: t.max(m.updated_at),
            ..meta
        };
        self.tickets[idx as usize] = new;
        self.tickets_by_updated.insert((new.updated_at, idx));
        self.ticket_parts[idx as usize].extend(parts);
        true
    }

    /// A new ticket at `t` for `contact`, submitted and unassigned.
    pub(super) fn push_ticket(&mut self, r: &mut Rng, t: i64, contact: u32) {
        let idx = self.tickets.len() as u32;
        self.tickets.push(TicketMeta {
            created_at: t,
            updated_at: t,
            contact,
            state: SUBMITTED,
            admin: 0,
            team: 0,
            ticket_type: r.below(3) as u8,
        });
        self.tickets_by_updated.insert((t, idx));
        if self.ticket_parts.len() <= idx as usize {
            self.ticket_parts.resize(idx as usize + 1, Vec::new());
        }
    }
}

/// Parts added by one move, applied to a copy of the ticket's metadata.
struct Step {
    meta: TicketMeta,
    parts: Vec<TicketPart>,
    at: i64,
}

impl Step {
    fn push(&mut self, kind: TicketPartKind, author: u8, extra: u8, state: u8) {
        self.parts.push(TicketPart {
            at: self.at,
            kind,
            author,
            extra,
            state,
        });
    }

    /// Assigns the ticket to admin `to` (index + 1) and that admin's team.
    fn assign(&mut self, to: u8, admins: &[AdminDef]) {
        let by = if self.meta.admin == 0 {
            to
        } else {
            self.meta.admin
        };
        self.meta.admin = to;
        self.meta.team = admins[usize::from(to) - 1].team as u8 + 1;
        let state = self.meta.state;
        self.push(TicketPartKind::Assignment, by, to, state);
    }

    /// Moves the ticket to `state`, by admin `by` (index + 1).
    fn state(&mut self, by: u8, state: u8) {
        let prev = self.meta.state;
        self.meta.state = state;
        self.push(TicketPartKind::State, by, prev, state);
    }
}

/// The history of a generated ticket created at `created` whose final
/// state, assignee and `updated_at` are given: a plausible path from
/// `submitted` to `state`, its last part exactly at `updated` (none when
/// `updated == created`, or for a submitted ticket nobody touched).
pub(super) fn generated_history(
    r: &mut Rng,
    m: &TicketMeta,
    admins: &[AdminDef],
) -> Vec<TicketPart> {
    if m.updated_at <= m.created_at {
        return Vec::new();
    }
    let has_contact = m.contact != NO_CONTACT;
    let mut plan: Vec<(TicketPartKind, u8, u8, u8)> = Vec::new();
    let a = m.admin;
    if m.state == SUBMITTED || a == 0 {
        if has_contact {
            plan.push((TicketPartKind::Comment, AUTHOR_CONTACT, 0, m.state));
        } else {
            let by = 1 + r.below(admins.len() as u64) as u8;
            plan.push((TicketPartKind::Note, by, 0, m.state));
        }
    } else {
        plan.push((TicketPartKind::Assignment, a, a, SUBMITTED));
        plan.push((TicketPartKind::State, a, SUBMITTED, IN_PROGRESS));
        if r.chance(0.3) {
            plan.push((TicketPartKind::Note, a, 0, IN_PROGRESS));
        }
        if r.chance(0.7) {
            plan.push((TicketPartKind::Comment, a, 0, IN_PROGRESS));
        }
        let via_waiting = m.state == WAITING || (m.state == RESOLVED && r.chance(0.6));
        if via_waiting {
            plan.push((TicketPartKind::Comment, a, 0, IN_PROGRESS));
            plan.push((TicketPartKind::State, a, IN_PROGRESS, WAITING));
            if m.state == RESOLVED && has_contact {
                plan.push((TicketPartKind::Comment, AUTHOR_CONTACT, 0, WAITING));
                plan.push((TicketPartKind::State, a, WAITING, IN_PROGRESS));
            }
        }
        if m.state == RESOLVED {
            let prev = plan.last().map_or(IN_PROGRESS, |p| p.3);
            plan.push((TicketPartKind::State, a, prev, RESOLVED));
        }
    }
    let span = (m.updated_at - m.created_at) as u64;
    let mut times: Vec<i64> = (1..plan.len())
        .map(|_| m.created_at + 1 + r.below(span) as i64)
        .collect();
    times.sort_unstable();
    times.push(m.updated_at);
    plan.into_iter()
        .zip(times)
        .map(|((kind, author, extra, state), at)| TicketPart {
            at: at.min(m.updated_at),
            kind,
            author,
            extra,
            state,
        })
        .collect()
}
