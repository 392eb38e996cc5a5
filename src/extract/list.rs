//! The paginator for Intercom's listings that page by number
//! (`?page=N&per_page=M`: `GET /conversations/deleted`,
//! `GET /companies/{id}/contacts`, `GET /contacts/{id}/notes`) or by a
//! `pages.next` URL (`GET /events`). (Search endpoints page with
//! `starting_after`, see [`super::search`]; the company scroll is
//! [`crate::api::paginate::Scroll`].)
//!
//! - A page without its list key is an error (never an empty page), see
//!   [`crate::api::list_in`].
//! - `pages.next` is followed only to the configured base URL's origin (the
//!   token is never sent elsewhere), and must advance.
//! - A page that still fails after the client's retries with a 5xx, a
//!   timeout or an unusable body is asked again with half the page size
//!   (down to [`MIN_DEGRADED_PER_PAGE`]), counted once per listing as a
//!   degraded window. The listing goes on where it was: page-numbered
//!   listings jump to the page holding the next item at the new size,
//!   `pages.next` listings start again and skip what was delivered (both
//!   assume the listing's order does not change while it is read).

use std::collections::HashSet;

use serde_json::Value;

use crate::anomalies::{Anomalies, AnomalyKind};
use crate::error::{Error, Result};
use crate::extract::search::{MIN_DEGRADED_PER_PAGE, degradable};
use crate::http::IntercomClient;

/// How a listing is paged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `page=N&per_page=M`, until `pages.total_pages` (or, without it, until
    /// a page without `pages.next`).
    PageNumber,
    /// The first request, then each page's `pages.next` URL.
    NextUrl,
}

/// One listing to read.
pub(crate) struct List<'a> {
    pub client: &'a IntercomClient,
    /// The first request's path without paging parameters, e.g.
    /// `companies/5/contacts` or `events?type=user&intercom_user_id=5`.
    pub path: String,
    /// The endpoint pattern, e.g. `GET /companies/{id}/contacts`.
    pub endpoint: &'static str,
    /// Where the items are, first match wins (e.g. `["data"]`).
    pub keys: &'static [&'static str],
    pub style: Style,
    pub per_page: u32,
    pub anomalies: &'a Anomalies,
}

/// How a read went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListRead {
    /// Items delivered.
    pub items: u64,
    /// The `total_count` the last page stated, if any.
    pub total_count: Option<u64>,
    /// Read to its end (`deliver` did not stop it).
    pub complete: bool,
}

impl List<'_> {
    /// Read the listing, handing each page's items to `deliver` (empty
    /// pages are not handed over); `deliver` returns false to stop early.
    pub(crate) async fn read(
        mut self,
        mut deliver: impl AsyncFnMut(Vec<Value>) -> Result<bool>,
    ) -> Result<ListRead> {
        let sep = if self.path.contains('?') { '&' } else { '?' };
        let mut read = ListRead::default();
        let mut page_no: u64 = 1;
        let mut next_path: Option<String> = None;
        let mut seen_next: HashSet<String> = HashSet::new();
        // Items to drop from the next pages: delivered before a restart.
        let mut skip: u64 = 0;
        let mut degraded = false;
        loop {
            let path = match (self.style, &next_path) {
                (Style::PageNumber, _) => {
                    format!(
                        "{}{sep}page={page_no}&per_page={}",
                        self.path, self.per_page
                    )
                }
                (Style::NextUrl, Some(next)) => next.clone(),
                (Style::NextUrl, None) => format!("{}{sep}per_page={}", self.path, self.per_page),
            };
            let body: Value = match self.client.get(&path).await {
                Ok(body) => body,
                Err(e) => {
                    let e = Error::from(e);
                    if !degradable(&e) || self.per_page <= MIN_DEGRADED_PER_PAGE {
                        return Err(e);
                    }
                    let smaller = (self.per_page / 2).max(MIN_DEGRADED_PER_PAGE);
                    tracing::warn!(endpoint = self.endpoint, error = %e, per_page = self.per_page, smaller, "a page keeps failing; asking for smaller pages");
                    if !degraded {
                        degraded = true;
                        self.anomalies
                            .record(AnomalyKind::DegradedWindow, self.endpoint, None);
                    }
                    self.per_page = smaller;
                    match self.style {
                        Style::PageNumber => {
                            page_no = read.items / u64::from(smaller) + 1;
                            skip = read.items % u64::from(smaller);
                        }
                        Style::NextUrl => {
                            next_path = None;
                            seen_next.clear();
                            skip = read.items;
                        }
                    }
                    continue;
                }
            };
            read.total_count = body
                .get("total_count")
                .and_then(Value::as_u64)
                .or(read.total_count);
            let total_pages = body.pointer("/pages/total_pages").and_then(Value::as_u64);
            let next = body
                .pointer("/pages/next")
                .filter(|n| !n.is_null() && n.as_str() != Some(""))
                .cloned();
            let mut items = crate::api::list_in(self.endpoint, body, self.keys)?;
            let listed = items.len();
            let dropped = skip.min(listed as u64);
            skip -= dropped;
            items.drain(..dropped as usize);
            read.items += items.len() as u64;
            if !items.is_empty() && !deliver(items).await? {
                return Ok(read);
            }
            if listed == 0 {
                break;
            }
            match self.style {
                Style::PageNumber => {
                    let more = match total_pages {
                        Some(pages) => page_no < pages,
                        None => next.is_some(),
                    };
                    if !more {
                        break;
                    }
                    page_no += 1;
                }
                Style::NextUrl => {
                    let Some(next) = next.as_ref().and_then(Value::as_str) else {
                        break;
                    };
                    if !seen_next.insert(next.to_string()) {
                        return Err(Error::Protocol {
                            endpoint: self.endpoint.into(),
                            message: format!("pages.next does not advance ({path})"),
                        });
                    }
                    next_path = Some(self.client.relative_next(next).map_err(|e| {
                        Error::Config(format!(
                            "{}: {e}. Check base_url: it must be your workspace's region \
                             (https://api.intercom.io, https://api.eu.intercom.io or \
                             https://api.au.intercom.io)",
                            self.endpoint
                        ))
                    })?);
                }
            }
        }
        read.complete = true;
        Ok(read)
    }
}
