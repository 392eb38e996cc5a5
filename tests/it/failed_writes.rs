//! A write that fails (a file where a report directory goes, a full disk)
//! ends the report with an error naming the path and what to do, and the
//! run leaves no empty directory it created behind; directories holding an
//! earlier run's files stay as they were.

use std::path::{Path, PathBuf};

use crate::crash::small_world;
use crate::harness::*;

/// Every directory under `root` (itself included) that holds nothing.
fn empty_dirs(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let entries: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        if entries.is_empty() {
            out.push(dir.to_path_buf());
        }
        for p in entries.iter().filter(|p| p.is_dir()) {
            walk(p, out);
        }
    }
    let mut out = Vec::new();
    walk(root, &mut out);
    out
}

/// `sync` of `reports` into `output` with the state `state`, and extra
/// environment variables besides the token.
async fn sync_into(
    world: &World,
    output: &Path,
    state: &Path,
    reports: &str,
    env: &[(&str, &str)],
) -> std::process::Output {
    sync_into_with(world, output, state, reports, env, &[]).await
}

/// [`sync_into`] with more flags after the others.
async fn sync_into_with(
    world: &World,
    output: &Path,
    state: &Path,
    reports: &str,
    env: &[(&str, &str)],
    flags: &[&str],
) -> std::process::Output {
    let mut args: Vec<String> = [
        "sync",
        "--base-url",
        &world.sim.base_url(),
        "--output",
        &output.display().to_string(),
        "--state",
        &state.display().to_string(),
        "--reports",
        reports,
    ]
    .map(String::from)
    .to_vec();
    args.extend(flags.iter().map(|f| f.to_string()));
    let mut all = vec![("INTERCOM_ACCESS_TOKEN", "test-token")];
    all.extend_from_slice(env);
    run_cli(&args, &all).await
}

/// A regular file where a report's directory goes (`out/admins`): that
/// report fails with an error naming the file and what to do (the trial:
/// "output out/admins/<run>: Not a directory", the run directory that was
/// never there); the other report is exported; no empty directory stays.
/// A file, not permissions: the tests run as root, who writes anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_in_the_way_of_a_report_directory_is_named_with_what_to_do() {
    let world = World::start(small_world()).await;
    let out = world.output();
    std::fs::create_dir_all(&out).expect("out");
    let in_the_way = out.join("admins");
    std::fs::write(&in_the_way, b"not a directory").expect("file");

    let failed = sync_into(&world, &out, &world.state(), "admins,teams", &[]).await;
    let err = stderr(&failed);
    assert_eq!(failed.status.code(), Some(4), "partial:\n{err}");
    let want = format!(
        "output {}: a file is in the way of the report directory {}",
        in_the_way.display(),
        in_the_way.display()
    );
    assert!(err.contains(&want), "{want}\n{err}");
    assert!(
        err.contains("move or remove it") && err.contains("--output"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&in_the_way).expect("still there"),
        b"not a directory"
    );
    assert_one_run_equals_truth_ids(&world, &out, "teams", "teams").await;
    assert_eq!(empty_dirs(&out), Vec::<PathBuf>::new());
}

/// A part write that fails like a full disk (the `part_finish` failpoint)
/// on a report's first run into a new output directory: the error names
/// the part file and what to do, and neither the report's directory nor
/// the output directories the run made stay behind empty (the trial:
/// `out/new/admins` stayed). On a later failure the directory holding the
/// earlier run's files stays, byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_first_write_leaves_no_empty_directories_and_keeps_earlier_runs() {
    let world = World::start(small_world()).await;
    let base = world.dir.path().join("fresh");
    let out = base.join("new");
    let full_disk = [("INTERCOM_EXPORT_TEST_FAIL", "part_finish:1")];

    let failed = sync_into(&world, &out, &world.state(), "admins", &full_disk).await;
    let err = stderr(&failed);
    assert_ne!(failed.status.code(), Some(0), "{err}");
    let part = out.join("admins");
    assert!(
        err.contains(&format!("output {}", part.display()))
            && err.contains(".parquet.tmp: No space left on device")
            && err.contains("free space on that disk")
            && err.contains("resumes from its last checkpoint"),
        "{err}"
    );
    assert!(!base.exists(), "{:?}", empty_dirs(&base));

    // An earlier run's files: kept as they are; the failed run's directory goes.
    assert_ok(&sync_into(&world, &out, &world.state(), "admins", &[]).await);
    let earlier = run_dirs(&out, "admins");
    assert_eq!(earlier.len(), 1);
    let files = files_in(&earlier[0], "parquet");
    let bytes: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(f).expect("read"))
        .collect();
    // A second run with a state of its own exports every admin again, and
    // its write fails.
    let other_state = world.dir.path().join("other-state.db");
    let failed = sync_into(&world, &out, &other_state, "admins", &full_disk).await;
    assert_ne!(failed.status.code(), Some(0), "{}", stderr(&failed));
    assert_eq!(run_dirs(&out, "admins"), earlier);
    let now: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(f).expect("read"))
        .collect();
    assert_eq!(now, bytes, "the earlier run's files are untouched");
    assert_eq!(empty_dirs(&base), Vec::<PathBuf>::new());
}

/// A full disk while a format writer writes a part (the `part_write`
/// failpoint: bytes going to the `.tmp` file; a small part is written in
/// one go): the format writer's error ("encoding admins rows: External: No
/// space left on device", no path, counted an internal error) is said as
/// the failed write to that file, with what to do; nothing of it stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_inside_a_format_writer_names_the_part_file() {
    let world = World::start(small_world()).await;
    let base = world.dir.path().join("fresh");
    let out = base.join("new");
    for format in ["parquet", "csv"] {
        let config = world.dir.path().join(format!("{format}.toml"));
        std::fs::write(&config, format!("formats = [\"{format}\"]\n")).expect("config");
        let args: Vec<String> = [
            "sync",
            "--config",
            &config.display().to_string(),
            "--base-url",
            &world.sim.base_url(),
            "--output",
            &out.display().to_string(),
            "--state",
            &world.state().display().to_string(),
            "--reports",
            "admins",
        ]
        .map(String::from)
        .to_vec();
        let failed = run_cli(
            &args,
            &[
                ("INTERCOM_ACCESS_TOKEN", "test-token"),
                ("INTERCOM_EXPORT_TEST_FAIL", "part_write:1"),
            ],
        )
        .await;
        let err = stderr(&failed);
        assert_eq!(failed.status.code(), Some(4), "{format}: {err}");
        let part = out.join("admins");
        assert!(
            err.contains(&format!("output {}", part.display()))
                && err.contains(&format!(".{format}.tmp: No space left on device"))
                && err.contains("free space on that disk"),
            "{format}: {err}"
        );
        assert!(!err.contains("encoding admins rows"), "{format}: {err}");
        assert!(!base.exists(), "{format}: {:?}", empty_dirs(&base));
    }
}

/// A partial run (exit 4) ends with its error line, as every failing
/// command does (the third trial: the last stderr line was a report's
/// WARN, and no `kind: partial` record ever came), naming the failed
/// report; and with `--log-format json` and stdout not a terminal (cron's
/// `>> log 2>&1`) the human summary table is not printed, so every line
/// of the log is JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_run_ends_with_its_error_line_and_json_logs_stay_json() {
    let world = World::start(small_world()).await;
    let out = world.output();
    std::fs::create_dir_all(&out).expect("out");
    std::fs::write(out.join("admins"), b"not a directory").expect("file");

    // Human logs: the summary table on stdout, the error line last on stderr.
    let human = sync_into(&world, &out, &world.state(), "admins,teams", &[]).await;
    assert_eq!(human.status.code(), Some(4), "{}", stderr(&human));
    let err = stderr(&human);
    let last = err.lines().rfind(|l| !l.trim().is_empty()).expect("a line");
    assert!(
        last.starts_with("error: partial run: 1 report(s) failed: admins"),
        "{last}"
    );
    assert!(last.contains("Run the same command again"), "{last}");
    let table = String::from_utf8_lossy(&human.stdout).to_string();
    assert!(table.contains("teams"), "the table on stdout: {table}");

    // JSON logs into a pipe: nothing but JSON records, the last one the
    // partial run's.
    let state = world.dir.path().join("json-state.db");
    let run = sync_into_with(
        &world,
        &out,
        &state,
        "admins,teams",
        &[],
        &["--log-format", "json"],
    )
    .await;
    assert_eq!(run.status.code(), Some(4), "{}", stderr(&run));
    let stdout = String::from_utf8_lossy(&run.stdout).to_string();
    assert!(
        stdout.trim().is_empty(),
        "no human table with JSON logs into a pipe: {stdout}"
    );
    let err = stderr(&run);
    let records: Vec<serde_json::Value> = err
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let last = records.last().expect("a record");
    assert_eq!(last["level"], "ERROR", "{last}");
    assert_eq!(last["kind"], "partial", "{last}");
    assert_eq!(last["exit_code"], 4, "{last}");
    assert!(
        last["message"]
            .as_str()
            .is_some_and(|m| m.contains("failed: admins")),
        "{last}"
    );
}
