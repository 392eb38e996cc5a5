//! HTTP routes: the Intercom API surface plus the `/__sim` control plane.
//!
//! API routes sit behind `stats::in_flight_layer` (outermost: requests in
//! flight per endpoint class), `limits::tokens_layer` (each token's
//! requests in flight), `latency::layer` (every request waits
//! its simulated response time, 401s and 429s too, when `--latency` is
//! set), `count` (feeds [`Stats`](super::stats::Stats), so 401s are counted
//! too) and `auth` (bearer token check), then `limits::layer` (rate limit
//! and its headers) and `faults::layer` (fault injection). `/__sim/*` routes
//! have none.
//!
//! Request input is never trusted: malformed JSON, wrong types, bad cursors
//! and out-of-range page sizes all become 400 `error.list` responses.

mod companies;
mod contacts;
mod control;
mod conversations;
mod events;
mod help_center;
mod snapshot;
mod tickets;
mod truth_more;
mod writes;

pub(crate) use companies::ScrollState;

use std::sync::Arc;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::Value;

use super::Simulator;
use super::error::ApiError;
use super::query::{Dialect, Filter};
use super::search::{Cursor, Sort};

/// Largest page size any endpoint returns; larger requests are clamped.
pub const MAX_PER_PAGE: usize = 150;

/// Builds the full router (API + control plane).
pub(crate) fn build(sim: Arc<Simulator>) -> Router {
    let api = Router::new()
        .route("/me", get(me))
        .route(
            "/contacts",
            get(contacts::list).post(writes::create_contact),
        )
        .route("/contacts/search", post(contacts::search))
        .route(
            "/contacts/{id}",
            get(contacts::show)
                .put(writes::update_contact)
                .delete(writes::delete_contact),
        )
        .route("/contacts/{id}/notes", get(contacts::notes))
        .route("/contacts/{id}/tags", get(contacts::tags))
        .route(
            "/contacts/{id}/companies",
            get(contacts::companies).post(writes::attach_company),
        )
        .route("/contacts/{id}/segments", get(contacts::segments))
        .route("/conversations", get(conversations::list))
        .route("/conversations/search", post(conversations::search))
        .route("/conversations/deleted", get(conversations::deleted))
        .route(
            "/conversations/attributes",
            get(snapshot::conversation_attributes),
        )
        .route("/conversations/{id}", get(conversations::show))
        .route("/conversations/{id}/reply", post(writes::reply))
        .route("/admins", get(snapshot::admins))
        .route("/admins/activity_logs", get(help_center::activity_logs))
        .route("/help_center/help_centers", get(help_center::help_centers))
        .route("/help_center/collections", get(help_center::collections))
        .route("/articles", get(help_center::articles))
        .route("/teams", get(snapshot::teams))
        .route("/tags", get(snapshot::tags))
        .route("/segments", get(snapshot::segments))
        .route("/data_attributes", get(snapshot::data_attributes))
        .route("/ticket_types", get(snapshot::ticket_types))
        .route(
            "/companies",
            get(companies::filter).post(writes::upsert_company),
        )
        .route("/companies/scroll", get(companies::scroll))
        .route("/companies/list", post(companies::list))
        .route("/companies/{id}", get(companies::show))
        .route("/companies/{id}/contacts", get(companies::contacts))
        .route("/companies/{id}/segments", get(companies::segments))
        .route("/events", get(events::list))
        .route("/tickets/search", post(tickets::search))
        .route("/tickets", post(writes::create_ticket))
        .route("/tickets/{id}", get(writes::show_ticket))
        .route("/messages", post(writes::create_message))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&sim),
            super::faults::layer,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&sim),
            super::limits::layer,
        ))
        .layer(middleware::from_fn_with_state(Arc::clone(&sim), auth))
        .layer(middleware::from_fn_with_state(Arc::clone(&sim), count))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&sim),
            super::latency::layer,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&sim),
            super::limits::tokens_layer,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&sim),
            super::stats::in_flight_layer,
        ))
        .with_state(Arc::clone(&sim));
    control::router(Arc::clone(&sim))
        .merge(super::faults::control_router(sim))
        .merge(api)
}

async fn me(State(sim): State<Arc<Simulator>>) -> Response {
    let w = sim.read_world();
    axum::Json(super::shapes::me(&w)).into_response()
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}

/// The token of `Authorization: Bearer <token>`, if the header has one.
/// A token is a workspace: the rate limit, the company scroll and the
/// per-token stats are kept per token.
pub(crate) fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
}

/// Accepts `Authorization: Bearer <token>` unless the token is rejected.
async fn auth(State(sim): State<Arc<Simulator>>, req: Request, next: Next) -> Response {
    let token = bearer_token(req.headers());
    match token {
        Some(t) if !sim.rejects(t) => next.run(req).await,
        _ => ApiError::unauthorized().into_response(),
    }
}

/// Counts the request by status and route template.
async fn count(State(sim): State<Arc<Simulator>>, req: Request, next: Next) -> Response {
    let endpoint = format!(
        "{} {}",
        req.method(),
        req.extensions()
            .get::<MatchedPath>()
            .map_or("(unmatched)", MatchedPath::as_str)
    );
    let resp = next.run(req).await;
    sim.stats.record(endpoint, resp.status().as_u16());
    resp
}

/// Query-string parameters of a list endpoint.
pub(crate) struct ListParams {
    pub per_page: usize,
    pub starting_after: Option<String>,
}

/// Parses `per_page` and `starting_after` from a raw query.
pub(crate) fn list_params(
    raw: Option<&str>,
    default_per_page: usize,
) -> Result<ListParams, ApiError> {
    let mut p = ListParams {
        per_page: default_per_page,
        starting_after: None,
    };
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "per_page" => p.per_page = per_page(&Value::String(v.into_owned()))?,
            "starting_after" if !v.is_empty() => p.starting_after = Some(v.into_owned()),
            _ => {}
        }
    }
    Ok(p)
}

/// A page size from JSON or the query string: a positive integer (or a
/// numeric string), clamped to [`MAX_PER_PAGE`].
fn per_page(v: &Value) -> Result<usize, ApiError> {
    let n = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n >= 1 => Ok((n as u64).min(MAX_PER_PAGE as u64) as usize),
        _ => Err(ApiError::invalid(format!(
            "per_page must be a positive integer (at most {MAX_PER_PAGE}), got {v}"
        ))),
    }
}

/// A parsed search body.
pub(crate) struct SearchBody {
    pub filter: Filter,
    /// Canonical JSON of the query, the cache key.
    pub query_key: String,
    pub sort: Sort,
    pub per_page: usize,
    pub starting_after: Option<String>,
}

/// Parses `{query, pagination?:{per_page, starting_after}, sort?:{field, order}}`.
pub(crate) fn search_body(
    body: &Bytes,
    dialect: &Dialect,
    default_per_page: usize,
) -> Result<SearchBody, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("request body is not valid JSON: {e}")))?;
    let Some(obj) = v.as_object() else {
        return Err(ApiError::invalid("request body must be a JSON object"));
    };
    let Some(query) = obj.get("query") else {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "parameter_missing",
            "query is required",
        ));
    };
    let filter = Filter::parse(query, dialect).map_err(|e| ApiError::invalid(e.0))?;
    let mut out = SearchBody {
        filter,
        query_key: query.to_string(),
        sort: Sort::DEFAULT,
        per_page: default_per_page,
        starting_after: None,
    };
    match obj.get("pagination") {
        None | Some(Value::Null) => {}
        Some(Value::Object(p)) => {
            if let Some(n) = p.get("per_page").filter(|n| !n.is_null()) {
                out.per_page = per_page(n)?;
            }
            match p.get("starting_after") {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) if s.is_empty() => {}
                Some(Value::String(s)) => out.starting_after = Some(s.clone()),
                Some(other) => {
                    return Err(ApiError::invalid(format!(
                        "pagination.starting_after must be a string, got {other}"
                    )));
                }
            }
        }
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "pagination must be an object, got {other}"
            )));
        }
    }
    match obj.get("sort") {
        None | Some(Value::Null) => {}
        Some(Value::Object(s)) => {
            let field = match s.get("field") {
                None | Some(Value::Null) => "updated_at",
                Some(Value::String(f)) => f.as_str(),
                Some(other) => {
                    return Err(ApiError::invalid(format!(
                        "sort.field must be a string, got {other}"
                    )));
                }
            };
            let field = Sort::field_from(field).ok_or_else(|| {
                ApiError::invalid(format!(
                    "cannot sort by {field:?}; use updated_at, created_at or id"
                ))
            })?;
            let descending = match s.get("order") {
                None | Some(Value::Null) => true,
                Some(Value::String(o)) if o == "descending" => true,
                Some(Value::String(o)) if o == "ascending" => false,
                Some(other) => {
                    return Err(ApiError::new(
                        axum::http::StatusCode::BAD_REQUEST,
                        "invalid_sort_order",
                        format!("sort order must be \"ascending\" or \"descending\", got {other}"),
                    ));
                }
            };
            out.sort = Sort { field, descending };
        }
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "sort must be an object, got {other}"
            )));
        }
    }
    Ok(out)
}

/// Decodes an optional cursor for `scope`/`sort`.
pub(crate) fn cursor(
    text: Option<&str>,
    scope: &str,
    sort: Sort,
) -> Result<Option<Cursor>, ApiError> {
    text.map(|t| Cursor::decode(t, scope, sort).map_err(ApiError::invalid))
        .transpose()
}

/// The API version a request asked for (`Intercom-Version`, default 2.16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ver {
    /// 2.11 and older: the shapes of §7 of the API notes differ.
    V211,
    /// 2.12 and newer (served as 2.16).
    V216,
}

impl Ver {
    /// Reads `Intercom-Version`; anything older than 2.12 is served as 2.11.
    pub(crate) fn of(headers: &axum::http::HeaderMap) -> Ver {
        let v = headers
            .get("intercom-version")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("2.16")
            .trim();
        let mut it = v.split('.').map(|p| p.parse::<u32>().ok());
        match (it.next().flatten(), it.next().flatten()) {
            (Some(major), Some(minor)) if (major, minor) < (2, 12) => Ver::V211,
            (Some(major), None) if major < 2 => Ver::V211,
            _ => Ver::V216,
        }
    }

    /// Whether the 2.11 shapes apply.
    pub(crate) fn is_211(self) -> bool {
        self == Ver::V211
    }
}

/// `http://host` of the request, for the full URLs in `pages.next`.
pub(crate) fn origin(headers: &axum::http::HeaderMap) -> String {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("api.intercom.io");
    format!("http://{host}")
}

/// Query parameters of a page-number endpoint.
pub(crate) struct PageParams {
    pub page: usize,
    pub per_page: usize,
    /// `order=asc` (default `desc`).
    pub ascending: bool,
}

/// Parses `page`, `per_page` (clamped to `max`) and `order`.
pub(crate) fn page_params(
    raw: Option<&str>,
    default_per_page: usize,
    max: usize,
) -> Result<PageParams, ApiError> {
    let mut p = PageParams {
        page: 1,
        per_page: default_per_page,
        ascending: false,
    };
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "per_page" => p.per_page = per_page(&Value::String(v.into_owned()))?.min(max),
            "page" => {
                p.page = v
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| {
                        ApiError::invalid(format!("page must be a positive integer, got {v:?}"))
                    })?;
            }
            "order" => {
                p.ascending = match v.as_ref() {
                    "asc" => true,
                    "desc" => false,
                    other => {
                        return Err(ApiError::invalid(format!(
                            "order must be asc or desc, got {other:?}"
                        )));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(p)
}

/// One page of `items` plus the `pages_link` object: `next` is the full URL
/// of the following page (`url_base` + `page=N&per_page=M`) or null.
pub(crate) fn link_page<T: Clone>(items: &[T], p: &PageParams, url_base: &str) -> (Vec<T>, Value) {
    let total_pages = items.len().div_ceil(p.per_page.max(1));
    let from = (p.page - 1).saturating_mul(p.per_page).min(items.len());
    let to = from.saturating_add(p.per_page).min(items.len());
    let sep = if url_base.contains('?') { '&' } else { '?' };
    let next = if p.page < total_pages {
        Value::from(format!(
            "{url_base}{sep}page={}&per_page={}",
            p.page + 1,
            p.per_page
        ))
    } else {
        Value::Null
    };
    let pages = super::shapes::obj! {
        "type" => "pages",
        "page" => p.page as u64,
        "per_page" => p.per_page as u64,
        "total_pages" => total_pages as u64,
        "next" => next,
    };
    (items[from..to].to_vec(), pages)
}
