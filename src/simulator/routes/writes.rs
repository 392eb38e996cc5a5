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

use std::sync::{Arc, RwLockWriteGuard};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Map, Value};

use super::super::Simulator;
use super::super::error::ApiError;
use super::super::shapes::contact::ContactJson;
use super::super::shapes::dims::{self, COMPANY_CUSTOM, CONTACT_CUSTOM, TICKET_TYPES};
use super::super::shapes::{admin_identity, company, conversation, obj, ticket};
use super::super::vocab::admin_id;
use super::super::world::{CompanyFields, ContactFields, World};
use super::Ver;

/// Most `attachment_urls` a reply takes.
const MAX_ATTACHMENTS: usize = 10;

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

/// A live contact for a write (unknown, merged or deleted: 404).
fn live_contact(w: &World, id: &str) -> Result<u32, ApiError> {
    w.parse_contact_id(id)
        .filter(|&i| w.contact_live(i))
        .ok_or_else(ApiError::not_found)
}

/// `POST /contacts`.
pub(super) async fn create_contact(
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
pub(super) async fn update_contact(
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
pub(super) async fn delete_contact(
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

fn company_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "company_not_found",
        "Company Not Found",
    )
}

/// `POST /contacts/{id}/companies` `{"id": "<company id>"}`: the company.
pub(super) async fn attach_company(
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

/// Plan ids of the generated companies' plans; other names get new ids.
fn plan_json(name: &str) -> Value {
    let id = match name {
        "Starter" => "261".to_owned(),
        "Pro" => "262".to_owned(),
        "Enterprise" => "263".to_owned(),
        other => (300
            + other
                .bytes()
                .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
                % 700)
            .to_string(),
    };
    obj! { "type" => "plan", "id" => id, "name" => name }
}

/// `POST /companies`: creates the company `company_id` names, or updates it.
pub(super) async fn upsert_company(
    State(sim): State<Arc<Simulator>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let m = json_body(&body)?;
    let Some(company_id) = opt_id(&m, "company_id")? else {
        return Err(missing(
            "company_id is required: the company's id in your own system",
        ));
    };
    let mut f = CompanyFields::default();
    for k in ["name", "website", "industry"] {
        if let Some(s) = opt_str(&m, k)? {
            f.fields.insert(k.into(), s.into());
        }
    }
    if let Some(plan) = opt_str(&m, "plan")? {
        f.fields.insert("plan".into(), plan_json(&plan));
    }
    match m.get("size") {
        None | Some(Value::Null) => {}
        Some(Value::Number(n)) if n.is_i64() => {
            f.fields.insert("size".into(), n.as_i64().into());
        }
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "size must be an integer, got {other}"
            )));
        }
    }
    match m.get("monthly_spend") {
        None | Some(Value::Null) => {}
        // Intercom keeps the integer part.
        Some(Value::Number(n)) if n.as_f64().is_some_and(|x| x >= 0.0) => {
            let spend = n.as_f64().map_or(0, |x| x.trunc() as i64);
            f.fields.insert("monthly_spend".into(), spend.into());
        }
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "monthly_spend must be a non-negative number, got {other}"
            )));
        }
    }
    if let Some(t) = opt_time(&m, "remote_created_at")? {
        f.fields.insert("remote_created_at".into(), t.into());
    }
    f.custom_attributes = custom_attributes(&m, COMPANY_CUSTOM, "company")?;
    let mut w = write_world(&sim);
    let idx = w.upsert_company(&company_id, f);
    Ok(axum::Json(company::json(&w, idx)).into_response())
}

/// `POST /conversations/{id}/reply` as an admin: the conversation with parts.
pub(super) async fn reply(
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

/// `POST /tickets`: a submitted ticket (`ticket`).
pub(super) async fn create_ticket(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let m = json_body(&body)?;
    let type_id = opt_id(&m, "ticket_type_id")?
        .ok_or_else(|| missing("ticket_type_id is required (GET /ticket_types lists them)"))?;
    let t = (0..TICKET_TYPES.len())
        .find(|&t| dims::ticket_type_id(t) == type_id)
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
pub(super) async fn show_ticket(
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

/// `POST /messages`: an admin's in-app or email message to a contact, which
/// starts an admin-initiated conversation; answers the `message`.
pub(super) async fn create_message(
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
