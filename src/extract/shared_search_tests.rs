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
