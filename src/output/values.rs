//! How a column's value is read from an API record: JSON pointers split
//! once, the first accepted of a column's shapes, Intercom's "none"
//! sentinel, cut-short inline lists, and the one reader of timestamps
//! ([`timestamp_micros`]). Shared by the encoder and the reference row view.

use serde_json::Value;

use super::schema::ColType;

/// Split a JSON pointer (`/a/b~1c`) into its unescaped tokens.
pub(super) fn pointer_tokens(path: &str) -> Vec<String> {
    if path.is_empty() {
        return Vec::new();
    }
    path.split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// `Value::pointer` over pre-split tokens (same rules for array indexes).
pub(super) fn lookup<'a>(mut v: &'a Value, tokens: &[String]) -> Option<&'a Value> {
    for t in tokens {
        v = match v {
            Value::Object(map) => map.get(t.as_str())?,
            Value::Array(list) => {
                if t.starts_with('+') || (t.starts_with('0') && t.len() > 1) {
                    return None;
                }
                list.get(t.parse::<usize>().ok()?)?
            }
            _ => return None,
        };
    }
    Some(v)
}

/// For each of `paths`: whether another of them reads into its value (then
/// an object there is that other form, not a misfit).
pub(super) fn container_flags<'a>(paths: impl Iterator<Item = &'a str> + Clone) -> Vec<bool> {
    paths
        .clone()
        .map(|p| {
            let prefix = format!("{p}/");
            paths.clone().any(|q| q.starts_with(&prefix))
        })
        .collect()
}

/// What reading a column from a record found.
#[derive(Debug, Clone, Copy)]
pub(super) enum Read<'a> {
    /// A value of an accepted shape.
    Value(&'a Value),
    /// Nothing (absent, null or a "none" sentinel).
    Null,
    /// Present, but of no accepted shape: a custom attribute's misfit.
    Misfit,
    /// Present, but of no accepted shape.
    Unexpected,
}

/// Read a column: the first of its pointers (`get(i)`, `i < n`) whose value
/// is present, not null and of an accepted shape. `sentinel` is set when a
/// `0`/`"0"` "none" was met.
#[allow(clippy::too_many_arguments)]
pub(super) fn read<'a>(
    n: usize,
    get: impl Fn(usize) -> Option<&'a Value>,
    container: impl Fn(usize) -> bool,
    ty: ColType,
    none_sentinel: bool,
    custom: bool,
    sentinel: &mut bool,
) -> Read<'a> {
    let mut misfit = false;
    for i in 0..n {
        let v = match get(i) {
            None | Some(Value::Null) => continue,
            Some(v) => v,
        };
        if none_sentinel && is_none_sentinel(v) {
            *sentinel = true;
            continue;
        }
        if accepts(ty, v, custom) {
            return Read::Value(v);
        }
        if !(v.is_object() && container(i)) {
            misfit = true;
        }
    }
    match (misfit, custom) {
        (false, _) => Read::Null,
        (true, true) => Read::Misfit,
        (true, false) => Read::Unexpected,
    }
}

/// Whether a read `has_more` says true (`true` or `"true"`).
pub(super) fn says_true(found: Read<'_>) -> bool {
    match found {
        Read::Value(Value::Bool(b)) => *b,
        Read::Value(Value::String(x)) => x == "true",
        _ => false,
    }
}

/// Whether an inline list object (`{data, total_count, has_more, ...}`)
/// carries fewer items under `items` than its `total_count` states.
pub(super) fn cut_short(list: &Value, items: &str) -> bool {
    let carried = list
        .get(items)
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    list.get("total_count")
        .and_then(as_i64)
        .is_some_and(|total| total > carried as i64)
}

/// Intercom's "none" for an id: `0` or `"0"`.
fn is_none_sentinel(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.trim() == "0",
        _ => false,
    }
}

/// Whether a present value is of a shape `ty` accepts (`custom`: a
/// custom-attribute column, whose misfits follow the declared type strictly).
fn accepts(ty: ColType, v: &Value, custom: bool) -> bool {
    match ty {
        ColType::Json | ColType::RunId | ColType::ExtractedAt => true,
        ColType::Str => custom || matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_)),
        ColType::Int if custom => {
            as_i64(v).is_some() && !matches!(v, Value::Number(n) if n.is_f64())
        }
        ColType::Int => as_i64(v).is_some(),
        ColType::Timestamp if custom && matches!(v, Value::Number(n) if n.is_f64()) => false,
        ColType::Timestamp => timestamp_micros(v).is_some(),
        ColType::Float => {
            matches!(v, Value::Number(_))
                || v.as_str().is_some_and(|x| x.trim().parse::<f64>().is_ok())
        }
        ColType::Bool => {
            matches!(v, Value::Bool(_)) || matches!(v.as_str(), Some("true" | "false"))
        }
        ColType::StrList => v.is_array(),
    }
}

/// Unix times of this magnitude or more are not seconds (1e11 s is the year
/// 5138) but milliseconds, up to [`MILLIS_LIMIT`].
pub const SECONDS_LIMIT: i64 = 100_000_000_000;
/// Unix milliseconds of this magnitude or more (the year 5138) are not read.
pub const MILLIS_LIMIT: i64 = 100_000_000_000_000;

/// The one reader of timestamps: a value as microseconds since the epoch
/// (UTC), and whether it came in another form than integer unix seconds.
///
/// Accepts unix seconds (integer or float), unix milliseconds (told apart by
/// magnitude: [`SECONDS_LIMIT`] and more), either as a numeric string, and
/// ISO-8601 text (`2026-01-10T04:22:28.240+00:00`, `...Z`, without an offset
/// read as UTC, or a plain `YYYY-MM-DD` date, midnight UTC). `None` for
/// anything else (or out of range).
pub fn timestamp_micros(v: &Value) -> Option<(i64, bool)> {
    match v {
        Value::Number(n) => match n.as_i64() {
            Some(i) => int_micros(i),
            None => {
                let f = n.as_f64()?;
                if !f.is_finite() {
                    return None;
                }
                let (micros, ms) = if f.abs() < SECONDS_LIMIT as f64 {
                    (f * 1e6, false)
                } else if f.abs() < MILLIS_LIMIT as f64 {
                    (f * 1e3, true)
                } else {
                    return None;
                };
                Some((micros.round() as i64, ms))
            }
        },
        Value::String(s) => {
            let s = s.trim();
            match s.parse::<i64>() {
                Ok(i) => int_micros(i).map(|(t, _)| (t, true)),
                Err(_) => iso_micros(s).map(|t| (t, true)),
            }
        }
        _ => None,
    }
}

/// [`timestamp_micros`] in whole unix seconds (rounded down), for cursors.
pub fn timestamp_secs(v: &Value) -> Option<i64> {
    timestamp_micros(v).map(|(t, _)| t.div_euclid(1_000_000))
}

/// Integer unix seconds or milliseconds (by magnitude) as microseconds,
/// and whether they were milliseconds.
fn int_micros(i: i64) -> Option<(i64, bool)> {
    if i.unsigned_abs() < SECONDS_LIMIT as u64 {
        Some((i * 1_000_000, false))
    } else if i.unsigned_abs() < MILLIS_LIMIT as u64 {
        Some((i * 1_000, true))
    } else {
        None
    }
}

/// ISO-8601 / RFC 3339 text as unix microseconds.
fn iso_micros(s: &str) -> Option<i64> {
    use time::format_description::well_known::{Iso8601, Rfc3339};
    use time::{Date, OffsetDateTime, PrimitiveDateTime};
    if !s.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let t = OffsetDateTime::parse(s, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(s, &Iso8601::DEFAULT))
        .ok()
        .or_else(|| {
            PrimitiveDateTime::parse(s, &Iso8601::DEFAULT)
                .ok()
                .map(PrimitiveDateTime::assume_utc)
        })
        .or_else(|| {
            Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
                .ok()
                .map(|d| d.midnight().assume_utc())
        })?;
    i64::try_from(t.unix_timestamp_nanos() / 1000).ok()
}

/// An integer from a JSON number (floats are truncated) or a numeric string.
pub(super) fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(x) => x.trim().parse().ok(),
        _ => None,
    }
}
