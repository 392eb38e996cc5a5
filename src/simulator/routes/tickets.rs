//! `POST /tickets/search`: the conversation DSL over tickets, exact
//! seconds, default page size 20. `pages.next` uses the spec's
//! `{per_page, starting_after}` form and is null on the last page (other
//! endpoints use `{page, starting_after}` or URLs, as Intercom varies).

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use super::super::Simulator;
use super::super::error::ApiError;
use super::super::search::{Dataset, search_page};
use super::super::shapes::{obj, ticket};
use super::{Ver, cursor, search_body};

/// Default page size of `POST /tickets/search`.
const PER_PAGE: usize = 20;

pub(super) async fn search(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let v211 = Ver::of(&headers).is_211();
    let req = search_body(&body, &ticket::DIALECT, PER_PAGE)?;
    let cur = cursor(req.starting_after.as_deref(), "tickets.search", req.sort)?;
    let w = sim.read_world();
    let page = search_page(
        &w,
        &sim.cache,
        Dataset::Tickets,
        "tickets.search",
        &req.filter,
        &req.query_key,
        req.sort,
        req.per_page,
        cur.as_ref(),
    );
    let tickets: Vec<Value> = page
        .items
        .iter()
        .map(|&i| ticket::json(&w, i, v211))
        .collect();
    let next = match page.next {
        Some(c) => obj! { "per_page" => req.per_page as u64, "starting_after" => c },
        None => Value::Null,
    };
    Ok(axum::Json(obj! {
        "type" => "ticket.list",
        "tickets" => tickets,
        "total_count" => page.total as u64,
        "pages" => obj! {
            "type" => "pages",
            "page" => page.page,
            "per_page" => req.per_page as u64,
            "total_pages" => page.total.div_ceil(req.per_page.max(1)) as u64,
            "next" => next,
        },
    })
    .into_response())
}
