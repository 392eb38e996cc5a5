//! [`RowView`]: an API record seen through a report's columns, serialised
//! for `arrow_json`'s decoder. The earlier encoding path, kept as the
//! reference the [`super::encode::RecordBatchBuilder`] is tested against.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::Value;

use super::encode::RowMeta;
use super::schema::{ColType, Column, META_COLUMNS, all_columns};
use super::values::{Read, as_i64, container_flags, cut_short, read, says_true, timestamp_micros};

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
pub(super) struct StrList<'a> {
    pub(super) items: &'a [Value],
    pub(super) key: &'a str,
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
