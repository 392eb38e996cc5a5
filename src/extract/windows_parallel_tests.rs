//! Unit tests of the ordered parallel window reader, on a fake page source
//! that answers older windows slowest (so windows ahead of the head finish
//! first) and a sink that records what it was handed.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::json;

use super::*;
use crate::anomalies::{Anomalies, AnomalyKind};
use crate::api::{Page, Pages};
use crate::extract::cursor::SearchCursor;
use crate::extract::search::{Granularity, MIN_DEGRADED_PER_PAGE, SearchSpec};
use crate::extract::window::plan_windows;
use crate::http::{HttpError, IntercomClient};

/// Records `(id, updated_at)`, newest first, paged by offset; each answer yields to the
/// runtime more times the older its window, and one page may fail once.
struct Fake {
    records: Vec<(String, i64)>,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    /// Fail (HTTP `fail_status`) the first non-first page of the window
    /// holding this instant, once.
    fail_at: Option<i64>,
    fail_status: u16,
    failed: AtomicBool,
    /// Hold the non-first pages of the window holding this instant (the
    /// head: a slow window) until this many other windows served their
    /// last page.
    gate: Option<(i64, usize)>,
    /// Windows, other than the gated one, whose last page was served.
    finished: AtomicUsize,
    /// A directory whose files are counted at every page request.
    watch: Option<std::path::PathBuf>,
    peak_files: AtomicUsize,
}

impl Fake {
    fn new(records: Vec<(String, i64)>, fail_at: Option<i64>) -> Fake {
        Fake {
            records,
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            fail_at,
            fail_status: 500,
            failed: AtomicBool::new(false),
            gate: None,
            finished: AtomicUsize::new(0),
            watch: None,
            peak_files: AtomicUsize::new(0),
        }
    }

    fn count_files(&self) {
        if let Some(dir) = &self.watch {
            let n = std::fs::read_dir(dir).expect("watched dir").count();
            self.peak_files.fetch_max(n, Ordering::SeqCst);
        }
    }
}

impl PageSource for Fake {
    async fn window_page(
        &self,
        part: Part,
        per_page: u32,
        starting_after: Option<&str>,
    ) -> Result<RawPage> {
        let window = part.window;
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        // Older windows answer later.
        let newest = self.records.last().map_or(0, |r| r.1);
        for _ in 0..(newest - window.lo).max(0) / 50 {
            tokio::task::yield_now().await;
        }
        self.count_files();
        let gated = self.gate.filter(|(t, _)| window.contains(*t));
        if let Some((_, others)) = gated
            && starting_after.is_some()
        {
            while self.finished.load(Ordering::SeqCst) < others {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            self.count_files();
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if starting_after.is_some()
            && self.fail_at.is_some_and(|t| window.contains(t))
            && !self.failed.swap(true, Ordering::SeqCst)
        {
            return Err(Error::Http(HttpError::Status {
                endpoint: "POST /conversations/search".into(),
                status: self.fail_status,
                code: "server_error".into(),
                message: "injected".into(),
                retry_after: None,
                canonical: None,
            }));
        }
        // Newest first, as contact windows are sorted.
        let inside: Vec<&(String, i64)> = self
            .records
            .iter()
            .rev()
            .filter(|(_, t)| window.contains(*t))
            .collect();
        let start: usize = starting_after.map_or(Ok(0), str::parse).expect("offset");
        let end = (start + per_page as usize).min(inside.len());
        if end == inside.len() && gated.is_none() {
            self.finished.fetch_add(1, Ordering::SeqCst);
        }
        let data = inside[start..end]
            .iter()
            .map(|(id, t)| json!({"id": id, "updated_at": t}))
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

#[derive(Debug)]
enum Event {
    Rows(Vec<(String, i64)>),
    Checkpoint(SearchCursor),
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Event>>);

impl Sink for Recorder {
    async fn rows(&self, rows: Vec<Value>) -> Result<()> {
        let ids = rows
            .iter()
            .map(|r| identity("test", r).map(|(id, t)| (id.to_string(), t)))
            .collect::<Result<_>>()?;
        self.0.lock().expect("lock").push(Event::Rows(ids));
        Ok(())
    }

    async fn checkpoint(&self, cursor: &SearchCursor) -> Result<()> {
        self.0
            .lock()
            .expect("lock")
            .push(Event::Checkpoint(cursor.clone()));
        Ok(())
    }
}

/// 300 records, two a second at every third second (same-second pairs).
fn records() -> Vec<(String, i64)> {
    (0..300)
        .map(|i| (format!("c{i}"), 1_000 + (i / 2) * 3))
        .collect()
}

fn client() -> IntercomClient {
    IntercomClient::new(crate::http::ClientConfig {
        base_url: "http://127.0.0.1:9".parse().expect("url"),
        intercom_version: "2.16".into(),
        token: crate::secret::AccessToken::new("t".to_string()).expect("token"),
        request_timeout: Duration::from_secs(1),
        max_retries: 0,
        max_retry_time: Duration::from_secs(1),
        max_requests_per_minute: None,
        max_in_flight: 16,
    })
    .expect("client")
}

/// Read `records()` in `n` windows with `schedule`; the sink's events and
/// the read's stats.
async fn run(
    n: u64,
    schedule: &Schedule,
    fake: &Fake,
    anomalies: &Anomalies,
) -> (Vec<Event>, ReadStats) {
    let (events, stats, rows) = try_run(n, schedule, fake, anomalies).await.expect("read");
    assert_eq!(rows, fake.records.len() as u64);
    (events, stats)
}

/// [`run`], or its error: the events, the stats and the rows accepted.
async fn try_run(
    n: u64,
    schedule: &Schedule,
    fake: &Fake,
    anomalies: &Anomalies,
) -> Result<(Vec<Event>, ReadStats, u64)> {
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
        anomalies,
        min_day: crate::extract::window::MIN_DAY_WINDOW,
        searches: &Default::default(),
    };
    let newest = fake.records.last().map_or(0, |r| r.1);
    let windows = plan_windows(999, newest, n, Granularity::Second);
    let sink = Recorder::default();
    let mut tracker = CursorTracker::new(None);
    let stats = read_windows(&reader, fake, windows, schedule, &mut tracker, &sink).await?;
    Ok((sink.0.into_inner().expect("lock"), stats, tracker.rows))
}

/// Every record once; the rows in time-window order (`cuts`: the planned
/// windows' upper bounds); every checkpoint's cursor covering exactly the
/// rows sent before it, and those being every record up to it (a rerun from
/// it loses nothing and repeats nothing). The number of checkpoints.
fn assert_ordered_exactly_once(events: &[Event], cuts: &[i64]) -> usize {
    let mut sent: Vec<(String, i64)> = Vec::new();
    let mut checkpoints = Vec::new();
    for e in events {
        match e {
            Event::Rows(rows) => sent.extend(rows.iter().cloned()),
            Event::Checkpoint(c) => checkpoints.push((sent.len(), c.clone())),
        }
    }
    let mut got = sent.clone();
    got.sort();
    let mut want = records();
    want.sort();
    assert_eq!(got, want, "every record exactly once");
    for (n, c) in &checkpoints {
        let (before, after) = sent.split_at(*n);
        let mut before = before.to_vec();
        before.sort();
        let upto: Vec<(String, i64)> = want
            .iter()
            .filter(|(_, t)| *t <= c.updated_at)
            .cloned()
            .collect();
        assert_eq!(
            before, upto,
            "checkpoint {}: every row up to it, only those",
            c.updated_at
        );
        assert!(after.iter().all(|(_, t)| *t > c.updated_at));
        let at: Vec<&String> = upto
            .iter()
            .filter(|(_, t)| *t == c.updated_at)
            .map(|(id, _)| id)
            .collect();
        let mut ids_at: Vec<&String> = c.ids_at.iter().collect();
        ids_at.sort();
        let mut at = at;
        at.sort();
        assert_eq!(at, ids_at, "ids at the cursor");
    }
    let window_of = |t: i64| cuts.iter().position(|cut| t <= *cut).expect("in a window");
    let order: Vec<usize> = sent.iter().map(|(_, t)| window_of(*t)).collect();
    assert!(
        order.windows(2).all(|w| w[0] <= w[1]),
        "rows reach the sink window after window: {order:?}"
    );
    checkpoints.len()
}

#[tokio::test(flavor = "current_thread")]
async fn windows_read_at_once_arrive_in_order_with_prefix_checkpoints_under_the_budget() {
    for (parallel, ahead_pages) in [(1, 0), (3, 2), (6, 10), (16, 4)] {
        let fake = Fake::new(records(), None);
        let schedule = Schedule {
            parallel,
            ahead_pages,
            spill: true,
            spill_dir: None,
            split_rows: 10_000,
            per_page: 5,
            checkpoint_every: Some(Duration::ZERO),
            budget: AheadBudget::new(usize::MAX / 2),
        };
        let anomalies = Anomalies::default();
        let (events, stats) = run(12, &schedule, &fake, &anomalies).await;
        let cuts: Vec<i64> = plan_windows(999, 1_447, 12, Granularity::Second)
            .iter()
            .map(|w| w.hi)
            .collect();
        let checkpoints = assert_ordered_exactly_once(&events, &cuts);
        assert_eq!(
            checkpoints,
            cuts.len() - 1,
            "{parallel}: one after every window but the last"
        );
        assert!(
            stats.peak_ahead_pages <= ahead_pages,
            "{parallel}: {} pages held ahead, budget {ahead_pages}",
            stats.peak_ahead_pages
        );
        let peak = fake.peak.load(Ordering::SeqCst);
        assert!(peak <= parallel, "{parallel}: {peak} requests in flight");
        if parallel == 1 {
            assert_eq!(stats.peak_ahead_pages, 0, "one at a time holds nothing");
        } else {
            assert!(peak > 1, "{parallel}: windows were read at once");
            assert!(
                stats.peak_ahead_pages > 0,
                "{parallel}: windows ahead held pages"
            );
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn split_and_failing_windows_keep_their_place_in_the_order() {
    // Windows over 12 rows split; one window's second page fails at the
    // smallest page size, so it is split and its halves skip what it kept.
    let fake = Fake::new(records(), Some(1_200));
    let schedule = Schedule {
        parallel: 5,
        ahead_pages: 8,
        spill: true,
        spill_dir: None,
        split_rows: 30,
        per_page: MIN_DEGRADED_PER_PAGE,
        checkpoint_every: Some(Duration::ZERO),
        budget: AheadBudget::new(usize::MAX / 2),
    };
    let anomalies = Anomalies::default();
    let (events, stats) = run(3, &schedule, &fake, &anomalies).await;
    assert!(
        fake.failed.load(Ordering::SeqCst),
        "the failure was injected"
    );
    assert_eq!(anomalies.count(AnomalyKind::DegradedWindow), 1);
    let cuts: Vec<i64> = plan_windows(999, 1_447, 3, Granularity::Second)
        .iter()
        .map(|w| w.hi)
        .collect();
    let checkpoints = assert_ordered_exactly_once(&events, &cuts);
    assert!(
        checkpoints > 3,
        "{checkpoints} checkpoints: split windows checkpoint too"
    );
    assert!(stats.peak_ahead_pages <= 8);
}

/// The planned windows' upper bounds for `n` windows over `records()`.
fn cuts(n: u64) -> Vec<i64> {
    plan_windows(999, 1_447, n, Granularity::Second)
        .iter()
        .map(|w| w.hi)
        .collect()
}

/// A fake whose head (oldest) window holds its second page until every
/// other of the `n` windows served its last page; files in `dir` counted.
fn slow_head(n: u64, dir: &std::path::Path) -> Fake {
    let mut fake = Fake::new(records(), None);
    fake.gate = Some((1_000, cuts(n).len() - 1));
    fake.watch = Some(dir.to_path_buf());
    fake
}

/// A schedule of `parallel` readers with one page of memory ahead, pages
/// past it spilled into `dir`.
fn spilling(parallel: usize, dir: &std::path::Path) -> Schedule {
    Schedule {
        parallel,
        ahead_pages: 1,
        spill: true,
        spill_dir: Some(dir.to_path_buf()),
        split_rows: 10_000,
        per_page: 5,
        checkpoint_every: Some(Duration::ZERO),
        budget: AheadBudget::new(usize::MAX / 2),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn windows_ahead_read_to_their_end_past_the_memory_budget_while_the_head_is_slow() {
    // 8 windows of ~8 pages, 4 readers, 1 page of memory ahead: the head
    // answers its second page only once the 7 others are read to the end,
    // which they can only do by spilling.
    let dir = tempfile::tempdir().expect("dir");
    let fake = slow_head(8, dir.path());
    let schedule = spilling(4, dir.path());
    let anomalies = Anomalies::default();
    let (events, stats) = tokio::time::timeout(
        Duration::from_secs(60),
        run(8, &schedule, &fake, &anomalies),
    )
    .await
    .expect("windows ahead waited for the slow head");
    assert_eq!(
        fake.finished.load(Ordering::SeqCst),
        7,
        "every other window read to its end"
    );
    assert_eq!(
        fake.peak.load(Ordering::SeqCst),
        4,
        "as many requests in flight as readers, the slow head's included"
    );
    assert!(
        stats.peak_ahead_pages <= 1,
        "{} pages in memory ahead, budget 1",
        stats.peak_ahead_pages
    );
    // 300 records, 5 a page: 60 pages with the head's; all but the head's
    // and one in memory went to disk, and each came back once, in order.
    assert!(
        stats.spilled_pages >= 40,
        "{} pages spilled",
        stats.spilled_pages
    );
    assert!(stats.peak_spilled_pages >= 40);
    assert!(
        fake.peak_files.load(Ordering::SeqCst) >= 6,
        "a file per window ahead: {}",
        fake.peak_files.load(Ordering::SeqCst)
    );
    let checkpoints = assert_ordered_exactly_once(&events, &cuts(8));
    assert_eq!(
        checkpoints,
        cuts(8).len() - 1,
        "one after every window but the last"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("ls").count(),
        0,
        "every spill file removed once replayed"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn spill_files_are_removed_when_the_read_fails_midway() {
    // The slow head's second page fails for good (403) once every window
    // ahead has spilled its pages.
    let dir = tempfile::tempdir().expect("dir");
    let mut fake = slow_head(8, dir.path());
    fake.fail_at = Some(1_000);
    fake.fail_status = 403;
    let anomalies = Anomalies::default();
    let read = tokio::time::timeout(
        Duration::from_secs(60),
        try_run(8, &spilling(4, dir.path()), &fake, &anomalies),
    )
    .await
    .expect("not stuck");
    let Err(e) = read else {
        panic!("the read went on past a 403")
    };
    assert!(e.to_string().contains("403"), "{e}");
    assert!(
        fake.peak_files.load(Ordering::SeqCst) >= 6,
        "windows ahead had spilled: {}",
        fake.peak_files.load(Ordering::SeqCst)
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("ls").count(),
        0,
        "no spill file left after the error"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn without_a_usable_spill_directory_windows_ahead_wait_and_every_row_arrives_once() {
    let dir = tempfile::tempdir().expect("dir");
    let missing = dir.path().join("missing");
    let fake = Fake::new(records(), None);
    let anomalies = Anomalies::default();
    let (events, stats) = run(8, &spilling(4, &missing), &fake, &anomalies).await;
    assert_eq!(stats.spilled_pages, 0);
    // The budget, and the pages of the 3 requests in flight ahead when the
    // first write failed.
    assert!(
        stats.peak_ahead_pages <= 1 + 3,
        "{}",
        stats.peak_ahead_pages
    );
    assert_ordered_exactly_once(&events, &cuts(8));
}

// Windows ahead within a memory budget: of bytes, and without spilling.
#[path = "windows_ahead_tests.rs"]
mod ahead;

// Windows cut by `created_at` (parts), with the same sink and client.
#[path = "windows_band_tests.rs"]
mod band;
