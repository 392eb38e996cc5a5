//! The search query DSL: parsing, validation and evaluation.
//!
//! A query is a leaf `{field, operator, value}` or a group
//! `{operator: "AND"|"OR", value: [...]}`. Rules (Intercom 2.16, see
//! `shared/intercom-api-notes.md` §3.2 and §3.6):
//!
//! * at most two levels of groups and at most 15 filters per group;
//! * operators by field type: strings `= != IN NIN ~ !~ ^ $`; booleans
//!   `= != IN NIN`; integers and floats also `< > <= >=`;
//! * contact dates ([`DateMode::Day`]) accept only `=`, `<`, `>` and compare
//!   by **UTC calendar day**: `=` matches the value's whole day, `>` starts at
//!   midnight of the next day, `<` ends before midnight of the value's day;
//! * conversation dates ([`DateMode::Exact`]) compare to the second and accept
//!   the integer operators (`>`/`<` are strict);
//! * date and integer values may be JSON integers or numeric strings;
//! * `~ !~ ^ $` are case-insensitive; `= != IN NIN` are exact;
//! * `value: null` with `=` / `!=` tests for a missing value;
//! * on multi-valued fields (`contact_ids`, `tag_ids`...) positive operators
//!   match if any element matches and negated ones if none does.
//!
//! Anything else is a [`QueryError`], answered with 400 `parameter_invalid`.

use serde_json::Value;

/// Most AND/OR levels allowed.
pub const MAX_NESTING: usize = 2;
/// Most filters inside one AND/OR group.
pub const MAX_GROUP_FILTERS: usize = 15;
/// Seconds per day.
const DAY: i64 = 86_400;

/// A query the API would reject; the message says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, QueryError> {
    Err(QueryError(msg.into()))
}

/// Type of a searchable field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldType {
    Str,
    Int,
    Float,
    Bool,
    Date,
}

/// How date fields compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DateMode {
    /// Contacts: by UTC calendar day, operators `= < >` only.
    Day,
    /// Conversations: to the second.
    Exact,
}

/// One searchable field.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FieldDef {
    pub name: &'static str,
    pub ty: FieldType,
    /// Dataset-specific key passed to [`Record::field`].
    pub key: u16,
}

/// The fields and date rules of one search endpoint.
#[derive(Debug)]
pub(crate) struct Dialect {
    pub fields: &'static [FieldDef],
    pub dates: DateMode,
}

/// Comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    In,
    Nin,
    Contains,
    NotContains,
    StartsWith,
    EndsWith,
    Gt,
    Lt,
    Ge,
    Le,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "=" => Op::Eq,
            "!=" => Op::Ne,
            "IN" => Op::In,
            "NIN" => Op::Nin,
            "~" => Op::Contains,
            "!~" => Op::NotContains,
            "^" => Op::StartsWith,
            "$" => Op::EndsWith,
            ">" => Op::Gt,
            "<" => Op::Lt,
            ">=" => Op::Ge,
            "<=" => Op::Le,
            _ => return None,
        })
    }

    fn allowed(self, ty: FieldType, dates: DateMode) -> bool {
        use Op::*;
        match ty {
            FieldType::Str => matches!(
                self,
                Eq | Ne | In | Nin | Contains | NotContains | StartsWith | EndsWith
            ),
            FieldType::Bool => matches!(self, Eq | Ne | In | Nin),
            FieldType::Int | FieldType::Float => {
                matches!(self, Eq | Ne | In | Nin | Gt | Lt | Ge | Le)
            }
            FieldType::Date => match dates {
                DateMode::Day => matches!(self, Eq | Gt | Lt),
                DateMode::Exact => matches!(self, Eq | Ne | In | Nin | Gt | Lt | Ge | Le),
            },
        }
    }
}

/// A typed query value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Scalar {
    Null,
    /// Lowercased for `~ !~ ^ $`, verbatim otherwise.
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// A field's value on one record.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum FieldValue<'a> {
    Null,
    Str(&'a str),
    Many(&'a [String]),
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// Something a query can be evaluated against.
pub(crate) trait Record {
    /// The value of the field with this [`FieldDef::key`].
    fn field(&self, key: u16) -> FieldValue<'_>;
}

/// A parsed, validated leaf.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Leaf {
    pub key: u16,
    pub ty: FieldType,
    pub op: Op,
    /// One value, or several for `IN` / `NIN`.
    pub values: Vec<Scalar>,
}

/// A parsed, validated query.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Filter {
    Leaf(Leaf),
    And(Vec<Filter>),
    Or(Vec<Filter>),
}

/// Inclusive bounds on a date field implied by a query.
pub(crate) type Interval = (i64, i64);
/// No constraint.
pub(crate) const FULL: Interval = (i64::MIN, i64::MAX);

impl Filter {
    /// Parses and validates `query` against `dialect`.
    pub(crate) fn parse(query: &Value, dialect: &Dialect) -> Result<Filter, QueryError> {
        parse_node(query, dialect, 0, "query")
    }

    /// Whether `rec` matches.
    pub(crate) fn matches(&self, rec: &impl Record, dates: DateMode) -> bool {
        match self {
            Filter::Leaf(l) => l.matches(rec.field(l.key), dates),
            Filter::And(v) => v.iter().all(|f| f.matches(rec, dates)),
            Filter::Or(v) => v.iter().any(|f| f.matches(rec, dates)),
        }
    }

    /// A conservative interval that every matching record's date field `key`
    /// lies in (used to narrow the scan with the `updated_at` index).
    pub(crate) fn bounds(&self, key: u16, dates: DateMode) -> Interval {
        match self {
            Filter::Leaf(l) if l.key == key => l.bounds(dates),
            Filter::Leaf(_) => FULL,
            Filter::And(v) => v.iter().fold(FULL, |acc, f| {
                let b = f.bounds(key, dates);
                (acc.0.max(b.0), acc.1.min(b.1))
            }),
            Filter::Or(v) => v.iter().fold((i64::MAX, i64::MIN), |acc, f| {
                let b = f.bounds(key, dates);
                if b.0 > b.1 {
                    acc
                } else {
                    (acc.0.min(b.0), acc.1.max(b.1))
                }
            }),
        }
    }
}

fn parse_node(
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

fn day(t: i64) -> i64 {
    t.div_euclid(DAY)
}

impl Leaf {
    fn matches(&self, v: FieldValue<'_>, dates: DateMode) -> bool {
        let first = &self.values[0];
        match self.op {
            Op::Eq => self.equals(v, first, dates),
            Op::Ne => !self.equals(v, first, dates),
            Op::In => self.values.iter().any(|s| self.equals(v, s, dates)),
            Op::Nin => !self.values.iter().any(|s| self.equals(v, s, dates)),
            Op::Contains => text_any(v, first, |h, n| h.contains(n)),
            Op::NotContains => !text_any(v, first, |h, n| h.contains(n)),
            Op::StartsWith => text_any(v, first, |h, n| h.starts_with(n)),
            Op::EndsWith => text_any(v, first, |h, n| h.ends_with(n)),
            Op::Gt | Op::Lt | Op::Ge | Op::Le => self.compare(v, first, dates),
        }
    }

    fn equals(&self, v: FieldValue<'_>, s: &Scalar, dates: DateMode) -> bool {
        match (v, s) {
            (FieldValue::Null, Scalar::Null) => true,
            (FieldValue::Many(m), Scalar::Null) => m.is_empty(),
            (_, Scalar::Null) | (FieldValue::Null, _) => false,
            (FieldValue::Str(a), Scalar::Str(b)) => a == b,
            (FieldValue::Many(m), Scalar::Str(b)) => m.iter().any(|a| a == b),
            (FieldValue::Int(a), Scalar::Int(b)) => {
                if self.ty == FieldType::Date && dates == DateMode::Day {
                    day(a) == day(*b)
                } else {
                    a == *b
                }
            }
            (FieldValue::Int(a), Scalar::Float(b)) => a as f64 == *b,
            (FieldValue::Float(a), Scalar::Float(b)) => a == *b,
            (FieldValue::Float(a), Scalar::Int(b)) => a == *b as f64,
            (FieldValue::Bool(a), Scalar::Bool(b)) => a == *b,
            _ => false,
        }
    }

    fn compare(&self, v: FieldValue<'_>, s: &Scalar, dates: DateMode) -> bool {
        let (a, b) = match (v, s) {
            (FieldValue::Int(a), Scalar::Int(b)) => {
                if self.ty == FieldType::Date && dates == DateMode::Day {
                    return match self.op {
                        Op::Gt => a >= (day(*b) + 1) * DAY,
                        Op::Lt => a < day(*b) * DAY,
                        _ => false,
                    };
                }
                return match self.op {
                    Op::Gt => a > *b,
                    Op::Lt => a < *b,
                    Op::Ge => a >= *b,
                    Op::Le => a <= *b,
                    _ => false,
                };
            }
            (FieldValue::Int(a), Scalar::Float(b)) => (a as f64, *b),
            (FieldValue::Float(a), Scalar::Float(b)) => (a, *b),
            (FieldValue::Float(a), Scalar::Int(b)) => (a, *b as f64),
            _ => return false,
        };
        match self.op {
            Op::Gt => a > b,
            Op::Lt => a < b,
            Op::Ge => a >= b,
            Op::Le => a <= b,
            _ => false,
        }
    }

    fn bounds(&self, dates: DateMode) -> Interval {
        if self.ty != FieldType::Date {
            return FULL;
        }
        let ints: Vec<i64> = self
            .values
            .iter()
            .filter_map(|s| match s {
                Scalar::Int(n) => Some(*n),
                _ => None,
            })
            .collect();
        if ints.len() != self.values.len() {
            return FULL;
        }
        let v = ints.first().copied().unwrap_or(0);
        match (dates, self.op) {
            (DateMode::Day, Op::Eq) => (day(v) * DAY, day(v) * DAY + DAY - 1),
            (DateMode::Day, Op::Gt) => ((day(v) + 1).saturating_mul(DAY), i64::MAX),
            (DateMode::Day, Op::Lt) => (i64::MIN, day(v) * DAY - 1),
            (DateMode::Exact, Op::Eq) => (v, v),
            (DateMode::Exact, Op::Gt) => (v.saturating_add(1), i64::MAX),
            (DateMode::Exact, Op::Ge) => (v, i64::MAX),
            (DateMode::Exact, Op::Lt) => (i64::MIN, v.saturating_sub(1)),
            (DateMode::Exact, Op::Le) => (i64::MIN, v),
            (DateMode::Exact, Op::In) => match (ints.iter().min(), ints.iter().max()) {
                (Some(lo), Some(hi)) => (*lo, *hi),
                _ => (i64::MAX, i64::MIN),
            },
            _ => FULL,
        }
    }
}

/// Case-insensitive text test; any element of a multi-valued field.
fn text_any(v: FieldValue<'_>, s: &Scalar, pred: impl Fn(&str, &str) -> bool) -> bool {
    let Scalar::Str(needle) = s else {
        return false;
    };
    match v {
        FieldValue::Str(h) => pred(&h.to_lowercase(), needle),
        FieldValue::Many(m) => m.iter().any(|h| pred(&h.to_lowercase(), needle)),
        _ => false,
    }
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
