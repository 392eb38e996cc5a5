//! `GET /conversations`, `POST /conversations/search`,
//! `GET /conversations/{id}`.
//!
//! Default page size 20 for both list and search, capped at 150. Items of
//! the list and search carry no `conversation_parts`; the single-conversation
//! endpoint returns at most the 500 most recent parts with the true
//! `total_count`, and `display_as=plaintext` turns HTML bodies into text.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use super::super::Simulator;
use super::super::error::ApiError;
use super::super::search::{Dataset, Page, Sort, list_page, search_page};
use super::super::shapes::{ListEnvelope, conversation, obj, pages};
use super::super::world::World;
use super::{Ver, cursor, link_page, list_params, origin, page_params, search_body};

/// A canonical conversation as this version's wire carries it.
fn versioned(v: Value, ver: Ver) -> Value {
    conversation::wire(v, ver.is_211())
}

/// Default page size of `GET /conversations` and `POST /conversations/search`.
pub const PER_PAGE: usize = 20;

fn envelope(w: &World, p: Page, per_page: usize, ver: Ver) -> ListEnvelope<Value> {
    ListEnvelope {
        kind: "conversation.list",
        key: "conversations",
        items: p
            .items
            .iter()
            .map(|&i| versioned(conversation::json(w, i, None), ver))
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
    let params = list_params(raw.as_deref(), PER_PAGE)?;
    let cur = cursor(
        params.starting_after.as_deref(),
        "conversations.list",
        Sort::LIST,
    )?;
    let w = sim.read_world();
    let page = list_page(
        &w,
        Dataset::Conversations,
        "conversations.list",
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
    let req = search_body(&body, &conversation::DIALECT, PER_PAGE)?;
    let cur = cursor(
        req.starting_after.as_deref(),
        "conversations.search",
        req.sort,
    )?;
    let w = sim.read_world();
    let page = search_page(
        &w,
        &sim.cache,
        Dataset::Conversations,
        "conversations.search",
        &req.filter,
        &req.query_key,
        req.sort,
        req.per_page,
        cur.as_ref(),
    );
    Ok(axum::Json(envelope(&w, page, req.per_page, Ver::of(&headers))).into_response())
}

pub(super) async fn show(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let plaintext = url::form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
        .any(|(k, v)| k == "display_as" && v == "plaintext");
    let w = sim.read_world();
    let idx = w
        .parse_conversation_id(&id)
        .ok_or_else(ApiError::not_found)?;
    let v = conversation::json(&w, idx, Some(plaintext));
    Ok(axum::Json(versioned(v, Ver::of(&headers))).into_response())
}

/// Default and largest page size of `GET /conversations/deleted`.
const DELETED_PER_PAGE: usize = 20;
const DELETED_MAX_PER_PAGE: usize = 60;

/// `GET /conversations/deleted` (2.16 only): ids of deleted conversations,
/// newest deletion first unless `order=asc`; page style with a URL `next`.
pub(super) async fn deleted(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    if Ver::of(&headers).is_211() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "intercom_version_invalid",
            "The requested endpoint is not available in this API version",
        ));
    }
    let p = page_params(raw.as_deref(), DELETED_PER_PAGE, DELETED_MAX_PER_PAGE)?;
    let w = sim.read_world();
    let mut all: Vec<(i64, u32)> = w
        .deleted_conversations
        .iter()
        .map(|&i| (w.conversations[i as usize].deleted_at, i))
        .collect();
    all.sort_unstable();
    if !p.ascending {
        all.reverse();
    }
    let base = format!(
        "{}/conversations/deleted?order={}",
        origin(&headers),
        if p.ascending { "asc" } else { "desc" }
    );
    let (page, pages) = link_page(&all, &p, &base);
    let items: Vec<Value> = page
        .iter()
        .map(|&(at, i)| {
            obj! {
                "type" => "conversation",
                "id" => w.conversation_id(i).to_string(),
                "metrics_retained" => i % 3 != 0,
                "deleted_at" => at,
            }
        })
        .collect();
    Ok(axum::Json(obj! {
        "type" => "conversations.list",
        "conversations" => items,
        "total_count" => all.len() as u64,
        "pages" => pages,
    })
    .into_response())
}
