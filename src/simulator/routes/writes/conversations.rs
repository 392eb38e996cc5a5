//! Conversation writes: `POST /conversations/{id}/reply` (an admin
//! `comment` or `note`) and `POST /messages` (an admin-initiated message).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Map, Value};

use super::super::super::Simulator;
use super::super::super::error::ApiError;
use super::super::super::shapes::contact::ContactJson;
use super::super::super::shapes::{admin_identity, conversation, obj};
use super::super::Ver;
use super::{
    admin_index, admin_not_found, json_body, missing, named_contact, opt_id, opt_str, opt_time,
    write_world,
};

/// Most `attachment_urls` a reply takes.
const MAX_ATTACHMENTS: usize = 10;

/// `POST /conversations/{id}/reply` as an admin: the conversation with parts.
pub(in crate::simulator::routes) async fn reply(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let m = json_body(&body)?;
    let mut w = write_world(&sim);
    let idx = w
        .parse_conversation_id(&id)
        .ok_or_else(ApiError::not_found)?;
    match opt_str(&m, "type")?.as_deref() {
        Some("admin") => {}
        None => return Err(missing("type is required (\"admin\")")),
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "type {other:?}: the simulator takes admin replies only (\"admin\")"
            )));
        }
    }
    let note = match opt_str(&m, "message_type")?.as_deref() {
        Some("comment") => false,
        Some("note") => true,
        None => return Err(missing("message_type is required (comment or note)")),
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "message_type must be comment or note, got {other:?}"
            )));
        }
    };
    let admin_id = opt_id(&m, "admin_id")?.ok_or_else(|| missing("admin_id is required"))?;
    let admin = admin_index(&w, &admin_id).ok_or_else(|| admin_not_found(&admin_id))?;
    let body = opt_str(&m, "body")?
        .filter(|b| !b.trim().is_empty())
        .ok_or_else(|| ApiError::invalid("Body is required"))?;
    let urls: Vec<String> = match m.get("attachment_urls") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|u| match u.as_str() {
                Some(s) if s.starts_with("http://") || s.starts_with("https://") => {
                    Ok(s.to_owned())
                }
                _ => Err(ApiError::invalid(format!(
                    "attachment_urls must hold http(s) URLs, got {u}"
                ))),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "attachment_urls must be a list of URLs, got {other}"
            )));
        }
    };
    if urls.len() > MAX_ATTACHMENTS {
        return Err(ApiError::invalid(format!(
            "attachment_urls takes at most {MAX_ATTACHMENTS} URLs, got {}",
            urls.len()
        )));
    }
    let now = w.now;
    let last = w.last_part_at(idx);
    let at = opt_time(&m, "created_at")?.unwrap_or(now);
    if at > now || at < last {
        return Err(ApiError::invalid(format!(
            "created_at {at} must lie between the conversation's last part ({last}) and now ({now})"
        )));
    }
    w.reply(idx, admin, note, at, body, urls);
    let v = conversation::json(&w, idx, Some(false));
    let v = if Ver::of(&headers).is_211() {
        conversation::to_v211(v)
    } else {
        v
    };
    Ok(axum::Json(v).into_response())
}

/// `POST /messages`: an admin's in-app or email message to a contact, which
/// starts an admin-initiated conversation; answers the `message`.
pub(in crate::simulator::routes) async fn create_message(
    State(sim): State<Arc<Simulator>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let m = json_body(&body)?;
    let email = match opt_str(&m, "message_type")?.as_deref() {
        Some("email") => true,
        Some("in_app" | "inapp") => false,
        None => return Err(missing("message_type is required (in_app or email)")),
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "message_type must be in_app or email, got {other:?}"
            )));
        }
    };
    let body = opt_str(&m, "body")?
        .filter(|b| !b.trim().is_empty())
        .ok_or_else(|| ApiError::invalid("Body is required"))?;
    let subject = opt_str(&m, "subject")?.filter(|s| !s.trim().is_empty());
    if email && subject.is_none() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "parameter_not_found",
            "No subject supplied for email message",
        ));
    }
    let from = m
        .get("from")
        .and_then(Value::as_object)
        .ok_or_else(|| missing("from is required: {\"type\": \"admin\", \"id\": ...}"))?;
    let from_id = opt_id(from, "id")?.ok_or_else(|| missing("from.id is required"))?;
    let to = match m.get("to") {
        Some(Value::Array(a)) if a.len() == 1 => a[0].clone(),
        Some(Value::Array(_)) => {
            return Err(ApiError::invalid("to takes one recipient in the simulator"));
        }
        Some(v @ Value::Object(_)) => v.clone(),
        _ => return Err(missing("to is required: {\"type\": \"user\", \"id\": ...}")),
    };
    let mut w = write_world(&sim);
    let admin = admin_index(&w, &from_id).ok_or_else(|| admin_not_found(&from_id))?;
    let contact = named_contact(&mut w, &to, false)?;
    let contact_json = serde_json::to_value(ContactJson::new(&w, contact)).unwrap_or(Value::Null);
    let now = w.now;
    let message_id = (403_000_000 + w.conversations.len() as u64).to_string();
    let (aid, name, mail) = admin_identity(&w, admin);
    let mut fields = Map::new();
    fields.insert(
        "title".into(),
        subject.clone().map_or(Value::Null, Value::from),
    );
    fields.insert(
        "source".into(),
        obj! {
            "type" => if email { "email" } else { "conversation" },
            "id" => message_id.clone(),
            "delivered_as" => "admin_initiated",
            "subject" => subject.clone().unwrap_or_default(),
            "body" => body.clone(),
            "author" => obj! { "type" => "admin", "id" => aid.clone(), "name" => name, "email" => mail },
            "attachments" => Vec::<Value>::new(),
            "url" => Value::Null,
            "redacted" => false,
        },
    );
    fields.insert(
        "contacts".into(),
        obj! { "type" => "contact.list", "contacts" => vec![obj! {
            "type" => "contact", "id" => contact_json["id"].clone(),
            "external_id" => contact_json["external_id"].clone(),
        }] },
    );
    fields.insert(
        "teammates".into(),
        obj! { "type" => "admin.list", "teammates" => vec![obj! { "type" => "admin", "id" => aid }] },
    );
    let idx = w.start_conversation(contact, fields);
    let mut msg = obj! {
        "type" => "admin_message",
        "id" => message_id,
        "created_at" => now,
        "body" => body,
        "message_type" => if email { "email" } else { "inapp" },
        "conversation_id" => w.conversation_id(idx).to_string(),
    };
    if let (Some(s), Value::Object(o)) = (subject.filter(|_| email), &mut msg) {
        o.insert("subject".into(), s.into());
    }
    Ok(axum::Json(msg).into_response())
}
