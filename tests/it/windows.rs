//! Search windows: small pages force the windowed path (probe, windows,
//! splits); a lookback re-reads a margin on every sync without writing a
//! row twice. Compared with the simulator's ground truth.

use std::collections::BTreeMap;

use intercom_export::simulator::SimConfig;
use serde_json::json;

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
