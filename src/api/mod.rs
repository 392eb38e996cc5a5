//! Shapes of Intercom responses and requests that the extractors rely on.
//!
//! Records themselves stay `serde_json::Value`: Intercom adds fields freely,
//! and the reports pick what they need through declarative columns
//! (`output::schema`). Only the envelopes are typed here.
//!
//! # Page envelopes
//!
//! Every list and search endpoint puts its records under one key, which
//! differs by endpoint (`data` for contacts, `conversations` for
//! conversations, `tickets` for tickets; see [`list_key`]). [`Page::decode`]
//! is the one place that reads an envelope, and it refuses two answers that
//! would otherwise pass for an empty or complete page:
//!
//! - the expected list key is missing (a renamed key, a proxy's answer, an
//!   error object with status 200): an error naming the endpoint and the
//!   keys that were there, so nothing is exported as "no rows";
//! - a single-page answer (no next page, first request) listing fewer
//!   records than its own `total_count`: one response is one snapshot, so
//!   this cannot be a listing that changed while read ([`Page::check_complete`]).
//!
//! A listing of several pages that ends with fewer distinct records than
//! the `total_count` of its last page is not an error (records can move out
//! of a search while it is paged); the search counts it as a short read
//! (`AnomalyKind::ShortRead`).

pub mod paginate;
pub mod query;

use serde::Deserialize;
use serde_json::Value;

use crate::error::Error;

/// The key under which a list or search endpoint (`path` relative to the
/// base URL, without query) puts its records: `conversations` for
/// `POST /conversations/search` and `GET /conversations`, `tickets` for
/// `POST /tickets/search`, `data` for every other list (contacts, companies,
/// notes, ...).
pub fn list_key(path: &str) -> &'static str {
    let path = path.trim_start_matches('/');
    let path = path.split('?').next().unwrap_or(path);
    match path {
        "conversations/search" | "conversations" => "conversations",
        "tickets/search" => "tickets",
        _ => "data",
    }
}

/// A page of a list or search response: its records (from the endpoint's
/// [`list_key`]), `pages` and `total_count`.
#[derive(Debug, Default)]
pub struct Page {
    /// The records of this page, as sent.
    pub data: Vec<Value>,
    /// `pages` (pagination; `next` says whether there is another page).
    pub pages: Option<Pages>,
    /// `total_count`: how many records the whole listing holds, as the
    /// server counted when it answered this page.
    pub total_count: Option<u64>,
}

/// The `pages` object. Only `next` matters, and its shape varies (see
/// [`Page::next_cursor`]).
#[derive(Debug, Deserialize)]
pub struct Pages {
    #[serde(default)]
    pub next: Option<Value>,
}

impl Page {
    /// Read the envelope `body` of `endpoint` (e.g. `POST /conversations/search`),
    /// whose records are under `key` (see [`list_key`]). A body that is not
    /// an object, or has no array under `key`, is an [`Error::Protocol`]
    /// naming the endpoint and the keys found.
    pub fn decode(endpoint: &str, key: &str, body: Value) -> Result<Page, Error> {
        let Value::Object(mut map) = body else {
            return Err(Error::Protocol {
                endpoint: endpoint.to_string(),
                message: format!(
                    "the answer is not a JSON object but {}; nothing was exported from it. \
                     Check base_url (a proxy or another service may be answering)",
                    kind_of(&body)
                ),
            });
        };
        let data = match map.remove(key) {
            Some(Value::Array(items)) => items,
            other => {
                let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
                if other.is_some() {
                    keys.push(key);
                }
                keys.sort_unstable();
                let what = match &other {
                    Some(v) => format!("`{key}` is {} instead of a list", kind_of(v)),
                    None => format!("no `{key}` list"),
                };
                return Err(Error::Protocol {
                    endpoint: endpoint.to_string(),
                    message: format!(
                        "the answer has {what} (keys found: {}); it is not read as an empty \
                         page, so nothing was exported from it. Intercom may have changed this \
                         endpoint's shape, or something else answered: check base_url and \
                         intercom_version, and report it if they are right",
                        if keys.is_empty() {
                            "none".to_string()
                        } else {
                            keys.join(", ")
                        }
                    ),
                });
            }
        };
        let pages = match map.remove("pages") {
            Some(Value::Object(p)) => Some(Pages {
                next: p.get("next").cloned(),
            }),
            _ => None,
        };
        let total_count = map.get("total_count").and_then(Value::as_u64);
        Ok(Page {
            data,
            pages,
            total_count,
        })
    }

    /// For the *first and only* page of a listing (no next page): an error
    /// when it lists fewer records than its own `total_count`, which one
    /// consistent answer cannot do. Later pages are not checked here (see
    /// the module docs: a multi-page shortfall is a short read, counted).
    pub fn check_complete(&self, endpoint: &str, first: bool) -> Result<(), Error> {
        self.check_complete_with(endpoint, first, self.data.len())
    }

    /// [`Self::check_complete`] for a page whose `records` were kept apart
    /// from this envelope (e.g. as text).
    pub fn check_complete_with(
        &self,
        endpoint: &str,
        first: bool,
        records: usize,
    ) -> Result<(), Error> {
        if !first || self.next_cursor().is_some() {
            return Ok(());
        }
        match self.total_count {
            Some(total) if (records as u64) < total => Err(Error::Protocol {
                endpoint: endpoint.to_string(),
                message: format!(
                    "a single-page answer lists {} record(s) but says total_count {total}, with \
                     no next page; the rest cannot be read, so nothing was exported from it. \
                     Retry later; if it persists, report it",
                    records
                ),
            }),
            _ => Ok(()),
        }
    }

    /// The cursor for the next page, whatever shape `pages.next` takes:
    /// `{starting_after}` (with or without `page`/`per_page`), a URL whose
    /// query has `starting_after`, `null`, or missing. `None` means last page.
    pub fn next_cursor(&self) -> Option<String> {
        let next = self.pages.as_ref()?.next.as_ref()?;
        match next {
            Value::Object(o) => o
                .get("starting_after")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            Value::String(u) => url::Url::parse(u).ok().and_then(|url| {
                url.query_pairs()
                    .find(|(k, _)| k == "starting_after")
                    .map(|(_, v)| v.into_owned())
            }),
            _ => None,
        }
    }
}

/// The list under the first of `keys` that `body` has (e.g. `["data",
/// "companies"]` for `GET /contacts/{id}/companies`), for answers read
/// without [`Page`]. None of them there is an [`Error::Protocol`] naming
/// `endpoint` and the keys found, as in [`Page::decode`]: never an empty list.
pub fn list_in(endpoint: &str, body: Value, keys: &[&str]) -> Result<Vec<Value>, Error> {
    let found = keys
        .iter()
        .find(|k| body.get(**k).is_some_and(Value::is_array))
        .copied();
    match found {
        Some(key) => Page::decode(endpoint, key, body).map(|p| p.data),
        None => {
            Page::decode(endpoint, keys.first().copied().unwrap_or("data"), body).map(|p| p.data)
        }
    }
}

/// "a string", "null", ... for messages.
fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn page(pages: Value) -> Page {
        Page::decode(
            "GET /test",
            "data",
            json!({"type": "list", "data": [], "pages": pages}),
        )
        .expect("page")
    }

    #[test]
    fn every_shape_of_next() {
        let c = |v: Value| page(v).next_cursor();
        assert_eq!(
            c(json!({"next": {"page": 2, "starting_after": "WzE"}})).as_deref(),
            Some("WzE")
        );
        assert_eq!(
            c(json!({"next": {"per_page": 5, "starting_after": "abc"}})).as_deref(),
            Some("abc")
        );
        assert_eq!(
            c(json!({"next": {"per_page": 5, "starting_after": null}})),
            None
        );
        assert_eq!(
            c(json!({"next": "https://api.intercom.io/contacts?starting_after=q%3D"})).as_deref(),
            Some("q=")
        );
        assert_eq!(c(json!({"next": null})), None);
        assert_eq!(c(json!({"page": 1})), None);
        let conv = Page::decode(
            "POST /conversations/search",
            list_key("conversations/search"),
            json!({"type": "conversation.list", "conversations": [{"id": "1"}]}),
        )
        .expect("page");
        assert_eq!(conv.data.len(), 1);
        assert_eq!(conv.next_cursor(), None);
    }

    #[test]
    fn each_endpoint_has_its_list_key() {
        assert_eq!(list_key("conversations/search"), "conversations");
        assert_eq!(list_key("/conversations?per_page=5"), "conversations");
        assert_eq!(list_key("tickets/search"), "tickets");
        assert_eq!(list_key("contacts/search"), "data");
        assert_eq!(list_key("contacts/abc/notes?page=2"), "data");
    }

    #[test]
    fn a_list_under_another_key_is_an_error_naming_the_keys() {
        // The bug report: conversations under `items` were read as an empty page.
        let err = Page::decode(
            "POST /conversations/search",
            "conversations",
            json!({"type": "conversation.list", "total_count": 1, "items": [{"id": "1"}]}),
        )
        .expect_err("no conversations key")
        .to_string();
        assert!(
            err.contains("POST /conversations/search")
                && err.contains("no `conversations` list")
                && err.contains("keys found: items, total_count, type"),
            "{err}"
        );
        // The same for contacts, and for a list key holding something else.
        let err = Page::decode(
            "POST /contacts/search",
            "data",
            json!({"type": "list", "data": {"id": "1"}}),
        )
        .expect_err("data is an object")
        .to_string();
        assert!(
            err.contains("`data` is an object instead of a list"),
            "{err}"
        );
        let err = Page::decode("POST /contacts/search", "data", json!([]))
            .expect_err("not an object")
            .to_string();
        assert!(err.contains("not a JSON object"), "{err}");
        // An empty list under the right key is an empty page.
        let empty = Page::decode(
            "POST /contacts/search",
            "data",
            json!({"type": "list", "data": [], "total_count": 0}),
        )
        .expect("empty page");
        assert!(empty.data.is_empty());
        assert!(empty.check_complete("POST /contacts/search", true).is_ok());
    }

    #[test]
    fn sub_resource_lists_are_found_under_any_of_their_keys_or_refused() {
        let companies = list_in(
            "GET /contacts/{id}/companies",
            json!({"type": "list", "companies": [{"id": "k1"}]}),
            &["data", "companies"],
        )
        .expect("companies key");
        assert_eq!(companies.len(), 1);
        let err = list_in(
            "GET /contacts/{id}/companies",
            json!({"type": "list", "items": []}),
            &["data", "companies"],
        )
        .expect_err("neither key")
        .to_string();
        assert!(
            err.contains("GET /contacts/{id}/companies") && err.contains("keys found: items, type"),
            "{err}"
        );
    }

    #[test]
    fn a_single_page_short_of_its_total_is_an_error() {
        let short = Page::decode(
            "POST /tickets/search",
            "tickets",
            json!({"type": "ticket.list", "total_count": 3, "tickets": [{"id": "1"}, {"id": "2"}],
                   "pages": {"type": "pages", "next": null}}),
        )
        .expect("decodes");
        let err = short
            .check_complete("POST /tickets/search", true)
            .expect_err("2 of 3 on the only page")
            .to_string();
        assert!(
            err.contains("lists 2 record(s) but says total_count 3"),
            "{err}"
        );
        // Not the first page (a listing that changed while paged): not here.
        assert!(short.check_complete("POST /tickets/search", false).is_ok());
        // A first page with a next page is not the whole listing.
        let more = Page::decode(
            "POST /tickets/search",
            "tickets",
            json!({"total_count": 3, "tickets": [{"id": "1"}],
                   "pages": {"next": {"starting_after": "x"}}}),
        )
        .expect("decodes");
        assert!(more.check_complete("POST /tickets/search", true).is_ok());
    }
}
