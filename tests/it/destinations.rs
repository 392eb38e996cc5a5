//! Both destinations behind `output::Destination` (a local directory, an
//! object store) give the same export: a `file://` object-store output (no
//! server needed; the S3 test in `fleet.rs` needs moto) against the
//! simulator's truth and a local export of the same world.

use std::collections::BTreeSet;
use std::path::Path;

use intercom_export::simulator::SimConfig;

use crate::harness::*;

/// Every file under `dir`, as paths relative to it with the run directory
/// (`<report>/<run>/<part>`) replaced by `RUN`.
fn layout(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for report in std::fs::read_dir(dir).expect("output dir") {
        let report = report.expect("entry").path();
        for run in std::fs::read_dir(&report).expect("report dir") {
            for part in std::fs::read_dir(run.expect("entry").path()).expect("run dir") {
                let part = part.expect("entry").path();
                out.insert(format!(
                    "{}/RUN/{}",
                    report.file_name().expect("name").to_string_lossy(),
                    part.file_name().expect("name").to_string_lossy()
                ));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_url_export_equals_a_local_one_and_leaves_no_staging_behind() {
    let world = World::start(SimConfig {
        seed: 23,
        contacts: 80,
        conversations: 5,
        parts: 1,
        companies: 10,
        ..SimConfig::default()
    })
    .await;
    let options = ["--reports", "users,admins", "--format", "parquet,csv"];
    let local = world.sync(&options).await;
    assert_ok(&local);

    let bucket = world.dir.path().join("bucket");
    let tmp = world.dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp");
    let url = format!("file://{}/exports", bucket.display());
    let state = world.dir.path().join("object-state.db");
    let mut args: Vec<String> = [
        "sync",
        "--base-url",
        &world.sim.base_url(),
        "--output",
        &url,
        "--state",
        &state.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(options.iter().map(|s| s.to_string()));
    let env = [
        ("INTERCOM_ACCESS_TOKEN", "test-token"),
        ("TMPDIR", tmp.to_str().expect("utf-8 path")),
    ];
    let remote = run_cli(&args, &env).await;
    assert_ok(&remote);

    let exported = bucket.join("exports");
    let files = layout(&exported);
    assert_eq!(files, layout(&world.output()), "the same parts");
    assert!(
        files.contains("users/RUN/part-00000.parquet")
            && files.contains("users/RUN/part-00000.csv")
            && !files.iter().any(|f| f.ends_with(".tmp")),
        "{files:?}"
    );
    let truth = truth_map(&world.truth("contacts").await, Some("user"));
    for output in [&exported, &world.output()] {
        let dirs = run_dirs(output, "users");
        assert_eq!(dirs.len(), 1, "{dirs:?}");
        let rows = unique_map(&ids_and_updated(&read_parquet_dir(&dirs[0])));
        assert_eq!(rows, truth, "users in {}", output.display());
    }
    let staged: Vec<_> = std::fs::read_dir(&tmp)
        .expect("tmp")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("intercom-export-staging"))
        .collect();
    assert!(staged.is_empty(), "staging left behind: {staged:?}");

    // Nothing changed: nothing published.
    let again = run_cli(&args, &env).await;
    assert_ok(&again);
    assert_eq!(layout(&exported), files);
}
