//! Declarative column definitions and their Arrow schema.
//!
//! A report describes its output as a list of [`Column`]s: a name, a type,
//! and the source shapes it accepts: a JSON pointer into the API record,
//! optionally further pointers tried in order ([`Column::or`]) and Intercom's
//! "none" sentinel ([`Column::none_zero`]). [`BatchEncoder`] then appends API
//! records straight into one typed Arrow builder per column, converting as it
//! goes: timestamps in any accepted form ([`timestamp_micros`]) become
//! microsecond timestamps, numeric ids become strings, nested lists become
//! lists of ids.
//!
//! A present value that none of a column's shapes accepts is written as null
//! and counted per column as [`AnomalyKind::UnexpectedShape`]; a value read
//! from another accepted form (milliseconds or ISO-8601 for a timestamp, a
//! `0`/`"0"` sentinel for an id) is counted as
//! [`AnomalyKind::InterpretedValue`]. Both end up in the run summary, never
//! one log line per value. The pointers are split once,
//! not per row, and no intermediate row or JSON text is built (the earlier
//! path serialised every record through `arrow_json`'s tape decoder, which
//! cost about a third of the exporter's CPU; see `BENCHMARKS.md`).
//! [`RowView`] is that earlier path, kept as the reference the encoder is
//! tested against. The same definitions generate `schemas/<report>.json`.

use std::borrow::Cow;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::anomalies::{AnomalyKind, MAX_SAMPLES};

/// The type of an output column, and the JSON shapes it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    /// UTF-8 text. Accepts a string, a number or a boolean (ids may come as
    /// numbers: written as their text). An object or array is an unexpected
    /// shape, except in custom-attribute columns, which write it as JSON text.
    Str,
    /// 64-bit integer. Accepts an integer, a float (truncated) or a numeric string.
    Int,
    /// 64-bit float. Accepts a number or a numeric string.
    Float,
    /// Boolean. Accepts `true`/`false` or the strings `"true"`/`"false"`.
    Bool,
    /// `Timestamp(Microsecond, "UTC")` in the file. Accepts unix seconds,
    /// unix milliseconds (told apart by magnitude), numeric strings of
    /// either, and ISO-8601 / RFC 3339 text (see [`timestamp_micros`]).
    Timestamp,
    /// A list of strings: the `item` field of each element of an array
    /// (or the elements themselves when `item` is empty). Accepts an array.
    StrList,
    /// Any JSON value, kept as its JSON text.
    Json,
    /// Not from the record: the run that exported the row (`_run_id`).
    RunId,
    /// Not from the record: when that run started (`_extracted_at`).
    ExtractedAt,
}

/// One output column. Most are static; custom-attribute columns are built
/// at run time from `/data_attributes`.
///
/// **Accepted source shapes.** The value is read from [`Column::path`], then
/// from each of [`Column::alts`] in order, taking the first that is present,
/// not null and of a shape [`ColType`] accepts. A pointer whose value is an
/// object that another of the column's pointers reads into (e.g.
/// `/ticket_state` for `/ticket_state/category`) is that other form, not a
/// misfit. With [`Column::none_sentinel`], `0` and `"0"` mean "none" (null,
/// counted as interpreted). A present value no pointer accepts is null and
/// counted as an unexpected shape of the column.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: Cow<'static, str>,
    pub ty: ColType,
    /// JSON pointer into the API record (`/source/author/id`): the usual
    /// (2.16) form, documented as `source` in `schemas/`.
    pub path: Cow<'static, str>,
    /// Further JSON pointers tried in order when `path` gives no accepted
    /// value: other versions' or older captures' forms (`alternatives` in
    /// `schemas/`).
    pub alts: &'static [&'static str],
    /// `0` and `"0"` are Intercom's "none" (unassigned): written as null.
    pub none_sentinel: bool,
    /// For [`ColType::StrList`]: the key to take from each array element.
    pub item: &'static str,
    /// What the column holds (goes into `schemas/` and the README).
    pub doc: &'static str,
    /// A present value that does not fit `ty` is counted (custom attributes,
    /// whose declared type Intercom does not enforce) as a misfit rather than
    /// an unexpected shape.
    pub count_misfits: bool,
    /// For a [`ColType::Bool`] column read from an inline list's `has_more`
    /// (`/tags/has_more`): the key of that list's items (`data`), and the
    /// value is also true when the list's `total_count` is above the number
    /// of items it carries. Intercom cuts inline lists short and still says
    /// `has_more: false` (a contact with 11 of its 14 tags inline); such a
    /// value is counted as interpreted. Empty: a plain column.
    pub short_list_items: &'static str,
}

impl Column {
    pub const fn new(
        name: &'static str,
        ty: ColType,
        path: &'static str,
        doc: &'static str,
    ) -> Self {
        Self {
            name: Cow::Borrowed(name),
            ty,
            path: Cow::Borrowed(path),
            alts: &[],
            none_sentinel: false,
            item: "",
            doc,
            count_misfits: false,
            short_list_items: "",
        }
    }

    /// A column built at run time (custom attributes).
    pub fn dynamic(name: String, ty: ColType, path: String, doc: &'static str) -> Self {
        Self {
            name: Cow::Owned(name),
            ty,
            path: Cow::Owned(path),
            alts: &[],
            none_sentinel: false,
            item: "",
            doc,
            count_misfits: true,
            short_list_items: "",
        }
    }

    pub const fn list(
        name: &'static str,
        path: &'static str,
        item: &'static str,
        doc: &'static str,
    ) -> Self {
        Self {
            name: Cow::Borrowed(name),
            ty: ColType::StrList,
            path: Cow::Borrowed(path),
            alts: &[],
            none_sentinel: false,
            item,
            doc,
            count_misfits: false,
            short_list_items: "",
        }
    }

    /// The same column, also reading `alts` (JSON pointers, in order) when
    /// `path` gives no accepted value.
    pub const fn or(mut self, alts: &'static [&'static str]) -> Self {
        self.alts = alts;
        self
    }

    /// The same column, with `0` and `"0"` read as "none" (null).
    pub const fn none_zero(mut self) -> Self {
        self.none_sentinel = true;
        self
    }

    /// The same `has_more` column, also true when the list object (the
    /// parent of `path`) states a `total_count` above the number of items
    /// under its `items` key (see [`Column::short_list_items`]).
    pub const fn or_short(mut self, items: &'static str) -> Self {
        self.short_list_items = items;
        self
    }

    /// The list object (`/tags`) and its items key (`data`) of a column
    /// built with [`Column::or_short`].
    pub fn short_list(&self) -> Option<(&str, &'static str)> {
        if self.short_list_items.is_empty() {
            return None;
        }
        let (parent, _) = self.path.rsplit_once('/')?;
        Some((parent, self.short_list_items))
    }

    /// Every pointer this column reads, in order.
    pub fn paths(&self) -> impl Iterator<Item = &str> + Clone {
        std::iter::once(self.path.as_ref()).chain(self.alts.iter().copied())
    }

    /// The Arrow type of this column in Parquet (`csv == false`) or CSV,
    /// where lists are written as JSON arrays in a text column.
    pub fn data_type(&self, csv: bool) -> DataType {
        match self.ty {
            ColType::Str | ColType::Json | ColType::RunId => DataType::Utf8,
            ColType::Int => DataType::Int64,
            ColType::Float => DataType::Float64,
            ColType::Bool => DataType::Boolean,
            ColType::Timestamp | ColType::ExtractedAt => {
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
            }
            ColType::StrList if csv => DataType::Utf8,
            ColType::StrList => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        }
    }
}

/// Columns every report ends with, describing the run rather than the record.
pub static META_COLUMNS: &[Column] = &[
    Column::new(
        "_run_id",
        ColType::RunId,
        "",
        "The run that exported this row (its directory name)",
    ),
    Column::new(
        "_extracted_at",
        ColType::ExtractedAt,
        "",
        "When that run started",
    ),
];

/// A report's columns followed by [`META_COLUMNS`].
pub fn all_columns(columns: &[Column]) -> impl Iterator<Item = &Column> {
    columns.iter().chain(META_COLUMNS)
}

/// The Arrow schema of a report's files (its columns, then the meta columns).
/// Every column is nullable: Intercom leaves fields out freely, and a missing
/// value must never fail an export.
pub fn arrow_schema(columns: &[Column], csv: bool) -> SchemaRef {
    let fields: Vec<Field> = all_columns(columns)
        .map(|c| Field::new(c.name.as_ref(), c.data_type(csv), true))
        .collect();
    Arc::new(Schema::new(fields))
}

/// The columns part of the JSON document kept under `schemas/`
/// (`{"report", "columns"}`); `reports::keys::schema_document` adds the keys
/// of a known report's rows, so the writer knows nothing of reports.
pub fn columns_document(report: &str, columns: &[Column]) -> Value {
    let cols: Vec<Value> = all_columns(columns)
        .map(|c| {
            let source = |path: &str| {
                if c.item.is_empty() {
                    path.to_string()
                } else {
                    format!("{path}[].{}", c.item)
                }
            };
            let mut doc = serde_json::json!({
                "name": c.name,
                "type": c.data_type(false).to_string(),
                "csv_type": c.data_type(true).to_string(),
                "nullable": true,
                "source": source(&c.path),
                "doc": c.doc,
            });
            // Only columns with other accepted shapes carry these keys.
            if let Value::Object(m) = &mut doc {
                if !c.alts.is_empty() {
                    let alts: Vec<String> = c.alts.iter().map(|p| source(p)).collect();
                    m.insert("alternatives".into(), alts.into());
                }
                if c.none_sentinel {
                    m.insert("none_sentinel".into(), serde_json::json!([0, "0"]));
                }
            }
            doc
        })
        .collect();
    serde_json::json!({ "report": report, "columns": cols })
}

/// Values of the meta columns, the same for every row of a run, and a
/// count of values that did not fit their column's type.
#[derive(Debug, Clone, Default)]
pub struct RowMeta {
    pub run_id: String,
    /// Unix seconds.
    pub extracted_at: i64,
    /// Present values written as null because they did not fit the type.
    pub misfits: std::cell::Cell<u64>,
    /// The report's anomaly counters (values read in another accepted
    /// form, values of an unexpected shape), shared with the extractor.
    pub anomalies: crate::anomalies::Anomalies,
}

/// Appends API records to typed Arrow builders, one per column, and hands
/// them out as [`RecordBatch`]es. One encoder per output format (CSV writes
/// lists as JSON text).
pub struct BatchEncoder {
    schema: SchemaRef,
    cols: Vec<EncodedColumn>,
    csv: bool,
    rows: usize,
    /// Reused for values written as JSON text.
    scratch: Vec<u8>,
}

struct EncodedColumn {
    ty: ColType,
    name: String,
    /// Each accepted JSON pointer split into unescaped tokens (empty: meta
    /// column), with whether another pointer reads into its value.
    sources: Vec<(Vec<String>, bool)>,
    none_sentinel: bool,
    item: &'static str,
    count_misfits: bool,
    /// [`Column::short_list`]: the list object's tokens and its items key.
    short_list: Option<(Vec<String>, &'static str)>,
    builder: ColBuilder,
    /// Anomalies of the records appended by the current `append` call.
    tally: Tally,
}

/// Per-column anomaly counts of one `append` call, handed to the report's
/// [`crate::anomalies::Anomalies`] at its end (one lock per column and
/// call, not per value).
#[derive(Default)]
struct Tally {
    interpreted: u64,
    unexpected: u64,
    interpreted_samples: Vec<String>,
    unexpected_samples: Vec<String>,
}

impl Tally {
    fn note(count: &mut u64, samples: &mut Vec<String>, record: &Value) {
        *count += 1;
        if samples.len() < MAX_SAMPLES
            && let Some(id) = sample_id(record)
            && !samples.contains(&id)
        {
            samples.push(id);
        }
    }

    fn flush(&mut self, column: &str, anomalies: &crate::anomalies::Anomalies) {
        for (kind, count, samples) in [
            (
                AnomalyKind::InterpretedValue,
                &mut self.interpreted,
                &mut self.interpreted_samples,
            ),
            (
                AnomalyKind::UnexpectedShape,
                &mut self.unexpected,
                &mut self.unexpected_samples,
            ),
        ] {
            if *count == 0 {
                continue;
            }
            let mut rest = *count;
            let mut it = samples.drain(..);
            let first = it.next();
            let extra: Vec<String> = it.collect();
            rest -= extra.len() as u64;
            anomalies.record_n(kind, column, rest, first.as_deref());
            for s in &extra {
                anomalies.record(kind, column, Some(s));
            }
            *count = 0;
        }
    }
}

/// The record's `id` as text, for anomaly samples.
fn sample_id(record: &Value) -> Option<String> {
    match record.get("id")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

enum ColBuilder {
    Str(StringBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    List(ListBuilder<StringBuilder>),
}

impl ColBuilder {
    fn new(ty: ColType, csv: bool) -> Self {
        match ty {
            ColType::Str | ColType::Json | ColType::RunId => Self::Str(StringBuilder::new()),
            ColType::StrList if csv => Self::Str(StringBuilder::new()),
            ColType::StrList => Self::List(
                ListBuilder::new(StringBuilder::new()).with_field(Arc::new(Field::new(
                    "item",
                    DataType::Utf8,
                    true,
                ))),
            ),
            ColType::Int => Self::Int(Int64Builder::new()),
            ColType::Float => Self::Float(Float64Builder::new()),
            ColType::Bool => Self::Bool(BooleanBuilder::new()),
            ColType::Timestamp | ColType::ExtractedAt => {
                Self::Timestamp(TimestampMicrosecondBuilder::new().with_timezone("UTC"))
            }
        }
    }

    fn append_null(&mut self) {
        match self {
            Self::Str(b) => b.append_null(),
            Self::Int(b) => b.append_null(),
            Self::Float(b) => b.append_null(),
            Self::Bool(b) => b.append_null(),
            Self::Timestamp(b) => b.append_null(),
            Self::List(b) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Self::Str(b) => Arc::new(b.finish()),
            Self::Int(b) => Arc::new(b.finish()),
            Self::Float(b) => Arc::new(b.finish()),
            Self::Bool(b) => Arc::new(b.finish()),
            Self::Timestamp(b) => Arc::new(b.finish()),
            Self::List(b) => Arc::new(b.finish()),
        }
    }
}

/// Split a JSON pointer (`/a/b~1c`) into its unescaped tokens.
fn pointer_tokens(path: &str) -> Vec<String> {
    if path.is_empty() {
        return Vec::new();
    }
    path.split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// `Value::pointer` over pre-split tokens (same rules for array indexes).
fn lookup<'a>(mut v: &'a Value, tokens: &[String]) -> Option<&'a Value> {
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
fn container_flags<'a>(paths: impl Iterator<Item = &'a str> + Clone) -> Vec<bool> {
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
enum Read<'a> {
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
fn read<'a>(
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
fn says_true(found: Read<'_>) -> bool {
    match found {
        Read::Value(Value::Bool(b)) => *b,
        Read::Value(Value::String(x)) => x == "true",
        _ => false,
    }
}

/// Whether an inline list object (`{data, total_count, has_more, ...}`)
/// carries fewer items under `items` than its `total_count` states.
fn cut_short(list: &Value, items: &str) -> bool {
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

impl BatchEncoder {
    /// An encoder for `columns` followed by [`META_COLUMNS`].
    pub fn new(columns: &[Column], csv: bool) -> Self {
        let cols = all_columns(columns)
            .map(|c| {
                let sources = if c.path.is_empty() {
                    Vec::new()
                } else {
                    c.paths()
                        .map(pointer_tokens)
                        .zip(container_flags(c.paths()))
                        .collect()
                };
                EncodedColumn {
                    ty: c.ty,
                    name: c.name.to_string(),
                    sources,
                    none_sentinel: c.none_sentinel,
                    item: c.item,
                    count_misfits: c.count_misfits,
                    short_list: c
                        .short_list()
                        .map(|(list, items)| (pointer_tokens(list), items)),
                    builder: ColBuilder::new(c.ty, csv),
                    tally: Tally::default(),
                }
            })
            .collect();
        Self {
            schema: arrow_schema(columns, csv),
            cols,
            csv,
            rows: 0,
            scratch: Vec::new(),
        }
    }

    /// The schema of the batches this encoder produces.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Rows appended since the last [`Self::flush`].
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when no row is waiting.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Append API records as rows. Values read from another accepted form
    /// and values of no accepted shape are counted in `meta.anomalies`, per
    /// column.
    pub fn append(&mut self, records: &[Value], meta: &RowMeta) {
        for record in records {
            for col in &mut self.cols {
                append_cell(col, record, meta, self.csv, &mut self.scratch);
            }
        }
        self.rows += records.len();
        for col in &mut self.cols {
            col.tally.flush(&col.name, &meta.anomalies);
        }
    }

    /// The rows appended so far as one batch (`None` when there are none).
    pub fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        if self.rows == 0 {
            return Ok(None);
        }
        let arrays: Vec<ArrayRef> = self.cols.iter_mut().map(|c| c.builder.finish()).collect();
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), arrays).map(Some)
    }
}

/// Append one record's value of one column (see [`Cell`] for the rules,
/// which this follows exactly).
fn append_cell(
    col: &mut EncodedColumn,
    record: &Value,
    meta: &RowMeta,
    csv: bool,
    scratch: &mut Vec<u8>,
) {
    use std::fmt::Write as _;
    match (col.ty, &mut col.builder) {
        (ColType::RunId, ColBuilder::Str(b)) => return b.append_value(&meta.run_id),
        (ColType::ExtractedAt, ColBuilder::Timestamp(b)) => {
            return b.append_value(meta.extracted_at.saturating_mul(1_000_000));
        }
        _ => {}
    }
    if col.sources.is_empty() {
        return col.builder.append_null();
    }
    let mut sentinel = false;
    let found = read(
        col.sources.len(),
        |i| lookup(record, &col.sources[i].0),
        |i| col.sources[i].1,
        col.ty,
        col.none_sentinel,
        col.count_misfits,
        &mut sentinel,
    );
    if let (Some((list, items)), ColBuilder::Bool(b)) = (&col.short_list, &mut col.builder)
        && !says_true(found)
        && lookup(record, list).is_some_and(|l| cut_short(l, items))
    {
        let t = &mut col.tally;
        Tally::note(&mut t.interpreted, &mut t.interpreted_samples, record);
        return b.append_value(true);
    }
    let v = match found {
        Read::Value(v) => v,
        Read::Null => {
            if sentinel {
                let t = &mut col.tally;
                Tally::note(&mut t.interpreted, &mut t.interpreted_samples, record);
            }
            return col.builder.append_null();
        }
        Read::Misfit => {
            meta.misfits.set(meta.misfits.get() + 1);
            return col.builder.append_null();
        }
        Read::Unexpected => {
            let t = &mut col.tally;
            Tally::note(&mut t.unexpected, &mut t.unexpected_samples, record);
            return col.builder.append_null();
        }
    };
    match (col.ty, &mut col.builder) {
        (ColType::Str, ColBuilder::Str(b)) => match v {
            Value::String(x) => b.append_value(x),
            Value::Number(n) => {
                // StringBuilder is fmt::Write: the text goes straight into its buffer.
                let _ = write!(b, "{n}");
                b.append_value("");
            }
            Value::Bool(x) => b.append_value(if *x { "true" } else { "false" }),
            other => append_json(b, other, scratch),
        },
        (ColType::Json, ColBuilder::Str(b)) => append_json(b, v, scratch),
        (ColType::Int, ColBuilder::Int(b)) => b.append_option(as_i64(v)),
        (ColType::Float, ColBuilder::Float(b)) => b.append_option(match v {
            Value::Number(n) => n.as_f64(),
            Value::String(x) => x.trim().parse::<f64>().ok(),
            _ => None,
        }),
        (ColType::Bool, ColBuilder::Bool(b)) => b.append_option(match v {
            Value::Bool(x) => Some(*x),
            Value::String(x) if x == "true" => Some(true),
            Value::String(x) if x == "false" => Some(false),
            _ => None,
        }),
        (ColType::Timestamp, ColBuilder::Timestamp(b)) => match timestamp_micros(v) {
            Some((micros, interpreted)) => {
                if interpreted {
                    let t = &mut col.tally;
                    Tally::note(&mut t.interpreted, &mut t.interpreted_samples, record);
                }
                b.append_value(micros)
            }
            None => b.append_null(),
        },
        (ColType::StrList, ColBuilder::List(b)) => match v {
            Value::Array(items) => {
                let values = b.values();
                for item in items {
                    let x = if col.item.is_empty() {
                        Some(item)
                    } else {
                        item.get(col.item)
                    };
                    match x {
                        Some(Value::String(s)) => values.append_value(s),
                        Some(Value::Null) | None => values.append_null(),
                        Some(other) => {
                            let _ = write!(values, "{other}");
                            values.append_value("");
                        }
                    }
                }
                b.append(true);
            }
            _ => b.append_null(),
        },
        (ColType::StrList, ColBuilder::Str(b)) if csv => match v {
            Value::Array(items) => {
                scratch.clear();
                let list = StrList {
                    items,
                    key: col.item,
                };
                match serde_json::to_writer(&mut *scratch, &list) {
                    Ok(()) => b.append_value(String::from_utf8_lossy(scratch)),
                    Err(_) => b.append_null(),
                }
            }
            _ => b.append_null(),
        },
        (_, builder) => builder.append_null(),
    }
}

/// A value as compact JSON text (what `Value`'s `Display` writes).
fn append_json(b: &mut StringBuilder, v: &Value, scratch: &mut Vec<u8>) {
    scratch.clear();
    match serde_json::to_writer(&mut *scratch, v) {
        Ok(()) => b.append_value(String::from_utf8_lossy(scratch)),
        Err(_) => b.append_null(),
    }
}

/// An API record seen through a report's columns, ready for `Decoder::serialize`.
pub struct RowView<'a> {
    pub columns: &'a [Column],
    pub record: &'a Value,
    pub meta: &'a RowMeta,
    /// Write lists as JSON text (CSV cannot hold nested values).
    pub csv: bool,
}

impl Serialize for RowView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.columns.len() + META_COLUMNS.len()))?;
        for col in all_columns(self.columns) {
            let cell = Cell {
                col,
                record: self.record,
                meta: self.meta,
                csv: self.csv,
            };
            map.serialize_entry(col.name.as_ref(), &cell)?;
        }
        map.end()
    }
}

struct Cell<'a> {
    col: &'a Column,
    record: &'a Value,
    meta: &'a RowMeta,
    csv: bool,
}

impl Serialize for Cell<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.col.ty {
            ColType::RunId => return s.serialize_str(&self.meta.run_id),
            ColType::ExtractedAt => {
                return s.serialize_i64(self.meta.extracted_at.saturating_mul(1_000_000));
            }
            _ => {}
        }
        if self.col.path.is_empty() {
            return s.serialize_none();
        }
        let paths: Vec<&str> = self.col.paths().collect();
        let container = container_flags(paths.iter().copied());
        let mut sentinel = false;
        let found = read(
            paths.len(),
            |i| self.record.pointer(paths[i]),
            |i| container[i],
            self.col.ty,
            self.col.none_sentinel,
            self.col.count_misfits,
            &mut sentinel,
        );
        if let Some((list, items)) = self.col.short_list()
            && self.col.ty == ColType::Bool
            && !says_true(found)
            && self
                .record
                .pointer(list)
                .is_some_and(|l| cut_short(l, items))
        {
            return s.serialize_bool(true);
        }
        let v = match found {
            Read::Value(v) => v,
            Read::Misfit => {
                self.meta.misfits.set(self.meta.misfits.get() + 1);
                return s.serialize_none();
            }
            Read::Null | Read::Unexpected => return s.serialize_none(),
        };
        match self.col.ty {
            ColType::Str => match v {
                Value::String(x) => s.serialize_str(x),
                Value::Number(n) => s.collect_str(n),
                Value::Bool(b) => s.serialize_str(if *b { "true" } else { "false" }),
                other => s.collect_str(other),
            },
            ColType::Json => s.collect_str(v),
            ColType::Int => match as_i64(v) {
                Some(i) => s.serialize_i64(i),
                None => s.serialize_none(),
            },
            ColType::Float => match v {
                Value::Number(n) => match n.as_f64() {
                    Some(f) => s.serialize_f64(f),
                    None => s.serialize_none(),
                },
                Value::String(x) => match x.trim().parse::<f64>() {
                    Ok(f) => s.serialize_f64(f),
                    Err(_) => s.serialize_none(),
                },
                _ => s.serialize_none(),
            },
            ColType::Bool => match v {
                Value::Bool(b) => s.serialize_bool(*b),
                Value::String(x) if x == "true" => s.serialize_bool(true),
                Value::String(x) if x == "false" => s.serialize_bool(false),
                _ => s.serialize_none(),
            },
            ColType::Timestamp => match timestamp_micros(v) {
                Some((micros, _)) => s.serialize_i64(micros),
                None => s.serialize_none(),
            },
            ColType::RunId | ColType::ExtractedAt => s.serialize_none(),
            ColType::StrList => {
                let Value::Array(items) = v else {
                    return s.serialize_none();
                };
                let list = StrList {
                    items,
                    key: self.col.item,
                };
                if self.csv {
                    match serde_json::to_string(&list) {
                        Ok(text) => s.serialize_str(&text),
                        Err(e) => Err(serde::ser::Error::custom(e)),
                    }
                } else {
                    list.serialize(s)
                }
            }
        }
    }
}

/// Array elements (or one key of each) as a list of strings.
struct StrList<'a> {
    items: &'a [Value],
    key: &'a str,
}

impl Serialize for StrList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.items.len()))?;
        for item in self.items {
            let v = if self.key.is_empty() {
                Some(item)
            } else {
                item.get(self.key)
            };
            match v {
                Some(Value::String(x)) => seq.serialize_element(x)?,
                Some(Value::Null) | None => seq.serialize_element(&None::<&str>)?,
                Some(other) => seq.serialize_element(&other.to_string())?,
            }
        }
        seq.end()
    }
}

/// An integer from a JSON number (floats are truncated) or a numeric string.
fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(x) => x.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, ListArray, StringArray, TimestampMicrosecondArray};
    use arrow_json::ReaderBuilder;

    const COLS: &[Column] = &[
        Column::new("id", ColType::Str, "/id", ""),
        Column::new("updated_at", ColType::Timestamp, "/updated_at", ""),
        Column::new("author_id", ColType::Str, "/author/id", ""),
        Column::new("open", ColType::Bool, "/open", ""),
        Column::list("tag_ids", "/tags/data", "id", ""),
        Column::new("custom", ColType::Json, "/custom", ""),
    ];

    fn decode(records: &[Value], csv: bool) -> arrow_array::RecordBatch {
        let meta = RowMeta {
            run_id: "r1".into(),
            extracted_at: 5,
            ..RowMeta::default()
        };
        let mut decoder = ReaderBuilder::new(arrow_schema(COLS, csv))
            .build_decoder()
            .expect("decoder");
        let rows: Vec<RowView> = records
            .iter()
            .map(|record| RowView {
                columns: COLS,
                record,
                meta: &meta,
                csv,
            })
            .collect();
        decoder.serialize(&rows).expect("serialize");
        decoder.flush().expect("flush").expect("a batch")
    }

    #[test]
    fn converts_api_values_to_typed_columns() {
        let records = vec![
            serde_json::json!({"id": "a1", "updated_at": 1700000000, "author": {"id": 42},
                "open": true, "tags": {"data": [{"id": "7"}, {"id": 8}]}, "custom": {"k": 1}}),
            serde_json::json!({"id": "b2", "updated_at": null}),
        ];
        let batch = decode(&records, false);
        assert_eq!(batch.num_rows(), 2);
        let ts = batch
            .column(1)
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .expect("timestamp column");
        assert_eq!(ts.value(0), 1_700_000_000_000_000);
        assert!(ts.is_null(1));
        let author = batch
            .column(2)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("str");
        assert_eq!(author.value(0), "42", "numeric ids become strings");
        let tags = batch
            .column(4)
            .as_any()
            .downcast_ref::<ListArray>()
            .expect("list");
        let first = tags.value(0);
        let first = first
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("str items");
        assert_eq!((first.value(0), first.value(1)), ("7", "8"));
        assert!(tags.is_null(1), "missing list is null, not empty");
        assert_eq!(batch.num_columns(), COLS.len() + 2, "meta columns appended");
        let run = batch.column_by_name("_run_id").expect("_run_id");
        assert_eq!(
            run.as_any()
                .downcast_ref::<StringArray>()
                .expect("str")
                .value(1),
            "r1"
        );
        let custom = batch
            .column(5)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("json");
        assert_eq!(custom.value(0), r#"{"k":1}"#);
    }

    #[test]
    fn csv_mode_writes_lists_as_json_text() {
        let records = vec![serde_json::json!({"id": "a", "tags": {"data": [{"id": "x"}]}})];
        let batch = decode(&records, true);
        let tags = batch
            .column(4)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("text");
        assert_eq!(tags.value(0), r#"["x"]"#);
    }

    #[test]
    fn encoder_matches_the_arrow_json_reference() {
        let cols = vec![
            Column::new("id", ColType::Str, "/id", ""),
            Column::new("n", ColType::Int, "/n", ""),
            Column::new("f", ColType::Float, "/f", ""),
            Column::new("b", ColType::Bool, "/b", ""),
            Column::new("t", ColType::Timestamp, "/t", ""),
            Column::new("deep", ColType::Str, "/a/b~1c/0", ""),
            Column::list("tags", "/tags", "id", ""),
            Column::list("plain", "/plain", "", ""),
            Column::new("j", ColType::Json, "/j", ""),
            Column::dynamic("custom_n".into(), ColType::Int, "/c/n".into(), ""),
            Column::dynamic("custom_f".into(), ColType::Float, "/c/f".into(), ""),
        ];
        let records = [
            serde_json::json!({"id": 7, "n": "12", "f": "1.5", "b": "true", "t": 1.9e9,
                "a": {"b/c": ["x", "y"]}, "tags": [{"id": 1}, {"id": null}, {"x": 1}, {"id": "s"}],
                "plain": ["a", 2, null, {"k": [1, 2.5]}], "j": [1, {"z": "é\n"}],
                "c": {"n": 1.5, "f": "zz"}}),
            serde_json::json!({"id": "x", "n": 1.9, "f": 3, "b": false, "t": "1700000000",
                "a": {"b/c": [{"k": 1}]}, "tags": [], "plain": "no", "j": "s",
                "c": {"n": "7", "f": 2.25}}),
            serde_json::json!({"id": true, "n": true, "f": null, "b": "yes", "t": [],
                "tags": null, "c": {"n": 9223372036854775807u64}}),
            serde_json::json!({"id": [1, "a"], "n": 18446744073709551615u64, "t": 9.3e18}),
            serde_json::json!({}),
        ];
        for csv in [false, true] {
            let meta = RowMeta {
                run_id: "r".into(),
                extracted_at: 9,
                ..RowMeta::default()
            };
            let mut reference = ReaderBuilder::new(arrow_schema(&cols, csv))
                .build_decoder()
                .expect("decoder");
            let rows: Vec<RowView> = records
                .iter()
                .map(|record| RowView {
                    columns: &cols,
                    record,
                    meta: &meta,
                    csv,
                })
                .collect();
            reference.serialize(&rows).expect("serialize");
            let expected = reference.flush().expect("flush").expect("batch");
            let reference_misfits = meta.misfits.get();
            meta.misfits.set(0);
            let mut encoder = BatchEncoder::new(&cols, csv);
            encoder.append(&records[..2], &meta);
            encoder.append(&records[2..], &meta);
            assert_eq!(encoder.len(), records.len());
            let got = encoder.flush().expect("flush").expect("batch");
            assert_eq!(got, expected, "csv = {csv}");
            assert_eq!(meta.misfits.get(), reference_misfits);
            assert!(encoder.flush().expect("flush").is_none());
        }
    }

    #[test]
    fn timestamps_in_every_accepted_form() {
        let t = |v: Value| timestamp_micros(&v);
        assert_eq!(
            t(serde_json::json!(1_467_133_700)),
            Some((1_467_133_700_000_000, false))
        );
        assert_eq!(
            t(serde_json::json!(1_467_133_937_045_i64)),
            Some((1_467_133_937_045_000, true)),
            "milliseconds by magnitude"
        );
        assert_eq!(t(serde_json::json!(1.5)), Some((1_500_000, false)));
        assert_eq!(
            t(serde_json::json!("1467133700")),
            Some((1_467_133_700_000_000, true))
        );
        assert_eq!(
            t(serde_json::json!("2026-01-10T04:22:28.240+00:00")),
            Some((1_768_018_948_240_000, true))
        );
        assert_eq!(
            t(serde_json::json!("2026-01-10T07:56:29.000Z")),
            Some((1_768_031_789_000_000, true))
        );
        assert_eq!(
            t(serde_json::json!("2026-01-10T07:56:29")),
            Some((1_768_031_789_000_000, true)),
            "no offset: UTC"
        );
        assert_eq!(
            t(serde_json::json!("2026-01-10")),
            Some((1_768_003_200_000_000, true))
        );
        assert_eq!(
            t(serde_json::json!(-86_400)),
            Some((-86_400_000_000, false))
        );
        for bad in [
            serde_json::json!("next spring"),
            serde_json::json!(""),
            serde_json::json!(true),
            serde_json::json!({"at": 1}),
            serde_json::json!([1]),
            serde_json::json!(MILLIS_LIMIT),
        ] {
            assert_eq!(t(bad.clone()), None, "{bad}");
        }
        assert_eq!(
            timestamp_secs(&serde_json::json!("2026-01-10T04:22:28.999Z")),
            Some(1_768_018_948),
            "seconds round down"
        );
    }

    #[test]
    fn alternatives_sentinels_and_shapes_are_documented() {
        let col = Column::new("a", ColType::Str, "/x/id", "doc")
            .or(&["/y"])
            .none_zero();
        let doc = columns_document("r", std::slice::from_ref(&col));
        assert_eq!(doc["columns"][0]["source"], "/x/id");
        assert_eq!(doc["columns"][0]["alternatives"], serde_json::json!(["/y"]));
        assert_eq!(
            doc["columns"][0]["none_sentinel"],
            serde_json::json!([0, "0"])
        );
        let plain = columns_document("r", &[Column::new("b", ColType::Str, "/b", "")]);
        assert!(plain["columns"][0].get("alternatives").is_none());
        assert!(plain["columns"][0].get("none_sentinel").is_none());
    }

    #[test]
    fn an_object_read_into_by_another_pointer_is_not_a_misfit() {
        let cols = [Column::new("state", ColType::Str, "/s/category", "").or(&["/s"])];
        let records = [
            serde_json::json!({"id": "1", "s": "open"}),
            serde_json::json!({"id": "2", "s": {"category": "closed"}}),
            serde_json::json!({"id": "3", "s": {"category": null}}),
            serde_json::json!({"id": "4", "s": [1]}),
        ];
        let meta = RowMeta::default();
        let mut encoder = BatchEncoder::new(&cols, false);
        encoder.append(&records, &meta);
        let batch = encoder.flush().expect("flush").expect("batch");
        let a = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("str");
        assert_eq!(a.value(0), "open");
        assert_eq!(a.value(1), "closed");
        assert!(a.is_null(2) && a.is_null(3));
        assert_eq!(meta.anomalies.count(AnomalyKind::UnexpectedShape), 1);
        assert_eq!(meta.anomalies.entries()[0].2.samples, ["4"]);
    }

    /// #13: an inline list cut short of its `total_count` with
    /// `has_more: false` (11 of 14 tags) says there is more; so does
    /// `has_more: true`; a complete list does not. Both writers agree.
    #[test]
    fn has_more_is_also_true_for_a_list_cut_short_of_its_total() {
        let cols =
            [Column::new("tags_has_more", ColType::Bool, "/tags/has_more", "").or_short("data")];
        let tags = |n: usize| -> Vec<Value> {
            (0..n)
                .map(|i| serde_json::json!({"type": "tag", "id": i.to_string()}))
                .collect()
        };
        let records = [
            serde_json::json!({"id": "cut", "tags": {"data": tags(11), "total_count": 14, "has_more": false}}),
            serde_json::json!({"id": "said", "tags": {"data": tags(1), "total_count": 12, "has_more": true}}),
            serde_json::json!({"id": "whole", "tags": {"data": tags(3), "total_count": 3, "has_more": false}}),
            serde_json::json!({"id": "no-total", "tags": {"data": tags(2), "has_more": false}}),
            serde_json::json!({"id": "absent"}),
            serde_json::json!({"id": "text", "tags": {"data": [], "total_count": "2", "has_more": null}}),
        ];
        let want = [
            Some(true),
            Some(true),
            Some(false),
            Some(false),
            None,
            Some(true),
        ];
        let meta = RowMeta::default();
        let mut encoder = BatchEncoder::new(&cols, false);
        encoder.append(&records, &meta);
        let batch = encoder.flush().expect("flush").expect("batch");
        let a = batch
            .column(0)
            .as_any()
            .downcast_ref::<arrow_array::BooleanArray>()
            .expect("bool");
        let got: Vec<Option<bool>> = (0..a.len())
            .map(|i| a.is_valid(i).then(|| a.value(i)))
            .collect();
        assert_eq!(got, want);
        // Read from another form than the field itself: counted, with samples.
        assert_eq!(meta.anomalies.count(AnomalyKind::InterpretedValue), 2);
        assert_eq!(meta.anomalies.entries()[0].2.samples, ["cut", "text"]);
        // The row-view writer (arrow_json reference) gives the same values.
        for (record, want) in records.iter().zip(want) {
            let view = RowView {
                columns: &cols,
                record,
                meta: &meta,
                csv: false,
            };
            let row = serde_json::to_value(&view).expect("row");
            assert_eq!(row["tags_has_more"].as_bool(), want, "{record}");
        }
    }
}
