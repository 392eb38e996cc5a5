//! Contact notes (`note`): how many a contact has and their JSON.
//!
//! Notes are fixed at generation (derived from the contact index): most
//! contacts have none or a few, every 50th (from the 3rd) has a dozen, more
//! than a contact inlines.

use serde_json::Value;

use super::super::rng::Rng;
use super::super::vocab::NOTES;
use super::super::world::{World, salt};
use super::{obj, snapshot};

/// Most notes one contact has.
const MAX_NOTES: u64 = 16;

fn count(world: &World, idx: u32) -> u64 {
    if world.writes.contact_created(idx) {
        return 0;
    }
    if idx % 50 == 3 {
        return 12;
    }
    let mut r = Rng::new(world.seed, salt::NOTES, u64::from(idx), 0);
    match r.weighted(&[75, 20, 5]) {
        0 => 0,
        1 => 1 + r.below(3),
        _ => 4 + r.below(6),
    }
}

fn base(world: &World) -> u64 {
    1_000_000_000 + (world.seed % 1000) * 10_000_000
}

/// Note ids of contact `idx`, oldest first.
pub(crate) fn ids(world: &World, idx: u32) -> Vec<String> {
    (0..count(world, idx))
        .map(|j| (base(world) + u64::from(idx) * MAX_NOTES + j).to_string())
        .collect()
}

/// The notes of contact `idx`, newest first (as the API lists them).
pub(crate) fn of_contact(world: &World, idx: u32, v211: bool) -> Vec<Value> {
    let meta = world.contacts[idx as usize];
    let contact_id = world.contact_id(idx);
    let n = count(world, idx);
    let mut out: Vec<Value> = (0..n)
        .map(|j| {
            let mut r = Rng::new(world.seed, salt::NOTES, u64::from(idx), j + 1);
            let span = (world.start_time - meta.created_at).max(1) as u64;
            let at = meta.created_at
                + (span * j / n.max(1)) as i64
                + r.below(span / n.max(1) + 1) as i64;
            let admin = r.below(world.admins.len() as u64) as usize;
            obj! {
                "type" => "note",
                "id" => (base(world) + u64::from(idx) * MAX_NOTES + j).to_string(),
                "created_at" => at.min(world.start_time),
                "contact" => obj! { "type" => "contact", "id" => contact_id.as_str() },
                "author" => snapshot::admin(world, admin, v211),
                "body" => r.pick(NOTES),
            }
        })
        .collect();
    out.reverse();
    out
}
