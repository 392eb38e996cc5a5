//! One window's pages in [`super::read_windows`]: a page request
//! ([`fetch`]), its answer taken into the window ([`take_page`]: kept,
//! shrunk, split or failed), pages past the memory budget spilled to disk
//! ([`spill_last`]) and a window's pages handed to the sink in order
//! ([`deliver_kept`], [`deliver`]).

use std::sync::Arc;

use super::*;
use crate::extract::record_keys::{RecordKeys, decode_record};

/// Move `slot`'s last page in memory (one that just arrived, holding no
/// room of the budget) to the end of its file (made on its first page past
/// the budget). On an error the page stays in memory, after the pages the
/// file holds.
pub(super) fn spill_last(slot: &mut Slot, dir: Option<&std::path::Path>) -> std::io::Result<()> {
    let Some(page) = slot.pages.last() else {
        return Ok(());
    };
    let spill = match &mut slot.spill {
        Some(spill) => spill,
        None => {
            slot.spill_at = slot.pages.len() - 1;
            slot.spill.insert(Spill::create(dir)?)
        }
    };
    spill.push(page)?;
    // On disk now (it took no room of the held pool).
    slot.pages.pop();
    Ok(())
}

/// Pages decoded ahead of the one being delivered (see [`deliver_kept`]).
pub const DECODED_AHEAD: usize = 2;

/// Deliver what a window read before its turn, in the order it was read:
/// the pages in memory before its file, the file's pages (the file is
/// removed after), the pages in memory after it; their room in the budget
/// goes back once they are handed over. The next [`DECODED_AHEAD`] pages
/// decode (off the task) while one is handed to the sink, so a sink that
/// waits for its writer and the decoding overlap.
pub(super) async fn deliver_kept(
    path: &str,
    kept: Kept,
    tracker: &mut CursorTracker,
    tx: &impl Sink,
    times: &mut super::DeliveryTimes,
) -> Result<()> {
    let Kept {
        mut pages,
        spill,
        spill_at,
        held,
    } = kept;
    let after = match &spill {
        Some(_) => pages.split_off(spill_at.min(pages.len())),
        None => Vec::new(),
    };
    let replay = spill.map(Spill::replay).transpose()?.into_iter().flatten();
    let in_order = pages
        .into_iter()
        .map(Ok)
        .chain(replay)
        .chain(after.into_iter().map(Ok));
    let keys = tx.record_keys();
    let mut decoded = futures::stream::iter(in_order)
        .map(|records| {
            let keys = keys.clone();
            async move { decode_off_task(path, records?, keys).await }
        })
        .buffered(DECODED_AHEAD);
    loop {
        let waited = Instant::now();
        let Some(records) = decoded.next().await else {
            break;
        };
        times.decode += waited.elapsed();
        let waited = Instant::now();
        deliver(path, records?, tracker, tx).await?;
        times.sink += waited.elapsed();
    }
    drop(held);
    Ok(())
}

/// [`decode`] on tokio's blocking pool when the page's text is
/// [`crate::http::OFF_TASK_DECODE_BYTES`] or more (a page of 150 contacts
/// is about 1 MB), so that pages decode on every core while the extractor
/// task goes on (at most [`crate::http::decodes_at_once`] at once, with
/// the client's bodies); smaller pages here. Same result and errors as [`decode`].
pub(super) async fn decode_off_task(
    path: &str,
    records: Vec<RawRecord>,
    keys: Option<Arc<RecordKeys>>,
) -> Result<Vec<Value>> {
    let bytes: usize = records.iter().map(|r| r.get().len()).sum();
    if bytes < crate::http::OFF_TASK_DECODE_BYTES {
        return decode(path, records, keys.as_deref());
    }
    let owned = path.to_string();
    crate::http::decode_blocking(move || decode(&owned, records, keys.as_deref()))
        .await
        .map_err(|e| Error::Protocol {
            endpoint: format!("POST /{path}"),
            message: format!("decoding a page kept as text did not finish: {e}"),
        })?
}

/// A page's records kept as text, decoded (when their turn comes): with
/// `keys`, only the top-level keys the sink reads
/// ([`crate::extract::record_keys::decode_record`]).
pub(super) fn decode(
    path: &str,
    records: Vec<RawRecord>,
    keys: Option<&RecordKeys>,
) -> Result<Vec<Value>> {
    records
        .iter()
        .map(|r| {
            decode_record(r, keys).map_err(|e| Error::Protocol {
                endpoint: format!("POST /{path}"),
                message: format!("a record kept as text does not decode again: {e}"),
            })
        })
        .collect()
}

/// One page request, tagged with its window's key, and the budget's room
/// for its answer (a window ahead's; `None` for the head's).
pub(super) async fn fetch(
    source: &impl PageSource,
    key: Key,
    part: Part,
    per_page: u32,
    starting_after: Option<String>,
    room: Option<Held>,
) -> (Key, Result<RawPage>, Option<Held>) {
    let page = source
        .window_page(part, per_page, starting_after.as_deref())
        .await;
    (key, page, room)
}

/// Take one page's answer into its window: keep its new records, move the
/// window's cursor on, or decide to shrink the pages, split the window, or
/// fail the report.
pub(super) fn take_page(
    reader: &Reader<'_>,
    slot: &mut Slot,
    result: Result<RawPage>,
    (split_rows, band_rows): (u64, u64),
    per_page: &mut u32,
) -> Result<Option<Split>> {
    let g = reader.spec.granularity;
    let page = match result {
        Ok(page) => page,
        Err(e) => {
            let label = slot.label();
            if reader.shrink(&mut slot.per_page, &e, &label, &mut slot.degraded) {
                // Start the window again at the smaller size: a cursor is
                // not meant to survive a change of page size.
                *per_page = (*per_page).min(slot.per_page);
                slot.starting_after = None;
                slot.pages_read = 0;
                slot.state = State::Ready;
                return Ok(None);
            }
            if degradable(&e)
                && slot.failure_splits < MAX_FAILURE_SPLITS
                && let Some((a, b, axis)) = slot.part.split(g, reader.min_day, &slot.created)
            {
                tracing::warn!(endpoint = %reader.endpoint(), error = %e, window = %label, ?axis, "pages keep failing at the smallest page size; splitting the window");
                reader.degraded(&label, &mut slot.degraded);
                return Ok(Some(Split {
                    a,
                    b,
                    failure_splits: slot.failure_splits + 1,
                    axis,
                }));
            }
            return Err(e);
        }
    };
    let first = slot.starting_after.is_none();
    let RawPage {
        data,
        envelope: page,
    } = page;
    let total = page.total_count.unwrap_or(0);
    if first && total > split_rows {
        // Over `band_rows` also by `created_at` when not in time; the
        // first page's `created_at`s say where the cut goes.
        let split = if total > band_rows {
            let created: Vec<i64> = data.iter().filter_map(|r| raw_created(r)).collect();
            slot.part.split(g, reader.min_day, &created)
        } else {
            slot.part.split_time(g, reader.min_day)
        };
        if let Some((a, b, axis)) = split {
            tracing::debug!(endpoint = reader.spec.path, part = %slot.label(), ?axis, total = ?page.total_count, "window over budget; splitting");
            return Ok(Some(Split {
                a,
                b,
                failure_splits: slot.failure_splits,
                axis,
            }));
        }
    }
    page.check_complete_with(&reader.endpoint(), first, data.len())?;
    slot.pages_read += 1;
    let next = page.next_cursor();
    let total = page.total_count;
    let mut kept = Vec::with_capacity(data.len());
    // A part of a window reads a band of `created_at` (with overlap) and
    // keeps exactly its band.
    let banded = !slot.part.band.is_whole();
    for record in data {
        // One scan of the record for its id, updated_at and created_at.
        let (id, t, created) = raw_identity_created(reader.spec.path, &record)?;
        if first && let Some(c) = created {
            slot.created.push(c);
        }
        let inside = if banded {
            slot.part.keeps(t, created)
        } else {
            slot.part.window.contains(t)
        };
        if inside && slot.seen.insert((id.clone(), t)) {
            kept.push(record);
        }
        if !slot.listed.contains(&id) {
            slot.listed.insert(id);
        }
    }
    if !kept.is_empty() {
        slot.pages.push(kept);
    }
    match next {
        Some(c) => {
            slot.starting_after = Some(c);
            slot.state = State::Ready;
        }
        None => {
            if slot.pages_read > 1 {
                short_read(
                    reader.anomalies,
                    &reader.endpoint(),
                    &slot.label(),
                    slot.listed.len(),
                    total,
                );
            }
            // Only a window still reading needs what it has seen.
            slot.seen = Sent::new();
            slot.listed = HashSet::new();
            slot.state = State::Done;
        }
    }
    Ok(None)
}

/// The `created_at` of a record kept as text, in unix seconds (any form a
/// timestamp column accepts), read without decoding the rest; `None`
/// without one.
pub(crate) fn raw_created(record: &RawValue) -> Option<i64> {
    let found = super::super::identity_scan::scan(record.get());
    crate::output::schema::timestamp_secs(found.created_at.as_ref()?)
}

/// [`identity`] of a record kept as text, with its `created_at`, in one scan
/// of its text that stops once the three are found:
/// `(id, updated_at, created_at)`, the times in unix seconds (`created_at`
/// `None` when absent or not a timestamp).
pub(crate) fn raw_identity_created(
    path: &str,
    record: &RawValue,
) -> Result<(String, i64, Option<i64>)> {
    let found = super::super::identity_scan::scan(record.get());
    let id = found.id.as_ref().and_then(Value::as_str);
    let updated_at = found
        .updated_at
        .as_ref()
        .and_then(crate::output::schema::timestamp_secs);
    let created_at = found
        .created_at
        .as_ref()
        .and_then(crate::output::schema::timestamp_secs);
    match (id, updated_at) {
        (Some(id), Some(t)) => Ok((id.to_string(), t, created_at)),
        // The decoded record's error.
        _ => identity(path, &Value::Null).map(|(id, t)| (id.to_string(), t, None)),
    }
}

/// The records inside `window` not yet seen by it (`(id, updated_at)`).
pub(crate) fn keep_new(
    path: &str,
    window: Window,
    records: Vec<Value>,
    seen: &mut Sent,
) -> Result<Vec<Value>> {
    let mut kept = Vec::with_capacity(records.len());
    for record in records {
        let (id, t) = identity(path, &record)?;
        if window.contains(t) && seen.insert((id.to_string(), t)) {
            kept.push(record);
        }
    }
    Ok(kept)
}

/// Send the records new to the cursor (see [`CursorTracker::accept`]).
pub(crate) async fn deliver(
    path: &str,
    records: Vec<Value>,
    tracker: &mut CursorTracker,
    tx: &impl Sink,
) -> Result<()> {
    let mut fresh = Vec::with_capacity(records.len());
    for record in records {
        let (id, t) = identity(path, &record)?;
        if tracker.accept(id, t) {
            fresh.push(record);
        }
    }
    if !fresh.is_empty() {
        tx.rows(fresh).await?;
    }
    Ok(())
}
