//! Windows read ahead within their memory budget: the process's byte
//! budget ([`AheadBudget`]) and a fan-out's parents, which never spill.

use super::*;

#[tokio::test(flavor = "current_thread")]
async fn windows_ahead_ask_only_within_the_byte_budget_and_give_it_all_back() {
    // A page of the fake: 5 records of the longest ids (the guess a request
    // takes); a budget of two such pages, nothing spilled (10 pages may wait
    // in memory): at most two requests or pages ahead at once, the head's
    // besides.
    let page: Vec<RawRecord> = (0..5)
        .filter_map(|_| {
            serde_json::value::to_raw_value(&json!({"id": "c299", "updated_at": 1_447})).ok()
        })
        .collect();
    let page = crate::extract::ahead::page_bytes(&page);
    for (budget_pages, parallel) in [(2, 6), (1, 16)] {
        let budget = AheadBudget::new(budget_pages * page);
        budget.saw_page(page);
        let fake = Fake::new(records(), None);
        let schedule = Schedule {
            parallel,
            ahead_pages: 10,
            spill: true,
            spill_dir: None,
            split_rows: 10_000,
            per_page: 5,
            checkpoint_every: Some(Duration::ZERO),
            budget: budget.clone(),
        };
        let anomalies = Anomalies::default();
        let (events, stats) = run(12, &schedule, &fake, &anomalies).await;
        assert_ordered_exactly_once(&events, &cuts(12));
        assert!(
            budget.peak() <= budget.total(),
            "{budget_pages} pages: {} bytes held ahead at once, budget {}",
            budget.peak(),
            budget.total()
        );
        assert!(budget.peak() >= page, "windows ahead did read ahead");
        assert_eq!(
            fake.peak.load(Ordering::SeqCst),
            1 + budget_pages,
            "the head's request and one per page of budget"
        );
        assert!(stats.budget_waits > 0, "windows ahead waited for room");
        assert_eq!(budget.used(), 0, "every page's room given back");
    }
}

/// A fan-out's parents (`spill: false`, see `fanout::ReadAhead`): windows
/// ahead of a slow head read ahead within the memory budget, never to
/// disk, and wait there; rows and checkpoints still come window by window.
#[tokio::test(flavor = "current_thread")]
async fn without_spilling_windows_ahead_read_within_their_memory_budget_and_wait() {
    // (windows at once, pages ahead, head waits for a window ahead to end)
    for (parallel, ahead_pages, gated) in [(2, 8, true), (6, 3, false), (6, 8, false)] {
        let dir = tempfile::tempdir().expect("dir");
        let mut fake = Fake::new(records(), None);
        fake.watch = Some(dir.path().to_path_buf());
        if gated {
            // The head's second page waits for one other window's last
            // page: that window is read whole ahead of it.
            fake.gate = Some((1_000, 1));
        }
        let schedule = Schedule {
            parallel,
            ahead_pages,
            spill: false,
            spill_dir: Some(dir.path().to_path_buf()),
            split_rows: 10_000,
            per_page: 5,
            checkpoint_every: Some(Duration::ZERO),
            budget: AheadBudget::new(usize::MAX / 2),
        };
        let anomalies = Anomalies::default();
        let (events, stats) = run(12, &schedule, &fake, &anomalies).await;
        let checkpoints = assert_ordered_exactly_once(&events, &cuts(12));
        assert_eq!(
            checkpoints,
            cuts(12).len() - 1,
            "{parallel}: a checkpoint a window"
        );
        assert_eq!(stats.spilled_pages, 0, "{parallel}: nothing went to disk");
        assert_eq!(
            fake.peak_files.load(Ordering::SeqCst),
            0,
            "{parallel}: no spill file"
        );
        assert!(
            stats.peak_ahead_pages <= ahead_pages,
            "{parallel}: {} pages held ahead, budget {ahead_pages}",
            stats.peak_ahead_pages
        );
        assert!(stats.peak_in_flight >= 2, "{parallel}: {stats:?}");
        if gated {
            // 300 records, 5 a page, 12 windows: 5 pages a window.
            assert!(stats.peak_ahead_pages >= 5, "{stats:?}");
        }
    }
}

/// Issue #15: pages held ahead that fill their pool of the budget do not
/// hold requests back. With room for two pages held and four answers
/// arriving, and a head that waits until every other window is read, the
/// windows ahead keep four requests in flight (the arriving pool) beside
/// the head's while the pages past the held pool go to disk. (With the
/// room of requests taken from the pages' pool, as before, the windows
/// ahead stopped asking once two pages were held, and this head waited
/// for them for ever.)
#[tokio::test(flavor = "current_thread")]
async fn windows_ahead_keep_requests_in_flight_while_the_held_pages_fill_their_pool() {
    let page: Vec<RawRecord> = (0..5)
        .filter_map(|_| {
            serde_json::value::to_raw_value(&json!({"id": "c299", "updated_at": 1_447})).ok()
        })
        .collect();
    let page = crate::extract::ahead::page_bytes(&page);
    let budget = AheadBudget::with_arriving(2 * page, 4 * page);
    budget.saw_page(page);
    let dir = tempfile::tempdir().expect("dir");
    // The head's second page waits for the 7 other windows' last pages.
    let fake = slow_head(8, dir.path());
    let schedule = Schedule {
        parallel: 8,
        ahead_pages: 10,
        spill: true,
        spill_dir: Some(dir.path().to_path_buf()),
        split_rows: 10_000,
        per_page: 5,
        checkpoint_every: Some(Duration::ZERO),
        budget: budget.clone(),
    };
    let anomalies = Anomalies::default();
    let (events, stats) = tokio::time::timeout(
        Duration::from_secs(60),
        run(8, &schedule, &fake, &anomalies),
    )
    .await
    .expect("windows ahead kept reading while the held pages filled their pool");
    assert_ordered_exactly_once(&events, &cuts(8));
    assert_eq!(
        fake.peak.load(Ordering::SeqCst),
        1 + 4,
        "the head's request and one per page of the arriving pool"
    );
    assert!(
        budget.peak() <= budget.total(),
        "{} bytes held ahead at once, pool {}",
        budget.peak(),
        budget.total()
    );
    assert!(
        budget.peak() > budget.total() - page,
        "the held pool was full ({} of {})",
        budget.peak(),
        budget.total()
    );
    assert!(
        budget.arriving_peak() <= budget.arriving_total(),
        "{} bytes of answers awaited at once, pool {}",
        budget.arriving_peak(),
        budget.arriving_total()
    );
    assert!(
        stats.spilled_pages > 0,
        "pages past the held pool went to disk: {stats:?}"
    );
    assert_eq!(budget.used(), 0, "every page's room given back");
    assert_eq!(budget.arriving_used(), 0, "every request's room given back");
}

/// A sink whose first rows wait until `others` windows (besides the gated
/// one) were read to their end: a writer that is slow to take the first
/// page.
struct SlowSink<'a> {
    inner: Recorder,
    fake: &'a Fake,
    others: usize,
    waited: AtomicBool,
}

impl Sink for SlowSink<'_> {
    async fn rows(&self, rows: Vec<Value>) -> Result<()> {
        if !self.waited.swap(true, Ordering::SeqCst) {
            while self.fake.finished.load(Ordering::SeqCst) < self.others {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        self.inner.rows(rows).await
    }

    async fn checkpoint(&self, cursor: &SearchCursor) -> Result<()> {
        self.inner.checkpoint(cursor).await
    }
}

/// Issue #15: while the sink waits (its writer is slow), windows go on
/// asking for pages. The sink takes the head's first page only once the
/// 7 other windows are read to their end (each ~8 pages, past one page of
/// memory: to disk); every row still arrives once, in window order. (With
/// the delivery awaited inside the reading, no request was sent while the
/// sink waited, and this read never ended.)
#[tokio::test(flavor = "current_thread")]
async fn windows_keep_reading_while_the_sink_waits_for_its_writer() {
    let dir = tempfile::tempdir().expect("dir");
    let mut fake = Fake::new(records(), None);
    fake.watch = Some(dir.path().to_path_buf());
    let schedule = spilling(8, dir.path());
    let anomalies = Anomalies::default();
    let client = client();
    let spec = SearchSpec {
        path: "conversations/search",
        filter: None,
        granularity: Granularity::Second,
        sort: None,
    };
    let reader = Reader {
        client: &client,
        spec: &spec,
        anomalies: &anomalies,
        min_day: crate::extract::window::MIN_DAY_WINDOW,
        searches: &Default::default(),
    };
    let newest = fake.records.last().map_or(0, |r| r.1);
    let windows = plan_windows(999, newest, 8, Granularity::Second);
    let sink = SlowSink {
        inner: Recorder::default(),
        fake: &fake,
        others: 7,
        waited: AtomicBool::new(false),
    };
    let mut tracker = CursorTracker::new(None);
    let stats = tokio::time::timeout(
        Duration::from_secs(60),
        read_windows(&reader, &fake, windows, &schedule, &mut tracker, &sink),
    )
    .await
    .expect("windows kept reading while the sink waited")
    .expect("read");
    assert_eq!(tracker.rows, fake.records.len() as u64);
    let events = sink.inner.0.into_inner().expect("lock");
    assert_ordered_exactly_once(&events, &cuts(8));
    assert!(stats.spilled_pages > 0, "{stats:?}");
    assert!(
        fake.peak_files.load(Ordering::SeqCst) > 0,
        "pages waited on disk"
    );
}
