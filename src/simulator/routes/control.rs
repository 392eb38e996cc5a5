//! The `/__sim` control plane (no auth): clock, advance, ground truth, stats.
//!
//! * `POST /__sim/advance` `{"seconds": N}` → advance summary
//! * `GET /__sim/clock` → `{"now": unix_seconds}`
//! * `GET /__sim/truth/contacts`, `GET /__sim/truth/conversations` → NDJSON,
//!   one record per line exactly as the API returns it (contacts as in
//!   search results, conversations as `GET /conversations/{id}` with parts),
//!   in creation order, streamed in chunks. If the world is advanced while a
//!   truth stream is in flight, the stream is aborted (the client sees a body
//!   error) rather than mixing two states.
//! * `GET /__sim/stats`, `POST /__sim/reset-stats`

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::{Value, json};

use super::super::Simulator;
use super::super::error::ApiError;
use super::super::search::Dataset;
use super::super::shapes::contact::ContactJson;
use super::super::shapes::conversation;

/// Records rendered per streamed chunk.
const CHUNK: u32 = 256;

pub(super) fn router(sim: Arc<Simulator>) -> Router {
    Router::new()
        .route("/__sim/advance", post(advance))
        .route("/__sim/clock", get(clock))
        .route("/__sim/truth/contacts", get(truth_contacts))
        .route("/__sim/truth/conversations", get(truth_conversations))
        .route("/__sim/stats", get(stats))
        .route("/__sim/reset-stats", post(reset_stats))
        .with_state(sim)
}

async fn advance(State(sim): State<Arc<Simulator>>, body: Bytes) -> Result<Response, ApiError> {
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(format!("request body is not valid JSON: {e}")))?;
    let seconds = v
        .get("seconds")
        .and_then(Value::as_i64)
        .filter(|s| *s >= 0)
        .ok_or_else(|| {
            ApiError::invalid("body must be {\"seconds\": N} with N a non-negative integer")
        })?;
    let summary = tokio::task::spawn_blocking(move || sim.advance(seconds))
        .await
        .map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                format!("advance failed: {e}"),
            )
        })?;
    Ok(axum::Json(summary).into_response())
}

async fn clock(State(sim): State<Arc<Simulator>>) -> axum::Json<Value> {
    axum::Json(json!({ "now": sim.now() }))
}

async fn stats(State(sim): State<Arc<Simulator>>) -> axum::Json<Value> {
    axum::Json(sim.stats())
}

async fn reset_stats(State(sim): State<Arc<Simulator>>) -> axum::Json<Value> {
    sim.reset_stats();
    axum::Json(sim.stats())
}

async fn truth_contacts(State(sim): State<Arc<Simulator>>) -> Response {
    truth(sim, Dataset::Contacts)
}

async fn truth_conversations(State(sim): State<Arc<Simulator>>) -> Response {
    truth(sim, Dataset::Conversations)
}

/// Renders records `from..from+CHUNK` as NDJSON, or `None` at the end.
fn chunk(
    sim: &Simulator,
    ds: Dataset,
    from: u32,
    generation: u64,
) -> Option<Result<(Bytes, u32), std::io::Error>> {
    let w = sim.read_world();
    if w.generation != generation {
        return Some(Err(std::io::Error::other(
            "the world changed while the truth was streaming; request it again",
        )));
    }
    let n = match ds {
        Dataset::Contacts => w.contacts.len(),
        Dataset::Conversations => w.conversations.len(),
    } as u32;
    if from >= n {
        return None;
    }
    let end = n.min(from.saturating_add(CHUNK));
    let mut buf = Vec::with_capacity((end - from) as usize * 2048);
    for i in from..end {
        // Serializing into a Vec cannot fail.
        let _ = match ds {
            Dataset::Contacts => serde_json::to_writer(&mut buf, &ContactJson::new(&w, i)),
            Dataset::Conversations => {
                serde_json::to_writer(&mut buf, &conversation::json(&w, i, Some(false)))
            }
        };
        buf.push(b'\n');
    }
    Some(Ok((Bytes::from(buf), end)))
}

fn truth(sim: Arc<Simulator>, ds: Dataset) -> Response {
    let generation = sim.read_world().generation;
    let stream = futures::stream::unfold(Some(0u32), move |state| {
        let sim = Arc::clone(&sim);
        async move {
            let from = state?;
            match chunk(&sim, ds, from, generation)? {
                Ok((bytes, next)) => Some((Ok(bytes), Some(next))),
                Err(e) => Some((Err(e), None)),
            }
        }
    });
    (
        [(CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response()
}
