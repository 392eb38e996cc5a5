//! The Singer STATE: per stream, the report's cursor exactly as the state
//! store keeps it (opaque JSON text), the option set it belongs to, and the
//! items to fetch again.
//!
//! ```json
//! {"bookmarks": {"users": {"cursor": "{\"updated_at\":1767225600,\"ids_at\":[\"…\"]}",
//!                          "param_key": "", "retry": []}}}
//! ```
//!
//! A bookmark whose `param_key` differs from the stream's options now (a
//! filter changed) is not used: the stream is exported in full, as `sync`
//! does with its one cursor per option set. Keys the tap does not know are
//! kept as they were.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// One stream's position.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bookmark {
    /// The cursor, as the state store's `cursors.cursor` holds it (opaque
    /// JSON text); `None`: nothing exported yet.
    #[serde(default)]
    pub cursor: Option<String>,
    /// The option set the cursor belongs to
    /// ([`ReportOptions::param_key`](crate::reports::options::ReportOptions::param_key)).
    #[serde(default)]
    pub param_key: String,
    /// Ids of items that still failed after retries (e.g. one conversation's
    /// parts): fetched first by the next run.
    #[serde(default)]
    pub retry: Vec<String>,
}

/// The value of a Singer STATE message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SingerState {
    #[serde(default)]
    pub bookmarks: BTreeMap<String, Bookmark>,
    /// Other keys, kept as given.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

impl SingerState {
    /// Read a state file (`--state`). Meltano may hand over `{}`.
    pub fn load(path: &Path) -> Result<Self> {
        let value = super::read_json(path, "state")?;
        Self::from_value(value).map_err(|e| match e {
            Error::Config(msg) => Error::Config(format!("state {}: {msg}", path.display())),
            other => other,
        })
    }

    /// Parse a STATE value.
    pub fn from_value(value: Value) -> Result<Self> {
        // Some runners wrap the tap's state: {"value": {...}} as in the message.
        let value = match value {
            Value::Object(mut m) if m.get("type").and_then(Value::as_str) == Some("STATE") => {
                m.remove("value").unwrap_or(Value::Null)
            }
            other => other,
        };
        if !value.is_object() {
            return Err(Error::Config(
                "the state must be a JSON object like {\"bookmarks\": {...}} (the value of the \
                 tap's last STATE message)"
                    .into(),
            ));
        }
        serde_json::from_value(value).map_err(|e| {
            Error::Config(format!(
                "not a state of this tap ({e}); give the value of its last STATE message, or \
                 leave out --state to export everything again"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_and_keeps_unknown_keys() {
        let v = json!({
            "bookmarks": {"users": {"cursor": "{\"updated_at\":5,\"ids_at\":[\"a\"]}", "param_key": "", "retry": ["x"]}},
            "currently_syncing": null,
        });
        let s = SingerState::from_value(v.clone()).expect("state");
        assert_eq!(s.bookmarks["users"].retry, vec!["x".to_string()]);
        assert_eq!(serde_json::to_value(&s).expect("json"), v);
        assert_eq!(
            SingerState::from_value(json!({})).expect("empty"),
            SingerState::default()
        );
        let e = SingerState::from_value(json!({"bookmarks": {"users": {"cursor": 5}}}))
            .expect_err("bad cursor");
        assert!(e.to_string().contains("not a state of this tap"), "{e}");
        assert!(SingerState::from_value(json!([1])).is_err());
    }
}
