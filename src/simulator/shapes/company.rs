//! Companies: derived attributes and the JSON shape (`company`).
//!
//! Identity (name, `company_id`, website, industry) comes from `(seed,
//! index)`; what an update changes (plan, spend, sessions, custom attributes,
//! tags, `last_request_at`) from `(seed, index, version)`.

use serde_json::Value;

use super::super::rng::Rng;
use super::super::world::{World, salt};
use super::obj;
use super::snapshot;
use super::wire;

const PREFIXES: &[&str] = &[
    "Acme", "Blue", "North", "Quantum", "Silver", "Hyper", "Zebra", "Müller", "Nordic", "Café",
];
const SUFFIXES: &[&str] = &[
    "Labs",
    "Logistics",
    "GmbH",
    "& Sons",
    "Analytics",
    "Studio",
    "Robotics",
    "AB",
    "Inc.",
    "Co.",
];
const INDUSTRIES: &[&str] = &[
    "Software",
    "Retail",
    "Logistics",
    "Healthcare",
    "Finance",
    "Education",
];
const PLANS: &[(&str, &str)] = &[("261", "Starter"), ("262", "Pro"), ("263", "Enterprise")];

/// Company `idx` as every company endpoint returns it.
pub(crate) fn json(world: &World, idx: u32) -> Value {
    let meta = world.companies[idx as usize];
    let mut r = Rng::new(world.seed, salt::COMPANY_STATE, u64::from(idx), 0);
    let name = format!("{} {} {}", r.pick(PREFIXES), r.pick(SUFFIXES), idx);
    let slug: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    let website = r.chance(0.8).then(|| format!("https://{slug}.example"));
    let industry = r.pick(INDUSTRIES);
    let size = r.below(5000) as i64;
    let remote_created_at = meta.created_at - r.below(86_400 * 365) as i64;
    let mut v = Rng::new(
        world.seed,
        salt::COMPANY_STATE,
        u64::from(idx),
        u64::from(meta.version) + 1,
    );
    let plan = v.chance(0.8).then(|| v.pick(PLANS));
    let last_request_at = meta.updated_at - v.below(86_400 * 7) as i64;
    let tags: Vec<Value> = (0..v.weighted(&[60, 30, 10]))
        .map(|_| {
            let (id, name) = &world.tags[v.below(world.tags.len() as u64) as usize];
            obj! { "type" => "tag", "id" => id.to_string(), "name" => name.as_str() }
        })
        .fold(Vec::new(), |mut acc, t| {
            if !acc.contains(&t) {
                acc.push(t);
            }
            acc
        });
    let segments: Vec<Value> = (0..world.segments)
        .filter(|&j| in_segment(idx, j))
        .map(|j| snapshot::segment(world, j, false))
        .collect();
    // A few companies carry values that do not fit the declared types.
    let employees: Value = if idx % 37 == 4 {
        "about 40".into()
    } else {
        (size + 1).into()
    };
    let mut out = obj! {
        "type" => "company",
        "id" => world.company_id(idx),
        "name" => name,
        "app_id" => world.id_code.clone(),
        "company_id" => format!("cmp-{:05}", idx + 1),
        "remote_created_at" => remote_created_at,
        "created_at" => meta.created_at,
        "updated_at" => meta.updated_at,
        "last_request_at" => last_request_at,
        "size" => size,
        "website" => website.clone(),
        "industry" => industry,
        "monthly_spend" => v.below(20_000) as i64,
        "session_count" => v.below(10_000) as i64,
        "user_count" => i64::from(world.company_users[idx as usize]),
        "plan" => match plan {
            Some((id, name)) => obj! { "type" => "plan", "id" => id, "name" => name },
            None => Value::Object(serde_json::Map::new()),
        },
        "custom_attributes" => obj! {
            "account tier" => v.pick(&["gold", "silver", "bronze"]),
            "employees (est.)" => employees,
            "ARR $" => (v.below(10_000_000) as f64) / 100.0,
            "churned?" => v.chance(0.1),
            "contract.end" => if v.chance(0.7) { Value::from(meta.created_at + 365 * 86_400) } else { Value::Null },
        },
        "tags" => obj! { "type" => "tag.list", "tags" => tags },
        "segments" => obj! { "type" => "segment.list", "segments" => segments },
    };
    // No website: the field is left out (the schema's string is not nullable).
    if website.is_none()
        && let Value::Object(m) = &mut out
    {
        m.remove("website");
    }
    world.writes.patch_company(idx, &mut out);
    out
}

/// Company `idx` as the API routes send it: [`json`] with the recorded wire
/// variants: `remote_created_at` in unix milliseconds for some companies
/// ([`wire::company_remote_created_millis`]). Companies written through the
/// API are sent as written.
pub(crate) fn wire_json(world: &World, idx: u32) -> Value {
    let mut v = json(world, idx);
    if wire::company_remote_created_millis(world.seed, idx)
        && !world.writes.companies.contains_key(&idx)
        && let Some(t) = v.get("remote_created_at").and_then(Value::as_i64)
        && let Value::Object(m) = &mut v
    {
        m.insert("remote_created_at".into(), (t * 1000).into());
    }
    v
}

/// `last_request_at` of company `idx` without rendering it (the list order).
pub(crate) fn last_request_at(world: &World, idx: u32) -> i64 {
    let meta = world.companies[idx as usize];
    let mut v = Rng::new(
        world.seed,
        salt::COMPANY_STATE,
        u64::from(idx),
        u64::from(meta.version) + 1,
    );
    if v.chance(0.8) {
        v.pick(PLANS);
    }
    meta.updated_at - v.below(86_400 * 7) as i64
}

/// Whether company `idx` is in segment `j` (matches its `segments` list).
pub(crate) fn in_segment(idx: u32, j: usize) -> bool {
    (idx as usize + j).is_multiple_of(4)
}
