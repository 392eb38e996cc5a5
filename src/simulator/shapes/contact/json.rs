//! A contact as the API sends it ([`ContactJson`]): the canonical form, the
//! recorded wire variants, its custom attributes and its addressable lists
//! (`tags`, `notes`, `companies`).

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use super::super::super::world::World;
use super::super::obj;
use super::super::wire::{self, InlineCut, InlineList};
use super::*;

/// Contact `idx` as the list, search and get endpoints return it, ready to
/// serialize. Written straight to the output (no intermediate `Value`): this
/// is the hot path of large exports.
pub(crate) struct ContactJson<'w> {
    world: &'w World,
    d: ContactData,
    /// 2.11 shape: `owner_id` is an integer.
    v211: bool,
    /// The generated contact only, without values written through the API.
    raw: bool,
    /// As the API sends it (any route): the recorded wire variants of a
    /// share of contacts (see [`wire_avatar_as_url`], [`wire_signed_up_millis`],
    /// and inline `tags`/`companies` cut short: [`wire::inline_cut`]).
    /// Off for `/__sim/truth`, which holds the canonical form.
    wire: bool,
    idx: u32,
}

/// Whether contact `idx` sends its `avatar` as a plain URL string instead of
/// the `{type, image_url}` object (airbyte `contacts.yml` lead
/// `5fd150d50697b6d0bbc4a2c2`, hull `fetch-all-users`): every 3rd contact
/// with an avatar.
pub(crate) fn wire_avatar_as_url(idx: u32) -> bool {
    idx % 3 == 1
}

/// Whether contact `idx` sends `signed_up_at` in unix milliseconds, as
/// contact search did for some contacts (issue #20: `1467133937045`):
/// every 7th.
pub(crate) fn wire_signed_up_millis(idx: u32) -> bool {
    idx % 7 == 2
}

impl<'w> ContactJson<'w> {
    /// Derives contact `idx`.
    pub(crate) fn new(world: &'w World, idx: u32) -> Self {
        ContactJson {
            world,
            d: data(world, idx),
            v211: false,
            raw: false,
            wire: false,
            idx,
        }
    }

    /// As an API route answers: the 2.11 shape when `v211` (see
    /// [`ContactJson`]), and the recorded wire variants.
    pub(crate) fn version(mut self, v211: bool) -> Self {
        self.v211 = v211;
        self.wire = true;
        self
    }
}

/// `custom_attributes`, with deliberately awkward names and mixed types.
struct CustomAttributes<'a>(&'a ContactData);

impl Serialize for CustomAttributes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        let mut m = s.serialize_map(Some(7))?;
        m.serialize_entry("plan", d.plan)?;
        match d.seats_text {
            Some(t) => m.serialize_entry("seats", t)?,
            None => m.serialize_entry("seats", &d.seats)?,
        }
        m.serialize_entry("MRR", &d.mrr)?;
        m.serialize_entry("beta_tester", &d.beta_tester)?;
        match d.renewal_text {
            Some(t) => m.serialize_entry("renewal date", t)?,
            None => m.serialize_entry("renewal date", &d.renewal_date)?,
        }
        m.serialize_entry("Tier ✨", d.tier)?;
        m.serialize_entry("referral code", &d.referral)?;
        m.end()
    }
}

/// Most items a contact's `tags`, `notes` and `companies` lists inline.
pub(crate) const INLINE_LIMIT: usize = 10;

/// An addressable list of `(type, id, url prefix)` items; `total_count` is
/// the full count, `has_more` says whether `url` holds more than is inlined
/// (canonical), or as `cut` says (a recorded wire variant,
/// [`wire::inline_cut`]).
struct AddressableList<'a> {
    kind: &'static str,
    ids: &'a [String],
    item_url: &'static str,
    url: String,
    cut: Option<InlineCut>,
}

impl Serialize for AddressableList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let items: Vec<Value> = self
            .ids
            .iter()
            .take(self.cut.map_or(INLINE_LIMIT, |c| c.sent))
            .map(|id| {
                obj! { "type" => self.kind, "id" => id.as_str(), "url" => format!("{}/{id}", self.item_url) }
            })
            .collect();
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("type", "list")?;
        m.serialize_entry("data", &items)?;
        m.serialize_entry("url", &self.url)?;
        m.serialize_entry("total_count", &self.ids.len())?;
        let has_more = match self.cut {
            Some(c) => c.has_more,
            None => self.ids.len() > INLINE_LIMIT,
        };
        m.serialize_entry("has_more", &has_more)?;
        m.end()
    }
}

impl Serialize for ContactJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let w = &self.world.writes;
        if !self.raw
            && !w.contacts.is_empty()
            && let Some(idx) = self.world.parse_contact_id(&self.d.ident.id)
            && w.contacts.contains_key(&idx)
        {
            // Written through the API: the generated contact with the writes laid over.
            let raw = ContactJson {
                world: self.world,
                d: self.d.clone(),
                v211: self.v211,
                raw: true,
                // Written contacts are served in the canonical form: the
                // overlay patches the fields the API set.
                wire: false,
                idx: self.idx,
            };
            let mut v = serde_json::to_value(raw).map_err(serde::ser::Error::custom)?;
            w.patch_contact(idx, &mut v, self.v211);
            return v.serialize(s);
        }
        let d = &self.d;
        let id = &d.ident.id;
        let (ios, android) = (d.ios, d.android);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("type", "contact")?;
        m.serialize_entry("id", id)?;
        m.serialize_entry("workspace_id", &self.world.id_code)?;
        m.serialize_entry("external_id", &d.ident.external_id)?;
        m.serialize_entry("role", d.ident.role)?;
        m.serialize_entry("email", &d.ident.email)?;
        m.serialize_entry("email_domain", d.ident.email_domain)?;
        m.serialize_entry("phone", &d.ident.phone)?;
        m.serialize_entry("formatted_phone", &d.ident.formatted_phone)?;
        m.serialize_entry("name", &d.ident.name)?;
        match &d.ident.avatar {
            Some(url) if self.wire && wire_avatar_as_url(self.idx) => {
                m.serialize_entry("avatar", url)?;
            }
            avatar => m.serialize_entry(
                "avatar",
                &avatar.as_ref().map(|url| {
                    obj! { "type" => "avatar", "image_url" => url.as_str() }
                }),
            )?,
        }
        if self.v211 {
            let owner: Option<i64> = d.owner_id.as_deref().and_then(|o| o.parse().ok());
            m.serialize_entry("owner_id", &owner)?;
        } else {
            m.serialize_entry("owner_id", &d.owner_id)?;
        }
        m.serialize_entry(
            "social_profiles",
            &obj! {
                "type" => "list",
                "data" => d.ident.twitter.iter().map(|u| {
                    obj! { "type" => "social_profile", "name" => "Twitter", "url" => u.as_str() }
                }).collect::<Vec<Value>>(),
            },
        )?;
        m.serialize_entry("has_hard_bounced", &d.hard_bounced)?;
        m.serialize_entry("marked_email_as_spam", &d.spam)?;
        m.serialize_entry("unsubscribed_from_emails", &d.unsubscribed)?;
        m.serialize_entry("created_at", &d.ident.created_at)?;
        m.serialize_entry("updated_at", &d.updated_at)?;
        match d.ident.signed_up_at {
            Some(t) if self.wire && wire_signed_up_millis(self.idx) => {
                m.serialize_entry("signed_up_at", &(t * 1000))?;
            }
            t => m.serialize_entry("signed_up_at", &t)?,
        }
        m.serialize_entry("last_seen_at", &d.last_seen_at)?;
        m.serialize_entry("last_replied_at", &d.last_replied_at)?;
        m.serialize_entry("last_contacted_at", &d.last_contacted_at)?;
        m.serialize_entry("last_email_opened_at", &d.last_email_opened_at)?;
        m.serialize_entry("last_email_clicked_at", &d.last_email_clicked_at)?;
        m.serialize_entry("language_override", &d.language_override)?;
        m.serialize_entry("browser", &d.browser.map(|b| b.0))?;
        m.serialize_entry("browser_version", &d.browser.map(|b| b.1))?;
        m.serialize_entry("browser_language", &d.browser_language)?;
        m.serialize_entry("os", &d.os)?;
        m.serialize_entry("location", &match d.ident.location {
            Some((country, region, city, cc, continent)) => obj! {
                "type" => "location", "country" => country, "region" => region, "city" => city,
                "country_code" => cc, "continent_code" => continent,
            },
            None => obj! {
                "type" => "location", "country" => Value::Null, "region" => Value::Null,
                "city" => Value::Null, "country_code" => Value::Null, "continent_code" => Value::Null,
            },
        })?;
        m.serialize_entry("android_app_name", &android.map(|a| a.0))?;
        m.serialize_entry("android_app_version", &android.map(|a| a.1))?;
        m.serialize_entry("android_device", &android.map(|_| "Pixel 8"))?;
        m.serialize_entry("android_os_version", &android.map(|_| "14"))?;
        m.serialize_entry("android_sdk_version", &android.map(|_| "15.6.0"))?;
        m.serialize_entry("android_last_seen_at", &android.map(|a| a.2))?;
        m.serialize_entry("ios_app_name", &ios.map(|a| a.0))?;
        m.serialize_entry("ios_app_version", &ios.map(|a| a.1))?;
        m.serialize_entry("ios_device", &ios.map(|_| "iPhone15,2"))?;
        m.serialize_entry("ios_os_version", &ios.map(|_| "17.5"))?;
        m.serialize_entry("ios_sdk_version", &ios.map(|_| "17.1.0"))?;
        m.serialize_entry("ios_last_seen_at", &ios.map(|a| a.2))?;
        m.serialize_entry("custom_attributes", &CustomAttributes(d))?;
        let seed = self.world.seed;
        let cut = |list: InlineList, total: usize| {
            self.wire
                .then(|| wire::inline_cut(seed, list, self.idx, total))
                .flatten()
        };
        m.serialize_entry(
            "tags",
            &AddressableList {
                kind: "tag",
                ids: &d.tag_ids,
                item_url: "/tags",
                url: format!("/contacts/{id}/tags"),
                cut: cut(InlineList::Tags, d.tag_ids.len()),
            },
        )?;
        m.serialize_entry(
            "notes",
            &AddressableList {
                kind: "note",
                ids: &d.note_ids,
                item_url: "/notes",
                url: format!("/contacts/{id}/notes"),
                cut: None,
            },
        )?;
        m.serialize_entry(
            "companies",
            &AddressableList {
                kind: "company",
                ids: &d.company_ids,
                item_url: "/companies",
                url: format!("/contacts/{id}/companies"),
                cut: cut(InlineList::Companies, d.company_ids.len()),
            },
        )?;
        m.end()
    }
}

/// Contact `idx` as a JSON value (for tests).
#[cfg(test)]
pub(crate) fn json(world: &World, idx: u32) -> Value {
    serde_json::to_value(ContactJson::new(world, idx)).unwrap_or(Value::Null)
}
