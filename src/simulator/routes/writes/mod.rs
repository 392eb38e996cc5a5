//! Intercom's write endpoints (2.16 shapes), validated as Intercom does:
//!
//! * `POST /contacts`, `PUT /contacts/{id}`, `DELETE /contacts/{id}`,
//!   `POST /contacts/{id}/companies` (attach a company);
//! * `POST /companies` (create, or update by `company_id`);
//! * `POST /conversations/{id}/reply` (an admin `comment` or `note`);
//! * `POST /tickets`, `GET /tickets/{id}`;
//! * `POST /messages` (in-app or email, admin to contact; starts a conversation).
//!
//! Errors are Intercom's `error.list`: 400 `parameter_invalid` for a wrong
//! value or type (and an unknown custom attribute), 400 `parameter_missing`
//! for a missing required field, 404 `not_found` / `company_not_found` /
//! `admin_not_found` / `conversation_not_found` for unknown ids, 409
//! `conflict` for an `external_id` or email another contact has, 422
//! `parameter_not_found` for an email message without a subject. Every write
//! happens at the simulated "now" (see `world/writes.rs`).
//!
//! By noun: `contacts.rs`, `companies.rs`, `conversations.rs` (replies and
//! messages), `tickets.rs`; this file holds the validation helpers they
//! share.

use std::sync::RwLockWriteGuard;

use axum::http::StatusCode;
use bytes::Bytes;
use serde_json::{Map, Value};

use super::super::Simulator;
use super::super::error::ApiError;
use super::super::vocab::admin_id;
use super::super::world::{ContactFields, World};

mod companies;
mod contacts;
mod conversations;
mod tickets;

pub(super) use companies::upsert_company;
pub(super) use contacts::{attach_company, create_contact, delete_contact, update_contact};
pub(super) use conversations::{create_message, reply};
pub(super) use tickets::{create_ticket, show_ticket};

fn write_world(sim: &Simulator) -> RwLockWriteGuard<'_, World> {
    sim.world.write().unwrap_or_else(|e| e.into_inner())
}

fn missing(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "parameter_missing", message)
}

fn conflict(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "conflict", message)
}

fn json_body(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("request body is not valid JSON: {e}")))?;
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::invalid("request body must be a JSON object")),
    }
}

/// A string field (`None` when absent or null).
fn opt_str(m: &Map<String, Value>, k: &str) -> Result<Option<String>, ApiError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::invalid(format!(
            "{k} must be a string, got {other}"
        ))),
    }
}

/// An id field: a string or an integer, as text.
fn opt_id(m: &Map<String, Value>, k: &str) -> Result<Option<String>, ApiError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(Value::Number(n)) if n.is_u64() => Ok(Some(n.to_string())),
        Some(other) => Err(ApiError::invalid(format!(
            "{k} must be an id (string or integer), got {other}"
        ))),
    }
}

/// A unix-seconds field (`None` when absent or null).
fn opt_time(m: &Map<String, Value>, k: &str) -> Result<Option<i64>, ApiError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.as_i64().is_some_and(|t| t >= 0) => Ok(n.as_i64()),
        Some(other) => Err(ApiError::invalid(format!(
            "{k} must be a unix timestamp in seconds, got {other}"
        ))),
    }
}

/// The index of the admin with numeric id `id`.
fn admin_index(w: &World, id: &str) -> Option<usize> {
    (0..w.admins.len()).find(|&i| admin_id(i).to_string() == id)
}

fn admin_not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "admin_not_found",
        format!("Admin Not Found: no teammate has id {id}"),
    )
}

/// Checks `custom_attributes` against the declared attributes (`declared`:
/// `(name, data_type, _)`): an unknown name or a value of the wrong type is
/// 400 `parameter_invalid`, as in Intercom.
fn custom_attributes(
    m: &Map<String, Value>,
    declared: &[(&str, &str, &str)],
    model: &str,
) -> Result<Map<String, Value>, ApiError> {
    let ca = match m.get("custom_attributes") {
        None | Some(Value::Null) => return Ok(Map::new()),
        Some(Value::Object(ca)) => ca,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "custom_attributes must be an object, got {other}"
            )));
        }
    };
    let mut out = Map::new();
    for (name, v) in ca {
        let Some(&(_, ty, _)) = declared.iter().find(|d| d.0 == name) else {
            return Err(ApiError::invalid(format!(
                "Custom attribute '{name}' does not exist; create it as a {model} data \
                 attribute first (GET /data_attributes?model={model} lists them)"
            )));
        };
        let fits = match (ty, v) {
            (_, Value::Null) => true,
            ("string", Value::String(_)) => true,
            ("integer", Value::Number(n)) => n.is_i64(),
            ("float", Value::Number(_)) => true,
            ("boolean", Value::Bool(_)) => true,
            ("date", Value::Number(n)) => n.is_i64(),
            _ => false,
        };
        if !fits {
            return Err(ApiError::invalid(format!(
                "Custom attribute '{name}' is of type {ty}; {v} is not a valid {ty}"
            )));
        }
        out.insert(name.clone(), v.clone());
    }
    Ok(out)
}

/// A live contact for a write (unknown, merged or deleted: 404).
fn live_contact(w: &World, id: &str) -> Result<u32, ApiError> {
    w.parse_contact_id(id)
        .filter(|&i| w.contact_live(i))
        .ok_or_else(ApiError::not_found)
}

fn company_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "company_not_found",
        "Company Not Found",
    )
}

/// The contact a ticket or message names: `{id}`, `{external_id}` or
/// `{email}` (a ticket's unknown email creates a lead, as in Intercom).
fn named_contact(w: &mut World, c: &Value, create_by_email: bool) -> Result<u32, ApiError> {
    let Some(m) = c.as_object() else {
        return Err(ApiError::invalid(format!(
            "a contact must be an object with id, external_id or email, got {c}"
        )));
    };
    if let Some(id) = opt_id(m, "id")? {
        return live_contact(w, &id);
    }
    if let Some(ext) = opt_id(m, "external_id")? {
        return w
            .find_contact_by("external_id", &ext, None)
            .ok_or_else(ApiError::not_found);
    }
    if let Some(email) = opt_str(m, "email")? {
        if let Some(idx) = w.find_contact_by("email", &email, None) {
            return Ok(idx);
        }
        if create_by_email && email.contains('@') {
            let mut f = ContactFields::default();
            f.fields.insert("role".into(), "lead".into());
            f.fields.insert("email".into(), email.into());
            return Ok(w.create_contact(f));
        }
        return Err(ApiError::not_found());
    }
    Err(missing("a contact needs an id, external_id or email"))
}
