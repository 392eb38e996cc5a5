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
