//! `GET /events?type=user&(user_id|email|intercom_user_id)=…[&summary=true]`.
//!
//! Exactly one contact key is required (400 otherwise). Only events younger
//! than 90 days (relative to the simulated clock) are listed, newest first;
//! `pages.next` is a full URL carrying an opaque continuation and is left
//! out on the last page. `summary=true` answers `event.summary`, counting
//! every event (old ones too) per name.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::super::Simulator;
use super::super::error::ApiError;
use super::super::rng::{b64_decode, b64_encode};
use super::super::shapes::contact;
use super::super::shapes::event::{self, LISTABLE_SECS};
use super::super::shapes::obj;
use super::super::world::World;
use super::{origin, per_page};

/// Default page size of `GET /events`.
const PER_PAGE: usize = 15;

fn missing(msg: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "parameter_missing", msg)
}

/// Finds a live contact by one of the three keys.
fn find(w: &World, key: &str, value: &str) -> Option<u32> {
    let idx = match key {
        "intercom_user_id" => w.parse_contact_id(value)?,
        "user_id" => value
            .strip_prefix("usr_")?
            .parse::<u64>()
            .ok()?
            .checked_sub(1000)
            .and_then(|i| u32::try_from(i).ok())?,
        _ => {
            let local = value.split('@').next()?;
            let digits = local.len() - local.trim_end_matches(|c: char| c.is_ascii_digit()).len();
            local[local.len() - digits..].parse::<u32>().ok()?
        }
    };
    if idx as usize >= w.contacts.len() || !w.contact_live(idx) {
        return None;
    }
    let ident = contact::identity(w, idx);
    let ok = match key {
        "intercom_user_id" => true,
        "user_id" => ident.external_id.as_deref() == Some(value),
        _ => ident.email.eq_ignore_ascii_case(value),
    };
    ok.then_some(idx)
}

pub(super) async fn list(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let mut ty = None;
    let mut keys: Vec<(String, String)> = Vec::new();
    let mut summary = false;
    let mut size = PER_PAGE;
    let mut before: Option<String> = None;
    for (k, v) in url::form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "type" => ty = Some(v.into_owned()),
            "user_id" | "email" | "intercom_user_id" => keys.push((k.into_owned(), v.into_owned())),
            "summary" => summary = v == "true",
            "per_page" => size = per_page(&Value::String(v.into_owned()))?,
            "before" => before = Some(v.into_owned()),
            _ => {}
        }
    }
    match ty.as_deref() {
        Some("user") => {}
        None => return Err(missing("type=user is required")),
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "type must be user, got {other:?}"
            )));
        }
    }
    let [(key, value)] = keys.as_slice() else {
        return Err(missing(
            "exactly one of user_id, email or intercom_user_id is required",
        ));
    };
    let w = sim.read_world();
    let idx = find(&w, key, value)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "User Not Found"))?;
    let ident = contact::identity(&w, idx);
    let all = event::of_contact(&w, idx);
    if summary {
        return Ok(axum::Json(obj! {
            "type" => "event.summary",
            "email" => ident.email.as_str(),
            "intercom_user_id" => ident.id.as_str(),
            "user_id" => ident.external_id.clone(),
            "events" => event::summary(&all),
        })
        .into_response());
    }
    let cutoff = sim.now() - LISTABLE_SECS;
    let listable: Vec<event::Ev> = all.into_iter().filter(|e| e.0 > cutoff).collect();
    let start = match before {
        None => 0,
        Some(token) => b64_decode(&token)
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                let (c, off) = s.split_once(':')?;
                (c == ident.id).then(|| off.parse::<usize>().ok())?
            })
            .ok_or_else(|| ApiError::invalid(format!("before {token:?} is not valid here")))?,
    };
    let end = listable.len().min(start.saturating_add(size));
    let idents = (
        ident.id.as_str(),
        ident.external_id.as_deref(),
        ident.email.as_str(),
    );
    let events: Vec<Value> = listable
        .get(start..end)
        .unwrap_or(&[])
        .iter()
        .map(|&e| event::json(&w, idx, e, idents))
        .collect();
    let mut pages = serde_json::Map::new();
    if end < listable.len() {
        let token = b64_encode(format!("{}:{end}", ident.id).as_bytes());
        pages.insert(
            "next".into(),
            format!(
                "{}/events?type=user&intercom_user_id={}&per_page={size}&before={token}",
                origin(&headers),
                ident.id
            )
            .into(),
        );
    }
    Ok(axum::Json(obj! {
        "type" => "event.list",
        "events" => events,
        "pages" => Value::Object(pages),
    })
    .into_response())
}
