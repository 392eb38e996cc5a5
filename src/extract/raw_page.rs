//! A search page whose records are kept as the JSON text the server sent
//! ([`RawPage`]): what windows read ahead of their turn hold in memory and
//! in their spill files (see `extract/windows_parallel.rs`), decoded into
//! `serde_json::Value`s only when delivered.

use std::collections::BTreeMap;

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
        let envelope: Option<BTreeMap<&str, &RawValue>> = serde_json::from_str(body.get()).ok();
        let field = |name: &str| envelope.as_ref().and_then(|e| e.get(name).copied());
        let data = field(key).and_then(|r| serde_json::from_str::<Vec<RawRecord>>(r.get()).ok());
        // As [`Page::decode`] reads them: `pages` only as an object,
        // `total_count` only as a whole number.
        let small =
            |name: &str| field(name).and_then(|r| serde_json::from_str::<Value>(r.get()).ok());
        let pages = match small("pages") {
            Some(Value::Object(p)) => Some(Pages {
                next: p.get("next").cloned(),
            }),
            _ => None,
        };
        let total_count = small("total_count").as_ref().and_then(Value::as_u64);
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
