//! Scale benchmark of the simulator (not a test: it prints figures).
//!
//! Builds a world of 1,000,000 contacts, 100,000 companies and 200,000
//! conversations × 20 parts, prints the process RSS (target ≤ 1 GB) and the
//! contacts per second a client gets paging through a contact search at
//! `per_page=150` (target ≥ 20,000/s). Then the exporter's pattern on a
//! first `users,leads` sync: the contacts cut into 14-day `updated_at`
//! windows (plus the two days of overlap each side the exporter asks for),
//! one search per role and window, `updated_at` descending, each window
//! paged to its end, `READERS` (default 128: 64 per report) windows read at
//! once; it prints the pages, the process CPU seconds (simulator and this
//! light client: pages are not decoded into values) and CPU ms per page.
//! Run with `cargo bench --bench simulator`; `SIM_BENCH_SCALE=0.1` shrinks
//! the world.

use std::time::Instant;

use futures::stream::{self, StreamExt};
use intercom_export::simulator::{self, SimConfig};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};

const DAY: i64 = 86_400;

/// User + system CPU seconds of this process so far.
fn cpu_secs() -> f64 {
    // SAFETY: `rusage` is plain data that `getrusage` fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a local.
    let r = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(r, 0, "getrusage failed");
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// What the windowed reader needs of a search page, without decoding the
/// records themselves.
#[derive(Deserialize)]
struct LightPage {
    data: Vec<IgnoredAny>,
    pages: LightPages,
}

#[derive(Deserialize)]
struct LightPages {
    next: Option<LightNext>,
}

#[derive(Deserialize)]
struct LightNext {
    starting_after: String,
}

/// Reads one window of one role to its end; returns (pages, contacts).
async fn read_window(
    http: &reqwest::Client,
    url: &str,
    role: &str,
    lo: i64,
    hi: i64,
) -> (usize, usize) {
    let mut body = json!({
        "query": {"operator": "AND", "value": [
            {"field": "role", "operator": "=", "value": role},
            {"field": "updated_at", "operator": ">", "value": (lo - 2 * DAY).max(0)},
            {"field": "updated_at", "operator": "<", "value": hi + 2 * DAY},
        ]},
        "pagination": {"per_page": 150},
        "sort": {"field": "updated_at", "order": "descending"},
    });
    let (mut pages, mut seen) = (0, 0);
    loop {
        let r = http
            .post(url)
            .bearer_auth("bench")
            .json(&body)
            .send()
            .await
            .expect("search request");
        let text = r.bytes().await.expect("body");
        let page: LightPage = serde_json::from_slice(&text).expect("search page");
        pages += 1;
        seen += page.data.len();
        match page.pages.next {
            Some(n) => body["pagination"]["starting_after"] = json!(n.starting_after),
            None => return (pages, seen),
        }
    }
}

/// The `updated_at` of the first contact of a search sorted `order`.
async fn edge(http: &reqwest::Client, url: &str, order: &str) -> i64 {
    let body = json!({
        "query": {"field": "created_at", "operator": ">", "value": 0},
        "pagination": {"per_page": 1},
        "sort": {"field": "updated_at", "order": order},
    });
    let page: Value = http
        .post(url)
        .bearer_auth("bench")
        .json(&body)
        .send()
        .await
        .expect("search request")
        .json()
        .await
        .expect("json");
    page["data"][0]["updated_at"].as_i64().expect("updated_at")
}

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

        let readers: usize = std::env::var("READERS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(128);
        let (oldest, newest) = (
            edge(&http, &url, "ascending").await,
            edge(&http, &url, "descending").await,
        );
        let mut windows = Vec::new();
        for role in ["user", "lead"] {
            let mut lo = oldest - 1;
            while lo < newest {
                let hi = (lo + 14 * DAY).min(newest);
                windows.push((role, lo, hi));
                lo = hi;
            }
        }
        let (cpu0, t) = (cpu_secs(), Instant::now());
        let results: Vec<(usize, usize)> = stream::iter(windows.iter())
            .map(|&(role, lo, hi)| read_window(&http, &url, role, lo, hi))
            .buffer_unordered(readers)
            .collect()
            .await;
        let (secs, cpu) = (t.elapsed().as_secs_f64(), cpu_secs() - cpu0);
        let pages: usize = results.iter().map(|r| r.0).sum();
        let contacts: usize = results.iter().map(|r| r.1).sum();
        println!(
            "windows read at once: {} windows (14 days, both roles), {readers} at a time: \
             {contacts} contacts in {pages} pages, {secs:.1} s, {cpu:.1} CPU s, \
             {:.2} CPU ms a page",
            windows.len(),
            1000.0 * cpu / pages as f64
        );
        println!("RSS after the windows: {:.0} MiB", rss_mib());
        sim.shutdown().await;
    });
}
