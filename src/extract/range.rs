//! Backfill reads: every record of a search with `from <= updated_at <
//! until`, no cursor read or moved.

use std::collections::HashSet;

use crate::api::query::{leaf, search_body};
use crate::error::Result;
use crate::extract::ExtractOptions;
use crate::extract::cursor::identity;
use crate::extract::search::{Granularity, Reader, SearchSpec, Sink, short_read, with_filter};
use crate::http::IntercomClient;

/// Export every record with `from <= updated_at < until` (a backfill
/// window), without reading or moving any cursor. Day-granular endpoints are
/// asked for the whole days around the range and filtered to it exactly here.
/// Pages that keep failing are asked again smaller (the range is read again
/// from its start; records already sent are not sent twice).
pub(crate) async fn extract_range(
    client: &IntercomClient,
    spec: &SearchSpec,
    options: &ExtractOptions,
    from: i64,
    until: i64,
    tx: &impl Sink,
) -> Result<u64> {
    let (low, high) = match spec.granularity {
        Granularity::Second => (from - 1, until),
        Granularity::Day => (from - 86_400, until + 86_400),
    };
    let query = with_filter(
        spec.filter.as_ref(),
        vec![
            leaf("updated_at", ">", low.max(0)),
            leaf("updated_at", "<", high),
        ],
    );
    let mut reader = Reader {
        client,
        spec,
        per_page: options.per_page.max(1),
        anomalies: &options.anomalies,
        min_day: crate::extract::window::MIN_DAY_WINDOW,
    };
    let label = format!("updated_at [{from}, {until})");
    let mut degraded = false;
    let mut starting_after: Option<String> = None;
    let mut rows = 0u64;
    let mut pages = 0u64;
    let mut sent: HashSet<(String, i64)> = HashSet::new();
    let mut listed: HashSet<String> = HashSet::new();
    loop {
        let body = search_body(
            query.clone(),
            reader.per_page,
            starting_after.as_deref(),
            None,
        );
        let page = match reader.page(&body).await {
            Ok(page) => page,
            Err(e) if reader.shrink(&e, &label, &mut degraded) => {
                starting_after = None;
                pages = 0;
                continue;
            }
            Err(e) => return Err(e),
        };
        let first = starting_after.is_none();
        page.check_complete(&reader.endpoint(), first)?;
        pages += 1;
        if first
            && spec.granularity == Granularity::Second
            && let Some(total) = page.total_count
        {
            tx.total(total);
        }
        let mut fresh = Vec::with_capacity(page.data.len());
        for record in &page.data {
            let (id, updated_at) = identity(spec.path, record)?;
            if !listed.contains(id) {
                listed.insert(id.to_string());
            }
            if (from..until).contains(&updated_at) && sent.insert((id.to_string(), updated_at)) {
                fresh.push(record.clone());
            }
        }
        let next = page.next_cursor();
        if !fresh.is_empty() {
            rows += fresh.len() as u64;
            tx.rows(fresh).await?;
        }
        match next {
            Some(c) => starting_after = Some(c),
            None => {
                if pages > 1 {
                    short_read(
                        reader.anomalies,
                        &reader.endpoint(),
                        &label,
                        listed.len(),
                        page.total_count,
                    );
                }
                break;
            }
        }
    }
    Ok(rows)
}
