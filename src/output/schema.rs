//! Declarative column definitions and their Arrow schema.
//!
//! A report describes its output as a list of [`Column`]s: a name, a type,
//! and a JSON pointer into the API record. [`BatchEncoder`] then appends API
//! records straight into one typed Arrow builder per column, converting as it
//! goes: unix seconds become microsecond timestamps, numeric ids become
//! strings, nested lists become lists of ids. The pointers are split once,
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

/// The type of an output column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    /// UTF-8 text; numbers and booleans are written as their text (ids).
    Str,
    /// 64-bit integer.
    Int,
    /// 64-bit float.
    Float,
    /// Boolean.
    Bool,
    /// Unix seconds in the API, `Timestamp(Microsecond, "UTC")` in the file.
    Timestamp,
    /// A list of strings: the `item` field of each element of an array
    /// (or the elements themselves when `item` is empty).
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
#[derive(Debug, Clone)]
pub struct Column {
    pub name: Cow<'static, str>,
    pub ty: ColType,
    /// JSON pointer into the API record (`/source/author/id`).
    pub path: Cow<'static, str>,
    /// For [`ColType::StrList`]: the key to take from each array element.
    pub item: &'static str,
    /// What the column holds (goes into `schemas/` and the README).
    pub doc: &'static str,
    /// A present value that does not fit `ty` is counted (custom attributes,
    /// whose declared type Intercom does not enforce).
    pub count_misfits: bool,
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
            item: "",
            doc,
            count_misfits: false,
        }
    }

    /// A column built at run time (custom attributes).
    pub fn dynamic(name: String, ty: ColType, path: String, doc: &'static str) -> Self {
        Self {
            name: Cow::Owned(name),
            ty,
            path: Cow::Owned(path),
            item: "",
            doc,
            count_misfits: true,
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
            item,
            doc,
            count_misfits: false,
        }
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

/// The schema of a report as the JSON document kept under `schemas/`: its
/// columns and, for a known report, the keys of its rows (`primary_key`,
/// `entity_key`, `version_column`, `foreign_keys`, ...: `reports::keys`).
pub fn schema_document(report: &str, columns: &[Column]) -> Value {
    let cols: Vec<Value> = all_columns(columns)
        .map(|c| {
            serde_json::json!({
                "name": c.name,
                "type": c.data_type(false).to_string(),
                "csv_type": c.data_type(true).to_string(),
                "nullable": true,
                "source": if c.item.is_empty() { c.path.to_string() } else { format!("{}[].{}", c.path, c.item) },
                "doc": c.doc,
            })
        })
        .collect();
    let mut doc = serde_json::json!({ "report": report, "columns": cols });
    // The keys of the report's rows (`reports::keys`), when it is one.
    if let (Ok(name), Value::Object(fields)) =
        (report.parse::<crate::reports::ReportName>(), &mut doc)
    {
        fields.extend(crate::reports::keys::document_fields(name));
    }
    doc
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
    /// The JSON pointer split into unescaped tokens (empty: meta column).
    tokens: Vec<String>,
    item: &'static str,
    count_misfits: bool,
    builder: ColBuilder,
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

impl BatchEncoder {
    /// An encoder for `columns` followed by [`META_COLUMNS`].
    pub fn new(columns: &[Column], csv: bool) -> Self {
        let cols = all_columns(columns)
            .map(|c| EncodedColumn {
                ty: c.ty,
                tokens: pointer_tokens(&c.path),
                item: c.item,
                count_misfits: c.count_misfits,
                builder: ColBuilder::new(c.ty, csv),
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

    /// Append API records as rows.
    pub fn append(&mut self, records: &[Value], meta: &RowMeta) {
        for record in records {
            for col in &mut self.cols {
                append_cell(col, record, meta, self.csv, &mut self.scratch);
            }
        }
        self.rows += records.len();
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
    if col.tokens.is_empty() {
        return col.builder.append_null();
    }
    let v = match lookup(record, &col.tokens) {
        None | Some(Value::Null) => return col.builder.append_null(),
        Some(v) => v,
    };
    if col.count_misfits && !fits(col.ty, v) {
        meta.misfits.set(meta.misfits.get() + 1);
        return col.builder.append_null();
    }
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
        (ColType::Timestamp, ColBuilder::Timestamp(b)) => {
            b.append_option(as_i64(v).and_then(|secs| secs.checked_mul(1_000_000)))
        }
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
                value: if col.path.is_empty() {
                    None
                } else {
                    self.record.pointer(&col.path)
                },
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
    value: Option<&'a Value>,
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
        let v = match self.value {
            None | Some(Value::Null) => return s.serialize_none(),
            Some(v) => v,
        };
        if self.col.count_misfits && !fits(self.col.ty, v) {
            self.meta.misfits.set(self.meta.misfits.get() + 1);
            return s.serialize_none();
        }
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
            ColType::Timestamp => match as_i64(v).and_then(|secs| secs.checked_mul(1_000_000)) {
                Some(micros) => s.serialize_i64(micros),
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

/// Whether a present value converts to `ty` (for misfit counting).
fn fits(ty: ColType, v: &Value) -> bool {
    match ty {
        ColType::Str | ColType::Json | ColType::RunId | ColType::ExtractedAt => true,
        ColType::Int | ColType::Timestamp => {
            as_i64(v).is_some() && !matches!(v, Value::Number(n) if n.is_f64())
        }
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
}
