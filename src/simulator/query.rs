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

mod eval;
mod parse;
use parse::parse_node;

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

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
