//! The reports of one run side by side (issue #15): with the simulator
//! answering after a small delay, the reports of a sync overlap, each
//! counts its own requests (adding up to what the simulator served), the
//! three company reports still make one scroll together, and the output is
//! the ground truth exactly once, also after kills while several reports
//! were running.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use intercom_export::simulator::{LatencyModel, SimConfig};
use intercom_export::state::StateStore;
use serde_json::Value;

use crate::crash::{
    Ended, REPORTS, assert_disk_matches_state, assert_exactly_once, small_world, spawn_paused,
    sync_args, truth_of, wait_paused,
};
use crate::harness::*;
use crate::scroll::{company_truth, exported_pairs};

/// 50 companies a scroll page and an empty last page: 5 requests a pass.
const COMPANIES: usize = 200;
const ONE_PASS: u64 = COMPANIES as u64 / 50 + 1;

fn slow_world(latency: &str) -> SimConfig {
    SimConfig {
        companies: COMPANIES,
        latency: Some(LatencyModel::parse(latency).expect("latency spec")),
        ..small_world()
    }
}

/// The most reports running at one instant, from their `started_secs` and
/// `seconds` in `--summary-json` (a report ending as another starts is not
/// counted as overlapping it).
fn most_at_once(reports: &[Value]) -> usize {
    let spans: Vec<(f64, f64)> = reports
        .iter()
        .map(|r| {
            let start = r["started_secs"].as_f64().expect("started_secs");
            let seconds = r["seconds"].as_f64().expect("seconds");
            (start, start + seconds - 0.001)
        })
        .collect();
    spans
        .iter()
        .map(|&(t, _)| spans.iter().filter(|&&(s, e)| s <= t && t < e).count())
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reports_of_a_sync_run_side_by_side_each_counting_its_own_requests() {
    let world = World::start(slow_world("default=30ms")).await;
    let summary_path = world.dir.path().join("summary.json");
    let mut args = sync_args(&world, "sync");
    args.extend(["--summary-json".into(), summary_path.display().to_string()]);
    let out = run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "t")]).await;
    assert_ok(&out);
    let summary: Value =
        serde_json::from_slice(&std::fs::read(&summary_path).expect("summary")).expect("json");
    let reports = summary["reports"].as_array().expect("reports").clone();

    // Every default report ran, in plan (registry) order, none failed.
    let names: Vec<&str> = reports
        .iter()
        .map(|r| r["report"].as_str().expect("name"))
        .collect();
    let defaults: Vec<&str> = intercom_export::reports::ReportName::defaults()
        .iter()
        .map(|r| r.as_str())
        .collect();
    assert_eq!(names, defaults, "the summary keeps plan order");
    assert!(
        reports.iter().all(|r| r["status"] == "succeeded"),
        "{reports:#?}"
    );

    // Side by side, within the bound of 8 reports at once.
    let most = most_at_once(&reports);
    assert!(
        (4..=8).contains(&most),
        "{most} reports at once: {:?}",
        reports
            .iter()
            .map(|r| (&r["report"], &r["started_secs"], &r["seconds"]))
            .collect::<Vec<_>>()
    );

    // Each report counted its own requests: they add up to the run's and
    // to what the simulator served (see below for the reports that may make none).
    let per_report: Vec<u64> = reports
        .iter()
        .map(|r| r["requests"].as_u64().expect("requests"))
        .collect();
    // A report may make none only when it reads what another report of
    // the run already read: the companies scroll (replayed), the
    // custom-attribute lists (cached for the run), or the conversation and
    // ticket search pages (and conversation details) another report asked
    // for (shared for the run).
    let none: Vec<&str> = reports
        .iter()
        .filter(|r| r["requests"].as_u64() == Some(0))
        .filter_map(|r| r["report"].as_str())
        .collect();
    assert!(
        none.iter().all(|r| [
            "companies",
            "company_tags",
            "company_segments",
            "data_attributes",
            "conversations",
            "conversation_parts",
            "conversation_tags",
            "conversation_contacts",
            "lifecycle_events",
            "part_attachments",
            "tickets",
            "ticket_parts",
            "ticket_contacts",
        ]
        .contains(r)),
        "reports that made no request: {none:?} ({per_report:?})"
    );
    let served = world.sim_get("stats").await["total"]
        .as_u64()
        .expect("total");
    assert_eq!(
        per_report.iter().sum::<u64>(),
        served,
        "{names:?} {per_report:?}"
    );
    assert_eq!(summary["requests"].as_u64(), Some(served));

    // One scroll for the three company reports, running together.
    assert_eq!(world.requests_to("GET /companies/scroll").await, ONE_PASS);

    // The output is the ground truth, once.
    for (report, _, _) in REPORTS {
        assert_exactly_once(&world, report, &truth_of(&world, report).await).await;
    }
    let companies = company_truth(&world).await;
    assert_exactly_once(&world, "companies", &companies.companies).await;
    assert_eq!(
        exported_pairs(&world, "company_tags", "tag_id"),
        companies.tags
    );
    assert_eq!(
        exported_pairs(&world, "company_segments", "segment_id"),
        companies.segments
    );
    let tickets = truth_map(&world.truth("tickets").await, None);
    assert_exactly_once(&world, "tickets", &tickets).await;
    assert_disk_matches_state(&world.output(), &world.state()).await;
}

/// Reports with files on disk that the state does not name yet (the parts
/// of reports still being written).
async fn reports_writing(output: &Path, state: &Path) -> BTreeSet<String> {
    let mut writing = BTreeSet::new();
    let Ok(entries) = std::fs::read_dir(output) else {
        return writing;
    };
    // Opened only now: a store dropped without `close` keeps its pool's
    // maintenance task alive, and the test's runtime never shuts down.
    let store = StateStore::open(state).await.expect("state opens");
    for report in entries.filter_map(|e| e.ok()).filter(|e| e.path().is_dir()) {
        let name = report.file_name().to_string_lossy().into_owned();
        let committed: BTreeSet<String> = store
            .committed_files(&name)
            .await
            .expect("files")
            .into_iter()
            .collect();
        for dir in run_dirs(output, &name) {
            for f in std::fs::read_dir(&dir).expect("dir").filter_map(|e| e.ok()) {
                let rel = f
                    .path()
                    .strip_prefix(output)
                    .expect("under output")
                    .display()
                    .to_string();
                if !committed.contains(&rel) {
                    writing.insert(name.clone());
                }
            }
        }
    }
    store.close().await;
    writing
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_several_reports_were_writing_a_rerun_exports_each_row_once() {
    let world = World::start(slow_world("default=10ms")).await;
    let args = sync_args(&world, "sync");
    let mut most_writing = BTreeMap::new();
    // Eight points, so that on a loaded machine at least one of them still
    // finds several reports writing (a run that shares its search pages
    // ends its conversation readers sooner: the last three find the
    // contact fan-outs and `lifecycle_events` writing).
    for point in [
        "page:12",
        "committed:5",
        "page:20",
        "page:30",
        "page:45",
        "page:60",
        "page:80",
        "committed:9",
    ] {
        let mut child = spawn_paused(&args, point);
        match wait_paused(&mut child).await {
            Some(Ended::Exited(code)) => panic!("{point}: ended with {code:?} before the point"),
            Some(Ended::Killed) => unreachable!("wait_paused does not kill"),
            None => {
                // Stopped at the point: which reports have parts not committed?
                let writing = reports_writing(&world.output(), &world.state()).await;
                most_writing.insert(point, writing);
                child.start_kill().expect("SIGKILL");
                child.wait().await.expect("reaped");
            }
        }
    }
    assert!(
        most_writing.values().any(|w| w.len() >= 2),
        "several reports were being written when a kill came: {most_writing:?}"
    );
    let out = run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "t")]).await;
    assert_ok(&out);
    for (report, _, _) in REPORTS {
        assert_exactly_once(&world, report, &truth_of(&world, report).await).await;
    }
    let companies = company_truth(&world).await;
    assert_exactly_once(&world, "companies", &companies.companies).await;
    let tickets = truth_map(&world.truth("tickets").await, None);
    assert_exactly_once(&world, "tickets", &tickets).await;
    assert_disk_matches_state(&world.output(), &world.state()).await;
}
