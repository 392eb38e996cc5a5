//! Tests of [`super`]: single flight, eviction, released claims, spilling.

use std::sync::atomic::{AtomicU64, Ordering};

use super::*;

const A: &str = "conversation_parts";
const B: &str = "lifecycle_events";
const C: &str = "part_attachments";

/// A body of `n` bytes naming `id`.
fn body(id: &str, n: usize) -> Body {
    let head = format!("{{\"id\":\"{id}\",\"pad\":\"");
    let pad = "x".repeat(n.saturating_sub(head.len() + 2));
    Body::from(format!("{head}{pad}\"}}"))
}

fn key(id: &str) -> Key {
    (id.to_string(), 100)
}

/// A fetch that counts its calls and answers `answer`.
fn counting(
    calls: &AtomicU64,
    answer: Result<Body, HttpError>,
) -> impl FnOnce() -> std::future::Ready<Result<Body, HttpError>> + '_ {
    move || {
        calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(answer)
    }
}

fn status(code: u16) -> HttpError {
    HttpError::Status {
        endpoint: "GET /conversations/1".into(),
        status: code,
        code: "x".into(),
        message: "m".into(),
        retry_after: None,
        canonical: None,
    }
}

#[tokio::test]
async fn two_askers_at_once_make_one_request_and_the_third_takes_the_kept_answer() {
    let store = SharedConversations::for_run([A, B, C]);
    let (a, b, c) = (store.claim(A), store.claim(B), store.claim(C));
    let sent = AtomicU64::new(0);
    let (release, hold) = tokio::sync::oneshot::channel::<()>();
    let first = a.get_or_fetch(key("1"), || async {
        sent.fetch_add(1, Ordering::SeqCst);
        hold.await.ok();
        Ok(body("1", 50))
    });
    let second = b.get_or_fetch(key("1"), || async {
        sent.fetch_add(1, Ordering::SeqCst);
        Ok(body("other", 50))
    });
    let (x, y, ()) = tokio::join!(first, second, async {
        tokio::task::yield_now().await;
        release.send(()).ok();
    });
    let (x, y) = (x.expect("a"), y.expect("b"));
    assert_eq!(sent.load(Ordering::SeqCst), 1, "one request for both");
    assert_eq!(x, body("1", 50));
    assert_eq!(x, y, "the second asker got the first one's answer");
    assert_eq!(store.stats().entries, 1, "kept for C");
    assert_eq!(store.stats().memory_bytes, 50);
    let z = c
        .get_or_fetch(key("1"), || async { Ok(body("other", 50)) })
        .await
        .expect("c");
    assert_eq!(z, x);
    let stats = store.stats();
    assert_eq!((stats.requests, stats.shared), (1, 2));
    assert_eq!(stats.entries, 0, "dropped once every consumer took it");
    assert_eq!(stats.memory_bytes, 0);
    // Another version of the conversation is another read.
    let calls = AtomicU64::new(0);
    a.get_or_fetch(("1".into(), 101), counting(&calls, Ok(body("1", 50))))
        .await
        .expect("newer");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn one_consumer_keeps_nothing_and_a_released_one_frees_what_waited_for_it() {
    let alone = SharedConversations::for_run([A]);
    let a = alone.claim(A);
    let calls = AtomicU64::new(0);
    a.get_or_fetch(key("1"), counting(&calls, Ok(body("1", 40))))
        .await
        .expect("a");
    assert_eq!(alone.stats().entries, 0, "nobody else to keep it for");

    let store = SharedConversations::for_run([A, B, C]);
    let (a, b, c) = (store.claim(A), store.claim(B), store.claim(C));
    for id in ["1", "2", "3"] {
        a.get_or_fetch(key(id), counting(&calls, Ok(body(id, 40))))
            .await
            .expect("a");
    }
    b.get_or_fetch(key("1"), counting(&calls, Ok(body("x", 40))))
        .await
        .expect("b");
    assert_eq!(store.stats().entries, 3, "1 for C; 2 and 3 for B and C");
    drop(c);
    assert_eq!(store.stats().entries, 2, "1 was kept only for C");
    store.release(B);
    assert_eq!(
        store.stats().entries,
        0,
        "nothing waits for an ended report"
    );
    assert_eq!(store.stats().memory_bytes, 0);
    // Asked after its release, it is not kept for anyone.
    drop(b);
    a.get_or_fetch(key("4"), counting(&calls, Ok(body("4", 40))))
        .await
        .expect("a");
    assert_eq!(store.stats().entries, 0);
}

#[tokio::test]
async fn past_the_memory_budget_bodies_go_to_disk_and_read_back_equal() {
    let store = SharedConversations::with_budgets([A, B], 100, 10_000);
    let (a, b) = (store.claim(A), store.claim(B));
    let calls = AtomicU64::new(0);
    let ids: Vec<String> = (0..5).map(|i| i.to_string()).collect();
    for id in &ids {
        a.get_or_fetch(key(id), counting(&calls, Ok(body(id, 60))))
            .await
            .expect("a");
    }
    let stats = store.stats();
    assert_eq!(stats.entries, 5);
    assert_eq!(stats.memory_bytes, 60, "one within the budget");
    assert_eq!(stats.spilled, 4, "the rest on disk");
    assert_eq!(stats.disk_bytes, 4 * 60);
    for id in &ids {
        let got = b
            .get_or_fetch(key(id), counting(&calls, Ok(body("wrong", 60))))
            .await
            .expect("b");
        assert_eq!(got, body(id, 60), "{id} read back as it was sent");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 5, "B's reads sent nothing");
    assert_eq!(store.stats().requests, 5);
    let stats = store.stats();
    assert_eq!(
        (stats.entries, stats.memory_bytes, stats.disk_bytes),
        (0, 0, 0)
    );

    // Past the disk budget too: not kept, the other consumer asks itself.
    let small = SharedConversations::with_budgets([A, B], 0, 100);
    let (a, b) = (small.claim(A), small.claim(B));
    for id in ["1", "2"] {
        a.get_or_fetch(key(id), || async move { Ok(body(id, 60)) })
            .await
            .expect("a");
    }
    assert_eq!(small.stats().entries, 1, "the second is past the budget");
    b.get_or_fetch(key("2"), || async { Ok(body("2", 60)) })
        .await
        .expect("b");
    assert_eq!(small.stats().requests, 3);
}

#[tokio::test]
async fn an_error_is_not_kept_but_a_gone_conversation_is() {
    let store = SharedConversations::for_run([A, B]);
    let (a, b) = (store.claim(A), store.claim(B));
    let e = a
        .get_or_fetch(key("1"), || async { Err(status(500)) })
        .await
        .expect_err("500");
    assert!(matches!(e, HttpError::Status { status: 500, .. }));
    assert_eq!(store.stats().entries, 0);
    let got = b
        .get_or_fetch(key("1"), || async { Ok(body("1", 30)) })
        .await
        .expect("b asks itself");
    assert_eq!(got, body("1", 30));
    assert_eq!(store.stats().requests, 2);
    // B's answer is kept for A, whose own read failed.
    let again = a
        .get_or_fetch(key("1"), || async { Err(status(500)) })
        .await
        .expect("kept for a");
    assert_eq!(again, got);
    assert_eq!(store.stats().entries, 0);

    a.get_or_fetch(key("2"), || async { Err(status(404)) })
        .await
        .expect_err("404");
    let e = b
        .get_or_fetch(key("2"), || async { Ok(body("2", 30)) })
        .await
        .expect_err("the kept 404");
    assert!(crate::Error::from(e).is_gone());
    assert_eq!(store.stats().requests, 3, "no request for the kept 404");
    assert_eq!(store.stats().entries, 0);
}

#[tokio::test]
async fn a_cancelled_asker_leaves_the_waiting_one_to_ask_itself() {
    let store = SharedConversations::for_run([A, B]);
    let (a, b) = (store.claim(A), store.claim(B));
    let mut first = Box::pin(a.get_or_fetch(key("1"), std::future::pending));
    assert!(futures::poll!(first.as_mut()).is_pending(), "in flight");
    let mut second = Box::pin(b.get_or_fetch(key("1"), || async { Ok(body("1", 20)) }));
    assert!(
        futures::poll!(second.as_mut()).is_pending(),
        "waiting for it"
    );
    drop(first);
    let got = second.await.expect("b");
    assert_eq!(got, body("1", 20));
    assert_eq!(
        store.stats().requests,
        1,
        "the cancelled one never answered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_client_the_body_is_sent_once_and_is_what_intercom_sent() {
    let sim = crate::simulator::spawn(crate::simulator::SimConfig {
        contacts: 5,
        conversations: 2,
        parts: 2,
        companies: 1,
        ..Default::default()
    })
    .await
    .expect("simulator");
    let client = crate::http::test_client(&sim.base_url(), 4);
    let listed: serde_json::Value = client
        .post(
            "conversations/search",
            &serde_json::json!({"query": {"field": "updated_at", "operator": ">", "value": 0}}),
        )
        .await
        .expect("search");
    let first = &listed["conversations"][0];
    let id = first["id"].as_str().expect("id").to_string();
    let updated_at = first["updated_at"].as_i64().expect("updated_at");
    let direct: serde_json::Value = client
        .get(&format!("conversations/{id}"))
        .await
        .expect("direct");
    let store = SharedConversations::for_run([A, B]);
    let (a, b) = (store.claim(A), store.claim(B));
    let before = client.stats().requests;
    let (x, y) = tokio::join!(
        a.get(&client, &id, Some(updated_at)),
        b.get(&client, &id, Some(updated_at))
    );
    let (x, y) = (x.expect("a"), y.expect("b"));
    assert_eq!(client.stats().requests - before, 1, "one GET for both");
    assert_eq!(x, y);
    let decoded: serde_json::Value = serde_json::from_str(&x).expect("json");
    assert_eq!(decoded, direct, "the body as the API sends it");
    // A retried item (no search version) is read on its own.
    a.get(&client, &id, None).await.expect("retry");
    assert_eq!(client.stats().requests - before, 2);
    assert_eq!(store.stats().entries, 0);
}
