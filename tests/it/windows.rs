//! Search windows: small pages force the windowed path (probe, windows,
//! splits); a lookback re-reads a margin on every sync without writing a
//! row twice. Compared with the simulator's ground truth.

use std::collections::{BTreeMap, BTreeSet};

use intercom_export::simulator::SimConfig;
use serde_json::{Value, json};

use crate::harness::*;

const REPORTS: [(&str, Option<&str>, &str); 3] = [
    ("conversations", None, "conversations"),
    ("users", Some("user"), "contacts"),
    ("leads", Some("lead"), "contacts"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windowed_syncs_with_a_lookback_equal_the_truth_without_repeats() {
    let world = World::start(SimConfig {
        contacts: 600,
        conversations: 250,
        ..skeleton_world()
    })
    .await;
    // 5 rows a page: windows over 100 rows are split.
    let config = world.dir.path().join("config.toml");
    std::fs::write(&config, "page_size = 5\nlookback_secs = 7200\n").expect("config");
    let config = config.display().to_string();

    assert_ok(
        &world
            .sync(&[
                "--config",
                &config,
                "--reports",
                "conversations,users,leads",
            ])
            .await,
    );
    let searches = world.requests_to("POST /contacts/search").await
        + world.requests_to("POST /conversations/search").await;
    let mut before = BTreeMap::new();
    let mut rows = 0;
    for (report, role, dataset) in REPORTS {
        let truth = truth_map(&world.truth(dataset).await, role);
        let dirs = run_dirs(&world.output(), report);
        let exported = unique_map(&ids_and_updated(&read_parquet_dir(&dirs[0])));
        rows += exported.len() as u64;
        assert_eq!(exported, truth, "{report}: first sync equals the truth");
        before.insert(report, truth);
    }
    // Every row read about once: the probe pages and window splits are overhead.
    assert!(
        searches * 5 < rows * 2,
        "{searches} searches for {rows} rows"
    );

    world
        .sim_post("advance", json!({"seconds": 3 * 3600}))
        .await;
    assert_ok(
        &world
            .sync(&[
                "--config",
                &config,
                "--reports",
                "conversations,users,leads",
            ])
            .await,
    );
    for (report, role, dataset) in REPORTS {
        let after = truth_map(&world.truth(dataset).await, role);
        let changed: BTreeMap<String, i64> = after
            .iter()
            .filter(|(id, t)| before[report].get(*id) != Some(t))
            .map(|(id, t)| (id.clone(), *t))
            .collect();
        let dirs = run_dirs(&world.output(), report);
        let second = match dirs.get(1) {
            Some(d) => unique_map(&ids_and_updated(&read_parquet_dir(d))),
            None => BTreeMap::new(),
        };
        assert_eq!(
            second, changed,
            "{report}: the second sync (re-reading a 2-hour margin) holds exactly the changes"
        );
    }
}

/// #20 item 6, the window-split path: deep pages of a wide search time out
/// (`search_max_window_secs`: every page past the first of a search wider
/// than that answers 504 with an HTML body), so smaller pages do not help
/// and only narrower windows read through. The incremental sync halves the
/// page size, then splits the window, then splits its halves, and exports
/// exactly the changes; the summary counts each window read that needed it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_too_wide_to_page_are_split_until_they_read_through() {
    let world = World::start(SimConfig {
        contacts: 100,
        conversations: 300,
        ..skeleton_world()
    })
    .await;
    // One window at a time: the windows planned are the sequential read's
    // (about 20 pages), wide enough to fail.
    let config = world.dir.path().join("config.toml");
    std::fs::write(
        &config,
        "page_size = 20\nmax_retries = 1\nmax_retry_secs = 2\nconcurrency = 1\n",
    )
    .expect("config");
    let config = config.display().to_string();
    let summary = world.dir.path().join("summary.json");
    let summary_path = summary.display().to_string();
    let args = [
        "--config",
        config.as_str(),
        "--reports",
        "conversations",
        "--summary-json",
        summary_path.as_str(),
    ];
    assert_ok(&world.sync(&args).await);
    let before = truth_map(&world.truth("conversations").await, None);
    world
        .sim_post("advance", json!({"seconds": 2 * 86_400}))
        .await;
    let after = truth_map(&world.truth("conversations").await, None);
    let changed: BTreeMap<String, i64> = after
        .iter()
        .filter(|(id, t)| before.get(*id) != Some(t))
        .map(|(id, t)| (id.clone(), *t))
        .collect();

    // The second sync reads (lo, hi]: from the cursor's second (re-read) to
    // the newest change. Its halves and quarters, split as documented.
    let lo = before.values().max().expect("conversations") - 1;
    let hi = *after.values().max().expect("conversations");
    let half = |lo: i64, hi: i64| lo + (hi - lo) / 2;
    let mid = half(lo, hi);
    let in_range = |a: i64, b: i64| after.values().filter(|t| a < **t && **t <= b).count();
    // Every half needs a second page even at the smallest page size (10).
    assert!(
        in_range(lo, mid) > 10 && in_range(mid, hi) > 10,
        "{} + {} changes",
        in_range(lo, mid),
        in_range(mid, hi)
    );
    // A search of (a, b] asks `updated_at > a` and `< b + 1`. Halves are
    // too wide to page, quarters are not.
    let width = |a: i64, b: i64| (b + 1 - a) as u64;
    let max = (width(lo, mid).min(width(mid, hi))
        + width(lo, half(lo, mid)).max(width(half(mid, hi), hi)))
        / 2;
    assert!(width(lo, half(lo, mid)) <= max && width(half(mid, hi), hi) <= max);
    assert!(width(lo, mid) > max && width(mid, hi) > max);
    world
        .sim_post("faults", json!({"search_max_window_secs": max}))
        .await;

    assert_ok(&world.sync(&args).await);
    let dirs = run_dirs(&world.output(), "conversations");
    assert_eq!(dirs.len(), 2);
    let second = unique_map(&ids_and_updated(&read_parquet_dir(&dirs[1])));
    assert_eq!(second, changed, "exactly the changes, each once");

    // Three window reads kept failing and were split: the whole window and
    // both its halves.
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).expect("summary")).expect("json");
    let r = json["reports"]
        .as_array()
        .expect("reports")
        .iter()
        .find(|r| r["report"] == "conversations")
        .expect("conversations in summary");
    assert_eq!(r["degraded_windows"], 3, "{r}");
    let samples: BTreeSet<String> = r["anomalies"]
        .as_array()
        .expect("anomalies")
        .iter()
        .filter(|a| a["kind"] == "degraded_windows")
        .flat_map(|a| a["samples"].as_array().cloned().unwrap_or_default())
        .map(|s| s.as_str().expect("sample").to_string())
        .collect();
    let label = |a: i64, b: i64| format!("updated_at ({a}, {b}]");
    assert_eq!(
        samples,
        BTreeSet::from([label(lo, hi), label(lo, mid), label(mid, hi)])
    );
}
