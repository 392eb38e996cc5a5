//! Declarative column definitions and their Arrow schema.
//!
//! A report describes its output as a list of [`Column`]s: a name, a type,
//! and the source shapes it accepts: a JSON pointer into the API record,
//! optionally further pointers tried in order ([`Column::or`]) and Intercom's
//! "none" sentinel ([`Column::none_zero`]). [`RecordBatchBuilder`] then appends API
//! records straight into one typed Arrow builder per column, converting as it
//! goes: timestamps in any accepted form ([`timestamp_micros`]) become
//! microsecond timestamps, numeric ids become strings, nested lists become
//! lists of ids.
//!
//! A present value that none of a column's shapes accepts is written as null
//! and counted per column as
//! [`AnomalyKind::UnexpectedShape`](crate::anomalies::AnomalyKind::UnexpectedShape);
//! a value read from another accepted form (milliseconds or ISO-8601 for a
//! timestamp, a `0`/`"0"` sentinel for an id) is counted as
//! [`AnomalyKind::InterpretedValue`](crate::anomalies::AnomalyKind::InterpretedValue).
//! Both end up in the run summary, never one log line per value. The pointers
//! are split once, not per row, and no intermediate row or JSON text is built
//! (the earlier path serialised every record through `arrow_json`'s tape
//! decoder, which cost about a third of the exporter's CPU; see
//! `BENCHMARKS.md`). [`RowView`] is that earlier path, kept as the reference
//! the encoder is tested against. The same definitions generate
//! `schemas/<report>.json`.
//!
//! This file holds the declarations; the encoder is in `output/encode.rs`,
//! the reading of values (pointers, accepted shapes, timestamps) in
//! `output/values.rs`, [`RowView`] in `output/row_view.rs`, all re-exported
//! here.

use std::borrow::Cow;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde_json::Value;

pub use super::encode::{RecordBatchBuilder, RowMeta};
pub use super::row_view::RowView;
pub use super::values::{MILLIS_LIMIT, SECONDS_LIMIT, timestamp_micros, timestamp_secs};

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

#[cfg(test)]
#[path = "schema_tests.rs"]
mod tests;
