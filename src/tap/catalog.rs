//! The Singer catalog: `--discover` writes it, `--catalog` reads which
//! streams (and fields) to sync.
//!
//! One stream per report. Its JSON Schema is generated from the Arrow types
//! of the report's Parquet columns ([`Column::data_type`]), so a RECORD
//! value and its Parquet value have the same type: text, integer, number,
//! boolean, `date-time` strings for timestamps (RFC 3339 UTC) and arrays of
//! strings for lists. `key_properties` is the report's `primary_key` and
//! `replication_key` its `version_column` (both from
//! [`crate::reports::keys`], as in `schemas/`), except that a report whose
//! primary key has nullable columns (the mapping tables and
//! `notes_by_user`: one row with a null item for a version with an empty
//! list) has no `key_properties`: Singer targets make key properties
//! `NOT NULL` (and upsert on them), which would reject that row. Its
//! primary key is in the stream's metadata as `intercom-export-primary-key`
//! with `intercom-export-nullable-key-columns`.

use std::collections::BTreeSet;
use std::path::Path;

use arrow_schema::DataType;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::output::schema::{Column, all_columns};
use crate::reports::{ReportName, keys};

use super::config::TapConfig;

/// The JSON Schema of one column's values, from its Parquet (Arrow) type.
/// Every column is nullable, as in the Parquet files.
pub fn column_schema(column: &Column) -> Value {
    type_schema(&column.data_type(false))
}

fn type_schema(ty: &DataType) -> Value {
    match ty {
        DataType::Utf8 | DataType::LargeUtf8 => json!({"type": ["null", "string"]}),
        DataType::Int64 | DataType::Int32 => json!({"type": ["null", "integer"]}),
        DataType::Float64 | DataType::Float32 => json!({"type": ["null", "number"]}),
        DataType::Boolean => json!({"type": ["null", "boolean"]}),
        DataType::Timestamp(..) => json!({"type": ["null", "string"], "format": "date-time"}),
        DataType::List(item) | DataType::LargeList(item) => {
            json!({"type": ["null", "array"], "items": type_schema(item.data_type())})
        }
        // Not used by any column today; any JSON value.
        _ => json!({}),
    }
}

/// The JSON Schema of a report's records: its columns, then `_run_id` and
/// `_extracted_at`, in file order.
pub fn json_schema(columns: &[Column]) -> Value {
    let properties: serde_json::Map<String, Value> = all_columns(columns)
        .map(|c| (c.name.to_string(), column_schema(c)))
        .collect();
    json!({"type": "object", "additionalProperties": false, "properties": properties})
}

/// The Singer `key_properties` of a report: its primary key, or none when
/// a primary-key column may be null (see the module docs).
pub fn key_properties(report: ReportName) -> &'static [&'static str] {
    let k = keys::keys(report);
    if k.nullable_key_columns.is_empty() {
        k.primary_key
    } else {
        &[]
    }
}

/// The catalog entry of one report with these columns. `selected` follows
/// whether `sync` exports the report by default (reports that need ids
/// are not selected).
pub fn stream_entry(report: ReportName, columns: &[Column]) -> Value {
    let k = keys::keys(report);
    let mut field_metadata = vec![json!({
        "breadcrumb": [],
        "metadata": {
            "inclusion": "available",
            "selected": report.info().default_enabled,
            "selected-by-default": report.info().default_enabled,
            "table-key-properties": key_properties(report),
            "intercom-export-primary-key": k.primary_key,
            "intercom-export-nullable-key-columns": k.nullable_key_columns,
            "forced-replication-method": "INCREMENTAL",
            "valid-replication-keys": [k.version_column],
        }
    })];
    for c in all_columns(columns) {
        let automatic = k.primary_key.contains(&c.name.as_ref()) || c.name == k.version_column;
        field_metadata.push(json!({
            "breadcrumb": ["properties", c.name],
            "metadata": {
                "inclusion": if automatic { "automatic" } else { "available" },
                "selected-by-default": true,
            }
        }));
    }
    json!({
        "tap_stream_id": report.as_str(),
        "stream": report.as_str(),
        "schema": json_schema(columns),
        "key_properties": key_properties(report),
        "replication_key": k.version_column,
        "replication_method": "INCREMENTAL",
        "metadata": field_metadata,
    })
}

/// `--discover`: every report's entry, with the columns a sync would write
/// (custom attributes and `expand` included: this reads `/data_attributes`).
pub async fn discover(config: &TapConfig) -> Result<Value> {
    let session = super::sync::Session::open(config).await?;
    let mut streams = Vec::new();
    for report in ReportName::all() {
        let columns = session.columns(report).await?;
        streams.push(stream_entry(report, &columns));
    }
    session.close().await;
    Ok(json!({ "streams": streams }))
}

/// One selected stream of a catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    pub report: ReportName,
    /// Fields the catalog deselected (`selected: false` on their
    /// breadcrumb); key and replication-key fields are always kept.
    pub deselected: BTreeSet<String>,
}

/// The streams a catalog selects, in report order.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub streams: Vec<Selected>,
}

impl Selection {
    /// Read a catalog file.
    pub fn load(path: &Path) -> Result<Self> {
        let value = super::read_json(path, "catalog")?;
        Self::from_value(&value).map_err(|e| match e {
            Error::Config(msg) => Error::Config(format!("catalog {}: {msg}", path.display())),
            other => other,
        })
    }

    /// Which streams a catalog selects: the stream's metadata entry with an
    /// empty breadcrumb says `selected` (older catalogs: `selected` on the
    /// stream or its schema).
    pub fn from_value(catalog: &Value) -> Result<Self> {
        let streams = catalog
            .get("streams")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                Error::Config(
                    "no `streams` list; give the catalog `tap --discover` printed".to_string(),
                )
            })?;
        let mut selected: Vec<Selected> = Vec::new();
        for (i, stream) in streams.iter().enumerate() {
            let name = stream
                .get("tap_stream_id")
                .or_else(|| stream.get("stream"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    Error::Config(format!(
                        "stream {} has no `tap_stream_id` (or `stream`) name",
                        i + 1
                    ))
                })?;
            let report: ReportName = name.parse().map_err(|_| {
                let names: Vec<_> = ReportName::all().map(|r| r.as_str()).collect();
                Error::Config(format!(
                    "unknown stream {name:?}; the streams are: {}",
                    names.join(", ")
                ))
            })?;
            let metadata = match stream.get("metadata") {
                None | Some(Value::Null) => &[][..],
                Some(Value::Array(m)) => m.as_slice(),
                Some(_) => {
                    return Err(Error::Config(format!(
                        "stream {name}: `metadata` must be a list of {{\"breadcrumb\", \"metadata\"}}"
                    )));
                }
            };
            let at = |crumb: &[&str]| {
                metadata.iter().find_map(|m| {
                    let b = m.get("breadcrumb")?.as_array()?;
                    let same = b.len() == crumb.len()
                        && b.iter().zip(crumb).all(|(x, y)| x.as_str() == Some(*y));
                    same.then(|| m.get("metadata")).flatten()
                })
            };
            let is_selected = at(&[])
                .and_then(|m| m.get("selected"))
                .or_else(|| stream.get("selected"))
                .or_else(|| stream.get("schema").and_then(|s| s.get("selected")))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if !is_selected {
                continue;
            }
            let k = keys::keys(report);
            let mut deselected = BTreeSet::new();
            for m in metadata {
                let crumb = m.get("breadcrumb").and_then(Value::as_array);
                if let Some([p, field]) = crumb.map(Vec::as_slice)
                    && p.as_str() == Some("properties")
                    && let Some(field) = field.as_str()
                    && m.pointer("/metadata/selected").and_then(Value::as_bool) == Some(false)
                    && !k.primary_key.contains(&field)
                    && field != k.version_column
                {
                    deselected.insert(field.to_string());
                }
            }
            if let Some(prev) = selected.iter().position(|s| s.report == report) {
                selected.remove(prev);
            }
            selected.push(Selected { report, deselected });
        }
        selected.sort_by_key(|s| s.report);
        Ok(Self { streams: selected })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_types_follow_the_parquet_types() {
        let schema = json_schema(ReportName::Conversations.columns());
        let p = &schema["properties"];
        assert_eq!(p["id"]["type"], json!(["null", "string"]));
        assert_eq!(p["updated_at"]["format"], "date-time");
        assert_eq!(p["tag_ids"]["type"], json!(["null", "array"]));
        assert_eq!(p["tag_ids"]["items"]["type"], json!(["null", "string"]));
        assert_eq!(p["_extracted_at"]["format"], "date-time");
        assert_eq!(p["_run_id"]["type"], json!(["null", "string"]));
    }

    #[test]
    fn selection_reads_stream_and_field_metadata() {
        let mut users = stream_entry(ReportName::Users, ReportName::Users.columns());
        users["metadata"][0]["metadata"]["selected"] = json!(true);
        // Deselect `email` (kept out) and `id` (a key: always kept).
        for m in users["metadata"].as_array_mut().expect("list") {
            if m["breadcrumb"] == json!(["properties", "email"])
                || m["breadcrumb"] == json!(["properties", "id"])
            {
                m["metadata"]["selected"] = json!(false);
            }
        }
        let mut admins = stream_entry(ReportName::Admins, ReportName::Admins.columns());
        admins["metadata"][0]["metadata"]["selected"] = json!(false);
        let legacy = json!({"tap_stream_id": "tags", "selected": true});
        let s = Selection::from_value(&json!({"streams": [users, admins, legacy]})).expect("ok");
        let names: Vec<_> = s.streams.iter().map(|x| x.report).collect();
        assert_eq!(names, vec![ReportName::Users, ReportName::Tags]);
        assert_eq!(
            s.streams[0].deselected,
            BTreeSet::from(["email".to_string()])
        );
    }

    #[test]
    fn bad_catalogs_are_named() {
        let e = Selection::from_value(&json!({"stream": []})).expect_err("no streams");
        assert!(e.to_string().contains("`streams`"), "{e}");
        let e = Selection::from_value(&json!({"streams": [{"tap_stream_id": "userz"}]}))
            .expect_err("unknown");
        assert!(e.to_string().contains("\"userz\""), "{e}");
    }
}
