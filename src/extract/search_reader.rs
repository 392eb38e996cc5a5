//! [`Reader`]: the pages of one search, each through the run's shared
//! store of search pages, its envelope checked, with smaller pages when a
//! page keeps failing (see the parent module's docs).

use serde_json::Value;

use super::*;

/// Pages of one search (the page size is the caller's: see [`Reader::shrink`]).
pub(crate) struct Reader<'a> {
    pub(crate) client: &'a IntercomClient,
    pub(crate) spec: &'a SearchSpec,
    pub(crate) anomalies: &'a Anomalies,
    /// The narrowest day-granular window (see [`Window::split_to`]).
    pub(crate) min_day: i64,
    /// The run's search pages, shared by its reports: every page goes
    /// through it ([`Reader::post`]).
    pub(crate) searches: &'a crate::extract::shared_search::SharedSearch,
}

impl Reader<'_> {
    pub(crate) fn endpoint(&self) -> String {
        format!("POST /{}", self.spec.path)
    }

    /// One page, its envelope checked (see [`Page::decode`]).
    pub(crate) async fn page(&self, body: &Value) -> Result<Page> {
        let raw = self.post(body).await?;
        let raw: Value = serde_json::from_str(raw.get()).map_err(|e| Error::Protocol {
            endpoint: self.endpoint(),
            message: format!("the answer is not JSON: {e}"),
        })?;
        Page::decode(&self.endpoint(), list_key(self.spec.path), raw)
    }

    /// One search answer as the server sent it, through the run's shared
    /// pages ([`crate::extract::shared_search`]): another report's answer
    /// to the same body, or a request of this report's own.
    pub(crate) async fn post(
        &self,
        body: &Value,
    ) -> Result<crate::extract::shared_search::SharedPage> {
        Ok(self
            .searches
            .post(self.client, self.spec.path, body)
            .await?)
    }

    /// After a page failed for good: halve `per_page` if it can still
    /// shrink (counting the read as degraded once), and say whether it did.
    pub(crate) fn shrink(
        &self,
        per_page: &mut u32,
        e: &Error,
        what: &str,
        degraded: &mut bool,
    ) -> bool {
        if !degradable(e) || *per_page <= MIN_DEGRADED_PER_PAGE {
            return false;
        }
        let smaller = (*per_page / 2).max(MIN_DEGRADED_PER_PAGE);
        tracing::warn!(
            endpoint = %self.endpoint(),
            error = %e,
            per_page = *per_page,
            smaller,
            "{what} keeps failing; asking for smaller pages"
        );
        *per_page = smaller;
        self.degraded(what, degraded);
        true
    }

    /// Count a degraded read once.
    pub(crate) fn degraded(&self, what: &str, degraded: &mut bool) {
        if !*degraded {
            *degraded = true;
            self.anomalies
                .record(AnomalyKind::DegradedWindow, &self.endpoint(), Some(what));
        }
    }

    /// The `updated_at` of the oldest record in `window` (one record sorted
    /// `updated_at` ascending, as contact search allows), or `None` when
    /// it cannot be told (an empty answer, an error: the caller plans from
    /// the window's start instead).
    pub(super) async fn oldest(&self, spec: &SearchSpec, window: Window) -> Option<i64> {
        let q = query(spec, window, spec.granularity);
        let body = search_body(q, 1, None, Some(("updated_at", "ascending")));
        match self.page(&body).await {
            Ok(page) => page
                .data
                .iter()
                .filter_map(|r| identity(spec.path, r).ok().map(|(_, t)| t))
                .min(),
            Err(e) => {
                tracing::debug!(endpoint = %self.endpoint(), error = %e, "no oldest record; windows planned from the range's start");
                None
            }
        }
    }

    /// The first request (newest first), with smaller pages if it keeps
    /// failing. A single-page answer short of its `total_count` is an error.
    pub(super) async fn probe(&self, q: Value, per_page: &mut u32) -> Result<Page> {
        let mut degraded = false;
        loop {
            let body = search_body(
                q.clone(),
                *per_page,
                None,
                Some(("updated_at", "descending")),
            );
            match self.page(&body).await {
                Ok(page) => {
                    page.check_complete(&self.endpoint(), true)?;
                    return Ok(page);
                }
                Err(e) if self.shrink(per_page, &e, "the first page", &mut degraded) => continue,
                Err(e) => return Err(e),
            }
        }
    }
}
