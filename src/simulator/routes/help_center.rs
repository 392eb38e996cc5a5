//! The help center and the admins' activity log:
//!
//! * `GET /help_center/help_centers`: `{type: list, data: [help_center]}`,
//!   not paginated.
//! * `GET /help_center/collections` and `GET /articles`: `{type: list,
//!   data, total_count, pages}` sorted by `updated_at` descending, paged by
//!   `page`/`per_page` (default 20 for collections, 25 for articles, at
//!   most 150); `pages.next` is the full URL of the next page (null on the
//!   last one), as page-number endpoints give it. 2.11 gets the shapes its
//!   description requires (`help_center::to_v211`).
//! * `GET /admins/activity_logs?created_at_after=T[&created_at_before=T]`:
//!   `{type: activity_log.list, activity_logs, pages}` with
//!   `created_at_after <= created_at <= created_at_before` (both unix
//!   seconds, both bounds inclusive; `created_at_before` defaults to now),
//!   newest first (ties by id), paged like the collections (default 20);
//!   `pages.next` is the full URL of the next page with the same window.
//!   Without `created_at_after`: 400 `parameter_missing`; a bound that is
//!   not a unix time: 400 `parameter_invalid`. Logs created after the first
//!   page was read shift later pages unless `created_at_before` bounds the
//!   window, as with any page-numbered list.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::super::Simulator;
use super::super::error::ApiError;
use super::super::shapes::{activity, help_center as hc, obj};
use super::{PageParams, Ver, link_page, origin, page_params};

/// Default page size of `GET /help_center/collections` and the activity log.
const PER_PAGE: usize = 20;
/// Default page size of `GET /articles`.
const ARTICLES_PER_PAGE: usize = 25;

pub(super) async fn help_centers(State(sim): State<Arc<Simulator>>) -> Response {
    let w = sim.read_world();
    let data: Vec<Value> = (0..hc::HELP_CENTERS)
        .map(|i| hc::help_center(&w, i))
        .collect();
    axum::Json(obj! { "type" => "list", "data" => data }).into_response()
}

pub(super) async fn collections(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let p = page_params(raw.as_deref(), PER_PAGE, super::MAX_PER_PAGE)?;
    let w = sim.read_world();
    let all = hc::listed(&w, hc::COLLECTIONS, w.now, hc::collection);
    Ok(listing(&headers, &all, &p, "help_center/collections"))
}

pub(super) async fn articles(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let p = page_params(raw.as_deref(), ARTICLES_PER_PAGE, super::MAX_PER_PAGE)?;
    let w = sim.read_world();
    let all = hc::listed(&w, hc::ARTICLES, w.now, hc::article);
    Ok(listing(&headers, &all, &p, "articles"))
}

/// One page of a help-center list (`pages.next` a full URL to `path`), in
/// the 2.11 shape when the request asks for that version.
fn listing(headers: &HeaderMap, all: &[Value], p: &PageParams, path: &str) -> Response {
    let base = format!("{}/{path}", origin(headers));
    let (mut page, pages) = link_page(all, p, &base);
    if Ver::of(headers).is_211() {
        page = page.into_iter().map(hc::to_v211).collect();
    }
    axum::Json(obj! {
        "type" => "list",
        "data" => page,
        "total_count" => all.len() as u64,
        "pages" => pages,
    })
    .into_response()
}

/// A unix-time query parameter, if given.
fn time_param(raw: Option<&str>, key: &str) -> Result<Option<i64>, ApiError> {
    let Some(v) = url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
    else {
        return Ok(None);
    };
    v.trim().parse::<i64>().map(Some).map_err(|_| {
        ApiError::invalid(format!(
            "{key} must be a UNIX timestamp in seconds, got {v:?}"
        ))
    })
}

pub(super) async fn activity_logs(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let after = time_param(raw.as_deref(), "created_at_after")?.ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "parameter_missing",
            "created_at_after is required (a UNIX timestamp)",
        )
    })?;
    let before = time_param(raw.as_deref(), "created_at_before")?;
    let p = page_params(raw.as_deref(), PER_PAGE, super::MAX_PER_PAGE)?;
    let w = sim.read_world();
    let mut all = activity::between(&w, after, before.unwrap_or(i64::MAX), w.now);
    all.reverse();
    let mut base = format!(
        "{}/admins/activity_logs?created_at_after={after}",
        origin(&headers)
    );
    if let Some(b) = before {
        base.push_str(&format!("&created_at_before={b}"));
    }
    let (page, pages) = link_page(&all, &p, &base);
    Ok(axum::Json(obj! {
        "type" => "activity_log.list",
        "activity_logs" => page,
        "pages" => pages,
    })
    .into_response())
}
