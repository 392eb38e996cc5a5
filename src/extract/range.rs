//! Backfill reads: every record of a search with `from <= updated_at <
//! until`, no cursor read or moved.

use crate::error::Result;
use crate::extract::ExtractOptions;
use crate::extract::cursor::CursorTracker;
use crate::extract::search::{SearchSpec, Sink, read_search};
use crate::extract::window::Window;
use crate::http::IntercomClient;

/// Export every record with `from <= updated_at < until` (a backfill
/// window), without reading or moving any cursor; the number of records
/// sent. Read like an incremental search with no cursor
/// ([`read_search`]): a probe, then, over several pages, windows read
/// several at once and delivered oldest first, with the same smaller pages
/// and window splits when pages keep failing. Day-granular endpoints are
/// asked for the whole days around each window and filtered to it exactly
/// here. No checkpoint: a backfill window is committed once.
pub(crate) async fn extract_range(
    client: &IntercomClient,
    spec: &SearchSpec,
    options: &ExtractOptions,
    from: i64,
    until: i64,
    tx: &impl Sink,
) -> Result<u64> {
    // `(lo, hi]` in whole seconds is `[from, until)`.
    let range = Window {
        lo: from.saturating_sub(1),
        hi: until.saturating_sub(1),
    };
    if range.hi <= range.lo {
        return Ok(0);
    }
    let mut tracker = CursorTracker::new(None);
    read_search(client, spec, options, range, &mut tracker, tx, None).await?;
    Ok(tracker.rows)
}
