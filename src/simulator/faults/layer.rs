//! The fault middleware: applies the installed profile to each API request
//! (denied scopes, scripted and drawn faults, search pages that time out)
//! and the error bodies it answers with.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::super::Simulator;
use super::super::error::{ApiError, request_id};
use super::profile::Fault;

// --- Search pages that time out above a page size (`search_max_per_page`)
// or, past the first page, above a window width (`search_max_window_secs`).

/// The installed search-page faults.
#[derive(Debug, Clone, Copy)]
pub(super) struct SearchLimits {
    pub(super) max_per_page: Option<u64>,
    pub(super) max_window_secs: Option<u64>,
}

/// `req` unchanged, or the 504 a search page beyond `limits` gets.
async fn search_page_fault(limits: SearchLimits, req: Request) -> Result<Request, Response> {
    if limits.max_per_page.is_none() && limits.max_window_secs.is_none() {
        return Ok(req);
    }
    if req.method() != axum::http::Method::POST || !req.uri().path().ends_with("/search") {
        return Ok(req);
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let search = serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_default();
    let per_page = search
        .pointer("/pagination/per_page")
        .and_then(|p| p.as_u64())
        .unwrap_or(50);
    let too_many = limits.max_per_page.is_some_and(|max| per_page > max);
    let deep_page = search
        .pointer("/pagination/starting_after")
        .is_some_and(|c| !c.is_null());
    let too_wide = deep_page
        && limits.max_window_secs.is_some_and(|max| {
            updated_at_width(search.get("query").unwrap_or(&serde_json::Value::Null))
                .is_none_or(|width| width > max)
        });
    if too_many || too_wide {
        return Err(html(StatusCode::GATEWAY_TIMEOUT, "504 Gateway Time-out"));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// How many seconds of `updated_at` a search query admits, from its
/// highest lower bound (`>`, `>=`) to its lowest upper bound (`<`, `<=`),
/// over every leaf of its groups; `None` when one side is unbounded.
/// Values may be integers or numeric strings, as the API accepts them.
pub(super) fn updated_at_width(query: &serde_json::Value) -> Option<u64> {
    fn walk(q: &serde_json::Value, lo: &mut Option<i64>, hi: &mut Option<i64>) {
        if let Some(members) = q.get("value").and_then(|v| v.as_array())
            && q.get("field").is_none()
        {
            for m in members {
                walk(m, lo, hi);
            }
            return;
        }
        if q.get("field").and_then(|f| f.as_str()) != Some("updated_at") {
            return;
        }
        let value = match q.get("value") {
            Some(serde_json::Value::Number(n)) => n.as_i64(),
            Some(serde_json::Value::String(t)) => t.trim().parse().ok(),
            _ => None,
        };
        let Some(t) = value else { return };
        match q.get("operator").and_then(|o| o.as_str()) {
            Some(">" | ">=") => *lo = Some(lo.map_or(t, |l| l.max(t))),
            Some("<" | "<=") => *hi = Some(hi.map_or(t, |h| h.min(t))),
            _ => {}
        }
    }
    let (mut lo, mut hi) = (None, None);
    walk(query, &mut lo, &mut hi);
    let (lo, hi) = (lo?, hi?);
    Some(u64::try_from(hi.saturating_sub(lo)).unwrap_or(0))
}

/// Middleware (innermost, inside the rate limit): applies the profile.
pub(crate) async fn layer(State(sim): State<Arc<Simulator>>, req: Request, next: Next) -> Response {
    let limits = sim.faults.search_limits();
    let req = match search_page_fault(limits, req).await {
        Ok(req) => req,
        Err(resp) => return resp,
    };
    let is_get = req.method() == axum::http::Method::GET;
    if let Some(scope) = sim.faults.denied(req.uri().path()) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("You do not have the required scope ({scope}) to access this resource"),
        )
        .into_response();
    }
    let (fault, failing) = sim.faults.next(req.uri().path());
    if failing && is_get {
        return bare_500("Conversation could not be loaded");
    }
    let Some(fault) = fault else {
        return next.run(req).await;
    };
    // 5xx and stalls strike after the server did the work (the answer is
    // what gets lost), so a request that moves server state, such as a
    // scroll page, has moved it: asking again gets the next page.
    match fault {
        Fault::E500 | Fault::E502 | Fault::E503 | Fault::E504 => {
            drop(next.run(req).await);
            match fault {
                Fault::E500 => bare_500("Server Error"),
                Fault::E502 => html(StatusCode::BAD_GATEWAY, "502 Bad Gateway"),
                Fault::E504 => html(StatusCode::GATEWAY_TIMEOUT, "504 Gateway Time-out"),
                _ => ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service_unavailable",
                    "Sorry, the API service is temporarily unavailable",
                )
                .into_response(),
            }
        }
        Fault::Stall => {
            let handled = next.run(req).await;
            tokio::time::sleep(sim.faults.stall()).await;
            handled
        }
        Fault::Unauthorized => ApiError::unauthorized().into_response(),
        Fault::RateLimited => {
            let mut r = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_exceeded",
                "Exceeded rate limit",
            )
            .into_response();
            r.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
        Fault::Reset => {
            let resp = next.run(req).await;
            let (mut parts, _) = resp.into_parts();
            parts.headers.remove(CONTENT_LENGTH);
            let broken = futures::stream::iter([
                Ok(bytes::Bytes::from_static(b"{\"type\":")),
                Err(std::io::Error::other(
                    "connection reset by the fault profile",
                )),
            ]);
            Response::from_parts(parts, Body::from_stream(broken))
        }
        Fault::Truncated | Fault::Empty => {
            let resp = next.run(req).await;
            if !resp.status().is_success() {
                return resp;
            }
            let (mut parts, body) = resp.into_parts();
            parts.headers.remove(CONTENT_LENGTH);
            let body = if fault == Fault::Empty {
                Body::empty()
            } else {
                match axum::body::to_bytes(body, usize::MAX).await {
                    Ok(b) => Body::from(b.slice(..b.len() / 2)),
                    Err(_) => Body::empty(),
                }
            };
            Response::from_parts(parts, body)
        }
    }
}

fn bare_500(message: &str) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(json!({"type": "error", "request_id": request_id(), "message": message})),
    )
        .into_response()
}

fn html(status: StatusCode, title: &str) -> Response {
    (
        status,
        [(CONTENT_TYPE, "text/html")],
        format!("<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"),
    )
        .into_response()
}
