//! A dense newest contact window (issue #15): contacts updated within a few
//! days but created over years. Contact search is day-granular and windows
//! are no narrower than 14 days, so the newest window cannot be cut in
//! time; it is cut by `created_at` and its parts read side by side. A first
//! sync equals the truth exactly once, the log shows the cuts, and a sync
//! killed while the parts are read commits nothing of the dense window
//! (only whole windows) and the rerun completes it exactly once.

use std::collections::BTreeMap;
use std::path::Path;

use intercom_export::simulator::{LatencyModel, SimConfig};
use serde_json::json;

use crate::crash::{
    Ended, assert_disk_matches_state, assert_exactly_once, committed_rows, run_and_kill_at,
    truth_of,
};
use crate::harness::*;

/// 1,500 contacts over three years, then three days in which about a third
/// of them are updated and a tenth more created.
async fn dense_world(seed: u64) -> World {
    let world = World::start(SimConfig {
        seed,
        contacts: 1_500,
        conversations: 1,
        parts: 1,
        latency: Some(LatencyModel::parse("default=2ms").expect("latency spec")),
        ..SimConfig::default()
    })
    .await;
    world
        .sim_post("advance", json!({"seconds": 3 * 86_400}))
        .await;
    world
}

fn args(world: &World, config: &Path, out: &str) -> Vec<String> {
    let dir = world.dir.path();
    let (output, state) = if out.is_empty() {
        (world.output(), world.state())
    } else {
        (dir.join(out), dir.join(format!("{out}.db")))
    };
    sync_argv(config, "users", &world.sim.base_url(), &output, &state)
}

/// The users updated within the last `days` days of the truth.
fn updated_within(truth: &BTreeMap<String, i64>, days: i64) -> usize {
    let newest = truth.values().copied().max().unwrap_or(0);
    truth
        .values()
        .filter(|t| **t > newest - days * 86_400)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dense_newest_contact_window_is_read_in_created_at_parts_and_equals_the_truth() {
    let world = dense_world(31).await;
    let truth = truth_of(&world, "users").await;
    let dense = updated_within(&truth, 14);
    assert!(
        dense * 3 > truth.len() && dense > 200,
        "{dense} of {} users updated in the newest 14 days",
        truth.len()
    );
    let config = world.dir.path().join("dense.toml");
    std::fs::write(&config, "page_size = 10\nconcurrency = 8\n").expect("config");
    world.sim_post("reset-stats", json!({})).await;
    let out = run_cli(
        &args(&world, &config, ""),
        &[
            ("INTERCOM_ACCESS_TOKEN", "t"),
            ("RUST_LOG", "info,intercom_export::extract=debug"),
        ],
    )
    .await;
    assert_ok(&out);
    let dirs = run_dirs(&world.output(), "users");
    assert_eq!(dirs.len(), 1);
    let rows = ids_and_updated(&read_parquet_dir(&dirs[0]));
    assert_eq!(rows.len(), truth.len(), "no row twice");
    assert_eq!(unique_map(&rows), truth, "equals the truth");
    // The newest window (more than one reader's share of the rows: an
    // eighth) was cut by `created_at`, more than once, and its parts were
    // read at once.
    let log = stderr(&out);
    let cuts = log
        .lines()
        .filter(|l| l.contains("window over budget; splitting") && l.contains("Created"))
        .count();
    assert!(cuts >= 2, "{cuts} cuts by created_at; log:\n{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("window done") && l.contains("Some(")),
        "parts with a created_at band were read to their end"
    );
    assert!(world.sim_stat("/max_in_flight_by_class/search").await >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_the_dense_windows_parts_are_read_commits_whole_windows_only() {
    let world = dense_world(32).await;
    let truth = truth_of(&world, "users").await;
    let config = world.dir.path().join("kill.toml");
    std::fs::write(
        &config,
        "page_size = 10\nrows_per_file = 25\ncheckpoint_secs = 0\nconcurrency = 8\n",
    )
    .expect("config");
    // The newest window is the last third of the rows or more: kill when
    // about 85% of the pages were handed over (its parts being read), then
    // at a few more pages into the rerun.
    let pages = truth.len() as u64 / 10;
    let run = args(&world, &config, "");
    let mut committed = BTreeMap::new();
    for point in [format!("page:{}", pages * 85 / 100), "page:5".to_string()] {
        assert_eq!(
            run_and_kill_at(&run, &point).await,
            Ended::Killed,
            "{point}"
        );
        let at = cursor_updated_at(&world.state(), "users").await;
        let now = unique_map(&committed_rows(&world, "users").await);
        let upto: BTreeMap<String, i64> = truth
            .iter()
            .filter(|(_, t)| at.is_some_and(|at| **t <= at))
            .map(|(id, t)| (id.clone(), *t))
            .collect();
        // A checkpoint after a part would commit some rows of a window and
        // not others at or below its cursor.
        let missing = upto.keys().filter(|id| !now.contains_key(*id)).count();
        assert!(
            now == upto,
            "{point}: the committed rows are exactly those up to the cursor: \
             {} committed, {} up to it, {missing} of those missing",
            now.len(),
            upto.len()
        );
        assert!(now.len() < truth.len(), "{point}: not everything yet");
        assert!(now.len() >= committed.len());
        committed = now;
    }
    assert!(
        !committed.is_empty(),
        "whole windows before the dense one were committed"
    );
    let out = run_cli(&run, &[("INTERCOM_ACCESS_TOKEN", "t")]).await;
    assert_ok(&out);
    assert_exactly_once(&world, "users", &truth).await;
    assert_disk_matches_state(&world.output(), &world.state()).await;
}
