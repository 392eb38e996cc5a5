//! Unit tests of the search reader and the cursor tracker.

use super::*;
use crate::extract::cursor::{ACCEPTED_PRUNE_MIN, CursorTracker, SearchCursor, identity};
use crate::extract::window::{DAY, MIN_DAY_WINDOW, Window, plan_windows};
use std::sync::Mutex;

/// What a search handed its sink, in order.
#[derive(Debug)]
enum Event {
    Rows(Vec<(String, i64)>),
    Checkpoint(SearchCursor),
    Total(u64),
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Event>>);

/// Extraction options with `per_page` and fresh anomaly counters.
pub(crate) fn opts(per_page: u32) -> ExtractOptions {
    ExtractOptions {
        per_page,
        concurrency: 2,
        lookback_secs: 0,
        checkpoint_every: Duration::ZERO,
        progress: crate::telemetry::Progress::default(),
        anomalies: Anomalies::default(),
        companies: Default::default(),
        lists: Default::default(),
        conversations: Default::default(),
        searches: Default::default(),
    }
}

impl Recorder {
    fn push(&self, e: Event) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(e);
    }
}

impl Sink for Recorder {
    async fn rows(&self, rows: Vec<Value>) -> Result<()> {
        let ids = rows
            .iter()
            .map(|r| identity("test", r).map(|(id, t)| (id.to_string(), t)))
            .collect::<Result<_>>()?;
        self.push(Event::Rows(ids));
        Ok(())
    }

    async fn checkpoint(&self, cursor: &SearchCursor) -> Result<()> {
        self.push(Event::Checkpoint(cursor.clone()));
        Ok(())
    }

    fn total(&self, rows: u64) {
        self.push(Event::Total(rows));
    }
}

#[tokio::test]
async fn completed_windows_checkpoint_a_cursor_covering_exactly_the_rows_before() {
    let sim = crate::simulator::spawn(crate::simulator::SimConfig {
        contacts: 10,
        conversations: 200,
        parts: 1,
        ..Default::default()
    })
    .await
    .expect("simulator");
    let client = crate::http::test_client(&sim.base_url(), 2);
    let spec = crate::reports::conversations::search_spec("all", "updated_at");
    let sink = Recorder::default();
    // 4 a page: windows of at most 80 rows; a checkpoint after each.
    let out = extract_with_lookback(
        &client,
        &spec,
        &opts(4),
        0,
        None,
        &sink,
        Some(Duration::ZERO),
    )
    .await
    .expect("extract");
    assert_eq!(out.rows, 200);
    let events = sink.0.into_inner().unwrap_or_else(|e| e.into_inner());
    assert!(
        matches!(events.first(), Some(Event::Total(200))),
        "the probe states the total first: {:?}",
        events.first()
    );
    let mut sent: Vec<(String, i64)> = Vec::new();
    let mut checkpoints = Vec::new();
    for e in &events {
        match e {
            Event::Rows(rows) => sent.extend(rows.iter().cloned()),
            Event::Checkpoint(c) => checkpoints.push((sent.len(), c.clone())),
            Event::Total(_) => {}
        }
    }
    assert_eq!(sent.len(), 200);
    assert!(checkpoints.len() >= 2, "{} checkpoints", checkpoints.len());
    let mut last = i64::MIN;
    for (n, c) in &checkpoints {
        let (before, after) = sent.split_at(*n);
        assert!(c.updated_at > last, "checkpoints move forward");
        last = c.updated_at;
        assert!(before.iter().all(|(_, t)| *t <= c.updated_at));
        let mut at: Vec<&String> = before
            .iter()
            .filter(|(_, t)| *t == c.updated_at)
            .map(|(id, _)| id)
            .collect();
        at.sort();
        assert_eq!(at, c.ids_at.iter().collect::<Vec<_>>(), "ids at the cursor");
        assert!(
            after.iter().all(|(_, t)| *t > c.updated_at),
            "rows after a checkpoint are past its cursor"
        );
    }
    // Without an interval, no checkpoint.
    let quiet = Recorder::default();
    extract_with_lookback(&client, &spec, &opts(4), 0, None, &quiet, None)
        .await
        .expect("extract");
    let quiet = quiet.0.into_inner().unwrap_or_else(|e| e.into_inner());
    assert!(!quiet.iter().any(|e| matches!(e, Event::Checkpoint(_))));
}

#[test]
fn same_second_updates_are_neither_lost_nor_repeated() {
    let mut first = CursorTracker::new(None);
    assert!(first.accept("a", 100));
    assert!(first.accept("b", 200));
    assert!(first.accept("c", 200));
    let cursor = first.finish().cursor.expect("cursor");
    assert_eq!(
        cursor,
        SearchCursor {
            updated_at: 200,
            ids_at: vec!["b".into(), "c".into()],
            recent: Vec::new(),
        }
    );

    // Next run: b and c come back (>= 200) and are dropped; d was
    // updated in the same second after the first run read it.
    let mut second = CursorTracker::new(Some(cursor));
    assert!(!second.accept("b", 200));
    assert!(!second.accept("c", 200));
    assert!(!second.accept("a", 100));
    assert!(second.accept("d", 200));
    let out = second.finish();
    assert_eq!(out.rows, 1);
    let cursor = out.cursor.expect("cursor");
    assert_eq!(
        cursor.ids_at,
        vec!["b", "c", "d"],
        "ids at the same second accumulate"
    );

    let mut third = CursorTracker::new(Some(cursor));
    assert!(!third.accept("d", 200));
    assert!(third.accept("b", 201));
    assert_eq!(
        third.finish().cursor,
        Some(SearchCursor {
            updated_at: 201,
            ids_at: vec!["b".into()],
            recent: Vec::new(),
        })
    );
}

#[test]
fn nothing_new_keeps_the_cursor() {
    let old = SearchCursor {
        updated_at: 5,
        ids_at: vec!["x".into()],
        recent: Vec::new(),
    };
    let mut t = CursorTracker::new(Some(old));
    assert!(!t.accept("x", 5));
    let out = t.finish();
    assert_eq!(out.rows, 0);
    assert!(out.cursor.is_none());
}

#[test]
fn windows_split_in_halves_down_to_the_finest_query() {
    let w = Window { lo: 100, hi: 200 };
    assert_eq!(
        w.split(Granularity::Second),
        Some((Window { lo: 100, hi: 150 }, Window { lo: 150, hi: 200 }))
    );
    assert_eq!(Window { lo: 5, hi: 6 }.split(Granularity::Second), None);
    // Day-granular windows split at a midnight strictly inside, into
    // halves no narrower than MIN_DAY_WINDOW (14 days).
    let d = Window {
        lo: 10 * DAY + 5,
        hi: 40 * DAY + 7,
    };
    let (a, b) = d.split(Granularity::Day).expect("splittable");
    assert_eq!(a.hi, 25 * DAY);
    assert_eq!((a.lo, b.lo, b.hi), (d.lo, 25 * DAY, d.hi));
    let narrow = Window {
        lo: 10 * DAY,
        hi: 37 * DAY,
    };
    assert_eq!(narrow.split(Granularity::Day), None, "halves under 14 days");
    let one_day = Window {
        lo: 10 * DAY,
        hi: 11 * DAY - 1,
    };
    assert_eq!(one_day.split(Granularity::Day), None);
    assert!(Window { lo: 1, hi: 2 }.contains(2) && !Window { lo: 1, hi: 2 }.contains(1));
}

#[test]
fn planned_windows_tile_the_range_exactly() {
    for g in [Granularity::Second, Granularity::Day] {
        for n in [1, 2, 3, 7, 50] {
            let ws = plan_windows(1_000, 40 * DAY + 17, n, g);
            assert_eq!(ws.first().map(|w| w.lo), Some(1_000));
            assert_eq!(ws.last().map(|w| w.hi), Some(40 * DAY + 17));
            for pair in ws.windows(2) {
                assert_eq!(pair[0].hi, pair[1].lo, "contiguous");
                if g == Granularity::Day {
                    assert_eq!(pair[0].hi % DAY, 0, "cut at midnight");
                }
            }
            if g == Granularity::Day {
                // Cuts round down to midnight: at most a day narrower.
                assert!(
                    ws.iter().all(|w| w.hi - w.lo >= MIN_DAY_WINDOW - DAY),
                    "{n}: {ws:?}"
                );
            }
            assert!(ws.len() as u64 <= n);
        }
    }
    assert_eq!(plan_windows(5, 6, 10, Granularity::Second).len(), 1);
}

#[test]
fn lookback_memory_stays_bounded_on_a_long_first_run() {
    let mut t = CursorTracker::with_lookback(None, 10);
    let mut peak = 0;
    for i in 0..50_000i64 {
        assert!(t.accept(&format!("c{i}"), i / 3));
        peak = peak.max(t.accepted.len());
    }
    assert!(peak <= 2 * ACCEPTED_PRUNE_MIN, "accepted grew to {peak}");
    let cursor = t.finish().cursor.expect("cursor");
    let max = 49_999 / 3;
    assert_eq!(cursor.updated_at, max);
    // Everything within the lookback is still there, nothing older.
    let within = (0..50_000i64).filter(|i| i / 3 > max - 10).count();
    assert_eq!(cursor.recent.len(), within);
    assert!(cursor.recent.iter().all(|(_, u)| *u > max - 10));
}

#[test]
fn lookback_rereads_without_repeating_rows() {
    let mut first = CursorTracker::with_lookback(None, 100);
    assert!(first.accept("a", 950));
    assert!(first.accept("b", 1000));
    let cursor = first.finish().cursor.expect("cursor");
    assert_eq!(cursor.recent, vec![("a".into(), 950), ("b".into(), 1000)]);
    // The margin is re-read: a and b are dropped; c showed up late in
    // the index with an older updated_at, and is exported.
    let mut second = CursorTracker::with_lookback(Some(cursor), 100);
    assert!(!second.accept("a", 950));
    assert!(!second.accept("b", 1000));
    assert!(second.accept("c", 990));
    assert!(!second.accept("d", 800), "older than the margin");
    let out = second.finish();
    let cursor = out.cursor.expect("cursor");
    assert_eq!(
        cursor.updated_at, 1000,
        "late rows do not move the cursor back"
    );
    assert_eq!(cursor.ids_at, vec!["b"]);
    assert!(cursor.recent.contains(&("c".into(), 990)));
}

mod identity_tests {
    use crate::extract::cursor::identity;
    use serde_json::json;

    #[test]
    fn updated_at_in_any_timestamp_form() {
        for (updated_at, secs) in [
            (json!(1_768_018_948), 1_768_018_948),
            (json!(1_768_018_948_238_i64), 1_768_018_948),
            (json!("2026-01-10T04:22:28.238+00:00"), 1_768_018_948),
        ] {
            let record = json!({"id": "c1", "updated_at": updated_at});
            assert_eq!(
                identity("POST /contacts/search", &record).expect("read"),
                ("c1", secs)
            );
        }
        let err = identity(
            "POST /contacts/search",
            &json!({"id": "c1", "updated_at": "soon"}),
        )
        .expect_err("not a timestamp")
        .to_string();
        assert!(
            err.contains("POST /contacts/search") && err.contains("updated_at"),
            "{err}"
        );
    }
}
