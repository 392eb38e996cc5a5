//! Tests of [`super`]: the shared plan tiles its range, gives every kind
//! of reader what it needs, and depends on the search only.

use super::*;
use crate::extract::fanout::{FANOUT_MIN_WINDOWS, FEW_CHILDREN_PAGES_PER_WINDOW};

/// The windows tile `(lo, hi]`: the first starts at `lo`, each starts where
/// the one before ends, the last ends at `hi`, none is empty.
fn assert_tiles(windows: &[Window], lo: i64, hi: i64) {
    assert!(!windows.is_empty());
    assert_eq!(windows[0].lo, lo, "{windows:?}");
    assert_eq!(windows[windows.len() - 1].hi, hi, "{windows:?}");
    for w in windows {
        assert!(w.hi > w.lo, "empty window {w:?}");
    }
    for pair in windows.windows(2) {
        assert_eq!(pair[0].hi, pair[1].lo, "gap or overlap: {pair:?}");
    }
}

const NOW: i64 = 1_764_000_000;

fn first_sync(total: u64, concurrency: usize) -> Probed {
    Probed {
        lo: 0,
        hi: NOW,
        total,
        per_page: 150,
        concurrency,
    }
}

#[test]
fn a_first_sync_is_cut_from_the_oldest_record_and_tiles_the_whole_range() {
    // 1,000 conversations over a year.
    let start = NOW - 365 * DAY;
    let plan = plan_shared_windows(first_sync(1000, 8), start);
    assert_tiles(&plan.windows, 0, NOW);
    // `(0, start]` first, then windows from the oldest record on.
    assert_eq!(plan.windows[0], Window { lo: 0, hi: start });
    assert!(plan.windows[1..].iter().all(|w| w.lo >= start));
}

#[test]
fn every_kind_of_reader_gets_at_least_the_windows_it_plans_alone() {
    for (total, concurrency) in [
        (1_000, 8),
        (1_000, 1),
        (7_000, 8),
        (20_000, 8),
        (20_000, 64),
        (151, 8),
    ] {
        let start = NOW - 700 * DAY;
        let plan = plan_shared_windows(first_sync(total, concurrency), start);
        assert_tiles(&plan.windows, 0, NOW);
        let cut = &plan.windows[1..];
        let pages = total.div_ceil(150);
        // A fan-out with a request per parent: a checkpoint each 1/40 at
        // most, or each page when there are fewer; a mapping table: its
        // fewer windows. Never more windows than pages.
        assert!(
            cut.len() as u64 >= FANOUT_MIN_WINDOWS.min(pages),
            "{total} {concurrency}: {} windows",
            cut.len()
        );
        assert!(cut.len() as u64 <= pages.max(1), "{total}: {}", cut.len());
        assert!(cut.len() as u64 >= (pages / FEW_CHILDREN_PAGES_PER_WINDOW).min(40));
        // The plain search: windows of at most PARALLEL_WINDOW_PAGES pages
        // on average, and enough of them to keep its readers busy.
        assert!(cut.len() as u64 >= total.div_ceil(PARALLEL_WINDOW_PAGES * 150));
        if concurrency > 1 {
            assert!(cut.len() as u64 >= (2 * concurrency as u64).min(pages / 2));
        }
        // Split at no more than the plain search's split size (two planned
        // windows' pages) nor a fan-out's share of the total.
        assert!(plan.split_rows <= 2 * PARALLEL_WINDOW_PAGES * 150);
        let min_windows = FANOUT_MIN_WINDOWS.min(pages).max(1);
        assert!(plan.split_rows <= total.div_ceil(min_windows).max(150));
        assert!(plan.split_rows >= 150, "a window holds at least a page");
    }
}

#[test]
fn a_catch_up_tiles_from_the_cursor() {
    // The cursor a week back, 3,000 changes since (no oldest asked: start
    // = lo).
    let lo = NOW - 7 * DAY;
    let probed = Probed {
        lo,
        hi: NOW,
        total: 3000,
        per_page: 150,
        concurrency: 4,
    };
    let plan = plan_shared_windows(probed, lo);
    assert_tiles(&plan.windows, lo, NOW);
    assert_eq!(plan.windows.len(), 20, "a window a page");
    // 12,000 changes (80 pages): a fortieth each.
    let plan = plan_shared_windows(
        Probed {
            total: 12_000,
            ..probed
        },
        lo,
    );
    assert_tiles(&plan.windows, lo, NOW);
    assert_eq!(plan.windows.len() as u64, FANOUT_MIN_WINDOWS);
}

#[test]
fn an_oldest_record_outside_the_range_plans_from_lo() {
    for start in [0, NOW, NOW + 10] {
        let plan = plan_shared_windows(first_sync(5000, 4), start);
        assert_tiles(&plan.windows, 0, NOW);
    }
}

/// A search sink that keeps the `(id, updated_at)` it is handed, planning
/// as a plain search (`min_windows` 1, no read-ahead bound) or as the
/// parents of a fan-out with a request per parent.
struct Collect {
    fan_out: bool,
    rows: std::sync::Mutex<Vec<(String, i64)>>,
}

impl Collect {
    fn new(fan_out: bool) -> Self {
        Collect {
            fan_out,
            rows: Default::default(),
        }
    }

    fn sorted(self) -> Vec<(String, i64)> {
        let mut rows = self.rows.into_inner().unwrap_or_else(|e| e.into_inner());
        rows.sort();
        rows
    }
}

impl crate::extract::search::Sink for Collect {
    async fn rows(&self, rows: Vec<serde_json::Value>) -> crate::error::Result<()> {
        let mut kept = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        for r in &rows {
            let (id, t) = crate::extract::cursor::identity("conversations/search", r)?;
            kept.push((id.to_string(), t));
        }
        Ok(())
    }

    fn min_windows(&self, pages: u64) -> u64 {
        if self.fan_out {
            ChildRequests::EachParent.min_windows(pages)
        } else {
            1
        }
    }

    fn parents_ahead(&self, concurrency: usize) -> Option<crate::extract::fanout::ReadAhead> {
        self.fan_out
            .then(|| ChildRequests::EachParent.read_ahead(concurrency))
    }
}

#[tokio::test]
async fn a_plain_search_and_a_fan_outs_parents_read_the_same_pages() {
    let sim = crate::simulator::spawn(crate::simulator::SimConfig {
        contacts: 10,
        conversations: 600,
        parts: 1,
        ..Default::default()
    })
    .await
    .expect("simulator");
    let client = crate::http::test_client(&sim.base_url(), 4);
    let spec = crate::reports::conversations::search_spec("all", "updated_at");
    // 20 a page: 30 pages, more than the probe; one store for both, as in
    // a run.
    let options = crate::extract::ExtractOptions {
        per_page: 20,
        concurrency: 4,
        lookback_secs: 0,
        checkpoint_every: std::time::Duration::ZERO,
        progress: crate::telemetry::Progress::default(),
        anomalies: crate::anomalies::Anomalies::default(),
        companies: Default::default(),
        lists: Default::default(),
        conversations: Default::default(),
        searches: Default::default(),
    };
    let searches = || {
        sim.sim.stats()["by_endpoint"]["POST /conversations/search"]
            .as_u64()
            .unwrap_or(0)
    };
    let plain = Collect::new(false);
    crate::extract::search::extract_with_lookback(&client, &spec, &options, 0, None, &plain, None)
        .await
        .expect("plain search");
    let alone = searches();
    assert!(alone > 30, "{alone} searches: windows over 30 pages");
    let parents = Collect::new(true);
    crate::extract::search::extract_with_lookback(
        &client, &spec, &options, 0, None, &parents, None,
    )
    .await
    .expect("fan-out parents");
    assert_eq!(
        searches(),
        alone,
        "the fan-out's parents asked for the same pages as the plain search"
    );
    let (plain, parents) = (plain.sorted(), parents.sorted());
    assert_eq!(plain.len(), 600);
    assert_eq!(plain, parents);
}
