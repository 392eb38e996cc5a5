//! The unpaginated dimensions: `GET /admins`, `/teams`, `/tags`,
//! `/segments` (`include_count`), `/data_attributes` (`model`) and
//! `/ticket_types`.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::super::Simulator;
use super::super::error::ApiError;
use super::super::shapes::{obj, snapshot};
use super::super::vocab::TEAMS;
use super::Ver;

fn query(raw: Option<&str>, key: &str) -> Option<String> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

pub(super) async fn admins(State(sim): State<Arc<Simulator>>, headers: HeaderMap) -> Response {
    let v211 = Ver::of(&headers).is_211();
    let w = sim.read_world();
    let admins: Vec<Value> = (0..w.admins.len())
        .map(|i| snapshot::admin(&w, i, v211))
        .collect();
    axum::Json(obj! { "type" => "admin.list", "admins" => admins }).into_response()
}

pub(super) async fn teams(State(sim): State<Arc<Simulator>>) -> Response {
    let w = sim.read_world();
    let teams: Vec<Value> = (0..TEAMS.len()).map(|t| snapshot::team(&w, t)).collect();
    axum::Json(obj! { "type" => "team.list", "teams" => teams }).into_response()
}

pub(super) async fn tags(State(sim): State<Arc<Simulator>>) -> Response {
    let w = sim.read_world();
    let tags: Vec<Value> = (0..w.tags.len()).map(|i| snapshot::tag(&w, i)).collect();
    axum::Json(obj! { "type" => "list", "data" => tags }).into_response()
}

pub(super) async fn segments(
    State(sim): State<Arc<Simulator>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let count = match query(raw.as_deref(), "include_count").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "include_count must be true or false, got {other:?}"
            )));
        }
    };
    let w = sim.read_world();
    let segments: Vec<Value> = (0..w.segments)
        .map(|j| snapshot::segment(&w, j, count))
        .collect();
    Ok(axum::Json(obj! { "type" => "segment.list", "segments" => segments }).into_response())
}

/// `GET /conversations/attributes` (2.16): `{type: list, data: [conversation_attribute]}`.
/// Not there before 2.12 (404), where `/data_attributes?model=conversation` lists them.
pub(super) async fn conversation_attributes(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if Ver::of(&headers).is_211() {
        return Err(ApiError::not_found());
    }
    let w = sim.read_world();
    Ok(
        axum::Json(obj! { "type" => "list", "data" => snapshot::conversation_attributes(&w) })
            .into_response(),
    )
}

pub(super) async fn data_attributes(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let v211 = Ver::of(&headers).is_211();
    let models: &[&str] = match query(raw.as_deref(), "model").as_deref() {
        None if v211 => &["contact", "company", "conversation"],
        None => &["contact", "company"],
        Some("contact") => &["contact"],
        Some("company") => &["company"],
        Some("conversation") if v211 => &["conversation"],
        Some("conversation") => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "parameter_invalid",
                "model=conversation is not supported in this version; \
                 use GET /conversations/attributes",
            ));
        }
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "model must be contact or company, got {other:?}"
            )));
        }
    };
    let w = sim.read_world();
    let mut data: Vec<Value> = models
        .iter()
        .flat_map(|m| snapshot::data_attributes(&w, m))
        .collect();
    // Attributes declared while running (`POST /__sim/data_attributes`).
    data.extend(
        sim.declared_attributes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|a| models.iter().any(|m| a["model"] == *m))
            .cloned(),
    );
    Ok(axum::Json(obj! { "type" => "list", "data" => data }).into_response())
}

pub(super) async fn ticket_types(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
) -> Response {
    let v211 = Ver::of(&headers).is_211();
    let w = sim.read_world();
    let data: Vec<Value> = (0..snapshot::TICKET_TYPES.len())
        .map(|t| snapshot::ticket_type(&w, t, v211))
        .collect();
    axum::Json(obj! { "type" => "list", "data" => data }).into_response()
}
