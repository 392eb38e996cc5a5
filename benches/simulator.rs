//! Scale benchmark of the simulator (not a test: it prints figures).
//!
//! Builds a world of 1,000,000 contacts, 100,000 companies and 200,000
//! conversations × 20 parts, prints the process RSS (target ≤ 1 GB) and the
//! contacts per second a client gets paging through a contact search at
//! `per_page=150` (target ≥ 20,000/s). Run with
//! `cargo bench --bench simulator`; `SIM_BENCH_SCALE=0.1` shrinks the world.

use std::time::Instant;

use intercom_export::simulator::{self, SimConfig};
use serde_json::{Value, json};

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(f64::NAN, |pages| pages * 4096.0 / 1_048_576.0)
}

fn main() {
    let scale: f64 = std::env::var("SIM_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let n = |x: f64| (x * scale) as usize;
    let config = SimConfig {
        contacts: n(1_000_000.0),
        companies: n(100_000.0),
        conversations: n(200_000.0),
        parts: 20,
        ..SimConfig::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let rss0 = rss_mib();
        let t = Instant::now();
        let sim = simulator::spawn(config.clone())
            .await
            .expect("simulator starts");
        let gen_secs = t.elapsed().as_secs_f64();
        let rss_world = rss_mib();
        println!(
            "world: {} contacts, {} companies, {} conversations x ~{} parts",
            config.contacts, config.companies, config.conversations, config.parts
        );
        println!("generation: {gen_secs:.1} s; RSS {rss_world:.0} MiB (before: {rss0:.0} MiB)");

        let http = reqwest::Client::new();
        let url = format!("{}/contacts/search", sim.base_url());
        let mut body = json!({
            "query": {"field": "created_at", "operator": ">", "value": 0},
            "pagination": {"per_page": 150},
            "sort": {"field": "updated_at", "order": "ascending"},
        });
        let t = Instant::now();
        let mut seen = 0usize;
        let mut bytes = 0usize;
        let mut requests = 0usize;
        loop {
            let r = http
                .post(&url)
                .bearer_auth("bench")
                .json(&body)
                .send()
                .await
                .expect("search request");
            let text = r.bytes().await.expect("body");
            bytes += text.len();
            requests += 1;
            let page: Value = serde_json::from_slice(&text).expect("json");
            seen += page["data"].as_array().map_or(0, Vec::len);
            match page["pages"]["next"]["starting_after"].as_str() {
                Some(c) => body["pagination"]["starting_after"] = json!(c),
                None => break,
            }
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "search pages: {seen} contacts in {requests} requests, {secs:.1} s: \
             {:.0} contacts/s, {:.1} MB/s of JSON",
            seen as f64 / secs,
            bytes as f64 / secs / 1e6
        );
        println!("RSS after paging: {:.0} MiB", rss_mib());
        sim.shutdown().await;
    });
}
