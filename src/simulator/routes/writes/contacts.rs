//! Contact writes: `POST /contacts`, `PUT /contacts/{id}`,
//! `DELETE /contacts/{id}`, `POST /contacts/{id}/companies`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Map, Value};

use super::super::super::Simulator;
use super::super::super::error::ApiError;
use super::super::super::shapes::contact::ContactJson;
use super::super::super::shapes::snapshot::CONTACT_CUSTOM;
use super::super::super::shapes::{company, obj};
use super::super::super::world::{ContactFields, World};
use super::super::Ver;
use super::{
    admin_index, company_not_found, conflict, custom_attributes, json_body, live_contact, missing,
    opt_id, opt_str, opt_time, write_world,
};

/// The fields of a `POST /contacts` or `PUT /contacts/{id}` body.
fn contact_fields(w: &World, m: &Map<String, Value>) -> Result<ContactFields, ApiError> {
    let mut f = ContactFields::default();
    if let Some(role) = opt_str(m, "role")? {
        if role != "user" && role != "lead" {
            return Err(ApiError::invalid(format!(
                "role must be \"user\" or \"lead\", got {role:?}"
            )));
        }
        f.fields.insert("role".into(), role.into());
    }
    if let Some(email) = opt_str(m, "email")? {
        if !email.is_empty() && !email.contains('@') {
            return Err(ApiError::invalid(format!(
                "email {email:?} is not a valid email address"
            )));
        }
        f.fields.insert("email".into(), email.into());
    }
    if m.contains_key("external_id") {
        f.fields
            .insert("external_id".into(), opt_id(m, "external_id")?.into());
    }
    for k in ["phone", "name"] {
        if m.contains_key(k) {
            f.fields.insert(k.into(), opt_str(m, k)?.into());
        }
    }
    if m.contains_key("avatar") {
        let avatar = opt_str(m, "avatar")?
            .map(|url| obj! { "type" => "avatar", "image_url" => url })
            .unwrap_or(Value::Null);
        f.fields.insert("avatar".into(), avatar);
    }
    for k in ["signed_up_at", "last_seen_at"] {
        if m.contains_key(k) {
            f.fields.insert(k.into(), opt_time(m, k)?.into());
        }
    }
    if m.contains_key("owner_id") {
        let owner = opt_id(m, "owner_id")?;
        if let Some(o) = &owner
            && admin_index(w, o).is_none()
        {
            return Err(ApiError::invalid(format!(
                "owner_id {o} is not a teammate of this workspace (GET /admins lists them)"
            )));
        }
        f.fields.insert("owner_id".into(), owner.into());
    }
    match m.get("unsubscribed_from_emails") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => {
            f.fields
                .insert("unsubscribed_from_emails".into(), (*b).into());
        }
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "unsubscribed_from_emails must be a boolean, got {other}"
            )));
        }
    }
    f.custom_attributes = custom_attributes(m, CONTACT_CUSTOM, "contact")?;
    Ok(f)
}

/// 409 if another live contact has the written email or external_id.
fn check_unique(w: &World, f: &ContactFields, except: Option<u32>) -> Result<(), ApiError> {
    for k in ["external_id", "email"] {
        if let Some(v) = f.fields.get(k).and_then(Value::as_str)
            && !v.is_empty()
            && let Some(other) = w.find_contact_by(k, v, except)
        {
            return Err(conflict(format!(
                "A contact matching those details already exists with id={}",
                w.contact_id(other)
            )));
        }
    }
    Ok(())
}

fn contact_response(w: &World, idx: u32, ver: Ver) -> Response {
    axum::Json(ContactJson::new(w, idx).version(ver.is_211())).into_response()
}

/// `POST /contacts`.
pub(in crate::simulator::routes) async fn create_contact(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let m = json_body(&body)?;
    let mut w = write_world(&sim);
    let mut f = contact_fields(&w, &m)?;
    let has = |k: &str| {
        f.fields
            .get(k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    if !has("email") && !has("external_id") && !has("role") {
        return Err(missing(
            "A contact needs at least one of email, external_id or role (\"lead\" for an anonymous lead)",
        ));
    }
    check_unique(&w, &f, None)?;
    f.fields.entry("role").or_insert_with(|| "user".into());
    let idx = w.create_contact(f);
    Ok(contact_response(&w, idx, Ver::of(&headers)))
}

/// `PUT /contacts/{id}`.
pub(in crate::simulator::routes) async fn update_contact(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let m = json_body(&body)?;
    let mut w = write_world(&sim);
    let idx = live_contact(&w, &id)?;
    let f = contact_fields(&w, &m)?;
    check_unique(&w, &f, Some(idx))?;
    w.update_contact(idx, f);
    Ok(contact_response(&w, idx, Ver::of(&headers)))
}

/// `DELETE /contacts/{id}`: `contact_deleted`.
pub(in crate::simulator::routes) async fn delete_contact(
    State(sim): State<Arc<Simulator>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut w = write_world(&sim);
    let idx = live_contact(&w, &id)?;
    let external_id = serde_json::to_value(ContactJson::new(&w, idx))
        .map_or(Value::Null, |c| c["external_id"].clone());
    w.delete_contact(idx);
    Ok(axum::Json(obj! {
        "type" => "contact", "id" => id, "external_id" => external_id, "deleted" => true,
    })
    .into_response())
}

/// `POST /contacts/{id}/companies` `{"id": "<company id>"}`: the company.
pub(in crate::simulator::routes) async fn attach_company(
    State(sim): State<Arc<Simulator>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let m = json_body(&body)?;
    let mut w = write_world(&sim);
    let idx = live_contact(&w, &id)?;
    let Some(cid) = opt_id(&m, "id")? else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "parameter_not_found",
            "company not specified",
        ));
    };
    let c = w.parse_company_id(&cid).ok_or_else(company_not_found)?;
    w.attach_company(idx, c);
    Ok(axum::Json(company::json(&w, c)).into_response())
}
