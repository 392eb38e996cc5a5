//! `GET /contacts`, `POST /contacts/search`, `GET /contacts/{id}`.
//!
//! Defaults: the list returns 10 per page, search 50; both cap at 150.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::super::Simulator;
use super::super::error::ApiError;
use super::super::search::{Dataset, Page, Sort, list_page, search_page};
use super::super::shapes::contact::{self, ContactJson};
use super::super::shapes::{ListEnvelope, pages};
use super::super::world::World;
use super::{cursor, list_params, search_body};

/// Default page size of `GET /contacts`.
pub const LIST_PER_PAGE: usize = 10;
/// Default page size of `POST /contacts/search`.
pub const SEARCH_PER_PAGE: usize = 50;

fn envelope(w: &World, p: Page, per_page: usize) -> ListEnvelope<ContactJson<'_>> {
    ListEnvelope {
        kind: "list",
        key: "data",
        items: p.items.iter().map(|&i| ContactJson::new(w, i)).collect(),
        total: p.total,
        pages: pages(p.page, per_page, p.total, p.next),
    }
}

pub(super) async fn list(
    State(sim): State<Arc<Simulator>>,
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
    Ok(axum::Json(envelope(&w, page, params.per_page)).into_response())
}

pub(super) async fn search(
    State(sim): State<Arc<Simulator>>,
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
    Ok(axum::Json(envelope(&w, page, req.per_page)).into_response())
}

pub(super) async fn show(
    State(sim): State<Arc<Simulator>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let w = sim.read_world();
    let idx = w.parse_contact_id(&id).ok_or_else(ApiError::not_found)?;
    Ok(axum::Json(ContactJson::new(&w, idx)).into_response())
}
