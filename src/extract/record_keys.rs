//! Which top-level keys of a search record a report reads
//! ([`RecordKeys`]), and a record decoded with only those ([`decode_record`]).
//!
//! A search report writes each record through its columns, which read a
//! handful of the record's top-level keys: a contact's `notes` list, `type`
//! and `formatted_phone`, for instance, are read by none of `users`'
//! columns, yet building their `serde_json::Value`s was about an eighth of
//! a contact's decoding. [`decode_record`] passes over the other keys
//! without allocating. A sink says which keys it reads
//! ([`Sink::record_keys`]): a search report's writer its columns'
//! ([`Projected`]), a fan-out's feed what its jobs read
//! (`fanout::Feed::reading`); any other sink gets whole records.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::Result;
use crate::extract::search::{SearchCursor, Sink};
use crate::output::schema::Column;

/// The keys the engine itself reads from every search record (the cursor's
/// identity and `created_at`), kept whatever the columns.
const ENGINE_KEYS: [&str; 3] = ["id", "updated_at", "created_at"];

/// The top-level keys of an API record a report reads: the first segment
/// (JSON-pointer unescaped) of every path of its columns, the columns of a
/// custom attribute or an expanded object included, and [`ENGINE_KEYS`].
///
/// Looked up once per key of every record, so kept by length: a key is
/// compared only with the few of its length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordKeys {
    /// `by_len[n]`: the keys of `n` bytes.
    by_len: Vec<Vec<Box<str>>>,
}

impl RecordKeys {
    /// The keys `columns` read (every path, alternatives and the list a
    /// `has_more` column looks at included), plus `extra` (e.g.
    /// `custom_attributes` for a model whose custom-attribute columns are
    /// added when the run starts).
    pub(crate) fn of<'a>(columns: impl IntoIterator<Item = &'a Column>, extra: &[&str]) -> Self {
        let mut keys: BTreeSet<String> = ENGINE_KEYS.iter().map(|k| k.to_string()).collect();
        keys.extend(extra.iter().map(|k| k.to_string()));
        for col in columns {
            let list = col.short_list().map(|(list, _)| list);
            for path in col.paths().chain(list) {
                if let Some(key) = first_key(path) {
                    keys.insert(key);
                }
            }
        }
        let mut by_len: Vec<Vec<Box<str>>> = Vec::new();
        for key in keys {
            if by_len.len() <= key.len() {
                by_len.resize(key.len() + 1, Vec::new());
            }
            by_len[key.len()].push(key.into_boxed_str());
        }
        RecordKeys { by_len }
    }

    /// Whether a record's top-level `key` is read.
    pub(crate) fn reads(&self, key: &str) -> bool {
        self.by_len
            .get(key.len())
            .is_some_and(|same| same.iter().any(|k| k.as_ref() == key))
    }
}

/// The first reference token of JSON pointer `path` (`/location/city` →
/// `location`), unescaped (`~1` → `/`, `~0` → `~`); `None` for the empty
/// pointer (a column read from no path).
fn first_key(path: &str) -> Option<String> {
    let rest = path.strip_prefix('/')?;
    let token = rest.split('/').next().unwrap_or(rest);
    Some(token.replace("~1", "/").replace("~0", "~"))
}

/// Decode one record kept as text: with `keys`, an object keeps only the
/// keys read (the others are passed over without building values; a later
/// duplicate key wins, as in a full decode); anything that is not an object,
/// or no `keys`, decodes whole. The error is serde_json's.
pub(crate) fn decode_record(
    text: &RawValue,
    keys: Option<&RecordKeys>,
) -> serde_json::Result<Value> {
    let Some(keys) = keys else {
        return serde_json::from_str(text.get());
    };
    let mut de = serde_json::Deserializer::from_str(text.get());
    let value = Pruning::Record(keys).deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// A JSON value decoded into a `serde_json::Value` with some records'
/// keys left out (a [`DeserializeSeed`]): the same value as a full decode
/// but for the objects named here, which keep only `keys`' keys.
#[derive(Clone, Copy)]
pub(crate) enum Pruning<'k> {
    /// The value is a record: an object keeps only these keys.
    Record(&'k RecordKeys),
    /// The value is a list of records (each object item as [`Self::Record`]).
    Records(&'k RecordKeys),
    /// The value is an object whose key `.0` holds a list of records
    /// (`conversation_parts` of a conversation's `conversation_parts`); its
    /// other keys are decoded whole.
    RecordsUnder(&'static str, &'k RecordKeys),
}

impl<'de> DeserializeSeed<'de> for Pruning<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Pruning<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    // Scalars as `serde_json::Value` decodes them.
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        match self {
            Pruning::Records(keys) => {
                while let Some(item) = seq.next_element_seed(Pruning::Record(keys))? {
                    items.push(item);
                }
            }
            _ => {
                while let Some(item) = seq.next_element::<Value>()? {
                    items.push(item);
                }
            }
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut kept = Map::new();
        while let Some(key) = map.next_key_seed(KeyText)? {
            match self {
                Pruning::Record(keys) if !keys.reads(&key) => {
                    map.next_value::<IgnoredAny>()?;
                }
                Pruning::RecordsUnder(name, keys) if key == name => {
                    let list = map.next_value_seed(Pruning::Records(keys))?;
                    kept.insert(key.into_owned(), list);
                }
                _ => {
                    kept.insert(key.into_owned(), map.next_value()?);
                }
            }
        }
        Ok(Value::Object(kept))
    }
}

/// An object's key as text (a [`DeserializeSeed`] for
/// `MapAccess::next_key_seed`): borrowed from the JSON text when it has no
/// escapes, so a key passed over allocates nothing (`next_key::<Cow<str>>`
/// always allocates). Used by every scan of records and pages.
pub(crate) struct KeyText;

impl<'de> DeserializeSeed<'de> for KeyText {
    type Value = Cow<'de, str>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyText {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// A [`Sink`] whose search records are decoded with only `keys`
/// ([`decode_record`]): what a search report hands its writer, which reads
/// nothing but its columns. Everything else is `sink`'s.
pub(crate) struct Projected<S> {
    pub sink: S,
    pub keys: Arc<RecordKeys>,
}

impl<S: Sink> Sink for Projected<S> {
    async fn rows(&self, rows: Vec<Value>) -> Result<()> {
        self.sink.rows(rows).await
    }

    async fn checkpoint(&self, cursor: &SearchCursor) -> Result<()> {
        self.sink.checkpoint(cursor).await
    }

    fn total(&self, rows: u64) {
        self.sink.total(rows)
    }

    fn min_windows(&self, pages: u64) -> u64 {
        self.sink.min_windows(pages)
    }

    fn parents_ahead(&self, concurrency: usize) -> Option<crate::extract::fanout::ReadAhead> {
        self.sink.parents_ahead(concurrency)
    }

    fn record_keys(&self) -> Option<Arc<RecordKeys>> {
        Some(self.keys.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::schema::ColType;

    fn keys(paths: &[&'static str]) -> RecordKeys {
        let columns: Vec<Column> = paths
            .iter()
            .map(|p| Column::new("c", ColType::Str, p, "test"))
            .collect();
        RecordKeys::of(&columns, &["custom_attributes"])
    }

    #[test]
    fn the_keys_are_the_first_segments_of_every_path_unescaped() {
        let k = keys(&["/location/city", "/a~1b/c", "/t~0x", "", "/name"]);
        for key in [
            "location",
            "a/b",
            "t~x",
            "name",
            "custom_attributes",
            "id",
            "updated_at",
            "created_at",
        ] {
            assert!(k.reads(key), "{key}");
        }
        for key in ["city", "notes", "a~1b", ""] {
            assert!(!k.reads(key), "{key}");
        }
    }

    #[test]
    fn a_record_keeps_the_keys_read_and_equals_the_full_decode_on_them() {
        let text = r#"{"type": "contact", "id": "c1", "updated_at": 5,
            "location": {"city": "Berlin", "type": "location"},
            "notes": {"data": [{"id": "n1"}, {"id": "n2"}], "total_count": 2},
            "n\u0061me": "Zo\u00eb", "name": "later wins", "formatted_phone": null}"#;
        let raw = RawValue::from_string(text.into()).expect("json");
        let k = keys(&["/location/city", "/name"]);
        let kept = decode_record(&raw, Some(&k)).expect("decode");
        let full: Value = serde_json::from_str(text).expect("json");
        let mut expected = full.as_object().expect("object").clone();
        expected.retain(|key, _| k.reads(key));
        assert_eq!(kept, Value::Object(expected));
        assert_eq!(kept["name"], "later wins");
        assert!(kept.get("notes").is_none() && kept.get("type").is_none());
        // Without keys: the whole record.
        assert_eq!(decode_record(&raw, None).expect("decode"), full);
    }

    #[test]
    fn a_record_that_is_not_an_object_or_not_json_decodes_as_before() {
        let k = keys(&["/name"]);
        for text in [r#"[1, 2]"#, r#""text""#, "5"] {
            let raw = RawValue::from_string(text.into()).expect("json");
            assert_eq!(
                decode_record(&raw, Some(&k)).expect("decode"),
                serde_json::from_str::<Value>(text).expect("json")
            );
        }
    }

    /// A conversation's `conversation_parts`: each object part keeps only
    /// the keys read, anything else (the list's other keys, a part that is
    /// not an object, numbers of every kind) is as a full decode gives it.
    #[test]
    fn a_list_of_records_under_a_key_keeps_the_keys_read_of_each() {
        let text = r#"{"type": "conversation_part.list", "total_count": 3,
            "conversation_parts": [
                {"type": "conversation_part", "id": "p1", "body": "<p>hi</p>", "tags": [],
                 "author": {"id": "a1", "from_ai_agent": false}, "n": -1.5e3},
                "not a part",
                {"id": "p2", "app_package_code": null, "body": null, "big": 18446744073709551615}
            ]}"#;
        let k = keys(&["/body", "/author/id", "/big"]);
        let mut de = serde_json::Deserializer::from_str(text);
        let got = Pruning::RecordsUnder("conversation_parts", &k)
            .deserialize(&mut de)
            .expect("decode");
        let mut want: Value = serde_json::from_str(text).expect("json");
        for part in want["conversation_parts"].as_array_mut().expect("parts") {
            if let Some(map) = part.as_object_mut() {
                map.retain(|key, _| k.reads(key));
            }
        }
        assert_eq!(got, want);
        assert_eq!(
            got["conversation_parts"][0]["author"]["from_ai_agent"],
            false
        );
        assert!(got["conversation_parts"][0].get("tags").is_none());
        // Not the expected shapes: decoded whole.
        for text in [
            "null",
            "[1, {\"a\": 2}]",
            "\"x\"",
            "{\"conversation_parts\": 5}",
        ] {
            let mut de = serde_json::Deserializer::from_str(text);
            let got = Pruning::RecordsUnder("conversation_parts", &k)
                .deserialize(&mut de)
                .expect("decode");
            assert_eq!(
                got,
                serde_json::from_str::<Value>(text).expect("json"),
                "{text}"
            );
        }
    }
}
