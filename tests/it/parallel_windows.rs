//! Search windows read several at once (issue #15), at simulated latency:
//! the simulator sees several searches in flight together, a first sync
//! and a backfill window equal the ground truth exactly once, and a sync killed while windows
//! are read ahead (after checkpoints, in the middle of pages) resumes from
//! its committed prefix without reading it again and without losing or
//! repeating a row.

use std::collections::BTreeMap;
use std::path::Path;

use intercom_export::simulator::{DEFAULT_START_TIME, LatencyModel, SimConfig};
use serde_json::json;

use crate::crash::{
    Ended, assert_disk_matches_state, assert_exactly_once, committed_rows, run_and_kill_at,
    truth_of,
};
use crate::harness::*;

fn world_config(seed: u64, contacts: usize, conversations: usize, latency: &str) -> SimConfig {
    SimConfig {
        seed,
        contacts,
        conversations,
        parts: 1,
        latency: Some(LatencyModel::parse(latency).expect("latency spec")),
        ..SimConfig::default()
    }
}

/// `sync --reports <report>` with `config`, into `out` (a directory under
/// the world's) with its own state.
fn args(world: &World, config: &Path, report: &str, out: &str) -> Vec<String> {
    let dir = world.dir.path();
    let (output, state) = if out.is_empty() {
        (world.output(), world.state())
    } else {
        (dir.join(out), dir.join(format!("{out}.db")))
    };
    sync_argv(config, report, &world.sim.base_url(), &output, &state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sync_reads_windows_at_once_and_equals_the_truth() {
    let world = World::start(world_config(21, 800, 400, "default=20ms")).await;
    let config = world.dir.path().join("parallel.toml");
    std::fs::write(&config, "page_size = 10\nconcurrency = 8\n").expect("config");
    // One report at a time, so searches in flight together are windows of
    // one search read at once.
    for report in ["conversations", "users"] {
        world.sim_post("reset-stats", json!({})).await;
        let out = run_cli(
            &args(&world, &config, report, ""),
            &[("INTERCOM_ACCESS_TOKEN", "t")],
        )
        .await;
        assert_ok(&out);
        let at_once = world.sim_stat("/max_in_flight_by_class/search").await;
        assert!(
            (2..=8).contains(&at_once),
            "{report}: {at_once} searches in flight at once, wanted 2 to 8"
        );
        let truth = truth_of(&world, report).await;
        assert!(truth.len() > 100, "{report}: {} records", truth.len());
        let dirs = run_dirs(&world.output(), report);
        assert_eq!(dirs.len(), 1);
        let rows = ids_and_updated(&read_parquet_dir(&dirs[0]));
        assert_eq!(rows.len(), truth.len(), "{report}: no row twice");
        assert_eq!(unique_map(&rows), truth, "{report}: equals the truth");
    }
    // With concurrency 1 the windows are read one after another.
    std::fs::write(&config, "page_size = 10\nconcurrency = 1\n").expect("config");
    world.sim_post("reset-stats", json!({})).await;
    let out = run_cli(
        &args(&world, &config, "conversations", "one"),
        &[("INTERCOM_ACCESS_TOKEN", "t")],
    )
    .await;
    assert_ok(&out);
    assert_eq!(world.sim_stat("/max_in_flight_by_class/search").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_windows_are_read_ahead_resumes_from_the_committed_prefix() {
    let world = World::start(world_config(22, 10, 400, "default=5ms")).await;
    // 5 rows a page: about 20 windows of 4 pages, a checkpoint after each.
    let config = world.dir.path().join("kill.toml");
    std::fs::write(
        &config,
        "page_size = 5\nrows_per_file = 25\ncheckpoint_secs = 0\nconcurrency = 8\n",
    )
    .expect("config");
    let truth = truth_of(&world, "conversations").await;
    assert_eq!(truth.len(), 400);

    // What a whole first sync asks, into an output of its own.
    world.sim_post("reset-stats", json!({})).await;
    let full = run_cli(
        &args(&world, &config, "conversations", "full"),
        &[("INTERCOM_ACCESS_TOKEN", "t")],
    )
    .await;
    assert_ok(&full);
    let full_searches = world.requests_to("POST /conversations/search").await;

    // Killed after its third checkpoint, then in the middle of pages (the
    // 12th page handed to the writer, windows ahead being read), then after
    // nine more checkpoints; each run resumes the previous one's state.
    let run = args(&world, &config, "conversations", "");
    let mut committed = BTreeMap::new();
    for point in ["checkpoint:3", "page:12", "checkpoint:9"] {
        world.sim_post("reset-stats", json!({})).await;
        assert_eq!(run_and_kill_at(&run, point).await, Ended::Killed, "{point}");
        assert!(
            world.sim_stat("/max_in_flight_by_class/search").await >= 2,
            "{point}: windows were read at once"
        );
        let at = cursor_updated_at(&world.state(), "conversations")
            .await
            .expect("a checkpoint saved a cursor");
        let now = unique_map(&committed_rows(&world, "conversations").await);
        let upto: BTreeMap<String, i64> = truth
            .iter()
            .filter(|(_, t)| **t <= at)
            .map(|(id, t)| (id.clone(), *t))
            .collect();
        assert_eq!(
            now, upto,
            "{point}: the committed rows are exactly those up to the cursor"
        );
        assert!(
            now.len() >= committed.len() && now.len() < truth.len(),
            "{point}: {} of {} rows committed",
            now.len(),
            truth.len()
        );
        committed = now;
    }
    assert!(
        committed.len() * 10 >= truth.len() * 3,
        "the kills leave a prefix worth resuming from: {} of {}",
        committed.len(),
        truth.len()
    );
    let at = committed.values().copied().max().unwrap_or(0);

    // The rerun: exactly once in all, only rows after the cursor, and
    // clearly fewer searches than a whole sync (at least half of the
    // committed share saved).
    world.sim_post("reset-stats", json!({})).await;
    let out = run_cli(&run, &[("INTERCOM_ACCESS_TOKEN", "t")]).await;
    assert_ok(&out);
    assert_exactly_once(&world, "conversations", &truth).await;
    assert_disk_matches_state(&world.output(), &world.state()).await;
    let rerun = world.requests_to("POST /conversations/search").await;
    let saved = full_searches * committed.len() as u64 / (2 * truth.len() as u64);
    assert!(
        rerun + saved <= full_searches,
        "the rerun asked {rerun} searches, a whole sync {full_searches}, with {} of {} rows committed",
        committed.len(),
        truth.len()
    );
    let dirs = run_dirs(&world.output(), "conversations");
    let last = unique_map(&ids_and_updated(&read_parquet_dir(
        dirs.last().expect("a run dir"),
    )));
    assert!(
        last.values().all(|t| *t >= at) && last.keys().all(|id| !committed.contains_key(id)),
        "the rerun wrote only rows after the committed prefix"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_window_is_read_in_windows_at_once_exactly() {
    let world = World::start(world_config(23, 10, 400, "default=20ms")).await;
    let config = world.dir.path().join("backfill.toml");
    std::fs::write(&config, "page_size = 10\nconcurrency = 8\n").expect("config");
    // One backfill window over most of the history, not on a record's second.
    let since = DEFAULT_START_TIME - 700 * 86_400 + 17;
    let mut run = args(&world, &config, "conversations", "");
    run[0] = "backfill".into();
    run.extend(
        [
            "--since",
            &since.to_string(),
            "--until",
            &(DEFAULT_START_TIME + 1).to_string(),
            "--window",
            "800d",
        ]
        .map(String::from),
    );
    world.sim_post("reset-stats", json!({})).await;
    let out = run_cli(&run, &[("INTERCOM_ACCESS_TOKEN", "t")]).await;
    assert_ok(&out);
    let at_once = world.sim_stat("/max_in_flight_by_class/search").await;
    assert!((2..=8).contains(&at_once), "{at_once} searches at once");
    let truth: BTreeMap<String, i64> = truth_of(&world, "conversations")
        .await
        .into_iter()
        .filter(|(_, t)| *t >= since)
        .collect();
    assert!(
        truth.len() > 100 && truth.len() < 400,
        "{} in range",
        truth.len()
    );
    let dirs = run_dirs(&world.output(), "conversations");
    let rows: Vec<(String, i64)> = dirs
        .iter()
        .flat_map(|d| ids_and_updated(&read_parquet_dir(d)))
        .collect();
    assert_eq!(rows.len(), truth.len(), "no row twice");
    assert_eq!(unique_map(&rows), truth, "exactly the records in the range");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_contact_sync_read_at_once_cuts_windows_from_the_oldest_contact() {
    // Contacts updated over the last 1,095 days (the simulator's history),
    // read from the epoch; enough of them that 4-page windows would be
    // narrower than 14 days: windows cut from 1970 on would be 14 days
    // wide, over a thousand of them empty.
    let world = World::start(world_config(23, 5_000, 1, "default=1ms")).await;
    let config = world.dir.path().join("contacts.toml");
    std::fs::write(&config, "page_size = 10\nconcurrency = 4\n").expect("config");
    world.sim_post("reset-stats", json!({})).await;
    let out = run_cli(
        &args(&world, &config, "users", ""),
        &[("INTERCOM_ACCESS_TOKEN", "t")],
    )
    .await;
    assert_ok(&out);
    let truth = truth_of(&world, "users").await;
    let dirs = run_dirs(&world.output(), "users");
    let rows = ids_and_updated(&read_parquet_dir(&dirs[0]));
    assert_eq!(rows.len(), truth.len(), "no row twice");
    assert_eq!(unique_map(&rows), truth, "equals the truth");
    assert!(
        world.sim_stat("/max_in_flight_by_class/search").await >= 2,
        "windows were read at once"
    );
    // Windows of at least 14 days over 1,095 days: at most 78, each read
    // with its ±2-day overlap (18 days read for 14 kept) and one partly
    // filled last page; plus the probe and the oldest-record request.
    let searches = world.requests_to("POST /contacts/search").await;
    let windows = 1_095 / 14;
    let bound = (truth.len() as u64 * 18 / 14).div_ceil(10) + windows + 2;
    assert!(
        searches <= bound,
        "{searches} searches for {} users, at most {bound} expected",
        truth.len()
    );
}
