//! A search page whose records are kept as the JSON text the server sent
//! ([`RawPage`]): what windows read ahead of their turn hold in memory and
//! in their spill files (see `extract/windows_parallel.rs`), decoded into
//! `serde_json::Value`s only when delivered.

use std::fmt;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::api::{Page, Pages};
use crate::error::{Error, Result};

/// One record of a search page as the server sent it: its JSON text
/// (`serde_json::value::RawValue`), decoded into a `Value` only when it is
/// delivered. A page of 150 contacts is about 1 MB as text and 2–3 MB
/// decoded, so windows ahead keep their pages this way.
pub(crate) type RawRecord = Box<RawValue>;

/// A search page whose records are kept as sent (see [`RawRecord`]).
#[derive(Debug)]
pub(crate) struct RawPage {
    /// The records under the envelope's list key (`data` for contacts,
    /// `conversations` for conversations), each as its JSON text.
    pub data: Vec<RawRecord>,
    /// The envelope without its records: `pages` and `total_count`.
    pub envelope: Page,
}

impl RawPage {
    /// Read a search answer `body` of `endpoint` whose records are under
    /// `key`, keeping the records as text. A body that is not an object, or
    /// has no list under `key`, is the [`Page::decode`] error.
    pub(crate) fn decode(endpoint: &str, key: &str, body: &RawValue) -> Result<RawPage> {
        // One pass over the page: the records are cut out as text while the
        // envelope is read (`pages`, `total_count`; anything else skipped).
        let mut de = serde_json::Deserializer::from_str(body.get());
        let read = serde::de::DeserializeSeed::deserialize(EnvelopeSeed { key }, &mut de)
            .ok()
            .filter(|_| de.end().is_ok());
        let (data, pages, total_count) = match read {
            Some(e) => (e.data, e.pages, e.total_count),
            None => (None, None, None),
        };
        // As [`Page::decode`] reads them: `pages` only as an object,
        // `total_count` only as a whole number.
        let pages = match pages {
            Some(Value::Object(p)) => Some(Pages {
                next: p.get("next").cloned(),
            }),
            _ => None,
        };
        let total_count = total_count.as_ref().and_then(Value::as_u64);
        match data {
            Some(data) => Ok(RawPage {
                data,
                envelope: Page {
                    data: Vec::new(),
                    pages,
                    total_count,
                },
            }),
            // Not the expected shape: the decoded page's error says what is
            // wrong (or, for a shape only the full decode accepts, its page).
            _ => {
                let value: Value =
                    serde_json::from_str(body.get()).map_err(|e| Error::Protocol {
                        endpoint: endpoint.to_string(),
                        message: format!("the answer is not JSON: {e}"),
                    })?;
                Ok(RawPage::from_page(Page::decode(endpoint, key, value)?))
            }
        }
    }

    /// A decoded page's records as text (their JSON serialisation).
    pub(crate) fn from_page(page: Page) -> RawPage {
        let data = page
            .data
            .iter()
            .filter_map(|v| serde_json::value::to_raw_value(v).ok())
            .collect();
        RawPage {
            data,
            envelope: Page {
                data: Vec::new(),
                ..page
            },
        }
    }
}

/// What [`RawPage::decode`] reads of a search answer in its one pass: the
/// list under `key` with each record as its text, `pages` and
/// `total_count` as sent (a later duplicate key wins, as in a map), every
/// other key skipped. An answer that is not an object, or whose `key` is
/// not a list, is an error here (the caller then decodes it whole for the
/// message).
struct EnvelopeSeed<'k> {
    key: &'k str,
}

/// The envelope's fields [`EnvelopeSeed`] keeps.
#[derive(Default)]
struct Envelope {
    data: Option<Vec<RawRecord>>,
    pages: Option<Value>,
    total_count: Option<Value>,
}

impl<'de> DeserializeSeed<'de> for EnvelopeSeed<'_> {
    type Value = Envelope;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Envelope, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EnvelopeSeed<'_> {
    type Value = Envelope;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a search answer (an object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Envelope, A::Error> {
        let mut e = Envelope::default();
        while let Some(name) = map.next_key_seed(crate::extract::record_keys::KeyText)? {
            if name == self.key {
                e.data = Some(map.next_value()?);
            } else if name == "pages" {
                e.pages = Some(map.next_value()?);
            } else if name == "total_count" {
                e.total_count = Some(map.next_value()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(e)
    }
}
