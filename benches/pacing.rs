//! Pacing benchmark (prints figures; not a timed test).
//!
//! Against the simulator with `--rate-limit 100` (per 10-second window), a
//! per-conversation-GET workload: conversation search pages stream ids
//! through a bounded channel into the fan-out (`extract::fanout::FanOut`), which runs up to
//! `concurrency` `GET /conversations/{id}` at once. Prints the utilisation of
//! the allowed calls per window in steady state (windows other than the
//! first and last), the share of 429s, requests per record and wall time.
//! Target: utilisation >= 95 %, 429s <= 0.1 %.
//!
//! Run: `cargo bench --profile dev --bench pacing` (env `CONVERSATIONS`,
//! default 3000; `RATE_LIMIT`, default 100; `CONCURRENCY`, default 8).

use std::time::{Duration, Instant};

use intercom_export::anomalies::Anomalies;
use intercom_export::api::query::{leaf, search_body};
use intercom_export::api::{Page, list_key};
use intercom_export::extract::WriterHandle;
use intercom_export::extract::fanout::{FanOut, ItemKey, Job, Step};
use intercom_export::http::{ClientConfig, IntercomClient};
use intercom_export::reports::WriterMsg;
use intercom_export::secret::AccessToken;
use intercom_export::simulator::{self, SimConfig};
use serde_json::Value;
use tokio::sync::mpsc;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let conversations = env_num("CONVERSATIONS", 3000) as usize;
    let limit = env_num("RATE_LIMIT", 100) as u32;
    let concurrency = env_num("CONCURRENCY", 8) as usize;
    let sim = simulator::spawn(SimConfig {
        contacts: 10,
        conversations,
        parts: 2,
        rate_limit: Some(limit),
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts");
    let client = IntercomClient::new(ClientConfig {
        base_url: sim.base_url().parse().expect("url"),
        intercom_version: "2.16".into(),
        token: AccessToken::new("bench-token".to_string()).expect("token"),
        request_timeout: Duration::from_secs(30),
        max_retries: 8,
        max_retry_time: Duration::from_secs(600),
        max_requests_per_minute: None,
        max_in_flight: concurrency,
    })
    .expect("client");

    let started = Instant::now();
    let (id_tx, id_rx) = mpsc::channel::<String>(300);
    let lister = {
        let client = client.clone();
        tokio::spawn(async move {
            let mut after: Option<String> = None;
            loop {
                let body = search_body(leaf("updated_at", ">", 0), 150, after.as_deref(), None);
                let raw: Value = client
                    .post("conversations/search", &body)
                    .await
                    .expect("search page");
                let page = Page::decode(
                    "POST /conversations/search",
                    list_key("conversations/search"),
                    raw,
                )
                .expect("a conversation list");
                for c in &page.data {
                    let id = c["id"].as_str().expect("id").to_string();
                    if id_tx.send(id).await.is_err() {
                        return;
                    }
                }
                match page.next_cursor() {
                    Some(c) => after = Some(c),
                    None => return,
                }
            }
        })
    };
    let (tx, mut rx) = mpsc::channel::<WriterMsg>(16);
    let sink = tokio::spawn(async move {
        let mut n = 0u64;
        while let Some(msg) = rx.recv().await {
            if let WriterMsg::Rows(rows) = msg {
                n += rows.len() as u64;
            }
        }
        n
    });
    let ids = futures::stream::unfold(id_rx, |mut rx| async move {
        rx.recv().await.map(|id: String| {
            let step = Step::Item(Job {
                key: ItemKey::id(id.clone()),
                parent: id,
            });
            (Ok(step), rx)
        })
    });
    let progress = intercom_export::telemetry::Progress::default();
    let anomalies = Anomalies::default();
    let pipe = WriterHandle {
        tx: &tx,
        progress: &progress,
    };
    let fan = FanOut {
        endpoint: "GET /conversations/{id}",
        concurrency,
        anomalies: &anomalies,
        out: &pipe,
    };
    let out = fan
        .run(ids, Vec::new(), |id: String| {
            let client = client.clone();
            async move {
                let v: Value = client.get(&format!("conversations/{id}")).await?;
                Ok(vec![v])
            }
        })
        .await
        .expect("fanout");
    drop(tx);
    lister.await.expect("lister");
    let records = sink.await.expect("sink");
    let wall = started.elapsed();

    let stats = sim.sim.stats();
    let total = stats["total"].as_u64().unwrap_or(0);
    let r429 = stats["by_status"]["429"].as_u64().unwrap_or(0);
    let windows: Vec<u64> = stats["windows"]
        .as_array()
        .map(|w| w.iter().filter_map(|x| x["requests"].as_u64()).collect())
        .unwrap_or_default();
    let steady: &[u64] = if windows.len() > 2 {
        &windows[1..windows.len() - 1]
    } else {
        &[]
    };
    let mean = steady.iter().sum::<u64>() as f64 / steady.len().max(1) as f64;
    let min = steady.iter().copied().min().unwrap_or(0);
    let client_stats = client.stats();
    println!(
        "pacing benchmark: {conversations} conversations, rate limit {limit}/10 s, concurrency {concurrency}"
    );
    println!(
        "  records exported        {records} (failed items: {})",
        out.failed.len()
    );
    println!(
        "  requests (server)       {total}  (client: {} incl. {} retries)",
        client_stats.requests, client_stats.retries
    );
    println!(
        "  requests per record     {:.3}",
        total as f64 / records.max(1) as f64
    );
    println!(
        "  429 share               {:.3} % ({r429} of {total})",
        100.0 * r429 as f64 / total.max(1) as f64
    );
    println!(
        "  steady windows          {} (per-window requests: {:?})",
        steady.len(),
        windows
    );
    println!(
        "  utilisation (mean)      {:.1} %",
        100.0 * mean / f64::from(limit)
    );
    println!(
        "  utilisation (worst)     {:.1} %",
        100.0 * min as f64 / f64::from(limit)
    );
    println!("  max in one window       {}", stats["max_in_window"]);
    println!("  wall time               {:.1} s", wall.as_secs_f64());
    sim.shutdown().await;
}
