//! Tests of [`super`]: single flight, eviction by bytes, keys.

use std::sync::atomic::{AtomicU64, Ordering};

use super::*;

/// A page of `n` bytes naming `id`.
fn page(id: &str, n: usize) -> SharedPage {
    let head = format!("{{\"id\":\"{id}\",\"pad\":\"");
    let pad = "x".repeat(n.saturating_sub(head.len() + 2));
    Arc::new(RawValue::from_string(format!("{head}{pad}\"}}")).expect("JSON"))
}

fn key(body: &str) -> Key {
    (1, "conversations/search", body.to_string())
}

/// Ask the store for `key`, answering `answer` (and counting the call)
/// when the store has nothing for it.
async fn ask(
    store: &SharedSearch,
    key: Key,
    calls: &AtomicU64,
    answer: SharedPage,
) -> Result<SharedPage, String> {
    store
        .get_or_fetch(key, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(answer)
        })
        .await
}

#[tokio::test]
async fn two_reports_asking_at_once_make_one_call_and_a_later_one_none() {
    let store = SharedSearch::default();
    let sent = AtomicU64::new(0);
    let (release, hold) = tokio::sync::oneshot::channel::<()>();
    let first = store.get_or_fetch(key("a"), || async {
        sent.fetch_add(1, Ordering::SeqCst);
        hold.await.ok();
        Ok::<_, String>(page("first", 100))
    });
    let second = store.get_or_fetch(key("a"), || async {
        sent.fetch_add(1, Ordering::SeqCst);
        Ok::<_, String>(page("second", 100))
    });
    let (x, y, ()) = tokio::join!(first, second, async {
        // Both asks are waiting (the first in its call) before it answers.
        tokio::task::yield_now().await;
        release.send(()).ok();
    });
    let (x, y) = (x.expect("first"), y.expect("second"));
    assert_eq!(sent.load(Ordering::SeqCst), 1, "one call for both");
    assert!(x.get().contains("first"), "{}", x.get());
    assert_eq!(x.get(), y.get(), "the second got the first one's answer");
    assert_eq!(store.kept_bytes(), 100);
    // A later ask of the same body: the kept answer, no call.
    let calls = AtomicU64::new(0);
    let z = ask(&store, key("a"), &calls, page("third", 100))
        .await
        .expect("third");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(z.get(), x.get());
}

#[tokio::test]
async fn another_body_path_or_workspace_is_another_call() {
    let store = SharedSearch::default();
    let calls = AtomicU64::new(0);
    let a = ask(&store, key("{\"per_page\":150}"), &calls, page("a", 50))
        .await
        .expect("a");
    let b = ask(&store, key("{\"per_page\":149}"), &calls, page("b", 50))
        .await
        .expect("b");
    let other_path = (1, "tickets/search", "{\"per_page\":150}".to_string());
    let c = ask(&store, other_path, &calls, page("c", 50))
        .await
        .expect("c");
    let other_workspace = (2, "conversations/search", "{\"per_page\":150}".to_string());
    let d = ask(&store, other_workspace, &calls, page("d", 50))
        .await
        .expect("d");
    assert_eq!(calls.load(Ordering::SeqCst), 4, "four keys, four calls");
    for (got, id) in [(a, "a"), (b, "b"), (c, "c"), (d, "d")] {
        assert!(got.get().contains(&format!("\"{id}\"")), "{}", got.get());
    }
    assert_eq!(store.kept_bytes(), 200);
}

#[tokio::test]
async fn the_least_recently_used_page_goes_when_the_bytes_pass_the_budget() {
    let store = SharedSearch::with_budget(250);
    let calls = AtomicU64::new(0);
    for body in ["a", "b"] {
        ask(&store, key(body), &calls, page(body, 100))
            .await
            .expect("kept");
    }
    // "a" used again: "b" is now the least recently used.
    ask(&store, key("a"), &calls, page("x", 100))
        .await
        .expect("a");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    ask(&store, key("c"), &calls, page("c", 100))
        .await
        .expect("c");
    assert_eq!(store.kept_bytes(), 200, "b dropped to fit 250 bytes");
    // "a" and "c" are still kept; "b" is asked again.
    for body in ["a", "c"] {
        ask(&store, key(body), &calls, page("x", 100))
            .await
            .expect("kept");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let b = ask(&store, key("b"), &calls, page("b again", 100))
        .await
        .expect("b");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        4,
        "a dropped page is asked again"
    );
    assert!(b.get().contains("b again"));
    // A page larger than the whole budget is answered, not kept.
    let big = ask(&store, key("big"), &calls, page("big", 400))
        .await
        .expect("big");
    assert_eq!(big.get().len(), 400);
    assert!(store.kept_bytes() <= 250, "{}", store.kept_bytes());
    ask(&store, key("big"), &calls, page("big", 400))
        .await
        .expect("big");
    assert_eq!(calls.load(Ordering::SeqCst), 6);
}

#[tokio::test]
async fn a_failed_call_is_not_kept_the_next_ask_calls_again() {
    let store = SharedSearch::default();
    let calls = AtomicU64::new(0);
    let failed: Result<SharedPage, String> = store
        .get_or_fetch(key("a"), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err("503".to_string())
        })
        .await;
    assert_eq!(failed.expect_err("failed"), "503");
    assert_eq!(store.kept_bytes(), 0);
    let ok = ask(&store, key("a"), &calls, page("a", 60))
        .await
        .expect("a");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(ok.get().contains("\"a\""));
    assert_eq!(store.kept_bytes(), 60);
}

#[test]
fn a_clients_clones_share_its_workspace_key_another_client_does_not() {
    let a = crate::http::test_client("http://127.0.0.1:9", 4);
    let b = crate::http::test_client("http://127.0.0.1:9", 4);
    assert_eq!(a.workspace_key(), a.clone().workspace_key());
    assert_eq!(a.workspace_key(), a.counted().workspace_key());
    assert_ne!(
        a.workspace_key(),
        b.workspace_key(),
        "same URL, another client"
    );
}

/// The files in `dir` (the store's named temporary file, if any).
fn files_in(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

#[tokio::test]
async fn pages_past_the_memory_budget_are_read_back_from_disk_not_asked_again() {
    let dir = tempfile::tempdir().expect("dir");
    // Room for two 100-byte pages in memory; ten are kept.
    let store = SharedSearch::with_budgets(250, 1 << 20, Some(dir.path().to_path_buf()));
    let calls = AtomicU64::new(0);
    let bodies: Vec<String> = (0..10).map(|i| format!("body {i}")).collect();
    for body in &bodies {
        ask(&store, key(body), &calls, page(body, 100))
            .await
            .expect("kept");
        assert!(store.kept_bytes() <= 250, "{}", store.kept_bytes());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 10);
    assert_eq!(store.kept_bytes(), 200, "two in memory");
    assert_eq!(store.disk_bytes(), 800, "eight on disk");
    let on_disk = files_in(dir.path());
    assert_eq!(on_disk.len(), 1, "one file: {on_disk:?}");
    assert!(on_disk[0].starts_with("intercom-export-searches-"));
    // Every page again, twice (a page read back stays on disk), oldest
    // first: each the answer it had, none asked for again, the memory
    // still within its budget.
    for _ in 0..2 {
        for body in &bodies {
            let got = ask(&store, key(body), &calls, page("asked again", 100))
                .await
                .expect("kept");
            assert!(got.get().contains(&format!("\"{body}\"")), "{}", got.get());
            assert_eq!(got.get().len(), 100);
        }
    }
    assert_eq!(calls.load(Ordering::SeqCst), 10, "no page asked twice");
    assert!(store.kept_bytes() <= 250);
    assert_eq!(store.disk_bytes(), 800, "nothing written twice");
    // The run's store goes (every clone): its file with it.
    let clone = store.clone();
    drop(store);
    assert_eq!(files_in(dir.path()).len(), 1, "a clone still holds it");
    drop(clone);
    assert!(
        files_in(dir.path()).is_empty(),
        "{:?}",
        files_in(dir.path())
    );
}

#[tokio::test]
async fn past_the_disk_budget_a_page_leaving_memory_is_dropped_and_asked_again() {
    let dir = tempfile::tempdir().expect("dir");
    // One 100-byte page in memory, two on disk.
    let store = SharedSearch::with_budgets(150, 200, Some(dir.path().to_path_buf()));
    let calls = AtomicU64::new(0);
    for body in ["a", "b", "c", "d"] {
        ask(&store, key(body), &calls, page(body, 100))
            .await
            .expect("kept");
    }
    assert_eq!(store.disk_bytes(), 200, "a and b on disk; c dropped");
    for body in ["a", "b", "d"] {
        ask(&store, key(body), &calls, page("again", 100))
            .await
            .expect("kept");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4, "a, b, d kept");
    let c = ask(&store, key("c"), &calls, page("c again", 100))
        .await
        .expect("c");
    assert!(c.get().contains("c again"));
    assert_eq!(calls.load(Ordering::SeqCst), 5, "c asked again");
}

#[tokio::test]
async fn contact_pages_stay_within_their_memory_bound_and_never_go_to_disk() {
    let dir = tempfile::tempdir().expect("dir");
    let store = SharedSearch::with_budgets(BUDGET_BYTES, 1 << 30, Some(dir.path().to_path_buf()));
    let calls = AtomicU64::new(0);
    let contact = |body: &str| (1, "contacts/search", body.to_string());
    let size = 400 * 1024;
    for body in ["a", "b", "c", "d", "e"] {
        ask(&store, contact(body), &calls, page(body, size))
            .await
            .expect("kept");
        assert!(
            store.kept_bytes() <= MEMORY_ONLY_BYTES,
            "{}",
            store.kept_bytes()
        );
    }
    assert_eq!(store.kept_bytes(), 2 * size, "the two newest");
    assert_eq!(store.disk_bytes(), 0);
    assert!(files_in(dir.path()).is_empty(), "no file for contact pages");
    // The newest are shared, the older ones asked again.
    for body in ["d", "e"] {
        ask(&store, contact(body), &calls, page("again", size))
            .await
            .expect("kept");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    let a = ask(&store, contact("a"), &calls, page("a again", size))
        .await
        .expect("a");
    assert!(a.get().contains("a again"));
    assert_eq!(calls.load(Ordering::SeqCst), 6);
    // Conversation pages beside them still have the rest of the budget.
    for body in ["x", "y", "z"] {
        ask(&store, key(body), &calls, page(body, size))
            .await
            .expect("kept");
    }
    assert_eq!(store.kept_bytes(), 5 * size);
}

#[test]
fn a_search_two_reports_of_the_run_read_is_planned_alike_one_alone_is_not() {
    let conversations = "conversations/search";
    let tickets = "tickets/search";
    let alone = SharedSearch::for_run(["conversations", "users"]);
    assert!(!alone.plans_alike(conversations));
    assert!(!alone.plans_alike(tickets));
    let two = SharedSearch::for_run(["conversations", "conversation_tags"]);
    assert!(two.plans_alike(conversations));
    assert!(!two.plans_alike(tickets));
    // `lifecycle_events` reads both searches.
    let both = SharedSearch::for_run(["tickets", "lifecycle_events"]);
    assert!(both.plans_alike(tickets));
    assert!(!both.plans_alike(conversations));
    // Reports not known (tests, the tap): every shared search.
    assert!(SharedSearch::default().plans_alike(conversations));
}
