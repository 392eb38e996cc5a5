//! Builders for Intercom's search query language.
//!
//! A leaf is `{field, operator, value}`, a group `{operator: AND|OR, value:
//! [...]}`; Intercom allows two levels of nesting and 15 filters per group.

use serde_json::{Value, json};

/// `{field, operator, value}`.
pub fn leaf(field: &str, operator: &str, value: impl Into<Value>) -> Value {
    json!({ "field": field, "operator": operator, "value": value.into() })
}

/// All of `filters`; a single filter is returned as is.
pub fn and(mut filters: Vec<Value>) -> Value {
    if filters.len() == 1 {
        return filters.remove(0);
    }
    json!({ "operator": "AND", "value": filters })
}

/// The body of a search request.
pub fn search_body(
    query: Value,
    per_page: u32,
    starting_after: Option<&str>,
    sort: Option<(&str, &str)>,
) -> Value {
    let mut pagination = json!({ "per_page": per_page });
    if let Some(c) = starting_after {
        pagination["starting_after"] = Value::from(c);
    }
    let mut body = json!({ "query": query, "pagination": pagination });
    if let Some((field, order)) = sort {
        body["sort"] = json!({ "field": field, "order": order });
    }
    body
}
