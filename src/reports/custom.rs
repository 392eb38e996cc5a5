//! Custom attributes as typed columns.
//!
//! For reports over contacts, companies and conversations, the attributes
//! that `GET /data_attributes` (one list for every model, each attribute
//! with its `model`) declares as custom become one column
//! each, `custom_<snake_case name>`, typed from the declared `data_type`
//! (string, integer, float, boolean, date → timestamp). Conversations'
//! attributes come from `GET /conversations/attributes` (2.16, where
//! `model=conversation` is a 422; their types integer, decimal → float,
//! boolean, datetime → timestamp, string and list → text, others → JSON
//! text), falling back to `/data_attributes` on older API versions (2.11
//! lists them there without `model`; `model=conversation` when that list
//! has none). A value that does not
//! fit is written as null and counted (a warning after the report); the raw
//! object always stays in `custom_attributes_json`. Names that collide after
//! snake-casing get `_2`, `_3`, ... in the order of the attribute names the
//! first time they are seen; the name given is kept in the state
//! (`custom_columns`, listed by `state show`) and never changes or moves to
//! another attribute, whatever is declared later. Attributes declared after
//! a run add columns to later files only: readers should union by column name.
//!
//! **When the declarations are read.** Only when a report has rows to
//! write (the pipeline asks for the columns on the first non-empty page),
//! and at most once per run per list: the lists go through the run's
//! [`RunLists`], shared with the `data_attributes` snapshot and the run's
//! other reports. A sync with nothing changed reads none of them (except
//! the `data_attributes` snapshot, which lists every model).

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;

use crate::error::Result;
use crate::extract::run_lists::RunLists;
use crate::http::{HttpError, IntercomClient};
use crate::output::schema::{ColType, Column};
use crate::state::StateStore;

/// Columns for the custom attributes of `model` (`contact`, `company`,
/// `conversation`), named so as not to collide with `existing`. Names
/// already given (kept in `state`, see [`crate::state::CustomColumnRow`])
/// are reused; attributes seen for the first time get a new name, which is
/// recorded before any file uses it. The declarations are read through
/// `lists` (once per run per model).
pub async fn columns(
    client: &IntercomClient,
    lists: &RunLists,
    model: &str,
    existing: &[Column],
    state: &StateStore,
) -> Result<Vec<Column>> {
    let declared = declared(client, lists, model).await?;
    // Two workers naming the same new attribute at once: the first name
    // recorded wins and the other reads it back (a few rounds at most).
    let mut given = state.custom_columns(model).await?;
    for _ in 0..3 {
        let (columns, new) = named(declared.clone(), existing, &given);
        if new.is_empty() {
            return Ok(columns);
        }
        state.assign_custom_columns(model, &new).await?;
        given = state.custom_columns(model).await?;
    }
    let (columns, _) = named(declared, existing, &given);
    Ok(columns)
}

/// The custom attributes `model` declares, as `(name, data_type)`.
async fn declared(
    client: &IntercomClient,
    lists: &RunLists,
    model: &str,
) -> Result<Vec<(String, String)>> {
    if model == "conversation" {
        match lists.get(client, CONVERSATION_ATTRIBUTES).await {
            Ok(body) => {
                let declared = body
                    .get("data")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|a| {
                        let name = a.get("name")?.as_str()?.to_string();
                        let ty = a
                            .get("data_type")
                            .and_then(Value::as_str)
                            .unwrap_or("string");
                        Some((name, conversation_type(ty).to_string()))
                    })
                    .collect();
                return Ok(declared);
            }
            Err(e @ HttpError::Unauthorized { .. }) => return Err(e.into()),
            // Before 2.16 there is no such endpoint: ask /data_attributes.
            Err(e) => {
                tracing::debug!(error = %e, "no /conversations/attributes; trying /data_attributes");
            }
        }
    }
    // Every model's attributes in one list (`model` not given), shared
    // with the `data_attributes` snapshot and the other models' reports:
    // contact and company (2.16), conversation too (2.11).
    let mut body = lists.get(client, ALL_DATA_ATTRIBUTES).await;
    let of_model = |a: &&Value| a.get("model").and_then(Value::as_str) == Some(model);
    if model == "conversation"
        && body.as_ref().is_ok_and(|b| {
            !b.get("data")
                .and_then(Value::as_array)
                .is_some_and(|l| l.iter().any(|a| of_model(&a)))
        })
    {
        // Neither list has them (a version between): `model=conversation`.
        body = lists
            .get(client, "data_attributes?model=conversation")
            .await;
    }
    let body = match body {
        Ok(v) => v,
        Err(e @ HttpError::Unauthorized { .. }) => return Err(e.into()),
        Err(e) => {
            // 2.16 answers 422 for `model=conversation` (expected); a
            // token without the scope gets 403 (worth saying).
            if matches!(e, HttpError::Status { status: 422, .. }) {
                tracing::debug!(model, error = %e, "no custom attribute declarations");
            } else {
                tracing::info!(model, error = %e, "no custom attribute declarations; custom attributes stay in custom_attributes_json");
            }
            return Ok(Vec::new());
        }
    };
    Ok(body
        .get("data")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(of_model)
        .filter(|a| a.get("custom").and_then(Value::as_bool) == Some(true))
        .filter_map(|a| {
            let name = a.get("name")?.as_str()?.to_string();
            let ty = a
                .get("data_type")
                .and_then(Value::as_str)
                .unwrap_or("string")
                .to_string();
            Some((name, ty))
        })
        .collect())
}

/// Where 2.16 lists conversation attributes (404 before 2.16).
pub const CONVERSATION_ATTRIBUTES: &str = "conversations/attributes";

/// `GET /data_attributes` without `model`: the attributes of every model
/// the version lists there (contact and company in 2.16; conversation too
/// in 2.11), each with its `model`.
pub const ALL_DATA_ATTRIBUTES: &str = "data_attributes";

/// A 2.16 conversation attribute type as a `/data_attributes` one.
fn conversation_type(data_type: &str) -> &'static str {
    match data_type {
        "integer" => "integer",
        "decimal" => "float",
        "boolean" => "boolean",
        "datetime" => "date",
        "string" | "list" => "string",
        // relationship, files, and anything new: kept as JSON text.
        _ => "json",
    }
}

/// One typed column per declared `(name, data_type)`, in name order: the
/// name in `given` (attribute → column) if it has one, else a new one
/// (`custom_<snake_case>`, then `_2`, `_3`, ... past every name in
/// `existing` and `given`, also those of attributes no longer declared).
/// Returns the columns and the new `(attribute, column)` names.
fn named(
    mut declared: Vec<(String, String)>,
    existing: &[Column],
    given: &BTreeMap<String, String>,
) -> (Vec<Column>, Vec<(String, String)>) {
    declared.sort();
    declared.dedup_by(|a, b| a.0 == b.0);
    let mut taken: HashSet<String> = existing.iter().map(|c| c.name.to_string()).collect();
    taken.extend(given.values().cloned());
    let mut new = Vec::new();
    let columns = declared
        .into_iter()
        .map(|(name, ty)| {
            let column_name = match given.get(&name) {
                Some(c) => c.clone(),
                None => {
                    let base = format!("custom_{}", snake_case(&name));
                    let mut column_name = base.clone();
                    let mut n = 2;
                    while taken.contains(&column_name) {
                        column_name = format!("{base}_{n}");
                        n += 1;
                    }
                    taken.insert(column_name.clone());
                    new.push((name.clone(), column_name.clone()));
                    column_name
                }
            };
            let path = format!(
                "/custom_attributes/{}",
                name.replace('~', "~0").replace('/', "~1")
            );
            Column::dynamic(
                column_name,
                col_type(&ty),
                path,
                "Custom attribute (typed from its declaration)",
            )
        })
        .collect();
    (columns, new)
}

fn col_type(data_type: &str) -> ColType {
    match data_type {
        "integer" => ColType::Int,
        "float" => ColType::Float,
        "boolean" => ColType::Bool,
        "date" => ColType::Timestamp,
        "json" => ColType::Json,
        _ => ColType::Str,
    }
}

/// `Renewal Date` → `renewal_date`, `Tier ✨` → `tier`: ASCII letters and
/// digits, lower-cased, everything else one `_`, trimmed.
pub fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        } else {
            if !out.ends_with('_') {
                out.push('_');
            }
            prev_lower = false;
        }
    }
    let trimmed = out.trim_matches('_');
    if trimmed.is_empty() {
        "attribute".to_string()
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(columns: &[Column]) -> Vec<String> {
        columns.iter().map(|c| c.name.to_string()).collect()
    }

    #[test]
    fn given_names_stay_and_new_ones_go_past_every_given_name() {
        let decl = |names: &[&str]| -> Vec<(String, String)> {
            names
                .iter()
                .map(|n| (n.to_string(), "string".to_string()))
                .collect()
        };
        let (first, new) = named(
            decl(&["company_name", "Company Name"]),
            &[],
            &BTreeMap::new(),
        );
        assert_eq!(
            names(&first),
            ["custom_company_name", "custom_company_name_2"]
        );
        let given: BTreeMap<String, String> = new.into_iter().collect();
        assert_eq!(given["company_name"], "custom_company_name_2");
        // `Company-Name` sorts between the two; without the given names it
        // would take `_2` and push `company_name` to `_3`.
        let (second, new) = named(
            decl(&["company_name", "Company-Name", "Company Name"]),
            &[],
            &given,
        );
        assert_eq!(
            names(&second),
            [
                "custom_company_name",
                "custom_company_name_3",
                "custom_company_name_2"
            ]
        );
        assert_eq!(
            new,
            vec![(
                "Company-Name".to_string(),
                "custom_company_name_3".to_string()
            )]
        );
        // An attribute no longer declared keeps its name reserved.
        let (third, new) = named(decl(&["COMPANY NAME"]), &[], &given);
        assert_eq!(names(&third), ["custom_company_name_3"]);
        assert_eq!(new.len(), 1);
    }

    #[test]
    fn snake_cases_awkward_names() {
        assert_eq!(snake_case("Renewal Date"), "renewal_date");
        assert_eq!(snake_case("Tier ✨"), "tier");
        assert_eq!(snake_case("MRR"), "mrr");
        assert_eq!(snake_case("lastOrderValue"), "last_order_value");
        assert_eq!(snake_case("  ✨✨ "), "attribute");
        assert_eq!(snake_case("plan-name (v2)"), "plan_name_v2");
    }
}
