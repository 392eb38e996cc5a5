//! Unit tests of the fan-out: concurrency, the failure rule, barriers at
//! checkpoints, retries and the "no item succeeded" rule.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;
use crate::http::HttpError;
use crate::reports::WriterMsg;

fn status(code: u16) -> Error {
    Error::Http(HttpError::Status {
        endpoint: "GET /x/1".into(),
        status: code,
        code: "x".into(),
        message: "x".into(),
        retry_after: None,
        canonical: None,
    })
}

fn job(i: u32) -> Job<u32> {
    Job {
        key: ItemKey::at(i.to_string(), 7),
        parent: i,
    }
}

/// Run a fan-out over `steps` and `retry`; everything the writer got, in order.
async fn run_with(
    steps: Vec<Step<u32>>,
    retry: Vec<Job<u32>>,
    concurrency: usize,
    fetch: impl Fn(u32) -> std::pin::Pin<Box<dyn Future<Output = Result<Vec<Value>>> + Send>>,
) -> (Result<FanOutOutcome>, Vec<WriterMsg>, Anomalies) {
    let (tx, mut rx) = mpsc::channel::<WriterMsg>(1);
    let collector = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Some(m) = rx.recv().await {
            got.push(m);
        }
        got
    });
    let anomalies = Anomalies::default();
    let progress = crate::telemetry::Progress::default();
    let out = {
        let pipe = WriterHandle {
            tx: &tx,
            progress: &progress,
        };
        let fan = FanOut {
            endpoint: "GET /x/{id}",
            concurrency,
            anomalies: &anomalies,
            out: &pipe,
        };
        fan.run(
            futures::stream::iter(steps.into_iter().map(Ok)),
            retry,
            fetch,
        )
        .await
    };
    drop(tx);
    (out, collector.await.expect("collector"), anomalies)
}

fn rows_of(msgs: &[WriterMsg]) -> Vec<u64> {
    msgs.iter()
        .flat_map(|m| match m {
            WriterMsg::Rows(r) => r.iter().filter_map(Value::as_u64).collect(),
            WriterMsg::Checkpoint(_) => Vec::new(),
        })
        .collect()
}

#[tokio::test]
async fn bounded_concurrency_every_item_once_failures_and_gone_counted() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (f, p) = (Arc::clone(&in_flight), Arc::clone(&peak));
    let (out, msgs, anomalies) = run_with(
        (0..100).map(|i| Step::Item(job(i))).collect(),
        Vec::new(),
        5,
        move |i| {
            let (f, p) = (Arc::clone(&f), Arc::clone(&p));
            Box::pin(async move {
                let now = f.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(u64::from(i % 3))).await;
                f.fetch_sub(1, Ordering::SeqCst);
                match i % 10 {
                    7 => Err(status(503)),
                    8 => Err(status(404)),
                    _ => Ok(vec![Value::from(i)]),
                }
            })
        },
    )
    .await;
    let out = out.expect("fan-out");
    let mut seen = rows_of(&msgs);
    seen.sort();
    let good: Vec<u64> = (0..100).filter(|i| i % 10 < 7 || i % 10 == 9).collect();
    assert_eq!(seen, good, "every good item exactly once");
    assert_eq!((out.fetched, out.gone, out.rows), (80, 10, 80));
    let mut failed: Vec<&str> = out.failed.iter().map(|f| f.id.as_str()).collect();
    failed.sort();
    assert_eq!(failed.len(), 10);
    assert!(
        failed.contains(&"17@7"),
        "failed under their key: {failed:?}"
    );
    assert_eq!(anomalies.count(AnomalyKind::FailedChild), 10);
    assert_eq!(anomalies.count(AnomalyKind::SkippedChild), 10);
    assert!(peak.load(Ordering::SeqCst) <= 5, "at most 5 in flight");
}

#[tokio::test]
async fn a_run_scoped_failure_stops_the_fanout() {
    let (out, _, _) = run_with(
        (0..10).map(|i| Step::Item(job(i))).collect(),
        Vec::new(),
        2,
        |i| {
            Box::pin(async move {
                if i == 3 {
                    Err(Error::Http(HttpError::Unauthorized {
                        code: "unauthorized".into(),
                        message: "Access Token Invalid".into(),
                        token_source: String::new(),
                    }))
                } else {
                    Ok(vec![Value::from(i)])
                }
            })
        },
    )
    .await;
    assert!(out.expect_err("401 ends it").is_unauthorized());
}

#[tokio::test]
async fn a_checkpoint_waits_for_the_items_before_it_and_carries_their_failures() {
    let mut steps: Vec<Step<u32>> = (0..10).map(|i| Step::Item(job(i))).collect();
    steps.push(Step::Checkpoint("c1".into()));
    steps.extend((10..20).map(|i| Step::Item(job(i))));
    let (out, msgs, _) = run_with(steps, Vec::new(), 4, |i| {
        Box::pin(async move {
            // Early items are slow: without a barrier later ones would overtake them.
            tokio::time::sleep(Duration::from_millis(if i < 10 { 20 } else { 1 })).await;
            if i == 3 || i == 15 {
                Err(status(500))
            } else {
                Ok(vec![Value::from(i)])
            }
        })
    })
    .await;
    let out = out.expect("fan-out");
    let at = msgs
        .iter()
        .position(|m| matches!(m, WriterMsg::Checkpoint(_)))
        .expect("a checkpoint");
    let mut before = rows_of(&msgs[..at]);
    before.sort();
    assert_eq!(before, (0..10).filter(|i| *i != 3).collect::<Vec<u64>>());
    let after = rows_of(&msgs[at..]);
    assert!(after.iter().all(|i| *i >= 10), "{after:?}");
    let WriterMsg::Checkpoint(point) = &msgs[at] else {
        unreachable!()
    };
    assert_eq!(point.cursor, "c1");
    let ids: Vec<&str> = point.failed.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(
        ids,
        ["3@7"],
        "the failures before the checkpoint go with it"
    );
    let all: Vec<&str> = out.failed.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(all, ["3@7", "15@7"], "the outcome lists every failure");
}

#[tokio::test]
async fn retries_come_last_replace_fresh_items_and_are_recovered() {
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let o = Arc::clone(&order);
    let (out, _, _) = run_with(
        (0..5).map(|i| Step::Item(job(i))).collect(),
        vec![job(2), job(9), job(8)],
        1,
        move |i| {
            let o = Arc::clone(&o);
            Box::pin(async move {
                o.lock().expect("lock").push(i);
                match i {
                    8 => Err(status(502)),
                    9 => Err(status(410)),
                    _ => Ok(vec![Value::from(i)]),
                }
            })
        },
    )
    .await;
    let out = out.expect("fan-out");
    assert_eq!(*order.lock().expect("lock"), [0, 1, 3, 4, 2, 9, 8]);
    assert_eq!(
        out.recovered,
        ["2@7", "9@7"],
        "fetched, or gone: nothing left"
    );
    assert_eq!(out.failed.len(), 1);
    assert_eq!(out.fetched, 4, "retries are not fresh items");
}

#[tokio::test]
async fn no_item_succeeding_fails_the_report_but_failing_retries_alone_do_not() {
    // Every fresh item 404s (as GET /events did on a wrong endpoint).
    let (out, msgs, _) = run_with(
        (0..5).map(|i| Step::Item(job(i))).collect(),
        Vec::new(),
        2,
        |_| Box::pin(async { Err(status(404)) }),
    )
    .await;
    let err = out.expect_err("a failed report").to_string();
    assert!(
        err.contains("GET /x/{id}") && err.contains("none of the 5"),
        "{err}"
    );
    assert!(msgs.is_empty());
    // One fresh item failing after retries: also a failed report.
    let (out, _, _) = run_with(vec![Step::Item(job(1))], Vec::new(), 2, |_| {
        Box::pin(async { Err(status(503)) })
    })
    .await;
    assert!(matches!(out, Err(Error::NoItemSucceeded { failed: 1, .. })));
    // A lone deleted item is just skipped.
    let (out, _, _) = run_with(vec![Step::Item(job(1))], Vec::new(), 2, |_| {
        Box::pin(async { Err(status(404)) })
    })
    .await;
    assert_eq!(out.expect("skipped").gone, 1);
    // Earlier failures failing again, nothing new: failed items, not a failed report.
    let (out, _, _) = run_with(Vec::new(), vec![job(1), job(2)], 2, |_| {
        Box::pin(async { Err(status(503)) })
    })
    .await;
    assert_eq!(out.expect("still a success").failed.len(), 2);
}

#[test]
fn item_keys_round_trip() {
    for key in [
        ItemKey::id("123"),
        ItemKey::at("c1", -5),
        ItemKey::at("x", i64::MIN),
    ] {
        assert_eq!(ItemKey::parse(&key.to_string()), Some(key));
    }
    assert_eq!(ItemKey::parse("a@b"), None);
    assert_eq!(ItemKey::at("c1", 7).to_string(), "c1@7");
}

#[test]
fn few_child_requests_plan_windows_of_several_pages_each() {
    let (each, few) = (ChildRequests::EachParent, ChildRequests::Few);
    // A request per parent: the child requests are the work, always 40.
    for pages in [0, 1, 40, 10_000] {
        assert_eq!(each.min_windows(pages), FANOUT_MIN_WINDOWS, "{pages} pages");
    }
    // Few: 4 pages a window, at least one window, at most 40.
    for (pages, windows) in [
        (0, 1),
        (3, 1),
        (7, 1),
        (8, 2),
        (40, 10),
        (159, 39),
        (160, 40),
    ] {
        assert_eq!(few.min_windows(pages), windows, "{pages} pages");
    }
    assert_eq!(few.min_windows(100_000), FANOUT_MIN_WINDOWS);
}

#[test]
fn parents_read_ahead_within_a_small_memory_bound() {
    // Few children: the search pages are the work, several windows at once.
    let few = ChildRequests::Few.read_ahead(64);
    assert_eq!(
        few,
        ReadAhead {
            windows: FEW_CHILDREN_AHEAD_PAGES,
            pages: FEW_CHILDREN_AHEAD_PAGES
        }
    );
    assert_eq!(ChildRequests::Few.read_ahead(3).windows, 3);
    // A request per parent: the next window ready, little held.
    assert_eq!(
        ChildRequests::EachParent.read_ahead(64),
        ReadAhead {
            windows: 2,
            pages: EACH_PARENT_AHEAD_PAGES
        }
    );
    // One at a time when asked for.
    for children in [ChildRequests::Few, ChildRequests::EachParent] {
        assert_eq!(
            children.read_ahead(1),
            ReadAhead {
                windows: 1,
                pages: 0
            }
        );
    }
}

/// A contact search record as Intercom sends it (the fields a fan-out does
/// not read are most of it).
fn contact_record(id: &str, updated_at: i64) -> Value {
    serde_json::json!({
        "type": "contact", "id": id, "workspace_id": "ws1", "external_id": format!("ext-{id}"),
        "role": "user", "email": format!("{id}@example.com"), "name": "A Name",
        "created_at": 1_700_000_000, "updated_at": updated_at,
        "custom_attributes": {"plan": "pro", "seats": 12},
        "location": {"type": "location", "country": "France", "city": "Paris"},
        "tags": {"type": "list", "data": [{"type": "tag", "id": "7", "url": "/tags/7"}],
                 "url": format!("/contacts/{id}/tags"), "total_count": 1, "has_more": false},
        "companies": {"type": "list", "data": [], "total_count": 0, "has_more": false},
        "notes": {"type": "list", "data": [], "total_count": 0, "has_more": false}
    })
}

#[tokio::test]
async fn the_feed_turns_records_into_jobs_before_they_wait_in_its_channel() {
    let made = AtomicUsize::new(0);
    let (feed, steps) = Feed::channel(|r: Value| {
        made.fetch_add(1, Ordering::SeqCst);
        let id = r["id"].as_str().unwrap_or_default().to_string();
        if id == "skip" {
            return Ok(None);
        }
        let at = r["updated_at"].as_i64().unwrap_or_default();
        Ok(Some(Job {
            key: ItemKey::at(id, at),
            parent: only_keys(r, &["id", "updated_at", "tags"]),
        }))
    });
    let page = vec![
        contact_record("c1", 10),
        contact_record("skip", 11),
        contact_record("c2", 12),
    ];
    feed.rows(page).await.expect("first page");
    // Made at the feed, not when the fan-out pulls them: what waits in the
    // channel is jobs.
    assert_eq!(made.load(Ordering::SeqCst), 3);
    let cursor = SearchCursor {
        updated_at: 12,
        ids_at: vec!["c2".into()],
        ..SearchCursor::default()
    };
    feed.checkpoint(&cursor).await.expect("checkpoint");
    drop(feed);
    let got: Vec<Step<Value>> = steps.map(|s| s.expect("step")).collect().await;
    assert_eq!(got.len(), 3, "{got:?}");
    let Step::Item(first) = &got[0] else {
        panic!("an item first: {got:?}");
    };
    assert_eq!(first.key.to_string(), "c1@10");
    assert_eq!(
        first.parent,
        serde_json::json!({"id": "c1", "updated_at": 10, "tags": contact_record("c1", 10)["tags"]})
    );
    let Step::Item(second) = &got[1] else {
        panic!("then the second item: {got:?}");
    };
    assert_eq!(second.key.to_string(), "c2@12");
    let Step::Checkpoint(c) = &got[2] else {
        panic!("then the checkpoint: {got:?}");
    };
    assert_eq!(c, &serde_json::json!(cursor).to_string());
}

#[tokio::test]
async fn a_bad_parent_record_ends_the_fanout_after_the_jobs_before_it() {
    let (feed, steps) = Feed::channel(|r: Value| {
        let id = r["id"]
            .as_str()
            .ok_or_else(|| Error::Protocol {
                endpoint: "POST /contacts/search".into(),
                message: "a record without an id".into(),
            })?
            .to_string();
        Ok(Some(Job {
            key: ItemKey::id(id),
            parent: (),
        }))
    });
    feed.rows(vec![
        contact_record("c1", 1),
        serde_json::json!({"updated_at": 2}),
    ])
    .await
    .expect("the feed hands the error on");
    drop(feed);
    let got: Vec<Result<Step<()>>> = steps.collect().await;
    assert_eq!(got.len(), 2);
    assert!(matches!(&got[0], Ok(Step::Item(j)) if j.key.id == "c1"));
    let err = got[1].as_ref().expect_err("the bad record");
    assert!(err.to_string().contains("without an id"), "{err}");
}

#[test]
fn only_keys_keeps_the_named_fields_and_leaves_non_objects() {
    let slim = only_keys(contact_record("c9", 5), &["id", "updated_at", "missing"]);
    assert_eq!(slim, serde_json::json!({"id": "c9", "updated_at": 5}));
    assert_eq!(
        only_keys(serde_json::json!([1, 2]), &["id"]),
        serde_json::json!([1, 2])
    );
}
