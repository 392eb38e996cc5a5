//! `POST /companies`: create, or update by `company_id`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use super::super::super::Simulator;
use super::super::super::error::ApiError;
use super::super::super::shapes::snapshot::COMPANY_CUSTOM;
use super::super::super::shapes::{company, obj};
use super::super::super::world::CompanyFields;
use super::{custom_attributes, json_body, missing, opt_id, opt_str, opt_time, write_world};

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
pub(in crate::simulator::routes) async fn upsert_company(
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
