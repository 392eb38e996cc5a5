//! The help center: help centers, collections (with sections) and articles.
//!
//! Nothing is stored: every object is a function of the seed and the
//! world's "now". Two help centers never change. [`COLLECTIONS`]
//! collections and sections and [`ARTICLES`] articles are created over the
//! workspace's history (the last few articles in the two weeks after the
//! start time, so they appear as the clock moves) and edited on a schedule
//! of their own: edit `k` of an item happens at
//! `created_at + k·period + jitter_k` (`jitter_k` below half a period), and
//! `updated_at` is its latest edit at or before now (the creation time
//! before the first). An article's title stays; its body and description
//! change with each edit.
//!
//! Lists are sorted by `updated_at` descending (ties by id), as Intercom
//! documents for `GET /articles` and `GET /help_center/collections`. The
//! canonical (and 2.16) shapes are built here; [`to_v211`] adds what the
//! 2.11 description requires.

use serde_json::Value;

use super::super::rng::Rng;
use super::super::vocab::{SUBJECTS, admin_id};
use super::super::world::{World, salt};
use super::obj;

/// Number of help centers.
pub(crate) const HELP_CENTERS: usize = 2;
/// Number of collections and sections.
pub(crate) const COLLECTIONS: usize = 12;
/// Number of articles (some are created after the start time).
pub(crate) const ARTICLES: usize = 64;
/// Articles created after the start time: spread over this many seconds.
const FUTURE_SECS: i64 = 14 * 86_400;

const COLLECTION_NAMES: &[(&str, &str)] = &[
    ("Getting started", "rocket"),
    ("Billing & invoices", "credit-card"),
    ("Account settings", "gear"),
    ("Integrations", "plug"),
    ("Troubleshooting", "wrench"),
    ("API & developers", "code"),
];

const ARTICLE_BODIES: &[&str] = &[
    "<p>Open <b>Settings</b> and choose the option you need.</p>",
    "<p>This takes effect at once. If it does not, sign out and in again.</p>",
    "<p>Contact us if the steps above do not help &mdash; we reply within a day.</p>",
    "<h2>Before you start</h2><p>You need the <i>Admin</i> role.</p>",
    "<p>See also: <a href=\"https://www.example.com/docs\">the full reference</a>.</p>",
];

/// Edit schedule of one item keyed by `key`: `(updated_at, edits)` at
/// `now`, or `None` when it is not created yet.
fn edited(key: u64, created: i64, period: i64, now: i64) -> Option<(i64, u64)> {
    if created > now {
        return None;
    }
    let period = period.max(1);
    let at = |k: i64| {
        if k == 0 {
            created
        } else {
            let jitter = Rng::new(key, 0, k as u64, 0).below((period / 2).max(1) as u64);
            created + k * period + jitter as i64
        }
    };
    let mut k = (now - created) / period;
    while k > 0 && at(k) > now {
        k -= 1;
    }
    Some((at(k), k as u64))
}

/// Help center `i` (`help_center`).
pub(crate) fn help_center(w: &World, i: usize) -> Value {
    let slug: String = w
        .workspace_name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    let (identifier, name) = if i == 0 {
        (slug.clone(), format!("{} Help Center", w.workspace_name))
    } else {
        (
            format!("{slug}-developers"),
            format!("{} Developer Docs", w.workspace_name),
        )
    };
    let created = w.workspace_created_at + 86_400 * (1 + 30 * i as i64);
    obj! {
        "id" => help_center_id(i).to_string(),
        "workspace_id" => w.id_code.clone(),
        "created_at" => created,
        "updated_at" => created + 3_600,
        "identifier" => identifier.clone(),
        "website_turned_on" => i == 0,
        "display_name" => name,
        "url" => format!("https://intercom.help/{identifier}"),
        "custom_domain" => Value::Null,
        "default" => i == 0,
        "locales" => vec!["en"],
    }
}

/// Numeric id of help center `i`.
pub(crate) fn help_center_id(i: usize) -> u64 {
    4_100_001 + i as u64
}

/// Numeric id of collection `c`.
pub(crate) fn collection_id(c: usize) -> u64 {
    7_300_001 + c as u64
}

/// Numeric id of article `a`.
pub(crate) fn article_id(a: usize) -> u64 {
    9_400_001 + a as u64
}

/// Collection `c` at `now` (`collection`), or `None` before it exists. The
/// first eight are top-level collections (six in the first help center,
/// two in the second); the others are sections of one of the first four
/// (`parent_id` set, `help_center_id` null, as Intercom's example has).
pub(crate) fn collection(w: &World, c: usize, now: i64) -> Option<Value> {
    let mut r = Rng::new(w.seed, salt::HELP_CENTER, 1, c as u64);
    let span = (w.start_time - w.workspace_created_at).max(1);
    let created = w.workspace_created_at + 86_400 * 2 + (span / 3) * c as i64 / COLLECTIONS as i64;
    let period = 86_400 * (20 + r.below(70) as i64);
    let (updated, edits) = edited(r.next_u64(), created, period, now)?;
    let top = c < 8;
    let (name, icon) = COLLECTION_NAMES[c % COLLECTION_NAMES.len()];
    let name = if top {
        name.to_owned()
    } else {
        format!("{name}: advanced")
    };
    let hc = usize::from(c >= 6 && top);
    let parent = (!top).then(|| collection_id(c % 4).to_string());
    let slug = name.to_ascii_lowercase().replace([' ', '&', ':'], "-");
    Some(obj! {
        "id" => collection_id(c).to_string(),
        "workspace_id" => w.id_code.clone(),
        "name" => name,
        "url" => format!("https://intercom.help/{}/en/collections/{}-{slug}", w.id_code, collection_id(c)),
        "order" => c as u64,
        "created_at" => created,
        "updated_at" => updated,
        "description" => if edits % 3 == 2 { Value::Null } else { format!("Everything about {} (rev. {edits})", icon.replace('-', " ")).into() },
        "icon" => icon,
        "parent_id" => parent,
        "help_center_id" => if top { Value::from(help_center_id(hc)) } else { Value::Null },
    })
}

/// Article `a` at `now` (`article_list_item`), or `None` before it exists.
pub(crate) fn article(w: &World, a: usize, now: i64) -> Option<Value> {
    let mut r = Rng::new(w.seed, salt::HELP_CENTER, 2, a as u64);
    let future = a >= ARTICLES - 4;
    let created = if future {
        w.start_time + 3_600 + r.below(FUTURE_SECS as u64) as i64
    } else {
        let span = (w.start_time - w.workspace_created_at).max(1) as u64;
        w.workspace_created_at + 86_400 * 3 + r.below(span) as i64
    };
    let period = 86_400 * (3 + r.below(40) as i64);
    let author = r.below(w.admins.len() as u64) as usize;
    let title = r.pick(SUBJECTS);
    let parent = r.below(COLLECTIONS as u64 + 2) as usize;
    let draft = r.chance(0.12);
    let (updated, edits) = edited(r.next_u64(), created, period, now)?;
    let mut e = Rng::new(w.seed, salt::HELP_CENTER, 3, (a as u64) << 20 | edits);
    let editor = if edits == 0 {
        author
    } else {
        e.below(w.admins.len() as u64) as usize
    };
    let body = format!("{}{}", e.pick(ARTICLE_BODIES), e.pick(ARTICLE_BODIES));
    let parents: Vec<u64> = if parent < COLLECTIONS {
        vec![collection_id(parent)]
    } else {
        Vec::new()
    };
    let slug: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    Some(obj! {
        "type" => "article",
        "id" => article_id(a).to_string(),
        "workspace_id" => w.id_code.clone(),
        "parent_ids" => parents,
        "title" => title,
        "description" => format!("{title} (revision {edits})"),
        "body" => body,
        "author_id" => admin_id(author),
        "state" => if draft { "draft" } else { "published" },
        "created_at" => created,
        "updated_at" => updated,
        "created_by_id" => admin_id(author),
        "updated_by_id" => admin_id(editor),
        "url" => if draft { Value::Null } else {
            format!("https://intercom.help/{}/en/articles/{}-{slug}", w.id_code, article_id(a)).into()
        },
        "tags" => obj! { "type" => "tag.list", "tags" => Vec::<Value>::new() },
    })
}

/// Article or collection `v` (from [`article`] or [`collection`]) in its
/// 2.11 shape, where the description requires `default_locale` and, on
/// articles, the single `parent_id`/`parent_type` (the first parent),
/// `translated_content` (null) and `statistics`.
pub(crate) fn to_v211(mut v: Value) -> Value {
    let article = v["type"] == "article";
    if let Value::Object(m) = &mut v {
        m.insert("default_locale".into(), "en".into());
        if article {
            let parent = m
                .get("parent_ids")
                .and_then(|p| p.get(0))
                .cloned()
                .unwrap_or(Value::Null);
            let kind = if parent.is_null() {
                Value::Null
            } else {
                "collection".into()
            };
            m.insert("parent_id".into(), parent);
            m.insert("parent_type".into(), kind);
            m.insert("translated_content".into(), Value::Null);
            let id = m
                .get("id")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<u64>().ok());
            let views = id.map_or(0, |i| i % 997 * 13);
            m.insert(
                "statistics".into(),
                obj! {
                    "type" => "article_statistics",
                    "views" => views,
                    "conversions" => views / 40,
                    "reactions" => views / 9,
                    "happy_reaction_percentage" => 0.6,
                    "neutral_reaction_percentage" => 0.3,
                    "sad_reaction_percentage" => 0.1,
                },
            );
        }
    }
    v
}

/// Every existing item of `build` at `now`, sorted by `updated_at`
/// descending, then id descending.
pub(crate) fn listed(
    w: &World,
    n: usize,
    now: i64,
    build: fn(&World, usize, i64) -> Option<Value>,
) -> Vec<Value> {
    let mut v: Vec<Value> = (0..n).filter_map(|i| build(w, i, now)).collect();
    let key = |x: &Value| {
        (
            x["updated_at"].as_i64().unwrap_or(0),
            x["id"]
                .as_str()
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0),
        )
    };
    v.sort_by_key(|x| std::cmp::Reverse(key(x)));
    v
}
