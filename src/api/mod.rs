//! Shapes of Intercom responses and requests that the extractors rely on.
//!
//! Records themselves stay `serde_json::Value`: Intercom adds fields freely,
//! and the reports pick what they need through declarative columns
//! (`output::schema`). Only the envelopes are typed here.

pub mod paginate;
pub mod query;

use serde::Deserialize;
use serde_json::Value;

/// A page of a list or search response. Contacts put records under `data`,
/// conversations under `conversations`.
#[derive(Debug, Deserialize)]
pub struct Page {
    #[serde(alias = "conversations", alias = "tickets", default)]
    pub data: Vec<Value>,
    #[serde(default)]
    pub pages: Option<Pages>,
    #[serde(default)]
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

#[cfg(test)]
mod tests {
    use super::*;

    fn page(pages: Value) -> Page {
        serde_json::from_value(serde_json::json!({"type": "list", "data": [], "pages": pages}))
            .expect("page")
    }

    #[test]
    fn every_shape_of_next() {
        let c = |v: Value| page(v).next_cursor();
        assert_eq!(
            c(serde_json::json!({"next": {"page": 2, "starting_after": "WzE"}})).as_deref(),
            Some("WzE")
        );
        assert_eq!(
            c(serde_json::json!({"next": {"per_page": 5, "starting_after": "abc"}})).as_deref(),
            Some("abc")
        );
        assert_eq!(
            c(serde_json::json!({"next": {"per_page": 5, "starting_after": null}})),
            None
        );
        assert_eq!(
            c(serde_json::json!({"next": "https://api.intercom.io/contacts?starting_after=q%3D"}))
                .as_deref(),
            Some("q=")
        );
        assert_eq!(c(serde_json::json!({"next": null})), None);
        assert_eq!(c(serde_json::json!({"page": 1})), None);
        let conv: Page = serde_json::from_value(
            serde_json::json!({"type": "conversation.list", "conversations": [{"id": "1"}]}),
        )
        .expect("page");
        assert_eq!(conv.data.len(), 1);
        assert_eq!(conv.next_cursor(), None);
    }
}
