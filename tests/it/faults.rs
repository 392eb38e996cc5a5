//! The simulator's rate limit and fault injection, and syncs that survive
//! them: outputs still equal the ground truth, nothing lost or duplicated.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use intercom_export::simulator::{self, SimConfig};
use serde_json::{Value, json};

use crate::harness::*;

const REPORTS: [(&str, Option<&str>, &str); 3] = [
    ("conversations", None, "conversations"),
    ("users", Some("user"), "contacts"),
    ("leads", Some("lead"), "contacts"),
];

fn small_world() -> SimConfig {
    SimConfig {
        contacts: 300,
        conversations: 120,
        ..skeleton_world()
    }
}

/// A config file with small pages (many requests) and short timeouts.
fn write_config(world: &World, extra: &str) -> String {
    let path = world.dir.path().join("config.toml");
    let text = format!(
        "page_size = 10\nrequest_timeout_secs = 1\nmax_retries = 12\nmax_retry_secs = 60\n{extra}"
    );
    std::fs::write(&path, text).expect("write config");
    path.display().to_string()
}

/// Every report's single run directory holds exactly the ground truth.
async fn assert_outputs_equal_truth(world: &World) {
    for (report, role, dataset) in REPORTS {
        let truth: BTreeMap<String, i64> = truth_map(&world.truth(dataset).await, role);
        let dirs = run_dirs(&world.output(), report);
        assert_eq!(dirs.len(), 1, "{report}: one run directory");
        let exported = unique_map(&ids_and_updated(&read_parquet_dir(&dirs[0])));
        assert_eq!(exported, truth, "{report}: output equals the ground truth");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_headers_and_429_beyond_the_limit() {
    let sim = simulator::spawn(SimConfig {
        contacts: 20,
        conversations: 5,
        rate_limit: Some(3),
        reject_tokens: vec!["bad".into()],
        ..SimConfig::default()
    })
    .await
    .expect("starts");
    let http = reqwest::Client::new();
    let url = format!("{}/me", sim.base_url());
    // Start right after a window boundary so all calls share one window.
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    if now_ms % 10_000 > 8_000 {
        tokio::time::sleep(std::time::Duration::from_millis(10_050 - now_ms % 10_000)).await;
    }
    let mut seen = Vec::new();
    for _ in 0..4 {
        let r = http.get(&url).bearer_auth("t").send().await.expect("send");
        let h = |n: &str| {
            r.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<i64>().ok())
                .expect(n)
        };
        seen.push((
            r.status().as_u16(),
            h("x-ratelimit-limit"),
            h("x-ratelimit-remaining"),
            h("x-ratelimit-reset") % 10,
        ));
        if r.status() == 429 {
            let body: Value = r.json().await.expect("json");
            assert_eq!(body["type"], "error.list");
            assert_eq!(body["errors"][0]["code"], "rate_limit_exceeded");
            assert_eq!(
                body["errors"][0]["message"],
                "Exceeded rate limit of 3 in 10_seconds"
            );
        }
    }
    assert_eq!(
        seen,
        vec![
            (200, 3, 2, 0),
            (200, 3, 1, 0),
            (200, 3, 0, 0),
            (429, 3, 0, 0)
        ]
    );
    // Another workspace has its own window; a 401 carries no headers.
    let other = http.get(&url).bearer_auth("u").send().await.expect("send");
    assert_eq!(other.status(), 200);
    let rejected = http
        .get(&url)
        .bearer_auth("bad")
        .send()
        .await
        .expect("send");
    assert_eq!(rejected.status(), 401);
    assert!(rejected.headers().get("x-ratelimit-limit").is_none());

    let stats: Value = http
        .get(format!("{}/__sim/stats", sim.base_url()))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["total"], 6);
    let windows = stats["windows"].as_array().expect("windows");
    let sum: u64 = windows
        .iter()
        .map(|w| w["requests"].as_u64().expect("n"))
        .sum();
    assert_eq!(sum, 6);
    assert_eq!(
        stats["max_in_window"].as_u64(),
        windows
            .iter()
            .map(|w| w["requests"].as_u64().expect("n"))
            .max()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_control_plane_round_trips_and_faults_have_their_shapes() {
    let world = World::start(SimConfig {
        contacts: 20,
        conversations: 5,
        ..SimConfig::default()
    })
    .await;
    assert_eq!(world.sim_get("faults").await["error_500"], 0.0);
    let installed = world.sim_post("faults", json!({"error_502": 1.0})).await;
    assert_eq!(installed["error_502"], 1.0);
    assert_eq!(world.sim_get("faults").await, installed);
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{}/me", world.sim.base_url()))
        .bearer_auth("t")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 502);
    assert!(r.text().await.expect("body").contains("<html>"));

    // A failing conversation answers 500 with the bare error shape.
    world.sim_post("faults", json!("none")).await;
    let truth = world.truth("conversations").await;
    let id = |i: usize| truth[i]["id"].as_str().expect("id").to_string();
    world
        .sim_post("faults", json!({"failing_conversations": [id(0)]}))
        .await;
    let r = http
        .get(format!("{}/conversations/{}", world.sim.base_url(), id(0)))
        .bearer_auth("t")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 500);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["type"], "error");
    assert!(body["request_id"].is_string() && body["message"].is_string());
    let ok = http
        .get(format!("{}/conversations/{}", world.sim.base_url(), id(1)))
        .bearer_auth("t")
        .send()
        .await
        .expect("send");
    assert_eq!(ok.status(), 200);

    // Named profiles and bad input.
    assert_eq!(
        world.sim_post("faults", json!("flaky")).await["error_500"],
        0.02
    );
    let bad = http
        .post(format!("{}/__sim/faults", world.sim.base_url()))
        .json(&json!({"stall": 2.0}))
        .send()
        .await
        .expect("send");
    assert_eq!(bad.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_under_5xx_stalls_and_broken_bodies_equals_the_truth() {
    let world = World::start(small_world()).await;
    world
        .sim_post(
            "faults",
            json!({
                "seed": 11,
                "error_500": 0.02, "error_502": 0.01, "error_503": 0.01, "error_504": 0.01,
                "stall": 0.01, "stall_secs": 3.0,
                "empty": 0.01, "truncated": 0.01,
            }),
        )
        .await;
    let config = write_config(&world, "");
    let out = world
        .sync(&[
            "--config",
            &config,
            "--reports",
            "conversations,users,leads",
        ])
        .await;
    assert_ok(&out);
    assert_outputs_equal_truth(&world).await;
    let stats = world.sim_get("stats").await;
    let status = |s: &str| stats["by_status"][s].as_u64().unwrap_or(0);
    assert!(
        status("500") + status("502") + status("503") + status("504") > 0,
        "faults were injected: {stats}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_under_the_rate_limit_with_429_bursts_loses_and_repeats_nothing() {
    let world = World::start(SimConfig {
        rate_limit: Some(40),
        ..small_world()
    })
    .await;
    world
        .sim_post("faults", json!({"burst": {"every": 15, "length": 3}}))
        .await;
    let config = write_config(&world, "");
    let out = world
        .sync(&[
            "--config",
            &config,
            "--reports",
            "conversations,users,leads",
        ])
        .await;
    assert_ok(&out);
    assert_outputs_equal_truth(&world).await;
    let stats = world.sim_get("stats").await;
    assert!(
        stats["by_status"]["429"].as_u64().unwrap_or(0) >= 3,
        "429 bursts were served: {stats}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_in_the_middle_of_a_run_fails_it_with_the_auth_exit_code() {
    let world = World::start(small_world()).await;
    world
        .sim_post("faults", json!({"unauthorized_after": 5}))
        .await;
    let config = write_config(&world, "");
    let out = world
        .sync(&[
            "--config",
            &config,
            "--reports",
            "conversations,users,leads",
        ])
        .await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("test-token"),
        "the token never appears"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_scope_fails_only_its_report_naming_the_permission() {
    let world = World::start(SimConfig {
        contacts: 60,
        conversations: 10,
        deny_scopes: vec!["tickets".into()],
        ..skeleton_world()
    })
    .await;
    // Intercom's 403 body, as the spec's example gives it.
    let resp = reqwest::Client::new()
        .post(format!("{}/tickets/search", world.sim.base_url()))
        .bearer_auth("t")
        .json(&json!({"query": {"field": "updated_at", "operator": ">", "value": 0}}))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 403);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["type"], "error.list");
    assert_eq!(body["errors"][0]["code"], "forbidden");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("(read_tickets)")),
        "{body}"
    );

    let reports = ["--reports", "tickets,users,admins,ticket_types"];
    let out = world.sync(&reports).await;
    assert_eq!(out.status.code(), Some(4), "partial: {}", stderr(&out));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("lacks permission for tickets") && text.contains("`Read tickets`"),
        "{text}"
    );
    assert!(run_dirs(&world.output(), "tickets").is_empty());
    assert!(run_dirs(&world.output(), "ticket_types").is_empty());
    let users = truth_map(&world.truth("contacts").await, Some("user"));
    let dirs = run_dirs(&world.output(), "users");
    assert_eq!(dirs.len(), 1, "the other reports finished");
    assert_eq!(
        unique_map(&ids_and_updated(&read_parquet_dir(&dirs[0]))),
        users
    );
    assert_eq!(run_dirs(&world.output(), "admins").len(), 1);

    // The scope granted at run time (`/__sim/faults`): the next run exports tickets.
    world.sim_post("faults", json!({"denied_scopes": []})).await;
    assert_ok(&world.sync(&reports).await);
    let tickets = truth_map(&world.truth("tickets").await, None);
    let dirs = run_dirs(&world.output(), "tickets");
    assert_eq!(dirs.len(), 1);
    assert_eq!(
        unique_map(&ids_and_updated(&read_parquet_dir(&dirs[0]))),
        tickets
    );
}
