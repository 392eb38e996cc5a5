//! Ticket writes: `POST /tickets`, and `GET /tickets/{id}`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Map, Value};

use super::super::super::Simulator;
use super::super::super::error::ApiError;
use super::super::super::shapes::contact::ContactJson;
use super::super::super::shapes::snapshot::{self, TICKET_TYPES};
use super::super::super::shapes::{obj, ticket};
use super::super::Ver;
use super::{company_not_found, json_body, missing, named_contact, opt_id, opt_time, write_world};

/// `POST /tickets`: a submitted ticket (`ticket`).
pub(in crate::simulator::routes) async fn create_ticket(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let m = json_body(&body)?;
    let type_id = opt_id(&m, "ticket_type_id")?
        .ok_or_else(|| missing("ticket_type_id is required (GET /ticket_types lists them)"))?;
    let t = (0..TICKET_TYPES.len())
        .find(|&t| snapshot::ticket_type_id(t) == type_id)
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "ticket_type_id {type_id} is not a ticket type of this workspace (GET /ticket_types lists them)"
            ))
        })?;
    let contacts = match m.get("contacts") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        None | Some(Value::Null) | Some(Value::Array(_)) => {
            return Err(missing(
                "contacts is required: one contact, [{\"id\": ...}]",
            ));
        }
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "contacts must be a list, got {other}"
            )));
        }
    };
    if contacts.len() > 1 {
        return Err(ApiError::invalid(
            "contacts takes one contact (Intercom allows only one)",
        ));
    }
    let attrs = match m.get("ticket_attributes") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(a)) => a.clone(),
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "ticket_attributes must be an object, got {other}"
            )));
        }
    };
    for (k, v) in &attrs {
        if k != "_default_title_" && k != "_default_description_" {
            return Err(ApiError::invalid(format!(
                "ticket attribute {k:?} does not exist on this ticket type; \
                 _default_title_ and _default_description_ do"
            )));
        }
        if !(v.is_string() || v.is_null()) {
            return Err(ApiError::invalid(format!("{k} must be a string, got {v}")));
        }
    }
    let mut w = write_world(&sim);
    let now = w.now;
    let created_at = opt_time(&m, "created_at")?.unwrap_or(now);
    if created_at > now {
        return Err(ApiError::invalid(format!(
            "created_at {created_at} is in the future (now is {now})"
        )));
    }
    if let Some(cid) = opt_id(&m, "company_id")?
        && w.parse_company_id(&cid).is_none()
    {
        return Err(company_not_found());
    }
    let linked = match opt_id(&m, "conversation_to_link_id")? {
        Some(cid) => Some(w.parse_conversation_id(&cid).ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "conversation_not_found",
                format!("Conversation Not Found: no conversation has id {cid}"),
            )
        })?),
        None => None,
    };
    let contact = named_contact(&mut w, &contacts[0], true)?;
    let contact_json = serde_json::to_value(ContactJson::new(&w, contact)).unwrap_or(Value::Null);
    let mut fields = Map::new();
    fields.insert(
        "ticket_attributes".into(),
        obj! {
            "_default_title_" => attrs.get("_default_title_").cloned().unwrap_or(Value::Null),
            "_default_description_" => attrs.get("_default_description_").cloned().unwrap_or(Value::Null),
        },
    );
    fields.insert("created_at".into(), created_at.into());
    fields.insert(
        "contacts".into(),
        obj! { "type" => "contact.list", "contacts" => vec![obj! {
            "type" => "contact", "id" => contact_json["id"].clone(),
            "external_id" => contact_json["external_id"].clone(),
        }] },
    );
    if let Some(c) = linked {
        fields.insert(
            "linked_objects".into(),
            obj! {
                "type" => "list", "total_count" => 1, "has_more" => false,
                "data" => vec![obj! {
                    "type" => "conversation", "id" => w.conversation_id(c).to_string(),
                    "category" => Value::Null,
                }],
            },
        );
    }
    let idx = w.create_ticket(t as u8, contact, fields);
    Ok(axum::Json(ticket::json(&w, idx, Ver::of(&headers).is_211())).into_response())
}

/// `GET /tickets/{id}`.
pub(in crate::simulator::routes) async fn show_ticket(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let w = sim.read_world();
    let idx = w.parse_ticket_id(&id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "ticket_not_found",
            "Ticket not found",
        )
    })?;
    Ok(axum::Json(ticket::json(&w, idx, Ver::of(&headers).is_211())).into_response())
}
