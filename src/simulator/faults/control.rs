//! `/__sim/faults`: read and install the fault profile while running.

use std::sync::Arc;

use axum::extract::State;

use super::super::Simulator;
use super::super::error::ApiError;
use super::profile::FaultProfile;

/// `GET /__sim/faults` (the installed profile as JSON) and `POST /__sim/faults`
/// (install a profile: a JSON object with the keys of [`FaultProfile`], a
/// JSON string naming a profile, or TOML text). No auth, like all `/__sim`.
pub(crate) fn control_router(sim: Arc<Simulator>) -> axum::Router {
    axum::Router::new()
        .route(
            "/__sim/faults",
            axum::routing::get(get_faults).post(post_faults),
        )
        .with_state(sim)
}

async fn get_faults(State(sim): State<Arc<Simulator>>) -> axum::Json<FaultProfile> {
    axum::Json(sim.faults.get())
}

async fn post_faults(
    State(sim): State<Arc<Simulator>>,
    body: bytes::Bytes,
) -> Result<axum::Json<FaultProfile>, ApiError> {
    let profile = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::String(name)) => FaultProfile::load(&name),
        Ok(v) => serde_json::from_value::<FaultProfile>(v)
            .map_err(|e| e.to_string())
            .and_then(|p| p.validate().map(|()| p)),
        Err(_) => FaultProfile::parse_toml(&String::from_utf8_lossy(&body)),
    }
    .map_err(ApiError::invalid)?;
    sim.faults.set(profile.clone());
    Ok(axum::Json(profile))
}
