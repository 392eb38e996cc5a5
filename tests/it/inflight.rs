//! Calls in flight found by measurement (issue #15): against a simulator
//! that answers after a delay, a fan-out report keeps as many calls out as
//! the stated rate limit × the latency needs, never more than
//! `concurrency`, without 429s, and still exports exactly the truth. The
//! calls in flight are the simulator's own count (`max_in_flight` in
//! `/__sim/stats`), the client's in the summary (`peak_in_flight`).

use std::collections::BTreeMap;

use intercom_export::simulator::{LatencyModel, SimConfig};
use serde_json::Value;

use crate::harness::*;

/// Searches answer fast and GETs slowly, so the conversation search hands
/// the fan-out parents faster than their GETs come back: how many GETs are
/// out is the client's decision, not the parents' supply.
const LATENCY: &str = "search=10ms,get=150ms";

async fn world(rate_limit: u32) -> World {
    World::start(SimConfig {
        seed: 15,
        contacts: 10,
        conversations: 300,
        parts: 2,
        companies: 2,
        tickets: 1,
        rate_limit: Some(rate_limit),
        latency: Some(LatencyModel::parse(LATENCY).expect("valid spec")),
        ..SimConfig::default()
    })
    .await
}

/// `sync --reports conversation_parts` with `config` as the config file;
/// the summary JSON.
async fn sync_parts(world: &World, config: &str) -> Value {
    let config_path = world.dir.path().join("config.toml");
    std::fs::write(&config_path, config).expect("config written");
    let summary_path = world.dir.path().join("summary.json");
    let out = world
        .sync(&[
            "--config",
            &config_path.display().to_string(),
            "--reports",
            "conversation_parts",
            "--summary-json",
            &summary_path.display().to_string(),
        ])
        .await;
    assert_ok(&out);
    serde_json::from_str(&std::fs::read_to_string(&summary_path).expect("summary"))
        .expect("summary is JSON")
}

/// The exported parts (id → updated_at) equal the truth's, each once.
async fn assert_parts_equal_truth(world: &World) {
    let truth: Vec<Value> = world
        .truth("conversations")
        .await
        .iter()
        .flat_map(|c| {
            c["conversation_parts"]["conversation_parts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    let truth = truth_map(&truth, None);
    assert!(truth.len() >= 300, "every conversation has parts");
    let dirs = run_dirs(&world.output(), "conversation_parts");
    assert_eq!(dirs.len(), 1);
    let rows = ids_and_updated(&read_parquet_dir(&dirs[0]));
    assert_eq!(rows.len(), truth.len(), "no part twice, none missing");
    let exported: BTreeMap<String, i64> = unique_map(&rows);
    assert_eq!(exported, truth, "the parts equal the simulator's truth");
}

/// What the simulator counted: (calls at once at most, 429s, all calls).
async fn served(world: &World) -> (u64, u64, u64) {
    let stats = world.sim_get("stats").await;
    (
        stats["max_in_flight"].as_u64().expect("max_in_flight"),
        stats["by_status"]["429"].as_u64().unwrap_or(0),
        stats["total"].as_u64().expect("total"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_in_flight_follow_the_rate_limit_times_the_latency() {
    // Intercom's 1,666 calls per 10 s at 150 ms: Little's law asks for
    // about 166.6 × 0.15 × 1.2 + 2 = 32 calls out; the old fixed 8 gave 53
    // calls per second.
    let fast = world(1666).await;
    let summary = sync_parts(&fast, "").await;
    assert_parts_equal_truth(&fast).await;
    let (max_in_flight, throttled, total) = served(&fast).await;
    assert!(
        (20..=64).contains(&max_in_flight),
        "the simulator served {max_in_flight} calls at once at most: well above the old 8, \
         within the default bound of 64"
    );
    assert_eq!(throttled, 0, "no 429 ({total} calls)");
    assert_eq!(summary["rate_limited"], 0, "{summary}");
    let peak = summary["peak_in_flight"].as_u64().expect("peak_in_flight");
    assert!(
        peak >= max_in_flight && peak <= 64,
        "the client counts every call it let out ({peak}), the simulator those that arrived \
         ({max_in_flight})"
    );
    let target = summary["in_flight_target"]
        .as_u64()
        .expect("in_flight_target");
    assert!((16..=64).contains(&target), "target {target}");

    // A tenth of the rate at the same latency needs far fewer calls out:
    // 60 calls/s × 0.15 s × 1.2 + 2 = 13 (a little more for the client's own
    // share of the latency); the gate, not the bound, holds them back.
    let slow = world(600).await;
    let summary = sync_parts(&slow, "").await;
    assert_parts_equal_truth(&slow).await;
    let (slow_max, throttled, total) = served(&slow).await;
    assert_eq!(throttled, 0, "no 429 ({total} calls)");
    assert!(
        slow_max <= 20 && slow_max < max_in_flight,
        "{slow_max} calls at once at 600 per 10 s, {max_in_flight} at 1,666"
    );
    let target = summary["in_flight_target"]
        .as_u64()
        .expect("in_flight_target");
    assert!(target <= 20, "target {target} at 600 per 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_is_the_most_calls_in_flight() {
    let world = world(1666).await;
    let summary = sync_parts(&world, "concurrency = 4\n").await;
    assert_parts_equal_truth(&world).await;
    let (max_in_flight, throttled, _) = served(&world).await;
    assert!(
        (1..=4).contains(&max_in_flight),
        "{max_in_flight} calls at once: the search and the fan-out together stay within 4"
    );
    assert_eq!(throttled, 0);
    let peak = summary["peak_in_flight"].as_u64().expect("peak_in_flight");
    assert!((max_in_flight..=4).contains(&peak), "client peak {peak}");
    assert_eq!(summary["in_flight_target"], 4, "{summary}");
}
