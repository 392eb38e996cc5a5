//! A fan-out's parent search read several windows ahead (issue #15): the
//! search pages of `conversation_contacts` (a mapping table whose requests
//! are mostly its parent search) are in flight together at simulated
//! latency, every (conversation, contact) pair is written once, and a sync
//! killed while windows were read ahead resumes from its last checkpoint:
//! the rerun redoes the window in progress and re-reads the pages read
//! ahead, nothing before the checkpoint.

use std::collections::BTreeSet;
use std::path::Path;

use intercom_export::extract::fanout::FEW_CHILDREN_AHEAD_PAGES;
use intercom_export::simulator::{LatencyModel, SimConfig};
use serde_json::json;

use crate::crash::{assert_disk_matches_state, spawn_paused, wait_paused};
use crate::harness::*;

const REPORT: &str = "conversation_contacts";
const SEARCH: &str = "POST /conversations/search";

fn world_config(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        contacts: 200,
        conversations: 600,
        parts: 1,
        latency: Some(LatencyModel::parse("search=20ms,default=2ms").expect("latency spec")),
        ..SimConfig::default()
    }
}

/// `sync --reports conversation_contacts`, 10 conversations a page (60
/// search pages: 15 windows of about 4), a checkpoint after every window.
fn sync_args(world: &World, output: &Path, state: &Path) -> Vec<String> {
    let config = world.dir.path().join("ahead.toml");
    if !config.exists() {
        std::fs::write(
            &config,
            "page_size = 10\nrows_per_file = 50\ncheckpoint_secs = 0\nconcurrency = 8\n",
        )
        .expect("config");
    }
    sync_argv(&config, REPORT, &world.sim.base_url(), output, state)
}

/// Every exported `(conversation_id, conversation_updated_at, contact_id)`
/// row under `output`, in a sorted list (a row twice stays twice).
fn exported_rows(output: &Path) -> Vec<(String, String, String)> {
    let mut rows: Vec<(String, String, String)> = run_dirs(output, REPORT)
        .iter()
        .flat_map(|d| json_rows(&read_parquet_dir(d)))
        .map(|r| {
            let text = |k: &str| r.get(k).map_or("-".to_string(), |v| v.to_string());
            (
                text("conversation_id"),
                text("conversation_updated_at"),
                text("contact_id"),
            )
        })
        .collect();
    rows.sort();
    rows
}

/// The pairs of `rows` with a contact.
fn pairs(rows: &[(String, String, String)]) -> BTreeSet<(String, String)> {
    rows.iter()
        .filter(|(_, _, contact)| contact != "-")
        .map(|(c, _, contact)| (c.trim_matches('"').into(), contact.trim_matches('"').into()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fanout_reads_its_parent_windows_side_by_side_and_writes_each_pair_once() {
    let world = World::start(world_config(31)).await;
    let args = sync_args(&world, &world.output(), &world.state());
    assert_ok(&run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "t")]).await);
    // One window at a time, as before, never had two search pages out.
    let searches_at_once = world.sim_stat("/max_in_flight_by_class/search").await;
    assert!(
        searches_at_once >= 2,
        "parent search pages in flight at once: {searches_at_once}"
    );
    let rows = exported_rows(&world.output());
    let mut unique = rows.clone();
    unique.dedup();
    assert_eq!(unique.len(), rows.len(), "a row twice");
    let want = truth_contact_pairs(&world).await;
    assert!(want.len() > 300, "{} pairs", want.len());
    assert_eq!(pairs(&rows), want);
    assert_disk_matches_state(&world.output(), &world.state()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fanout_killed_while_reading_parents_ahead_redoes_only_what_follows_its_checkpoint() {
    let world = World::start(world_config(32)).await;
    let scratch = tempfile::tempdir().expect("tempdir");

    // A full first sync on its own state: its requests and its rows.
    let (ref_out, ref_state) = (scratch.path().join("out"), scratch.path().join("s.db"));
    world.sim_post("reset-stats", json!({})).await;
    assert_ok(
        &run_cli(
            &sync_args(&world, &ref_out, &ref_state),
            &[("INTERCOM_ACCESS_TOKEN", "t")],
        )
        .await,
    );
    let full = world.sim_stat("/total").await;
    let full_searches = world.requests_to(SEARCH).await;
    assert!(full_searches >= 60, "{full_searches} search requests");

    // The same sync, stopped right after its 5th checkpoint (of about 15
    // windows), with windows read ahead in flight, then SIGKILLed there.
    world.sim_post("reset-stats", json!({})).await;
    let args = sync_args(&world, &world.output(), &world.state());
    let mut child = spawn_paused(&args, "checkpoint:5");
    assert_eq!(
        wait_paused(&mut child).await,
        None,
        "paused at the checkpoint"
    );
    // Let the simulator answer what was in flight when it stopped.
    for _ in 0..200 {
        if world.sim_stat("/in_flight").await == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let before = world.sim_stat("/total").await;
    let ahead = world.sim_stat("/max_in_flight_by_class/search").await;
    child.start_kill().expect("SIGKILL");
    child.wait().await.expect("reaped");
    assert!(ahead >= 2, "windows were read ahead: {ahead} at once");

    // The rerun goes on from the checkpoint.
    world.sim_post("reset-stats", json!({})).await;
    assert_ok(&run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "t")]).await);
    let after = world.sim_stat("/total").await;
    let redone = (before + after).saturating_sub(full);
    eprintln!("killed after {before} of {full} requests; the rerun made {after}; {redone} redone");
    // Redone: the window in progress (split at twice its 4 pages at most)
    // and its children, the pages read ahead (the memory bound), and the
    // rerun's probe; never the 5 windows before the checkpoint (a third of
    // the requests).
    let per_window = full.div_ceil(15);
    let bound = 2 * per_window + FEW_CHILDREN_AHEAD_PAGES as u64 + 2;
    assert!(
        redone <= bound,
        "killed after {before} of {full} requests, the rerun made {after}: {redone} redone, \
         more than {bound}"
    );
    assert!(
        before * 8 >= full,
        "the kill came after 5 of about 15 windows: {before} of {full} requests"
    );

    // Exactly once: the rows of the uninterrupted sync, none twice.
    let got = exported_rows(&world.output());
    assert_eq!(got, exported_rows(&ref_out), "the rows of a full sync");
    assert_eq!(pairs(&got), truth_contact_pairs(&world).await);
    assert_disk_matches_state(&world.output(), &world.state()).await;
}
