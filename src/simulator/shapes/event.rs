//! Data events (`GET /events`): per contact, fixed at generation.
//!
//! Contact `idx` (user or lead alike) has about `--events-per-user` events
//! between its creation and the start time, newest first. Every 13th
//! contact also has two events around the 90-day edge of the start time (one
//! a minute inside, one a minute outside), so exporters meet the cut-off.
//! A contact that `advance` updates gets one more event at its new
//! `updated_at` (`World::new_events`), so later syncs have new events of
//! the changed contacts to find.

use serde_json::Value;

use super::super::rng::Rng;
use super::super::world::{World, salt};
use super::obj;

/// Only events younger than this are listed.
pub(crate) const LISTABLE_SECS: i64 = 90 * 86_400;

const NAMES: &[(&str, &str)] = &[
    ("viewed-pricing", "Opened the pricing page"),
    ("invited teammate", "Sent an invite"),
    ("exported_report", "Downloaded a report"),
    ("Checkout completed ✅", "Paid an invoice"),
    ("api.key.created", "Created an API key"),
];

/// Metadata seeds of the events `advance` adds start here (generated ones
/// use `0..2·avg` and `1000`, `1001`).
const NEW_EVENT_SEEDS: u64 = 10_000;

/// One event: `(created_at, name index, metadata seed)`.
pub(crate) type Ev = (i64, usize, u64);

/// Events of contact `idx`, newest first.
pub(crate) fn of_contact(world: &World, idx: u32) -> Vec<Ev> {
    let meta = world.contacts[idx as usize];
    if world.writes.contact_created(idx) {
        // Created through the API: no events until something records them.
        return Vec::new();
    }
    let avg = u64::from(world.events_per_user);
    let mut r = Rng::new(world.seed, salt::EVENTS, u64::from(idx), 0);
    let n = if avg == 0 { 0 } else { r.below(2 * avg + 1) };
    let end = world.start_time.max(meta.created_at);
    let span = (end - meta.created_at).max(1) as u64;
    let mut out: Vec<Ev> = (0..n)
        .map(|j| {
            (
                meta.created_at + r.below(span) as i64,
                r.below(NAMES.len() as u64) as usize,
                j,
            )
        })
        .collect();
    if avg > 0 && idx.is_multiple_of(13) {
        let edge = world.start_time - LISTABLE_SECS;
        out.push((edge + 60, 0, 1000));
        out.push((edge - 60, 1, 1001));
    }
    let later = world.new_events.get(&idx).map_or(&[][..], Vec::as_slice);
    for (j, &t) in later.iter().enumerate() {
        let j = NEW_EVENT_SEEDS + j as u64;
        let mut r = Rng::new(world.seed, salt::EVENTS, u64::from(idx), u64::MAX - j);
        let name = r.below(NAMES.len() as u64);
        out.push((t, name as usize, j));
    }
    out.sort_unstable_by(|a, b| b.cmp(a));
    out
}

/// The JSON of one event of contact `idx`.
pub(crate) fn json(world: &World, idx: u32, ev: Ev, ident: (&str, Option<&str>, &str)) -> Value {
    let (intercom_id, user_id, email) = ident;
    let mut r = Rng::new(world.seed, salt::EVENTS, u64::from(idx), ev.2 + 1);
    let mut v = obj! {
        "type" => "event",
        "event_name" => NAMES[ev.1].0,
        "created_at" => ev.0,
        "intercom_user_id" => intercom_id,
        "email" => email,
        "metadata" => obj! {
            "plan" => r.pick(&["free", "pro", "enterprise"]),
            "items" => r.below(20) as i64,
            "url" => format!("https://app.example.com/p/{}", r.below(1000)),
        },
    };
    if let (Some(u), Value::Object(m)) = (user_id, &mut v) {
        m.insert("user_id".into(), u.into());
    }
    v
}

/// ISO-8601 UTC (`2026-06-01T12:00:00.000Z`) of a unix time.
pub(crate) fn iso(t: i64) -> String {
    let f = time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&f).ok())
        .unwrap_or_default()
}

/// The `event.summary` items of contact `idx` (all events, even old ones).
pub(crate) fn summary(events: &[Ev]) -> Vec<Value> {
    let mut out = Vec::new();
    for (k, (name, description)) in NAMES.iter().enumerate() {
        let times: Vec<i64> = events.iter().filter(|e| e.1 == k).map(|e| e.0).collect();
        if let (Some(&last), Some(&first)) = (times.first(), times.last()) {
            out.push(obj! {
                "name" => *name,
                "first" => iso(first),
                "last" => iso(last),
                "count" => times.len() as i64,
                "description" => *description,
            });
        }
    }
    out
}
