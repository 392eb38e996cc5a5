//! Unit tests of windows cut by `created_at` (issue #15): a part's query and
//! exact filter, where a band is cut, and a dense day-granular window read
//! in parts, side by side, exactly once, with checkpoints only after a
//! window's last part.

use super::*;
use crate::extract::window::{Band, DAY, MIN_DAY_WINDOW};

/// The filters of `part` for contact search as `(field, operator, value)`.
fn bounds(part: Part, g: Granularity) -> Vec<(String, String, i64)> {
    part.filters(g)
        .iter()
        .map(|f| {
            (
                f["field"].as_str().expect("field").to_string(),
                f["operator"].as_str().expect("operator").to_string(),
                f["value"].as_i64().expect("value"),
            )
        })
        .collect()
}

fn t(field: &str, op: &str, v: i64) -> (String, String, i64) {
    (field.to_string(), op.to_string(), v)
}

#[test]
fn a_parts_query_reaches_two_days_beyond_its_band_and_the_filter_keeps_it_exactly() {
    let window = Window {
        lo: 100 * DAY,
        hi: 114 * DAY,
    };
    let mid = 50 * DAY + 3_600;
    let low = Part {
        window,
        band: Band {
            lo: None,
            hi: Some(mid),
        },
    };
    let high = Part {
        window,
        band: Band {
            lo: Some(mid),
            hi: None,
        },
    };
    assert_eq!(
        bounds(low, Granularity::Day),
        vec![
            t("updated_at", ">", 98 * DAY),
            t("updated_at", "<", 116 * DAY),
            t("created_at", "<", mid + 2 * DAY),
        ]
    );
    assert_eq!(
        bounds(high, Granularity::Day),
        vec![
            t("updated_at", ">", 98 * DAY),
            t("updated_at", "<", 116 * DAY),
            t("created_at", ">", mid - 2 * DAY),
        ]
    );
    // Exact to the second for second-granular searches.
    assert_eq!(
        bounds(low, Granularity::Second)[2],
        t("created_at", "<", mid + 1)
    );
    assert_eq!(
        bounds(high, Granularity::Second)[2],
        t("created_at", ">", mid)
    );
    // A whole window asks nothing of `created_at`.
    assert_eq!(bounds(Part::whole(window), Granularity::Day).len(), 2);
    // Every record is kept by exactly one part: at the cut, a second either
    // side, around midnight, far below and above, and without `created_at`.
    let u = window.lo + 5;
    let midnight = 50 * DAY;
    for c in [
        Some(mid),
        Some(mid - 1),
        Some(mid + 1),
        Some(midnight - 1),
        Some(midnight),
        Some(midnight + 1),
        Some(0),
        Some(window.hi + 10 * DAY),
        None,
    ] {
        let kept = [low, high].iter().filter(|p| p.keeps(u, c)).count();
        assert_eq!(kept, 1, "created_at {c:?}");
    }
    assert!(low.keeps(u, Some(mid)) && high.keeps(u, Some(mid + 1)));
    assert!(high.keeps(u, None), "no created_at: the top part");
    // Outside the window in time: neither part.
    assert!(!low.keeps(window.lo, Some(mid - 1)) && !high.keeps(window.hi + 1, Some(mid + 1)));
    assert!(!low.is_last() && high.is_last() && Part::whole(window).is_last());
    assert!(low.key() < high.key(), "the lower band is delivered first");
}

#[test]
fn a_window_too_narrow_for_time_is_cut_by_created_at_down_to_min_day_bands() {
    let g = Granularity::Day;
    let window = Window {
        lo: 1_000 * DAY,
        hi: 1_000 * DAY + MIN_DAY_WINDOW,
    };
    assert_eq!(window.split(g), None, "no time split at 14 days");
    // Created over ~3 years: the cut is the sample's median, at midnight.
    let created: Vec<i64> = (0..100).map(|i| 10 * DAY + i * 10 * DAY + 77).collect();
    let (a, b, axis) = Part::whole(window)
        .split(g, MIN_DAY_WINDOW, &created)
        .expect("cut by created_at");
    assert_eq!(axis, Axis::Created);
    assert_eq!((a.window, b.window), (window, window));
    assert_eq!(
        a.band,
        Band {
            lo: None,
            hi: Some(510 * DAY)
        }
    );
    assert_eq!(
        b.band,
        Band {
            lo: Some(510 * DAY),
            hi: None
        }
    );
    // Recursively: every half cuts again until bands are 2 × 14 days wide;
    // the parts always tile the axis.
    let mut parts = vec![Part::whole(window)];
    let mut splits = 0;
    while let Some(i) = parts
        .iter()
        .position(|p| p.split(g, MIN_DAY_WINDOW, &created).is_some())
    {
        let (x, y, _) = parts[i].split(g, MIN_DAY_WINDOW, &created).expect("split");
        parts.splice(i..=i, [x, y]);
        splits += 1;
        assert!(splits < 200, "splitting ends");
    }
    assert!(parts.len() > 8, "{} parts", parts.len());
    assert_eq!(parts.first().map(|p| p.band.lo), Some(None));
    assert_eq!(parts.last().map(|p| p.band.hi), Some(None));
    for pair in parts.windows(2) {
        assert_eq!(pair[0].band.hi, pair[1].band.lo, "bands tile the axis");
        assert!(pair[0].key() < pair[1].key());
    }
    for p in &parts {
        if let (Some(lo), Some(hi)) = (p.band.lo, p.band.hi) {
            assert!(hi - lo >= MIN_DAY_WINDOW, "{p:?}");
            assert_eq!(hi % DAY, 0, "cut at midnight");
        }
    }
    // A narrow band does not cut; a whole window without any sample neither.
    let narrow = Part {
        window,
        band: Band {
            lo: Some(500 * DAY),
            hi: Some(520 * DAY),
        },
    };
    assert_eq!(narrow.split(g, MIN_DAY_WINDOW, &created), None);
    assert_eq!(Part::whole(window).split(g, MIN_DAY_WINDOW, &[]), None);
    // A window that can still be cut in time is cut in time.
    let wide = Window {
        lo: 0,
        hi: 60 * DAY,
    };
    let (_, _, axis) = Part::whole(wide)
        .split(g, MIN_DAY_WINDOW, &created)
        .expect("split");
    assert_eq!(axis, Axis::Time);
}

/// Contacts `(id, updated_at, created_at)`; answers a part's query as
/// contact search does (two days of overlap each side on both dates), newest
/// first, paged by offset; counts requests of parts with a band.
struct DayFake {
    records: Vec<(String, i64, i64)>,
    in_flight: AtomicUsize,
    banded_peak: AtomicUsize,
    banded_in_flight: AtomicUsize,
    banded_requests: AtomicUsize,
}

impl DayFake {
    /// A contact search over `records` (`(id, updated_at, created_at)`,
    /// sorted by `updated_at`), nothing counted yet.
    fn new(records: Vec<(String, i64, i64)>) -> DayFake {
        DayFake {
            records,
            in_flight: AtomicUsize::new(0),
            banded_peak: AtomicUsize::new(0),
            banded_in_flight: AtomicUsize::new(0),
            banded_requests: AtomicUsize::new(0),
        }
    }
}

/// Read `windows` of `fake`'s contact search with `parallel` readers,
/// windows split over `split_rows` rows, pages of `per_page`, a checkpoint
/// after every window, parts cut by `created_at` over `band_rows`: the
/// stats, what the sink saw, and the rows the cursor took.
async fn read_contact_windows(
    fake: &DayFake,
    windows: Vec<Window>,
    (parallel, split_rows, per_page): (usize, u64, u32),
    band_rows: u64,
) -> (ReadStats, Vec<Event>, u64) {
    let schedule = Schedule {
        parallel,
        ahead_pages: 8,
        spill: true,
        spill_dir: None,
        split_rows,
        per_page,
        checkpoint_every: Some(Duration::ZERO),
        budget: AheadBudget::new(usize::MAX / 2),
    };
    let client = client();
    let spec = SearchSpec {
        path: "contacts/search",
        filter: None,
        granularity: Granularity::Day,
        sort: None,
    };
    let anomalies = Anomalies::default();
    let reader = Reader {
        client: &client,
        spec: &spec,
        anomalies: &anomalies,
        min_day: MIN_DAY_WINDOW,
        searches: &Default::default(),
    };
    let sink = Recorder::default();
    let mut tracker = CursorTracker::new(None);
    let stats = read_windows_in_parts(
        &reader,
        fake,
        windows,
        &schedule,
        band_rows,
        &mut tracker,
        &sink,
    )
    .await
    .expect("read");
    let events = sink.0.into_inner().expect("lock");
    (stats, events, tracker.rows)
}

impl PageSource for DayFake {
    async fn window_page(
        &self,
        part: Part,
        per_page: u32,
        starting_after: Option<&str>,
    ) -> Result<RawPage> {
        let banded = !part.band.is_whole();
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        if banded {
            self.banded_requests.fetch_add(1, Ordering::SeqCst);
            let now = self.banded_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.banded_peak.fetch_max(now, Ordering::SeqCst);
        }
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if banded {
            self.banded_in_flight.fetch_sub(1, Ordering::SeqCst);
        }
        let w = part.window;
        let reach = |c: i64| {
            part.band.lo.is_none_or(|lo| c > lo - 2 * DAY)
                && part.band.hi.is_none_or(|hi| c < hi + 2 * DAY)
        };
        let inside: Vec<&(String, i64, i64)> = self
            .records
            .iter()
            .rev()
            .filter(|(_, u, c)| *u > w.lo - 2 * DAY && *u < w.hi + 2 * DAY && reach(*c))
            .collect();
        let start: usize = starting_after.map_or(Ok(0), str::parse).expect("offset");
        let end = (start + per_page as usize).min(inside.len());
        let data = inside[start..end]
            .iter()
            .map(|(id, u, c)| json!({"id": id, "updated_at": u, "created_at": c}))
            .collect();
        Ok(RawPage::from_page(Page {
            data,
            pages: Some(Pages {
                next: (end < inside.len()).then(|| json!({"starting_after": end.to_string()})),
            }),
            total_count: Some(inside.len() as u64),
        }))
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_dense_window_is_read_in_created_at_parts_at_once_exactly_once_checkpointed_after_its_last_part()
 {
    // An old window (60 days, 40 contacts) and the newest 14 days (600
    // contacts updated there, created over three years, some at midnight
    // and on the same second).
    let top = 2_000 * DAY;
    let dense = Window {
        lo: top - MIN_DAY_WINDOW,
        hi: top,
    };
    let old = Window {
        lo: dense.lo - 60 * DAY,
        hi: dense.lo,
    };
    let mut records: Vec<(String, i64, i64)> = (0..40)
        .map(|i| (format!("o{i}"), old.lo + 1 + i * DAY, old.lo - 500 * DAY))
        .collect();
    for i in 0..600i64 {
        let created = match i % 7 {
            0 => (900 + i) * DAY,     // at midnight
            1 => (900 + i) * DAY - 1, // a second before
            _ => 900 * DAY + i * 1_700 * 60 + i % 3,
        };
        let updated = dense.lo + 1 + (i * 1_999) % (MIN_DAY_WINDOW - 1);
        records.push((format!("d{i}"), updated, created.min(updated)));
    }
    records.sort_by_key(|r| r.1);
    let fake = DayFake::new(records.clone());
    let (stats, events, rows) =
        read_contact_windows(&fake, vec![old, dense], (6, 100, 25), 100).await;
    assert!(
        stats.created_splits >= 3,
        "the dense window was cut by created_at: {stats:?}"
    );
    assert!(fake.banded_requests.load(Ordering::SeqCst) > 0);
    assert!(
        fake.banded_peak.load(Ordering::SeqCst) > 1,
        "parts were read side by side"
    );
    let mut sent: Vec<(String, i64)> = Vec::new();
    let mut checkpoints = Vec::new();
    for e in &events {
        match e {
            Event::Rows(rows) => sent.extend(rows.iter().cloned()),
            Event::Checkpoint(c) => checkpoints.push((sent.len(), c.clone())),
        }
    }
    let mut got = sent.clone();
    got.sort();
    let mut want: Vec<(String, i64)> = records.iter().map(|(i, u, _)| (i.clone(), *u)).collect();
    want.sort();
    assert_eq!(got, want, "every record exactly once");
    assert_eq!(rows, records.len() as u64);
    // The old window first, whole, then the dense one's parts.
    assert!(sent[..40].iter().all(|(id, _)| id.starts_with('o')));
    // Checkpoints after the old window (cut in time, as it reaches into the
    // dense one's days) and none after a part of the dense window (the last
    // window: no checkpoint after it either).
    assert!(!checkpoints.is_empty());
    for (n, c) in &checkpoints {
        assert!(*n <= 40 && c.updated_at <= old.hi, "{checkpoints:?}");
    }
    assert_eq!(checkpoints.last().map(|c| c.0), Some(40));
}

#[tokio::test(flavor = "current_thread")]
async fn parts_of_a_window_never_checkpoint_before_its_last_part() {
    // Two dense windows: a checkpoint may follow only the first one's last
    // part, so exactly one, covering exactly the first window.
    let top = 3_000 * DAY;
    let second = Window {
        lo: top - MIN_DAY_WINDOW,
        hi: top,
    };
    let first = Window {
        lo: second.lo - MIN_DAY_WINDOW,
        hi: second.lo,
    };
    let mut records: Vec<(String, i64, i64)> = Vec::new();
    for (w, tag) in [(first, "a"), (second, "b")] {
        for i in 0..300i64 {
            let updated = w.lo + 1 + (i * 3_989) % (MIN_DAY_WINDOW - 1);
            records.push((format!("{tag}{i}"), updated, 1_000 * DAY + i * 3 * DAY));
        }
    }
    records.sort_by_key(|r| r.1);
    let fake = DayFake::new(records.clone());
    let (stats, events, _) =
        read_contact_windows(&fake, vec![first, second], (4, 120, 30), 120).await;
    assert!(stats.created_splits >= 2, "{stats:?}");
    let mut sent = 0;
    let mut checkpoints = Vec::new();
    for e in &events {
        match e {
            Event::Rows(rows) => sent += rows.len(),
            Event::Checkpoint(c) => checkpoints.push((sent, c.updated_at)),
        }
    }
    assert_eq!(sent, 600);
    assert_eq!(
        checkpoints.len(),
        1,
        "only after the first window's last part: {checkpoints:?}"
    );
    let newest_first = records
        .iter()
        .filter(|r| first.contains(r.1))
        .map(|r| r.1)
        .max();
    assert_eq!(checkpoints[0], (300, newest_first.expect("records")));

    // Under `band_rows` (one reader's share) a window is paged deeper, not
    // cut by `created_at`.
    let (stats, _, rows) =
        read_contact_windows(&fake, vec![first, second], (4, 120, 30), 400).await;
    assert_eq!(stats.created_splits, 0, "{stats:?}");
    assert_eq!(rows, 600);
}
