//! The ids of contacts and companies seen by the `deletions` report's
//! reconciliation passes (table `known_ids`), so a later pass can tell which
//! records are gone (see [`crate::reports::deletions`]).
//!
//! A set is stored sorted, in chunks of up to [`CHUNK_IDS`] ids, one row
//! each. A chunk's blob is zstd (level 3) of one format byte and the ids:
//!
//! * `1`: *hex-packed*: every id of the chunk is lowercase hex of the same
//!   even length (Intercom's contact and company ids are 24 hex digits):
//!   one byte with the id's length in bytes, then each id as raw bytes
//!   (12 bytes for a 24-digit id, before compression);
//! * `0`: the ids joined by `\n` (any other id shape; ids never hold a
//!   newline).
//!
//! 1 M contact ids take 16 rows and 6–11 MB (measured in
//! BENCHMARKS.md, `cargo bench --bench deletions`). A set is replaced as a
//! whole, inside the transaction that commits the `deletions` report's
//! files and cursor ([`crate::state::Commit::known_ids`]), so a crash leaves
//! either the old set with the old cursor or the new set with the new one.

use std::collections::BTreeMap;

use sqlx::Row;

use super::StateStore;
use crate::error::{Error, Result};

/// Ids per stored chunk.
pub const CHUNK_IDS: usize = 65_536;

/// New known-id sets to store, by object type (`contact`, `company`): each
/// replaces the stored set of its type; types not listed keep theirs.
pub type KnownIdsUpdate = BTreeMap<&'static str, Vec<String>>;

const TEXT: u8 = 0;
const HEX: u8 = 1;

/// The blob of one chunk of ids (see the module doc).
pub fn encode(ids: &[String]) -> Result<Vec<u8>> {
    let width = ids.first().map_or(0, String::len);
    let hex_packed = width > 0
        && width.is_multiple_of(2)
        && width / 2 <= usize::from(u8::MAX)
        && ids.iter().all(|id| {
            id.len() == width && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        });
    let mut raw = Vec::with_capacity(2 + ids.len() * width.max(1));
    if hex_packed {
        raw.push(HEX);
        raw.push((width / 2) as u8);
        for id in ids {
            raw.extend(hex::decode(id).map_err(|e| Error::Internal(format!("hex id {id}: {e}")))?);
        }
    } else {
        raw.push(TEXT);
        for (i, id) in ids.iter().enumerate() {
            if id.contains('\n') {
                return Err(Error::Internal(format!("an id with a newline: {id:?}")));
            }
            if i > 0 {
                raw.push(b'\n');
            }
            raw.extend_from_slice(id.as_bytes());
        }
    }
    zstd::bulk::compress(&raw, 3).map_err(|e| Error::Internal(format!("compressing ids: {e}")))
}

/// The ids of one chunk's blob.
pub fn decode(blob: &[u8]) -> Result<Vec<String>> {
    let bad = |why: String| Error::Internal(format!("a known_ids chunk is unreadable: {why}"));
    let raw = zstd::decode_all(blob).map_err(|e| bad(e.to_string()))?;
    match raw.split_first() {
        Some((&HEX, rest)) => {
            let (&width, packed) = rest.split_first().ok_or_else(|| bad("no width".into()))?;
            let width = usize::from(width);
            if width == 0 || packed.len() % width != 0 {
                return Err(bad(format!("{} bytes of {width}-byte ids", packed.len())));
            }
            Ok(packed.chunks(width).map(hex::encode).collect())
        }
        Some((&TEXT, [])) => Ok(Vec::new()),
        Some((&TEXT, rest)) => std::str::from_utf8(rest)
            .map(|s| s.split('\n').map(str::to_string).collect())
            .map_err(|e| bad(e.to_string())),
        Some((other, _)) => Err(bad(format!("format {other}"))),
        None => Ok(Vec::new()),
    }
}

impl StateStore {
    /// The known ids of `object_type` (`contact`, `company`), sorted; empty
    /// before the first completed pass.
    pub async fn known_ids(&self, object_type: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT ids FROM known_ids WHERE workspace = $1 AND object_type = $2 ORDER BY chunk",
        )
        .bind(self.workspace())
        .bind(object_type)
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        let mut ids = Vec::new();
        for row in rows {
            let blob: Vec<u8> = row.try_get(0).map_err(|e| self.err(e))?;
            ids.extend(decode(&blob)?);
        }
        Ok(ids)
    }

    /// Bytes the stored known ids take (the blobs), and how many ids, per
    /// object type.
    pub async fn known_ids_size(&self) -> Result<BTreeMap<String, (u64, u64)>> {
        let rows = sqlx::query(
            "SELECT object_type, ids, count FROM known_ids WHERE workspace = $1 ORDER BY 1",
        )
        .bind(self.workspace())
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for row in rows {
            let kind: String = row.try_get(0).map_err(|e| self.err(e))?;
            let blob: Vec<u8> = row.try_get(1).map_err(|e| self.err(e))?;
            let count: i64 = row.try_get(2).map_err(|e| self.err(e))?;
            let e = out.entry(kind).or_default();
            e.0 += blob.len() as u64;
            e.1 += count as u64;
        }
        Ok(out)
    }

    /// Replace known id sets in a transaction of their own (tests and
    /// benchmarks; a sync stores them with its commit).
    pub async fn set_known_ids(&self, update: &KnownIdsUpdate) -> Result<()> {
        let mut tx = self.pool().begin().await.map_err(|e| self.err(e))?;
        self.replace_known_ids(&mut tx, update).await?;
        tx.commit().await.map_err(|e| self.err(e))
    }

    /// Replace the stored sets of the types in `update` inside `tx`. The ids
    /// are sorted and deduplicated first.
    pub(super) async fn replace_known_ids(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        update: &KnownIdsUpdate,
    ) -> Result<()> {
        for (object_type, ids) in update {
            let mut ids = ids.clone();
            ids.sort_unstable();
            ids.dedup();
            sqlx::query("DELETE FROM known_ids WHERE workspace = $1 AND object_type = $2")
                .bind(self.workspace())
                .bind(*object_type)
                .execute(&mut **tx)
                .await
                .map_err(|e| self.err(e))?;
            for (chunk, part) in ids.chunks(CHUNK_IDS).enumerate() {
                let blob = encode(part)?;
                sqlx::query(
                    "INSERT INTO known_ids (workspace, object_type, chunk, count, ids) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(self.workspace())
                .bind(*object_type)
                .bind(chunk as i64)
                .bind(part.len() as i64)
                .bind(blob)
                .execute(&mut **tx)
                .await
                .map_err(|e| self.err(e))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_round_trip_in_both_formats() {
        let hex: Vec<String> = (0..1000u64)
            .map(|i| format!("6a1c{:020x}", i * 7919))
            .collect();
        let blob = encode(&hex).expect("encode");
        assert_eq!(decode(&blob).expect("decode"), hex);
        assert!(
            blob.len() < hex.len() * 12,
            "hex-packed: {} bytes for {} ids",
            blob.len(),
            hex.len()
        );
        let mixed: Vec<String> = vec!["123".into(), "6a1c".into(), "ABC-1".into()];
        assert_eq!(decode(&encode(&mixed).expect("e")).expect("d"), mixed);
        assert!(decode(&encode(&[]).expect("e")).expect("d").is_empty());
        // Uppercase hex is not packed (it would come back lowercase).
        let upper = vec!["AB12".to_string()];
        assert_eq!(decode(&encode(&upper).expect("e")).expect("d"), upper);
    }

    #[tokio::test]
    async fn a_set_is_replaced_whole_and_kept_per_workspace() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = StateStore::open(&dir.path().join("state.db"))
            .await
            .expect("open");
        let many: Vec<String> = (0..(CHUNK_IDS as u64 + 10))
            .rev()
            .map(|i| format!("{i:024x}"))
            .collect();
        let mut update = KnownIdsUpdate::new();
        update.insert("contact", many.clone());
        update.insert("company", vec!["c2".into(), "c1".into(), "c1".into()]);
        store.set_known_ids(&update).await.expect("set");
        let mut sorted = many;
        sorted.sort();
        assert_eq!(store.known_ids("contact").await.expect("ids"), sorted);
        assert_eq!(store.known_ids("company").await.expect("ids"), ["c1", "c2"]);
        let size = store.known_ids_size().await.expect("size");
        assert_eq!(size["contact"].1, CHUNK_IDS as u64 + 10);
        // Replacing one type leaves the other alone.
        let mut again = KnownIdsUpdate::new();
        again.insert("company", vec!["c3".into()]);
        store.set_known_ids(&again).await.expect("set");
        assert_eq!(store.known_ids("company").await.expect("ids"), ["c3"]);
        assert_eq!(
            store.known_ids("contact").await.expect("ids").len(),
            sorted.len()
        );
        assert!(
            store
                .scoped("other")
                .known_ids("company")
                .await
                .expect("ids")
                .is_empty()
        );
    }
}
