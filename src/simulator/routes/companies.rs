//! Companies: `GET /companies/scroll`, `POST /companies/list`,
//! `GET /companies` (filters), `GET /companies/{id}` and its `contacts` and
//! `segments`.
//!
//! Scroll rules (as Intercom documents them): one open scroll per
//! workspace, here per bearer token (a second first call with the same
//! token is 400 `scroll_exists`; another token has its own scroll); a scroll unused
//! for `--scroll-expiry-secs` (wall clock, default 60) expires and its
//! parameter is then 404; every page carries the same `scroll_param`; the
//! end is a page with empty `data`, after which the scroll is closed. Pages
//! hold [`SCROLL_PAGE`] companies, in creation order.
//!
//! `POST /companies/list` takes only query parameters, sorts by
//! `last_request_at`, leaves out companies without contacts and refuses to
//! go past [`LIST_CAP`] companies (400 "page limit reached, please use
//! scroll API").

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::super::Simulator;
use super::super::error::{ApiError, request_id};
use super::super::shapes::contact::ContactJson;
use super::super::shapes::{company, obj, snapshot};
use super::super::world::World;
use super::{Ver, link_page, origin, page_params};

/// Companies per scroll page (fixed by the server).
pub const SCROLL_PAGE: usize = 50;
/// Most companies `POST /companies/list` reaches.
pub const LIST_CAP: usize = 10_000;
/// Default page size of the page-number company endpoints.
const PER_PAGE: usize = 15;
/// Default page size of `GET /companies/{id}/contacts`.
const CONTACTS_PER_PAGE: usize = 50;

/// A workspace's (token's) open scroll.
#[derive(Debug)]
pub(crate) struct ScrollState {
    param: String,
    /// Next company index to look at.
    pos: usize,
    last_used: Instant,
}

fn company_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "company_not_found",
        "Company Not Found",
    )
}

fn live(w: &World) -> impl Iterator<Item = u32> + '_ {
    (0..w.companies.len() as u32).filter(|&i| !w.companies[i as usize].deleted)
}

pub(super) async fn scroll(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let param = url::form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "scroll_param")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty());
    let expiry = Duration::from_secs(sim.config().scroll_expiry_secs);
    // The `auth` layer let the request in, so it has a token.
    let token = super::bearer_token(&headers)
        .unwrap_or_default()
        .to_string();
    let w = sim.read_world();
    let mut scrolls = sim.scroll.lock().unwrap_or_else(|e| e.into_inner());
    scrolls.retain(|_, s| s.last_used.elapsed() <= expiry);
    let state = match (param, scrolls.get_mut(&token)) {
        (None, Some(_)) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "scroll_exists",
                "scroll already exists for this workspace",
            ));
        }
        (None, None) => scrolls.entry(token.clone()).or_insert(ScrollState {
            param: request_id(),
            pos: 0,
            last_used: Instant::now(),
        }),
        (Some(p), Some(s)) if s.param == p => s,
        (Some(_), _) => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "scroll parameter not found",
            ));
        }
    };
    let n = w.companies.len();
    let mut items = Vec::with_capacity(SCROLL_PAGE);
    while state.pos < n && items.len() < SCROLL_PAGE {
        if !w.companies[state.pos].deleted {
            items.push(company::wire_json(&w, state.pos as u32));
        }
        state.pos += 1;
    }
    state.last_used = Instant::now();
    let scroll_param = state.param.clone();
    if items.is_empty() {
        scrolls.remove(&token);
    }
    Ok(axum::Json(obj! {
        "type" => "list",
        "data" => items,
        "pages" => Value::Null,
        "total_count" => Value::Null,
        "scroll_param" => scroll_param,
    })
    .into_response())
}

pub(super) async fn list(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let p = page_params(raw.as_deref(), PER_PAGE, super::MAX_PER_PAGE)?;
    if p.page.saturating_mul(p.per_page) > LIST_CAP {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "page limit reached, please use scroll API",
        ));
    }
    let w = sim.read_world();
    let mut order: Vec<(i64, u32)> = live(&w)
        .filter(|&i| w.company_users[i as usize] > 0)
        .map(|i| (company::last_request_at(&w, i), i))
        .collect();
    order.sort_unstable();
    if !p.ascending {
        order.reverse();
    }
    order.truncate(LIST_CAP);
    let total = order.len();
    let base = format!(
        "{}/companies/list?order={}",
        origin(&headers),
        if p.ascending { "asc" } else { "desc" }
    );
    let (page, pages) = link_page(&order, &p, &base);
    let data: Vec<Value> = page
        .iter()
        .map(|&(_, i)| company::wire_json(&w, i))
        .collect();
    Ok(axum::Json(obj! {
        "type" => "list", "data" => data, "pages" => pages, "total_count" => total as u64,
    })
    .into_response())
}

pub(super) async fn filter(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let p = page_params(raw.as_deref(), PER_PAGE, super::MAX_PER_PAGE)?;
    let mut name = None;
    let mut company_id = None;
    let mut tag_id = None;
    let mut segment_id = None;
    let mut kept = Vec::new();
    for (k, v) in url::form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes()) {
        let v = v.into_owned();
        match k.as_ref() {
            "name" => name = Some(v.clone()),
            "company_id" => company_id = Some(v.clone()),
            "tag_id" => tag_id = Some(v.clone()),
            "segment_id" => segment_id = Some(v.clone()),
            _ => continue,
        }
        kept.push(format!(
            "{k}={}",
            url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
        ));
    }
    let w = sim.read_world();
    let matches: Vec<Value> = live(&w)
        .filter(|&i| {
            segment_id.as_ref().is_none_or(|s| {
                (0..w.segments)
                    .any(|j| company::in_segment(i, j) && snapshot::segment_id(&w, j) == *s)
            })
        })
        .map(|i| company::wire_json(&w, i))
        .filter(|c| {
            name.as_ref().is_none_or(|n| c["name"] == n.as_str())
                && company_id
                    .as_ref()
                    .is_none_or(|n| c["company_id"] == n.as_str())
                && tag_id.as_ref().is_none_or(|t| {
                    c["tags"]["tags"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| x["id"] == t.as_str()))
                })
        })
        .collect();
    if matches.is_empty() && (name.is_some() || company_id.is_some()) {
        return Err(company_not_found());
    }
    let total = matches.len();
    let base = format!("{}/companies?{}", origin(&headers), kept.join("&"));
    let (data, pages) = link_page(&matches, &p, base.trim_end_matches('?'));
    Ok(axum::Json(obj! {
        "type" => "list", "data" => data, "pages" => pages, "total_count" => total as u64,
    })
    .into_response())
}

pub(super) async fn show(
    State(sim): State<Arc<Simulator>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let w = sim.read_world();
    let idx = w.parse_company_id(&id).ok_or_else(company_not_found)?;
    Ok(axum::Json(company::wire_json(&w, idx)).into_response())
}

/// Live contacts of company `idx` in creation order.
pub(crate) fn members(w: &World, idx: u32) -> Vec<u32> {
    if w.company_users[idx as usize] == 0 {
        return Vec::new();
    }
    (0..w.contacts.len() as u32)
        .filter(|&c| w.contact_live(c) && w.contact_companies(c).contains(&idx))
        .collect()
}

pub(super) async fn contacts(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let p = page_params(raw.as_deref(), CONTACTS_PER_PAGE, super::MAX_PER_PAGE)?;
    let w = sim.read_world();
    let idx = w.parse_company_id(&id).ok_or_else(company_not_found)?;
    let all = members(&w, idx);
    let base = format!("{}/companies/{id}/contacts", origin(&headers));
    let (page, pages) = link_page(&all, &p, &base);
    let v211 = Ver::of(&headers).is_211();
    let data: Vec<ContactJson<'_>> = page
        .iter()
        .map(|&c| ContactJson::new(&w, c).version(v211))
        .collect();
    let body = serde_json::to_value(&data).unwrap_or(Value::Null);
    Ok(axum::Json(obj! {
        "type" => "list", "data" => body, "total_count" => all.len() as u64, "pages" => pages,
    })
    .into_response())
}

pub(super) async fn segments(
    State(sim): State<Arc<Simulator>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let w = sim.read_world();
    let idx = w.parse_company_id(&id).ok_or_else(company_not_found)?;
    let data: Vec<Value> = (0..w.segments)
        .filter(|&j| company::in_segment(idx, j))
        .map(|j| snapshot::segment(&w, j, false))
        .collect();
    let total = data.len() as u64;
    Ok(
        axum::Json(obj! { "type" => "list", "data" => data, "total_count" => total })
            .into_response(),
    )
}
