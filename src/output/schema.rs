//! Declarative column definitions and their Arrow schema.
//!
//! A report describes its output as a list of [`Column`]s: a name, a type,
//! and a JSON pointer into the API record. [`RowView`] then serialises an API
//! record straight into `arrow_json`'s decoder (`Decoder::serialize`) without
//! building an intermediate row, converting as it goes: unix seconds become
//! microsecond timestamps, numeric ids become strings, nested lists become
//! lists of ids. The same definitions generate `schemas/<report>.json`.

use std::borrow::Cow;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
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

/// The schema of a report as the JSON document kept under `schemas/`.
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
}
