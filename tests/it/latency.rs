//! The simulator's response latency (`--latency`): each request waits the
//! delay its class draws from the seed, recorded in `/__sim/stats`; a slow
//! answer does not hold up another; a bad SPEC is a usage error. Delays are
//! read from the simulator's own stats, never from wall time.

use intercom_export::simulator::{self, LatencyClass, LatencyModel, SimConfig, SimHandle};
use serde_json::{Value, json};

use crate::harness::*;

const SPEC: &str = "search=40ms±20ms,get=6ms±4ms";

async fn start(seed: u64, spec: &str) -> SimHandle {
    simulator::spawn(SimConfig {
        seed,
        contacts: 20,
        conversations: 5,
        parts: 1,
        companies: 2,
        tickets: 2,
        latency: Some(LatencyModel::parse(spec).expect("valid spec")),
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// The same requests, one after the other: 5 GETs, 3 searches, 1 other
/// POST. Returns the simulator's `latency` stats.
async fn workload(sim: &SimHandle) -> Value {
    let http = reqwest::Client::new();
    let base = sim.base_url();
    for path in ["/me", "/admins", "/contacts", "/tags", "/me"] {
        let r = http
            .get(format!("{base}{path}"))
            .bearer_auth("t")
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200, "{path}");
    }
    for path in [
        "/contacts/search",
        "/conversations/search",
        "/contacts/search",
    ] {
        let body = json!({"query": {"field": "updated_at", "operator": ">", "value": 0}});
        let r = http
            .post(format!("{base}{path}"))
            .bearer_auth("t")
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200, "{path}");
    }
    let r = http
        .post(format!("{base}/companies/list"))
        .bearer_auth("t")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    sim.sim.stats()["latency"].clone()
}

#[tokio::test]
async fn delays_follow_the_class_and_the_seed() {
    let model = LatencyModel::parse(SPEC).expect("valid");
    let draws = |seed: u64, class, n: u64| -> Vec<u64> {
        (0..n).map(|i| model.delay_ms(seed, class, i)).collect()
    };
    let a = start(3, SPEC).await;
    let stats = workload(&a).await;
    let get = draws(3, LatencyClass::Get, 5);
    let search = draws(3, LatencyClass::Search, 3);
    assert_eq!(
        stats,
        json!({
            "get": {"requests": 5, "total_ms": get.iter().sum::<u64>(),
                    "min_ms": get.iter().min(), "max_ms": get.iter().max(), "first_ms": get},
            "search": {"requests": 3, "total_ms": search.iter().sum::<u64>(),
                       "min_ms": search.iter().min(), "max_ms": search.iter().max(),
                       "first_ms": search},
            "post": {"requests": 1, "total_ms": 0, "min_ms": 0, "max_ms": 0, "first_ms": [0]},
        }),
        "each class served its model's delays, in order; post has none (no entry, no default)"
    );
    assert!(get.iter().all(|ms| (2..=10).contains(ms)), "{get:?}");
    assert!(search.iter().all(|ms| (20..=60).contains(ms)), "{search:?}");

    // The same seed and requests: the same delays. Another seed: others.
    let b = start(3, SPEC).await;
    assert_eq!(workload(&b).await, stats);
    let c = start(4, SPEC).await;
    let other = workload(&c).await;
    assert_ne!(other["search"]["first_ms"], stats["search"]["first_ms"]);
    assert_eq!(
        other["search"]["first_ms"],
        json!(draws(4, LatencyClass::Search, 3))
    );

    // A default covers the classes the SPEC leaves out; without a model
    // nothing is delayed or recorded.
    let d = start(3, "search=40ms,default=7ms").await;
    let stats = workload(&d).await;
    assert_eq!(stats["post"]["first_ms"], json!([7]));
    assert_eq!(stats["get"]["first_ms"], json!([7, 7, 7, 7, 7]));
    let off = start(3, "off").await;
    assert_eq!(workload(&off).await, json!({}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_does_not_hold_up_another() {
    let sim = start(3, "search=3s,get=0ms").await;
    let base = sim.base_url();
    let http = reqwest::Client::new();
    let slow = tokio::spawn({
        let (http, base) = (http.clone(), base.clone());
        async move {
            let body = json!({"query": {"field": "updated_at", "operator": ">", "value": 0}});
            http.post(format!("{base}/contacts/search"))
                .bearer_auth("t")
                .json(&body)
                .send()
                .await
                .expect("request")
                .status()
        }
    });
    // The search is counted when its wait starts.
    while sim.sim.stats()["latency"]["search"]["requests"] != 1 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    for _ in 0..3 {
        let r = http
            .get(format!("{base}/me"))
            .bearer_auth("t")
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200);
    }
    assert!(
        !slow.is_finished(),
        "three GETs were answered while the search still waited"
    );
    assert_eq!(slow.await.expect("task"), 200);
}

#[tokio::test]
async fn a_bad_spec_is_a_usage_error_naming_the_part_and_the_grammar() {
    for (spec, part) in [
        ("serch=300ms", "unknown class \"serch\""),
        ("get=150", "\"150\" has no unit"),
    ] {
        let out = run_cli(
            &[
                "simulate".into(),
                "--port".into(),
                "0".into(),
                "--latency".into(),
                spec.into(),
            ],
            &[],
        )
        .await;
        assert_eq!(out.status.code(), Some(2), "{spec}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(part)
                && err.contains("CLASS=DELAY")
                && err.contains("search, get, post, default"),
            "{spec}: {err}"
        );
        assert!(
            !stdout(&out).contains("listening"),
            "{spec}: it did not start"
        );
    }
}
