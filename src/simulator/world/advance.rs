//! Moving the world in time: `advance` creates, updates, merges and
//! deletes records with timestamps in the elapsed interval.

use std::collections::BTreeSet;

use super::super::rng::Rng;
use super::generate::{new_conversation, push_part};
use super::*;

impl World {
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

        // Tickets: moves through their states, then new ones (see `tickets`).
        let mut tr = Rng::new(self.seed, salt::TICKET_MOVES, old as u64, new as u64);
        let t0 = self.tickets.len();
        if t0 > 0 {
            let k = amount(&mut tr, t0, TICKET_UPDATES_PER_HOUR, secs).min(t0);
            for idx in sample(&mut tr, t0, k) {
                let t = time_in(&mut tr);
                if self.move_ticket(&mut tr, idx, t) {
                    summary.updated_tickets += 1;
                }
            }
            let k = amount(&mut tr, t0, TICKET_CREATES_PER_HOUR, secs);
            let n = self.contacts.len() as u64;
            for t in sorted_times(&mut tr, k, old, new) {
                let c = tr.below(n) as u32;
                let contact = if n > 0 && self.contact_live(c) {
                    c
                } else {
                    NO_CONTACT
                };
                self.push_ticket(&mut tr, t, contact);
            }
            summary.created_tickets = k;
        }
        self.now = new;
        self.generation += 1;
        summary
    }
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
