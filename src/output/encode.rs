//! [`RecordBatchBuilder`]: API records appended straight into one typed Arrow
//! builder per column, with the per-column anomaly tally, and [`RowMeta`],
//! the run's values of the meta columns. How a value is read and accepted
//! is in `values`; the column declarations are in `schema`.

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, SchemaRef};
use serde_json::Value;

use super::row_view::StrList;
use super::schema::{ColType, Column, all_columns, arrow_schema};
use super::values::{
    Read, as_i64, container_flags, cut_short, lookup, pointer_tokens, read, says_true,
    timestamp_micros,
};
use crate::anomalies::{AnomalyKind, MAX_SAMPLES};

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
pub struct RecordBatchBuilder {
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
    /// Custom-attribute values not of their declared type (misfits).
    misfits: u64,
    misfit_samples: Vec<String>,
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

    /// Hand the counts to `anomalies` under `column`'s name; custom-attribute
    /// misfits under [`misfit_detail`] (`attribute`: the attribute's key).
    fn flush(&mut self, column: &str, attribute: &str, anomalies: &crate::anomalies::Anomalies) {
        let misfit_detail = if self.misfits > 0 {
            misfit_detail(attribute, column)
        } else {
            String::new()
        };
        for (kind, detail, count, samples) in [
            (
                AnomalyKind::InterpretedValue,
                column,
                &mut self.interpreted,
                &mut self.interpreted_samples,
            ),
            (
                AnomalyKind::UnexpectedShape,
                column,
                &mut self.unexpected,
                &mut self.unexpected_samples,
            ),
            (
                AnomalyKind::UnexpectedShape,
                misfit_detail.as_str(),
                &mut self.misfits,
                &mut self.misfit_samples,
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
            anomalies.record_n(kind, detail, rest, first.as_deref());
            for s in &extra {
                anomalies.record(kind, detail, Some(s));
            }
            *count = 0;
        }
    }
}

/// The anomaly detail of custom-attribute values that are not of their
/// declared type (the data-attribute listing's `data_type`; Intercom does
/// not enforce it): names the attribute (its key under
/// `custom_attributes`) and its column.
fn misfit_detail(attribute: &str, column: &str) -> String {
    format!(
        "custom attributes: `{attribute}` (column {column}) not of its declared type; raw values in custom_attributes_json"
    )
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

impl RecordBatchBuilder {
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
            // A custom attribute's key: its pointer's last token.
            let attribute = col
                .sources
                .first()
                .and_then(|(tokens, _)| tokens.last())
                .map_or("", String::as_str);
            col.tally.flush(&col.name, attribute, &meta.anomalies);
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
            let t = &mut col.tally;
            Tally::note(&mut t.misfits, &mut t.misfit_samples, record);
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
