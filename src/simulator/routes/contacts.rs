//! `GET /contacts`, `POST /contacts/search`, `GET /contacts/{id}` and its
//! `notes`, `tags`, `companies` and `segments`.
//!
//! Defaults: the list returns 10 per page, search 50; both cap at 150.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::header::LINK;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use super::super::Simulator;
use super::super::error::ApiError;
use super::super::search::{Dataset, Page, Sort, list_page, search_page};
use super::super::shapes::contact::{self, ContactJson};
use super::super::shapes::{ListEnvelope, company, note, obj, pages, snapshot};
use super::super::world::{DELETED, LIVE, World};
use super::{Ver, cursor, link_page, list_params, origin, page_params, search_body};

/// Default page size of `GET /contacts`.
pub const LIST_PER_PAGE: usize = 10;
/// Default page size of `POST /contacts/search`.
pub const SEARCH_PER_PAGE: usize = 50;
/// Default page size of `GET /contacts/{id}/notes` (one page in practice).
const NOTES_PER_PAGE: usize = 50;
/// Default page size of `GET /contacts/{id}/companies`.
const COMPANIES_PER_PAGE: usize = 15;

fn envelope(w: &World, p: Page, per_page: usize, ver: Ver) -> ListEnvelope<ContactJson<'_>> {
    ListEnvelope {
        kind: "list",
        key: "data",
        items: p
            .items
            .iter()
            .map(|&i| ContactJson::new(w, i).version(ver.is_211()))
            .collect(),
        total: p.total,
        pages: pages(p.page, per_page, p.total, p.next),
    }
}

pub(super) async fn list(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = list_params(raw.as_deref(), LIST_PER_PAGE)?;
    let cur = cursor(
        params.starting_after.as_deref(),
        "contacts.list",
        Sort::LIST,
    )?;
    let w = sim.read_world();
    let page = list_page(
        &w,
        Dataset::Contacts,
        "contacts.list",
        params.per_page,
        cur.as_ref(),
    );
    Ok(axum::Json(envelope(&w, page, params.per_page, Ver::of(&headers))).into_response())
}

pub(super) async fn search(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req = search_body(&body, &contact::DIALECT, SEARCH_PER_PAGE)?;
    let cur = cursor(req.starting_after.as_deref(), "contacts.search", req.sort)?;
    let w = sim.read_world();
    let page = search_page(
        &w,
        &sim.cache,
        Dataset::Contacts,
        "contacts.search",
        &req.filter,
        &req.query_key,
        req.sort,
        req.per_page,
        cur.as_ref(),
    );
    Ok(axum::Json(envelope(&w, page, req.per_page, Ver::of(&headers))).into_response())
}

/// Resolves a contact id for the single-contact endpoints: unknown or
/// deleted → 404; merged → 410 `contact_merged` with a `Link` to the
/// contact it was merged into (up to 3 hops) in 2.16, 404 in 2.11.
fn resolve(w: &World, id: &str, ver: Ver) -> Result<u32, Box<Response>> {
    let idx = w
        .parse_contact_id(id)
        .ok_or_else(|| Box::new(ApiError::not_found().into_response()))?;
    match w.contacts[idx as usize].gone {
        LIVE => Ok(idx),
        DELETED => Err(Box::new(ApiError::not_found().into_response())),
        _ if ver.is_211() => Err(Box::new(ApiError::not_found().into_response())),
        mut target => {
            for _ in 0..2 {
                match w.contacts[target as usize].gone {
                    LIVE | DELETED => break,
                    t => target = t,
                }
            }
            let link = format!("</contacts/{}>; rel=\"canonical\"", w.contact_id(target));
            let mut resp = ApiError::new(
                StatusCode::GONE,
                "contact_merged",
                "Contact has been merged into another contact",
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&link) {
                resp.headers_mut().insert(LINK, v);
            }
            Err(Box::new(resp))
        }
    }
}

pub(super) async fn show(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let w = sim.read_world();
    let ver = Ver::of(&headers);
    match resolve(&w, &id, ver) {
        Ok(idx) => axum::Json(ContactJson::new(&w, idx).version(ver.is_211())).into_response(),
        Err(resp) => *resp,
    }
}

/// Live contact `id` for the sub-resources (anything else is 404).
fn live_contact(w: &World, id: &str) -> Result<u32, ApiError> {
    w.parse_contact_id(id)
        .filter(|&i| w.contact_live(i))
        .ok_or_else(ApiError::not_found)
}

/// `GET /contacts/{id}/notes`: every note, newest first, one page.
pub(super) async fn notes(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let v211 = Ver::of(&headers).is_211();
    let p = page_params(raw.as_deref(), NOTES_PER_PAGE, super::MAX_PER_PAGE)?;
    let w = sim.read_world();
    let idx = live_contact(&w, &id)?;
    let all = note::of_contact(&w, idx, v211);
    let base = format!("{}/contacts/{id}/notes", origin(&headers));
    let (data, pages) = link_page(&all, &p, &base);
    Ok(axum::Json(obj! {
        "type" => "list", "data" => data, "total_count" => all.len() as u64, "pages" => pages,
    })
    .into_response())
}

/// `GET /contacts/{id}/tags`: all the contact's tags.
pub(super) async fn tags(
    State(sim): State<Arc<Simulator>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let w = sim.read_world();
    let idx = live_contact(&w, &id)?;
    let d = contact::data(&w, idx);
    let data: Vec<Value> = d
        .tag_ids
        .iter()
        .filter_map(|t| w.tags.iter().position(|(id, _)| id.to_string() == *t))
        .map(|i| snapshot::tag(&w, i))
        .collect();
    Ok(axum::Json(obj! { "type" => "list", "data" => data }).into_response())
}

/// `GET /contacts/{id}/companies`: page style, `companies` key (spec
/// `contact_attached_companies`).
pub(super) async fn companies(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let p = page_params(raw.as_deref(), COMPANIES_PER_PAGE, super::MAX_PER_PAGE)?;
    let w = sim.read_world();
    let idx = live_contact(&w, &id)?;
    let all = w.contact_companies(idx);
    let base = format!("{}/contacts/{id}/companies", origin(&headers));
    let (page, pages) = link_page(&all, &p, &base);
    let data: Vec<Value> = page.iter().map(|&c| company::wire_json(&w, c)).collect();
    Ok(axum::Json(obj! {
        "type" => "list", "companies" => data, "total_count" => all.len() as u64, "pages" => pages,
    })
    .into_response())
}

/// `GET /contacts/{id}/segments`.
pub(super) async fn segments(
    State(sim): State<Arc<Simulator>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let w = sim.read_world();
    let idx = live_contact(&w, &id)?;
    let data: Vec<Value> = (0..w.segments)
        .filter(|&j| snapshot::in_segment(&w, j, idx))
        .map(|j| snapshot::segment(&w, j, false))
        .collect();
    Ok(axum::Json(obj! { "type" => "list", "data" => data }).into_response())
}
