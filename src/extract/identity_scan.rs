//! A search record's `id`, `updated_at` and `created_at`, read from its
//! JSON text in one scan that stops once all three are found.
//!
//! Every record a search returns is kept as text until its turn, and its
//! identity is read for the window and cursor bookkeeping. A contact's
//! `id`, `created_at` and `updated_at` come before its large nested parts
//! (`custom_attributes`, `tags`, `notes`, `companies`, `location`, ...), so
//! stopping there skips most of the text: this scan was 8 % of a contact
//! export's instructions when it read each record to its end.

use std::fmt;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

/// The three top-level fields, each `None` when absent.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Found {
    /// `id`, as given.
    pub(crate) id: Option<Value>,
    /// `updated_at`, as given (any timestamp form).
    pub(crate) updated_at: Option<Value>,
    /// `created_at`, as given.
    pub(crate) created_at: Option<Value>,
}

impl Found {
    fn complete(&self) -> bool {
        self.id.is_some() && self.updated_at.is_some() && self.created_at.is_some()
    }
}

/// Read the top-level `id`, `updated_at` and `created_at` of the JSON
/// object `text` (nested objects' fields of the same names are not
/// looked at). Stops after the last of the three; a field given twice
/// keeps its first value. Text that is not an object gives what was found
/// before the problem (usually nothing): the caller decides what a missing
/// field means.
pub(crate) fn scan(text: &str) -> Found {
    let mut found = Found::default();
    let mut de = serde_json::Deserializer::from_str(text);
    // Stopping early leaves the object unclosed, which serde_json reports
    // as an error after the fields were read: what was found stands.
    let _ = Seed(&mut found).deserialize(&mut de);
    found
}

struct Seed<'a>(&'a mut Found);

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let found = self.0;
        while let Some(key) = map.next_key_seed(crate::extract::record_keys::KeyText)? {
            let slot = match key.as_ref() {
                "id" => &mut found.id,
                "updated_at" => &mut found.updated_at,
                "created_at" => &mut found.created_at,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if slot.is_some() {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            *slot = Some(map.next_value::<Value>()?);
            if found.complete() {
                return Ok(());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_top_level_fields_not_the_nested_ones() {
        let text = r#"{"type":"contact","companies":{"data":[{"id":"c1","updated_at":5,"created_at":6}]},
            "id":"u1","created_at":"2024-01-02T03:04:05Z","updated_at":1700000000000,
            "custom_attributes":{"id":"x"}}"#;
        assert_eq!(
            scan(text),
            Found {
                id: Some(json!("u1")),
                updated_at: Some(json!(1_700_000_000_000_i64)),
                created_at: Some(json!("2024-01-02T03:04:05Z")),
            }
        );
    }

    #[test]
    fn stops_after_the_last_of_the_three_and_keeps_first_values() {
        // Past the three, the text is not even JSON: never read.
        let text = r#"{"id":"a","id":"b","created_at":1,"updated_at":2, this is not json"#;
        let found = scan(text);
        assert_eq!(found.id, Some(json!("a")));
        assert_eq!(found.created_at, Some(json!(1)));
        assert_eq!(found.updated_at, Some(json!(2)));
    }

    #[test]
    fn missing_fields_and_non_objects_are_none() {
        let found = scan(r#"{"id":"a","updated_at":2,"tags":{"data":[]}}"#);
        assert_eq!(found.id, Some(json!("a")));
        assert_eq!(found.updated_at, Some(json!(2)));
        assert_eq!(found.created_at, None);
        assert_eq!(scan("[1,2]"), Found::default());
        assert_eq!(scan("null"), Found::default());
        assert_eq!(scan(r#"{"id": "#), Found::default());
    }

    #[test]
    fn escaped_keys_are_read_as_their_text() {
        let found = scan(r#"{"\u0069d":"a","updated_at":2,"created_at":1}"#);
        assert_eq!(found.id, Some(json!("a")));
    }
}
