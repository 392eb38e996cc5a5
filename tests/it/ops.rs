//! Findings of a new user's trial: a failed write leaves no `.tmp` behind
//! and the next run removes ended runs' leftovers; progress lines in
//! non-terminal logs; fatal errors as JSON; environment typos; clear
//! errors; anomaly warnings that name things.

use std::path::{Path, PathBuf};

use crate::crash::{assert_disk_matches_state, small_world, sync_args, truth_of};
use crate::harness::*;

/// Every file under `dir`, relative to it, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.filter_map(|e| e.ok()) {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(
                    p.strip_prefix(root)
                        .expect("under root")
                        .display()
                        .to_string(),
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn bytes_of(dir: &Path, files: &[String]) -> Vec<(String, Vec<u8>)> {
    files
        .iter()
        .map(|f| (f.clone(), std::fs::read(dir.join(f)).expect("read")))
        .collect()
}

/// A part write that fails like a full disk (the `part_finish` failpoint,
/// the 8th part file closed) ends the report with the error; its `.tmp` part is
/// removed, the checkpoints committed before stay byte for byte, and the
/// next run exports the rest exactly once.
#[tokio::test]
async fn a_failed_part_write_leaves_no_tmp_file_and_keeps_what_was_committed() {
    let world = World::start(small_world()).await;
    // Windows of at most 80 rows (4 a page), a checkpoint after each: the
    // failure comes after some parts were committed.
    let config = world.dir.path().join("windows.toml");
    std::fs::write(
        &config,
        "page_size = 4\nrows_per_file = 25\ncheckpoint_secs = 0\nconcurrency = 1\n",
    )
    .expect("config");
    let args = sync_argv(
        &config,
        "users",
        &world.sim.base_url(),
        &world.output(),
        &world.state(),
    );
    let failed = run_cli(
        &args,
        &[
            ("INTERCOM_ACCESS_TOKEN", "test-token"),
            ("INTERCOM_EXPORT_TEST_FAIL", "part_finish:8"),
        ],
    )
    .await;
    let err = stderr(&failed);
    assert_ne!(failed.status.code(), Some(0), "{err}");
    assert!(
        err.contains("No space left on device") && err.contains(".tmp"),
        "the report fails with the write error naming its file:\n{err}"
    );
    let out = world.output();
    let left = tree(&out);
    assert!(
        left.iter().all(|f| !f.ends_with(".tmp")),
        "no temporary part stays after the failed write: {left:?}"
    );
    // What stayed is what was committed, and the next run leaves it as it is.
    assert_disk_matches_state(&out, &world.state()).await;
    let kept = bytes_of(&out, &left);
    let ok = run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "test-token")]).await;
    assert_ok(&ok);
    for (f, bytes) in &kept {
        assert_eq!(
            std::fs::read(out.join(f)).ok().as_ref(),
            Some(bytes),
            "committed file {f} kept intact"
        );
    }
    let mut rows = Vec::new();
    for dir in run_dirs(&out, "users") {
        rows.extend(ids_and_updated(&read_parquet_dir(&dir)));
    }
    assert_eq!(latest_per_id(rows), truth_of(&world, "users").await);
    assert!(tree(&out).iter().all(|f| !f.ends_with(".tmp")));
}

/// A `.tmp` part left by a run that ended (not one that died: those are
/// recovered as interrupted) is removed by the next sync with one INFO
/// line; the committed parts next to it stay.
#[tokio::test]
async fn the_next_sync_removes_tmp_parts_of_runs_that_ended() {
    let world = World::start(small_world()).await;
    let mut args = sync_args(&world, "sync");
    args.extend(["--reports".into(), "admins,users".into()]);
    let first = run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "test-token")]).await;
    assert_ok(&first);
    let out = world.output();
    let committed = tree(&out);
    assert!(!committed.is_empty());
    let kept = bytes_of(&out, &committed);
    let run_dir: PathBuf = run_dirs(&out, "users").pop().expect("a users run");
    let leftover = run_dir.join("part-00099.parquet.tmp");
    std::fs::write(&leftover, vec![0u8; 4096]).expect("leftover");
    // Not a part: never touched.
    let foreign = run_dir.join("notes.tmp");
    std::fs::write(&foreign, b"mine").expect("foreign");

    let second = run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "test-token")]).await;
    assert_ok(&second);
    assert!(!leftover.exists(), "the ended run's .tmp part is removed");
    assert!(foreign.exists(), "files that are not parts stay");
    for (f, bytes) in &kept {
        assert_eq!(std::fs::read(out.join(f)).ok().as_ref(), Some(bytes), "{f}");
    }
    let err = stderr(&second);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("removed temporary part files left by runs that ended"))
        .collect();
    assert_eq!(lines.len(), 1, "one line:\n{err}");
    assert!(
        lines[0].contains("INFO") && lines[0].contains("removed_files=1"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("part-00099.parquet.tmp"), "{}", lines[0]);
}

/// The numbers after `key=` in `line`.
fn field(line: &str, key: &str) -> Option<u64> {
    let at = line.find(&format!(" {key}="))? + key.len() + 2;
    let digits: String = line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// With stderr not a terminal (a file, a pipe: cron, Kubernetes), a
/// running report logs a progress line every `progress_log_secs`: its
/// name, its rows so far (growing), its requests and its checkpoints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_report_logs_progress_lines_when_stderr_is_not_a_terminal() {
    use intercom_export::simulator::{LatencyModel, SimConfig};
    let world = World::start(SimConfig {
        seed: 21,
        contacts: 10,
        conversations: 100,
        parts: 1,
        latency: Some(LatencyModel::parse("search=200ms,get=10ms").expect("spec")),
        ..SimConfig::default()
    })
    .await;
    // 20 pages of 5, one at a time: about 4 s.
    let config = world.dir.path().join("progress.toml");
    std::fs::write(
        &config,
        "page_size = 5\nconcurrency = 1\ncheckpoint_secs = 0\nprogress_log_secs = 1\n",
    )
    .expect("config");
    let args = sync_argv(
        &config,
        "conversations",
        &world.sim.base_url(),
        &world.output(),
        &world.state(),
    );
    let out = run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "test-token")]).await;
    assert_ok(&out);
    let err = stderr(&out);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("export in progress"))
        .collect();
    assert!(lines.len() >= 2, "progress lines every second:\n{err}");
    let mut rows = Vec::new();
    for line in &lines {
        assert!(
            line.contains("INFO") && line.contains("report=conversations"),
            "{line}"
        );
        rows.push(field(line, "rows").expect("rows="));
        assert!(field(line, "requests").is_some_and(|n| n > 0), "{line}");
        assert!(field(line, "checkpoints").is_some(), "{line}");
    }
    assert!(
        rows.windows(2).all(|w| w[0] <= w[1]) && rows.first() < rows.last(),
        "rows grow: {rows:?}"
    );
    assert!(*rows.last().expect("a line") <= 100, "{rows:?}");
}

/// Every stderr line as JSON (panics naming the line that is not).
fn json_lines(err: &str) -> Vec<serde_json::Value> {
    err.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// With `--log-format json` the fatal error is a JSON record too (level
/// ERROR, message, exit code and kind), after a refused token and for a
/// config error alike: a log collector parses every line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_json_logs_the_fatal_error_is_a_json_record() {
    let secret = "tok_json_fatal_8d1e";
    let world = World::start(intercom_export::simulator::SimConfig {
        contacts: 20,
        conversations: 5,
        reject_tokens: vec![secret.to_string()],
        ..small_world()
    })
    .await;
    let out = world
        .sync_with_token(secret, &["--log-format", "json", "--reports", "admins"])
        .await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(!err.contains(secret), "token leaked");
    let lines = json_lines(&err);
    let last = lines.last().expect("a line");
    // Shaped like the other lines (the second trial: 9 fractional digits
    // where they have 6, and the keys in another order).
    let first = lines.first().expect("a line");
    assert_ne!(first["level"], "ERROR", "{first}");
    let ts_len = |v: &serde_json::Value| v["timestamp"].as_str().map(str::len);
    assert_eq!(ts_len(last), ts_len(first), "{first}\n{last}");
    let raw_last = err.lines().rfind(|l| !l.trim().is_empty()).expect("a line");
    let head = |l: &str| {
        let at = |k: &str| l.find(&format!("\"{k}\":"));
        [at("timestamp"), at("level"), at("message")]
    };
    let raw_first = err.lines().next().expect("a line");
    assert!(
        head(raw_first).is_sorted() && head(raw_first)[0] == Some(1),
        "{raw_first}"
    );
    assert!(
        head(raw_last).is_sorted() && head(raw_last)[0] == Some(1),
        "{raw_last}"
    );
    assert_eq!(last["level"], "ERROR", "{last}");
    assert_eq!(last["exit_code"], 3, "{last}");
    assert_eq!(last["kind"], "auth", "{last}");
    assert!(
        last["message"]
            .as_str()
            .is_some_and(|m| m.contains("rejected the access token")),
        "{last}"
    );

    // A config error, with json asked for on the command line.
    let config = world.dir.path().join("typo.toml");
    std::fs::write(&config, "ouput_dir = \"x\"\n").expect("config");
    let args: Vec<String> = [
        "sync",
        "--log-format",
        "json",
        "--config",
        &config.display().to_string(),
    ]
    .map(String::from)
    .to_vec();
    let out = run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "test-token")]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let lines = json_lines(&stderr(&out));
    let last = lines.last().expect("a line");
    assert_eq!(last["level"], "ERROR", "{last}");
    assert_eq!(
        (&last["exit_code"], &last["kind"]),
        (&2.into(), &"usage".into())
    );
    assert!(
        last["message"]
            .as_str()
            .is_some_and(|m| m.contains("ouput_dir") && m.contains("output_dir")),
        "{last}"
    );
}

/// Custom-attribute values not of their declared type are said per
/// attribute, with sample ids, in the warning and in `--summary-json`; the
/// samples are contacts whose value really does not fit (the truth holds
/// text where the attribute is declared integer or date).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_attribute_misfits_name_the_attribute_and_sample_ids() {
    let world = World::start(small_world()).await;
    let summary = world.dir.path().join("summary.json");
    let summary_arg = summary.display().to_string();
    let out = world
        .sync(&["--reports", "users", "--summary-json", &summary_arg])
        .await;
    assert_ok(&out);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).expect("summary")).expect("json");
    let entry = doc["reports"]
        .as_array()
        .expect("reports")
        .iter()
        .find(|r| r["report"] == "users")
        .expect("users")
        .clone();
    let truth: std::collections::HashMap<String, serde_json::Value> = world
        .truth("contacts")
        .await
        .into_iter()
        .map(|c| (c["id"].as_str().expect("id").to_string(), c))
        .collect();
    let misfits: Vec<&serde_json::Value> = entry["anomalies"]
        .as_array()
        .expect("anomalies")
        .iter()
        .filter(|a| {
            a["kind"] == "unexpected_shapes"
                && a["detail"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("custom attributes"))
        })
        .collect();
    let mut named = Vec::new();
    for a in &misfits {
        let detail = a["detail"].as_str().expect("detail");
        let attribute = ["seats", "renewal date"]
            .into_iter()
            .find(|name| detail.contains(&format!("`{name}`")))
            .unwrap_or_else(|| panic!("names the attribute: {detail}"));
        named.push(attribute);
        let samples = a["samples"].as_array().expect("samples");
        assert!(!samples.is_empty(), "{a}");
        for id in samples {
            let value = &truth[id.as_str().expect("id")]["custom_attributes"][attribute];
            assert!(value.is_string(), "{id}: {attribute} = {value}");
        }
    }
    named.sort();
    assert_eq!(named, ["renewal date", "seats"], "{entry}");
    let err = stderr(&out);
    let warned: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("custom attributes: `seats`"))
        .collect();
    assert_eq!(warned.len(), 1, "{err}");
    assert!(!warned[0].contains("none kept"), "{}", warned[0]);
}

/// An `INTERCOM_*` variable the program does not read (a typo) gets one
/// WARN naming it and the closest one it reads, when one is close; the run
/// goes on (another tool may have set it). A `[[workspace]]` block's `token_env` is read,
/// so it gets none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_intercom_variable_is_named_with_the_closest_known_one() {
    let world = World::start(small_world()).await;
    let args = admins_args(&world, &[]);
    let out = run_cli(
        &args,
        &[
            ("INTERCOM_ACCESS_TOKEN", "test-token"),
            ("INTERCOM_OUTPUT", "/tmp/elsewhere"),
            ("INTERCOM_REPORT", "users"),
            ("INTERCOM_FOO_BAR", "1"),
        ],
    )
    .await;
    assert_ok(&out);
    let err = stderr(&out);
    // A name close to none gets the warning and no guess (the second
    // trial: "did you mean INTERCOM_FORMATS?").
    let far: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("INTERCOM_FOO_BAR is not a variable"))
        .collect();
    assert_eq!(far.len(), 1, "{err}");
    assert!(
        far[0].contains("WARN") && !far[0].contains("did you mean"),
        "{}",
        far[0]
    );
    for (typo, meant) in [
        ("INTERCOM_OUTPUT", "INTERCOM_OUTPUT_DIR"),
        ("INTERCOM_REPORT", "INTERCOM_REPORTS"),
    ] {
        let lines: Vec<&str> = err
            .lines()
            .filter(|l| l.contains(&format!("{typo} is not a variable")))
            .collect();
        assert_eq!(lines.len(), 1, "{typo}:\n{err}");
        assert!(
            lines[0].contains("WARN") && lines[0].contains(&format!("did you mean {meant}?")),
            "{}",
            lines[0]
        );
    }
    // A workspace's token variable is one the program reads.
    let config = world.dir.path().join("blocks.toml");
    std::fs::write(
        &config,
        "[[workspace]]\nname = \"a\"\ntoken_env = \"INTERCOM_TOKEN_BRAND_A\"\n",
    )
    .expect("config");
    let mut args = args;
    args.extend(["--config".into(), config.display().to_string()]);
    let out = run_cli(&args, &[("INTERCOM_TOKEN_BRAND_A", "test-token")]).await;
    assert_ok(&out);
    assert!(
        !stderr(&out).contains("is not a variable"),
        "{}",
        stderr(&out)
    );
}

/// `--state afile/s.db` where `afile` is a regular file: a usage error
/// (exit 2) naming the state path and the file in the way, and how to
/// choose another, from `sync`, `state show` and `state reset` alike;
/// nothing created beside it.
#[tokio::test]
async fn a_state_path_under_a_regular_file_is_a_clear_usage_error() {
    let world = World::start(small_world()).await;
    let afile = world.dir.path().join("afile");
    std::fs::write(&afile, b"not a directory").expect("file");
    let state = afile.join("s.db");
    let args: Vec<String> = [
        "sync",
        "--base-url",
        &world.sim.base_url(),
        "--state",
        &state.display().to_string(),
        "--output",
        &world.output().display().to_string(),
        "--reports",
        "admins",
    ]
    .map(String::from)
    .to_vec();
    let out = run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "test-token")]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    let want = format!(
        "state database {}: its directory {} is not a directory",
        state.display(),
        afile.display()
    );
    assert!(err.contains(&want), "{err}");
    assert!(err.contains("--state"), "{err}");
    assert!(!err.contains("os error"), "{err}");
    // `state show` and `state reset` say the same of the same path (the
    // second trial: `state show` said "no state file … run `sync` first").
    for command in [&["state", "show"][..], &["state", "reset"][..]] {
        let mut args: Vec<String> = command.iter().map(|s| s.to_string()).collect();
        args.extend(["--state".into(), state.display().to_string()]);
        let out = run_cli(&args, &[]).await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {err}");
        assert!(err.contains(&want), "{command:?}: {err}");
        assert!(
            err.contains("--state") && !err.contains("run `sync` first"),
            "{command:?}: {err}"
        );
    }
    assert_eq!(
        std::fs::read(&afile).expect("still there"),
        b"not a directory"
    );
}

/// A refused token ends every running report the same way: one line
/// saying how many (not one per report), exit 3, and a run that wrote
/// nothing leaves no directory behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_said_once_and_leaves_no_empty_directories() {
    let world = World::start(intercom_export::simulator::SimConfig {
        reject_tokens: vec!["tok_refused".into()],
        ..small_world()
    })
    .await;
    let out = world.sync_with_token("tok_refused", &[]).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(
        err.matches("report failed too as the run ended").count(),
        0,
        "{err}"
    );
    assert!(
        err.matches("ended with the same error as the run").count() <= 1,
        "{err}"
    );
    assert!(
        !world.output().exists(),
        "no (empty) output directory: {:?}\n{err}",
        tree(&world.output())
    );
}

/// `--option` for a report the run does not export is said once (it has
/// no effect); the run goes on.
#[tokio::test]
async fn an_option_for_a_report_not_run_is_warned_about_once() {
    let world = World::start(small_world()).await;
    let out = world
        .sync(&[
            "--reports",
            "admins",
            "--option",
            "conversations.state=open",
            "--option",
            "conversations.state=closed",
        ])
        .await;
    assert_ok(&out);
    let err = stderr(&out);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("this run does not export"))
        .collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("WARN") && lines[0].contains("reports=conversations"),
        "{}",
        lines[0]
    );
}

/// `sync` of `admins` against `world` with `extra` arguments (no token).
fn admins_args(world: &World, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "sync",
        "--base-url",
        &world.sim.base_url(),
        "--state",
        &world.state().display().to_string(),
        "--output",
        &world.output().display().to_string(),
        "--reports",
        "admins",
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// The third trial: `INTERCOM_TOKEN=<token>` was answered "did you mean
/// INTERCOM_TOKEN_FILE?", and following it printed the token in "cannot
/// read token_file <token>". A variable with TOKEN in its name is pointed
/// at INTERCOM_ACCESS_TOKEN, the "no access token" error says it was seen
/// and not read, and an unreadable `token_file` is named by where it was
/// given, never by its value: exit 2, in text and JSON logs alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_in_the_wrong_variable_is_pointed_at_the_right_one_and_never_printed() {
    let world = World::start(small_world()).await;
    let secret = "tok-SECRET-3c9f1a";
    for variable in ["INTERCOM_TOKEN", "INTERCOM_API_TOKEN"] {
        let out = run_cli(&admins_args(&world, &[]), &[(variable, secret)]).await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(!err.contains(secret), "token printed: {err}");
        let warned: Vec<&str> = err
            .lines()
            .filter(|l| l.contains(&format!("{variable} is not a variable")))
            .collect();
        assert_eq!(warned.len(), 1, "{err}");
        assert!(
            warned[0].contains("did you mean INTERCOM_ACCESS_TOKEN")
                && !warned[0].contains("did you mean INTERCOM_TOKEN_FILE"),
            "{}",
            warned[0]
        );
        assert!(
            err.contains(&format!(
                "no access token ({variable} is set, but intercom-export does not read it): \
                 set the INTERCOM_ACCESS_TOKEN environment variable"
            )),
            "{err}"
        );
    }

    // The token given as INTERCOM_TOKEN_FILE, or as `token_file` in a
    // config file: the error names the variable or the file and key, the
    // OS error and what to do; the value never.
    let config = world.dir.path().join("tokfile.toml");
    std::fs::write(&config, format!("token_file = \"{secret}\"\n")).expect("config");
    let config_arg = config.display().to_string();
    for (extra, env, named) in [
        (
            &[][..],
            &[("INTERCOM_TOKEN_FILE", secret)][..],
            "the token file that INTERCOM_TOKEN_FILE names".to_string(),
        ),
        (
            &["--config", config_arg.as_str()][..],
            &[][..],
            format!(
                "the token file that `token_file` in the config file {} names",
                config.display()
            ),
        ),
    ] {
        for json in [false, true] {
            let mut extra = extra.to_vec();
            if json {
                extra.extend(["--log-format", "json"]);
            }
            let out = run_cli(&admins_args(&world, &extra), env).await;
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{err}");
            assert!(!err.contains(secret), "token printed: {err}");
            assert!(err.contains(&named), "{named}\n{err}");
            assert!(err.contains("No such file or directory"), "{err}");
            assert!(err.contains("set the INTERCOM_ACCESS_TOKEN"), "{err}");
            if json {
                let last = json_lines(&err).pop().expect("a line");
                assert_eq!(last["level"], "ERROR", "{last}");
            }
        }
    }
    assert_eq!(world.sim_stat("/total").await, 0, "no request");
}

/// `--output afile` and `--output afile/out` where `afile` is a regular
/// file: exit 2 saying the output directory (or its parent) is a file, not
/// "not writable (File exists)"; the file is left as it was.
#[tokio::test]
async fn an_output_directory_that_is_a_file_is_said_to_be_one() {
    let world = World::start(small_world()).await;
    let afile = world.dir.path().join("afile");
    std::fs::write(&afile, b"not a directory").expect("file");
    let under = afile.join("out");
    for (output, want) in [
        (
            &afile,
            format!(
                "output directory {} is a file, not a directory",
                afile.display()
            ),
        ),
        (
            &under,
            format!(
                "output directory {} cannot be created: its parent {} is a file, not a \
                 directory",
                under.display(),
                afile.display()
            ),
        ),
    ] {
        let mut args = admins_args(&world, &[]);
        let at = args.iter().position(|a| a == "--output").expect("--output") + 1;
        args[at] = output.display().to_string();
        // A state in a directory not made yet: a usage error makes none of
        // it (the trial: `st/` and an empty `st/s.db.lock` stayed).
        let state_dir = world.dir.path().join("never-made");
        let at = args.iter().position(|a| a == "--state").expect("--state") + 1;
        args[at] = state_dir.join("s.db").display().to_string();
        let out = run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", "test-token")]).await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(&want), "{want}\n{err}");
        assert!(err.contains("--output"), "{err}");
        assert!(!err.contains("not writable"), "{err}");
        assert!(!state_dir.exists(), "nothing of the state is made: {err}");
    }
    assert_eq!(
        std::fs::read(&afile).expect("still there"),
        b"not a directory"
    );
}
