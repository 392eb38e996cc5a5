//! Parsing and validating a query against an endpoint's [`Dialect`].

use serde_json::Value;

use super::*;

pub(super) fn parse_node(
    v: &Value,
    dialect: &Dialect,
    depth: usize,
    path: &str,
) -> Result<Filter, QueryError> {
    let Some(obj) = v.as_object() else {
        return err(format!("{path} must be an object"));
    };
    if obj.contains_key("field") {
        return parse_leaf(obj, dialect, path).map(Filter::Leaf);
    }
    let op = match obj.get("operator") {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return err(format!("{path}.operator must be a string")),
        None => {
            return err(format!(
                "{path} needs either \"field\" (a filter) or \"operator\": \"AND\"|\"OR\" (a group)"
            ));
        }
    };
    if op != "AND" && op != "OR" {
        return err(format!(
            "{path}.operator {op:?} is not valid for a group (use \"AND\" or \"OR\", or add \"field\" for a filter)"
        ));
    }
    if depth + 1 > MAX_NESTING {
        return err(format!(
            "{path}: queries can nest at most {MAX_NESTING} levels of AND/OR groups"
        ));
    }
    let Some(items) = obj.get("value").and_then(Value::as_array) else {
        return err(format!("{path}.value must be an array of filters"));
    };
    if items.is_empty() {
        return err(format!("{path}.value must not be empty"));
    }
    if items.len() > MAX_GROUP_FILTERS {
        return err(format!(
            "{path}: an {op} group can hold at most {MAX_GROUP_FILTERS} filters, got {}",
            items.len()
        ));
    }
    let children = items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_node(item, dialect, depth + 1, &format!("{path}.value[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(if op == "AND" {
        Filter::And(children)
    } else {
        Filter::Or(children)
    })
}

fn parse_leaf(
    obj: &serde_json::Map<String, Value>,
    dialect: &Dialect,
    path: &str,
) -> Result<Leaf, QueryError> {
    let Some(name) = obj.get("field").and_then(Value::as_str) else {
        return err(format!("{path}.field must be a string"));
    };
    let Some(def) = dialect.fields.iter().find(|f| f.name == name) else {
        return err(format!("{name:?} is not a searchable field"));
    };
    let Some(op_text) = obj.get("operator").and_then(Value::as_str) else {
        return err(format!("{path}.operator must be a string"));
    };
    let Some(op) = Op::parse(op_text) else {
        return err(format!(
            "{op_text:?} is not a valid operator (use one of = != IN NIN ~ !~ ^ $ > < >= <=)"
        ));
    };
    if !op.allowed(def.ty, dialect.dates) {
        return err(format!(
            "operator {op_text:?} is not supported for field {name:?} ({})",
            describe(def.ty, dialect.dates)
        ));
    }
    let Some(raw) = obj.get("value") else {
        return err(format!("{path}.value is missing"));
    };
    let lower = matches!(
        op,
        Op::Contains | Op::NotContains | Op::StartsWith | Op::EndsWith
    );
    let values = if matches!(op, Op::In | Op::Nin) {
        let Some(items) = raw.as_array() else {
            return err(format!("{op_text} needs an array value for field {name:?}"));
        };
        items
            .iter()
            .map(|v| scalar(v, def, false))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        if raw.is_array() {
            return err(format!(
                "operator {op_text:?} needs a single value for field {name:?} (use IN for a list)"
            ));
        }
        let s = scalar(raw, def, lower)?;
        if s == Scalar::Null && !matches!(op, Op::Eq | Op::Ne) {
            return err(format!(
                "a null value only works with = and != (field {name:?})"
            ));
        }
        vec![s]
    };
    Ok(Leaf {
        key: def.key,
        ty: def.ty,
        op,
        values,
    })
}

fn describe(ty: FieldType, dates: DateMode) -> &'static str {
    match (ty, dates) {
        (FieldType::Str, _) => "strings take = != IN NIN ~ !~ ^ $",
        (FieldType::Bool, _) => "booleans take = != IN NIN",
        (FieldType::Int | FieldType::Float, _) => "numbers take = != IN NIN > < >= <=",
        (FieldType::Date, DateMode::Day) => "dates take only = < >",
        (FieldType::Date, DateMode::Exact) => "dates take = != IN NIN > < >= <=",
    }
}

fn scalar(v: &Value, def: &FieldDef, lower: bool) -> Result<Scalar, QueryError> {
    let name = def.name;
    let bad = |want: &str| {
        err(format!(
            "value {v} does not match the type of field {name:?} ({want})"
        ))
    };
    if v.is_null() {
        return Ok(Scalar::Null);
    }
    match def.ty {
        FieldType::Str => match v.as_str() {
            Some(s) if lower => Ok(Scalar::Str(s.to_lowercase())),
            Some(s) => Ok(Scalar::Str(s.to_owned())),
            None => bad("a string"),
        },
        FieldType::Bool => match v {
            Value::Bool(b) => Ok(Scalar::Bool(*b)),
            Value::String(s) if s == "true" => Ok(Scalar::Bool(true)),
            Value::String(s) if s == "false" => Ok(Scalar::Bool(false)),
            _ => bad("a boolean"),
        },
        FieldType::Int | FieldType::Date => {
            let n = match v {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            match n {
                Some(n) => Ok(Scalar::Int(n)),
                None if def.ty == FieldType::Date => bad("a unix timestamp in seconds"),
                None => bad("an integer"),
            }
        }
        FieldType::Float => {
            let n = match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            match n {
                Some(n) if n.is_finite() => Ok(Scalar::Float(n)),
                _ => bad("a number"),
            }
        }
    }
}
