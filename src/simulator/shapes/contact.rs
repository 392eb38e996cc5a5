//! Contacts: derived attributes, the searchable fields, and the JSON shape.
//!
//! Identity (id, role, name, email, external id, phone, location, company)
//! comes from `(seed, index)` and never changes. Everything that an update
//! may change (browser, last-seen times, custom attributes, tags, email
//! flags) comes from `(seed, index, version)`, so bumping the version in
//! `advance` changes these fields and `updated_at` together.

use std::cell::OnceCell;

use super::super::query::{DateMode, Dialect, FieldDef, FieldType, FieldValue, Record};
use super::super::rng::Rng;
use super::super::vocab::{
    BROWSERS, DOMAINS, FIRST_NAMES, LANGUAGES, LAST_NAMES, LOCATIONS, OSES, PLANS, TIERS, admin_id,
};
use super::super::world::{World, salt};
use super::snapshot;

mod json;
#[cfg(test)]
pub(crate) use json::json;
pub(crate) use json::{ContactJson, INLINE_LIMIT};

/// Field keys shared with the search engine.
pub(crate) mod key {
    pub const ID: u16 = 0;
    pub const CREATED_AT: u16 = 1;
    pub const UPDATED_AT: u16 = 2;
    pub const ROLE: u16 = 3;
    pub const NAME: u16 = 4;
    pub const EMAIL: u16 = 5;
    pub const EMAIL_DOMAIN: u16 = 6;
    pub const PHONE: u16 = 7;
    pub const EXTERNAL_ID: u16 = 8;
    pub const OWNER_ID: u16 = 9;
    pub const SIGNED_UP_AT: u16 = 10;
    pub const LAST_SEEN_AT: u16 = 11;
    pub const LAST_CONTACTED_AT: u16 = 12;
    pub const LAST_REPLIED_AT: u16 = 13;
    pub const LAST_EMAIL_OPENED_AT: u16 = 14;
    pub const LAST_EMAIL_CLICKED_AT: u16 = 15;
    pub const BROWSER: u16 = 16;
    pub const BROWSER_LANGUAGE: u16 = 17;
    pub const OS: u16 = 18;
    pub const LANGUAGE_OVERRIDE: u16 = 19;
    pub const COUNTRY: u16 = 20;
    pub const REGION: u16 = 21;
    pub const CITY: u16 = 22;
    pub const UNSUBSCRIBED: u16 = 23;
    pub const SPAM: u16 = 24;
    pub const HARD_BOUNCED: u16 = 25;
    pub const TAG_ID: u16 = 26;
    pub const PLAN: u16 = 27;
    pub const SEATS: u16 = 28;
    pub const MRR: u16 = 29;
    pub const BETA: u16 = 30;
    pub const RENEWAL: u16 = 31;
    pub const TIER: u16 = 32;
    pub const FORMATTED_PHONE: u16 = 33;
    pub const SEGMENT_ID: u16 = 34;
}

macro_rules! field {
    ($name:literal, $ty:ident, $key:ident) => {
        FieldDef {
            name: $name,
            ty: FieldType::$ty,
            key: key::$key,
        }
    };
}

/// Searchable contact fields (`POST /contacts/search`).
pub(crate) static FIELDS: &[FieldDef] = &[
    field!("id", Str, ID),
    field!("created_at", Date, CREATED_AT),
    field!("updated_at", Date, UPDATED_AT),
    field!("role", Str, ROLE),
    field!("name", Str, NAME),
    field!("email", Str, EMAIL),
    field!("email_domain", Str, EMAIL_DOMAIN),
    field!("phone", Str, PHONE),
    field!("formatted_phone", Str, FORMATTED_PHONE),
    field!("external_id", Str, EXTERNAL_ID),
    field!("owner_id", Str, OWNER_ID),
    field!("signed_up_at", Date, SIGNED_UP_AT),
    field!("last_seen_at", Date, LAST_SEEN_AT),
    field!("last_contacted_at", Date, LAST_CONTACTED_AT),
    field!("last_replied_at", Date, LAST_REPLIED_AT),
    field!("last_email_opened_at", Date, LAST_EMAIL_OPENED_AT),
    field!("last_email_clicked_at", Date, LAST_EMAIL_CLICKED_AT),
    field!("browser", Str, BROWSER),
    field!("browser_language", Str, BROWSER_LANGUAGE),
    field!("os", Str, OS),
    field!("language_override", Str, LANGUAGE_OVERRIDE),
    field!("location.country", Str, COUNTRY),
    field!("location.region", Str, REGION),
    field!("location.city", Str, CITY),
    field!("unsubscribed_from_emails", Bool, UNSUBSCRIBED),
    field!("marked_email_as_spam", Bool, SPAM),
    field!("has_hard_bounced", Bool, HARD_BOUNCED),
    field!("tag_id", Str, TAG_ID),
    field!("segment_id", Str, SEGMENT_ID),
    field!("custom_attributes.plan", Str, PLAN),
    field!("custom_attributes.seats", Int, SEATS),
    field!("custom_attributes.MRR", Float, MRR),
    field!("custom_attributes.beta_tester", Bool, BETA),
    field!("custom_attributes.renewal date", Date, RENEWAL),
    field!("custom_attributes.Tier ✨", Str, TIER),
];

/// Contact search: day-granular dates.
pub(crate) static DIALECT: Dialect = Dialect {
    fields: FIELDS,
    dates: DateMode::Day,
};

/// The never-changing part of a contact.
#[derive(Clone, Debug)]
pub(crate) struct ContactIdentity {
    pub id: String,
    pub role: &'static str,
    pub name: Option<String>,
    pub email: String,
    pub email_domain: &'static str,
    pub external_id: Option<String>,
    pub phone: Option<String>,
    pub formatted_phone: Option<String>,
    pub location: Option<(
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    )>,
    pub twitter: Option<String>,
    pub avatar: Option<String>,
    pub signed_up_at: Option<i64>,
    pub created_at: i64,
}

/// Identity of contact `idx`.
pub(crate) fn identity(world: &World, idx: u32) -> ContactIdentity {
    let meta = world.contacts[idx as usize];
    let mut r = Rng::new(world.seed, salt::CONTACT_IDENTITY, u64::from(idx), 0);
    let is_user = r.chance(0.7);
    let (first, first_ascii) = r.pick(FIRST_NAMES);
    let (last, last_ascii) = r.pick(LAST_NAMES);
    let domain = r.pick(DOMAINS);
    let email = format!("{first_ascii}.{last_ascii}{idx}@{domain}");
    let named = is_user || r.chance(0.5);
    let phone = r.chance(0.4).then(|| {
        let n = 2_000_000 + r.below(7_000_000);
        (
            format!("+1 (415) {:03}-{:04}", n / 10_000 % 1000, n % 10_000),
            format!("+1415{:03}{:04}", n / 10_000 % 1000, n % 10_000),
        )
    });
    let location = r.chance(0.9).then(|| r.pick(LOCATIONS));
    // Kept so the draws below stay where they were (companies now come
    // from `World::contact_companies`).
    if is_user && r.chance(0.6) {
        r.below(500);
    }
    let twitter = r
        .chance(0.15)
        .then(|| format!("https://twitter.com/{first_ascii}{last_ascii}{}", idx % 97));
    let avatar = r.chance(0.3).then(|| {
        format!("https://static.intercomassets.com/avatars/{idx}/square_128/{first_ascii}.png")
    });
    ContactIdentity {
        id: world.contact_id(idx),
        role: if is_user { "user" } else { "lead" },
        name: named.then(|| format!("{first} {last}")),
        email,
        email_domain: domain,
        external_id: is_user.then(|| format!("usr_{:07}", u64::from(idx) + 1000)),
        formatted_phone: phone.as_ref().map(|p| p.1.clone()),
        phone: phone.map(|p| p.0),
        location,
        twitter,
        avatar,
        signed_up_at: is_user.then_some(meta.created_at),
        created_at: meta.created_at,
    }
}

/// The full derived contact (identity plus the current version's state).
#[derive(Clone, Debug)]
pub(crate) struct ContactData {
    pub ident: ContactIdentity,
    pub updated_at: i64,
    pub owner_id: Option<String>,
    pub hard_bounced: bool,
    pub spam: bool,
    pub unsubscribed: bool,
    pub last_seen_at: Option<i64>,
    pub last_replied_at: Option<i64>,
    pub last_contacted_at: Option<i64>,
    pub last_email_opened_at: Option<i64>,
    pub last_email_clicked_at: Option<i64>,
    pub language_override: Option<&'static str>,
    pub browser: Option<(&'static str, &'static str)>,
    pub browser_language: Option<&'static str>,
    pub os: Option<&'static str>,
    pub ios: Option<(&'static str, &'static str, i64)>,
    pub android: Option<(&'static str, &'static str, i64)>,
    pub plan: &'static str,
    pub seats: i64,
    pub mrr: f64,
    pub beta_tester: bool,
    pub renewal_date: Option<i64>,
    pub tier: &'static str,
    pub referral: Option<String>,
    pub tag_ids: Vec<String>,
    /// Ids of the contact's (live) companies.
    pub company_ids: Vec<String>,
    /// Ids of the contact's notes.
    pub note_ids: Vec<String>,
    /// A `seats` value that does not fit the declared integer type.
    pub seats_text: Option<&'static str>,
    /// A `renewal date` value that does not fit the declared date type.
    pub renewal_text: Option<&'static str>,
}

/// Derives contact `idx` as it is now.
pub(crate) fn data(world: &World, idx: u32) -> ContactData {
    let ident = identity(world, idx);
    let meta = world.contacts[idx as usize];
    let mut r = Rng::new(
        world.seed,
        salt::CONTACT_STATE,
        u64::from(idx),
        u64::from(meta.version),
    );
    let (created, updated) = (meta.created_at, meta.updated_at);
    let lived = (updated - created).max(0);
    let before_update = |r: &mut Rng, p: f64| {
        r.chance(p)
            .then(|| updated - r.below(lived.min(90 * 86_400) as u64 + 1) as i64)
    };
    let seen_p = if ident.role == "user" { 0.95 } else { 0.7 };
    let last_seen_at = before_update(&mut r, seen_p);
    let last_replied_at = before_update(&mut r, 0.4);
    let last_contacted_at = before_update(&mut r, 0.5);
    let last_email_opened_at = before_update(&mut r, 0.3);
    let last_email_clicked_at = last_email_opened_at.filter(|_| r.chance(0.4));
    let has_browser = r.chance(0.85);
    let (bname, versions) = r.pick(BROWSERS);
    let bversion = r.pick(versions);
    let ios = r
        .chance(0.08)
        .then(|| ("Acme iOS", r.pick(&["3.2.0", "3.3.1"]), updated));
    let android = r
        .chance(0.06)
        .then(|| ("Acme Android", r.pick(&["2.9.0", "3.0.2"]), updated));
    let tag_count = r.weighted(&[60, 25, 10, 5]);
    let tags = &world.tags;
    let mut tag_ids: Vec<String> = Vec::new();
    for _ in 0..tag_count {
        let id = tags[r.below(tags.len() as u64) as usize].0.to_string();
        if !tag_ids.contains(&id) {
            tag_ids.push(id);
        }
    }
    if idx % 50 == 7 {
        // More tags than a contact inlines.
        tag_ids = tags.iter().take(12).map(|t| t.0.to_string()).collect();
    }
    let plan = r.pick(PLANS);
    ContactData {
        owner_id: r
            .chance(0.3)
            .then(|| admin_id(r.below(world.admins.len() as u64) as usize).to_string()),
        hard_bounced: r.chance(0.02),
        spam: r.chance(0.01),
        unsubscribed: r.chance(0.1),
        last_seen_at,
        last_replied_at,
        last_contacted_at,
        last_email_opened_at,
        last_email_clicked_at,
        language_override: r.chance(0.05).then(|| r.pick(&["fr", "de", "ja"])),
        browser: has_browser.then_some((bname, bversion)),
        browser_language: has_browser.then(|| r.pick(LANGUAGES)),
        os: has_browser.then(|| r.pick(OSES)),
        ios,
        android,
        plan,
        seats: match plan {
            "free" => 1,
            "starter" => 1 + r.below(5) as i64,
            "pro" => 5 + r.below(50) as i64,
            _ => 50 + r.below(2000) as i64,
        },
        mrr: (r.below(5_000_000) as f64) / 100.0,
        beta_tester: r.chance(0.2),
        renewal_date: (plan != "free").then(|| created + (1 + r.below(3) as i64) * 365 * 86_400),
        tier: r.pick(TIERS),
        referral: r
            .chance(0.3)
            .then(|| format!("REF-{:05}", r.below(100_000))),
        tag_ids,
        company_ids: world
            .contact_companies(idx)
            .into_iter()
            .map(|c| world.company_id(c))
            .collect(),
        note_ids: super::note::ids(world, idx),
        seats_text: (idx % 41 == 5).then_some("n/a"),
        renewal_text: (idx % 43 == 9).then_some("next spring"),
        updated_at: updated,
        ident,
    }
}

/// Lazily derived contact for query evaluation: timestamps come straight
/// from the metadata, everything else derives the contact once.
pub(crate) struct ContactRecord<'w> {
    world: &'w World,
    idx: u32,
    data: OnceCell<ContactData>,
    /// Ids of the segments the contact is in (as `GET /contacts/{id}/segments`).
    segments: OnceCell<Vec<String>>,
}

impl<'w> ContactRecord<'w> {
    /// A record view of contact `idx`.
    pub(crate) fn new(world: &'w World, idx: u32) -> Self {
        ContactRecord {
            world,
            idx,
            data: OnceCell::new(),
            segments: OnceCell::new(),
        }
    }
}

fn opt_str(v: &Option<String>) -> FieldValue<'_> {
    v.as_deref().map_or(FieldValue::Null, FieldValue::Str)
}

fn opt_static(v: Option<&'static str>) -> FieldValue<'static> {
    v.map_or(FieldValue::Null, FieldValue::Str)
}

fn opt_int(v: Option<i64>) -> FieldValue<'static> {
    v.map_or(FieldValue::Null, FieldValue::Int)
}

impl Record for ContactRecord<'_> {
    fn field(&self, k: u16) -> FieldValue<'_> {
        let meta = &self.world.contacts[self.idx as usize];
        match k {
            key::CREATED_AT => return FieldValue::Int(meta.created_at),
            key::UPDATED_AT => return FieldValue::Int(meta.updated_at),
            key::SEGMENT_ID => {
                return FieldValue::Many(self.segments.get_or_init(|| {
                    (0..self.world.segments)
                        .filter(|&j| snapshot::in_segment(self.world, j, self.idx))
                        .map(|j| snapshot::segment_id(self.world, j))
                        .collect()
                }));
            }
            _ => {}
        }
        if let Some(f) = FIELDS.iter().find(|f| f.key == k)
            && let Some(v) =
                self.world
                    .writes
                    .contact_field(self.idx, f.name, matches!(f.ty, FieldType::Bool))
        {
            return v;
        }
        let d = self.data.get_or_init(|| data(self.world, self.idx));
        let loc = d.ident.location;
        match k {
            key::ID => FieldValue::Str(&d.ident.id),
            key::ROLE => FieldValue::Str(d.ident.role),
            key::NAME => opt_str(&d.ident.name),
            key::EMAIL => FieldValue::Str(&d.ident.email),
            key::EMAIL_DOMAIN => FieldValue::Str(d.ident.email_domain),
            key::PHONE => opt_str(&d.ident.phone),
            key::FORMATTED_PHONE => opt_str(&d.ident.formatted_phone),
            key::EXTERNAL_ID => opt_str(&d.ident.external_id),
            key::OWNER_ID => opt_str(&d.owner_id),
            key::SIGNED_UP_AT => opt_int(d.ident.signed_up_at),
            key::LAST_SEEN_AT => opt_int(d.last_seen_at),
            key::LAST_CONTACTED_AT => opt_int(d.last_contacted_at),
            key::LAST_REPLIED_AT => opt_int(d.last_replied_at),
            key::LAST_EMAIL_OPENED_AT => opt_int(d.last_email_opened_at),
            key::LAST_EMAIL_CLICKED_AT => opt_int(d.last_email_clicked_at),
            key::BROWSER => opt_static(d.browser.map(|b| b.0)),
            key::BROWSER_LANGUAGE => opt_static(d.browser_language),
            key::OS => opt_static(d.os),
            key::LANGUAGE_OVERRIDE => opt_static(d.language_override),
            key::COUNTRY => opt_static(loc.map(|l| l.0)),
            key::REGION => opt_static(loc.map(|l| l.1)),
            key::CITY => opt_static(loc.map(|l| l.2)),
            key::UNSUBSCRIBED => FieldValue::Bool(d.unsubscribed),
            key::SPAM => FieldValue::Bool(d.spam),
            key::HARD_BOUNCED => FieldValue::Bool(d.hard_bounced),
            key::TAG_ID => FieldValue::Many(&d.tag_ids),
            key::PLAN => FieldValue::Str(d.plan),
            key::SEATS => FieldValue::Int(d.seats),
            key::MRR => FieldValue::Float(d.mrr),
            key::BETA => FieldValue::Bool(d.beta_tester),
            key::RENEWAL => opt_int(d.renewal_date),
            key::TIER => FieldValue::Str(d.tier),
            _ => FieldValue::Null,
        }
    }
}
