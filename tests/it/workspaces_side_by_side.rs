//! `[[workspace]]` blocks side by side (issue #15): several workspaces,
//! each with its own token, against one simulator with latency (a token is
//! a workspace there: its own rate-limit window and company scroll), in one
//! SQLite state. Exported as the truth says, overlapping in time (the
//! simulator's `peak_tokens_in_flight`, the workspaces' `started_at` /
//! `finished_at` in `--summary-json`), one after another with
//! `max_parallel_workspaces = 1`, and a workspace whose token is refused
//! fails alone.

use std::path::{Path, PathBuf};

use intercom_export::simulator::{LatencyModel, SimConfig};
use serde_json::Value;

use crate::harness::*;

/// Reports of every workspace: a contact search, a conversation search and
/// the company scroll (one open scroll per workspace in Intercom).
const REPORTS: [&str; 3] = ["users", "conversations", "companies"];

const COMPANIES: usize = 70;
/// Requests of one scroll pass: pages of 50 companies, then an empty page.
const SCROLL_PASS: usize = COMPANIES.div_ceil(50) + 1;

fn world(reject: &[&str]) -> SimConfig {
    SimConfig {
        seed: 15,
        contacts: 60,
        conversations: 20,
        parts: 1,
        companies: COMPANIES,
        rate_limit: Some(1666),
        latency: Some(LatencyModel::parse("default=20ms").expect("latency spec")),
        reject_tokens: reject.iter().map(|t| t.to_string()).collect(),
        ..SimConfig::default()
    }
}

/// A config of `names`, every block against `world` with token variable
/// `TOKEN_<i>`, one state file for all; the output under `dir/out`.
fn fleet_config(dir: &Path, world: &World, names: &[String], extra: &str) -> String {
    let mut text = format!(
        "output_dir = {:?}\nstate_path = {:?}\nreports = {REPORTS:?}\n{extra}\n",
        dir.join("out"),
        dir.join("state.db"),
    );
    for (i, name) in names.iter().enumerate() {
        text.push_str(&format!(
            "[[workspace]]\nname = \"{name}\"\nbase_url = \"{}\"\ntoken_env = \"TOKEN_{i}\"\n\n",
            world.sim.base_url()
        ));
    }
    let path = dir.join("fleet.toml");
    std::fs::write(&path, text).expect("write config");
    path.display().to_string()
}

/// Latest (id → updated_at) over every run of `report` in a workspace's
/// output, asserting no row version was written twice.
fn exported(out: &Path, report: &str) -> std::collections::BTreeMap<String, i64> {
    let rows: Vec<(String, i64)> = run_dirs(out, report)
        .iter()
        .flat_map(|d| ids_and_updated(&read_parquet_dir(d)))
        .collect();
    unique_map(&rows)
}

async fn assert_exported_as_the_truth_says(world: &World, out: &Path) {
    let users = truth_map(&world.truth("contacts").await, Some("user"));
    let conversations = truth_map(&world.truth("conversations").await, None);
    let companies = truth_map(&world.truth("companies").await, None);
    assert!(!users.is_empty() && !conversations.is_empty() && !companies.is_empty());
    assert_eq!(exported(out, "users"), users, "{}", out.display());
    assert_eq!(
        exported(out, "conversations"),
        conversations,
        "{}",
        out.display()
    );
    assert_eq!(exported(out, "companies"), companies, "{}", out.display());
}

/// (name, started_at, finished_at) of every workspace in the summary, in
/// config order.
fn spans(summary: &Value) -> Vec<(String, f64, f64)> {
    summary["workspaces"]
        .as_array()
        .expect("workspaces")
        .iter()
        .map(|w| {
            (
                w["workspace"].as_str().expect("name").to_string(),
                w["started_at"].as_f64().expect("started_at"),
                w["finished_at"].as_f64().expect("finished_at"),
            )
        })
        .collect()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("summary json")).expect("json")
}

async fn sync_fleet(
    config: &str,
    summary: &Path,
    env: &[(String, String)],
) -> std::process::Output {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    run_cli(
        &[
            "sync".into(),
            "--config".into(),
            config.into(),
            "--summary-json".into(),
            summary.display().to_string(),
        ],
        &env,
    )
    .await
}

fn tokens(names: &[String]) -> Vec<(String, String)> {
    (0..names.len())
        .map(|i| (format!("TOKEN_{i}"), format!("token-of-workspace-{i}")))
        .collect()
}

/// What [`fails_alone`] saw of a fleet run in which one workspace failed.
struct FailedAlone {
    /// The run's stdout and stderr.
    text: String,
    stderr: String,
    /// The failed workspace's line in it (`workspace NAME: failed: ...`).
    line: String,
    /// `--summary-json`, and the paths of the config and of the summary
    /// (to run again).
    summary: Value,
    config: String,
    summary_path: PathBuf,
}

/// Sync the workspaces `names` (tokens `env`) against `world`, one of
/// which, `failing`, fails: the run exits `code` (the failing
/// workspace's), prints a `workspace <failing>: failed:` line, lists it
/// alone in the summary's `failed_workspaces` with that exit code, and
/// every other workspace is exported as the truth says while nothing is
/// written for `failing`.
async fn fails_alone(
    world: &World,
    names: &[String],
    env: &[(String, String)],
    failing: &str,
    code: i32,
) -> FailedAlone {
    let dir = world.dir.path().to_path_buf();
    let config = fleet_config(&dir, world, names, "");
    let summary_path = dir.join("summary.json");
    let out = sync_fleet(&config, &summary_path, env).await;
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    let prefix = format!("workspace {failing}: failed:");
    let line = text
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("the {failing} workspace's line: {text}"))
        .to_string();
    let summary = read_json(&summary_path);
    let failed = summary["failed_workspaces"].as_array().expect("failed");
    assert_eq!(failed.len(), 1, "{summary}");
    assert_eq!(failed[0]["workspace"], failing);
    assert_eq!(failed[0]["exit_code"], code);
    for name in names.iter().filter(|n| *n != failing) {
        assert_exported_as_the_truth_says(world, &dir.join("out").join(name)).await;
    }
    assert!(!dir.join("out").join(failing).join("users").exists());
    FailedAlone {
        text,
        stderr: stderr(&out),
        line,
        summary,
        config,
        summary_path,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_workspaces_run_side_by_side_and_one_at_a_time_with_a_bound_of_one() {
    let world = World::start(world(&[])).await;
    let names: Vec<String> = (1..=6).map(|i| format!("brand-{i}")).collect();
    let dir = world.dir.path().to_path_buf();
    let config = fleet_config(&dir, &world, &names, "max_parallel_workspaces = 6");
    let env = tokens(&names);
    let summary_path = dir.join("summary.json");

    let out = sync_fleet(&config, &summary_path, &env).await;
    assert_ok(&out);
    for name in &names {
        assert_exported_as_the_truth_says(&world, &dir.join("out").join(name)).await;
    }
    let stats = world.sim_get("stats").await;
    assert_eq!(stats["tokens"], 6, "{stats}");
    // Each workspace had its own rate-limit window and company scroll: no
    // 429, no `scroll_exists` (400), one scroll pass each.
    assert!(stats["by_status"].get("429").is_none(), "{stats}");
    assert!(stats["by_status"].get("400").is_none(), "{stats}");
    assert_eq!(
        stats["by_endpoint"]["GET /companies/scroll"],
        6 * SCROLL_PASS,
        "{stats}"
    );
    // Side by side: the simulator served several workspaces' requests at
    // the same moment, and every workspace ran while every other did.
    assert!(
        stats["peak_tokens_in_flight"].as_u64().expect("peak") >= 2,
        "{stats}"
    );
    let summary = read_json(&summary_path);
    assert_eq!(summary["exit_code"], 0, "{summary}");
    assert_eq!(summary["max_parallel_workspaces"], 6, "{summary}");
    assert_eq!(summary["failed_workspaces"], serde_json::json!([]));
    let first = spans(&summary);
    assert_eq!(
        first.iter().map(|s| s.0.clone()).collect::<Vec<_>>(),
        names,
        "config order"
    );
    let last_start = first.iter().map(|s| s.1).fold(f64::MIN, f64::max);
    let first_end = first.iter().map(|s| s.2).fold(f64::MAX, f64::min);
    assert!(last_start < first_end, "all six overlapped: {first:?}");
    // Log lines say which workspace they are about.
    for name in &names {
        assert!(
            stderr(&out).contains(&format!("workspace{{name={name}}}")),
            "{name}: {}",
            stderr(&out)
        );
    }
    // Each workspace's block is printed whole: its header, then its table.
    let text = stdout(&out);
    for name in &names {
        let at = text
            .find(&format!("workspace {name}:\n"))
            .unwrap_or_else(|| panic!("{name}: {text}"));
        let block = &text[at..];
        let next = block[1..].find("workspace ").map_or(block.len(), |n| n + 1);
        let block = &block[..next];
        for report in REPORTS {
            assert!(block.contains(&format!("\n{report} ")), "{name}: {block}");
        }
        assert!(block.contains("allowed calls"), "{name}: {block}");
    }

    // Again, one workspace at a time (the environment sets the bound):
    // nothing changed, so nothing new is written, and no two overlap.
    world.sim.sim.reset_stats();
    let mut sequential = env.clone();
    sequential.push(("INTERCOM_MAX_PARALLEL_WORKSPACES".into(), "1".into()));
    let out = sync_fleet(&config, &summary_path, &sequential).await;
    assert_ok(&out);
    for name in &names {
        assert_exported_as_the_truth_says(&world, &dir.join("out").join(name)).await;
    }
    let stats = world.sim_get("stats").await;
    assert_eq!(stats["tokens"], 6, "{stats}");
    assert_eq!(stats["peak_tokens_in_flight"], 1, "{stats}");
    let summary = read_json(&summary_path);
    assert_eq!(summary["max_parallel_workspaces"], 1, "{summary}");
    let second = spans(&summary);
    assert_eq!(second.len(), 6);
    for pair in second.windows(2) {
        assert!(pair[0].2 <= pair[1].1, "one after another: {second:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_whose_token_is_refused_fails_alone() {
    let names: Vec<String> = ["north", "refused", "south", "west"]
        .map(String::from)
        .to_vec();
    let env = tokens(&names);
    let refused = env[1].1.clone();
    let world = World::start(world(&[refused.as_str()])).await;
    let dir = world.dir.path().to_path_buf();
    // 3: an authentication error, the refused workspace's; the others
    // were exported and committed.
    let FailedAlone {
        text,
        stderr,
        line: block,
        summary,
        config,
        summary_path,
    } = fails_alone(&world, &names, &env, "refused", 3).await;
    assert!(text.contains("401"), "{text}");
    // It names where that workspace's token came from (its `token_env`),
    // not the single-workspace variable every block ignores.
    assert!(
        block.contains("TOKEN_1 (its `token_env`)") && !block.contains("INTERCOM_ACCESS_TOKEN"),
        "{block}"
    );
    assert!(!text.contains(&refused) && !stderr.contains(&refused));
    assert_eq!(summary["exit_code"], 3, "{summary}");
    let failed = summary["failed_workspaces"].as_array().expect("failed");
    let error = failed[0]["error"].as_str().expect("error");
    assert!(
        error.contains("401")
            && error.contains("TOKEN_1 (its `token_env`)")
            && !error.contains("INTERCOM_ACCESS_TOKEN"),
        "{summary}"
    );
    let ok: Vec<String> = spans(&summary).into_iter().map(|s| s.0).collect();
    assert_eq!(ok, ["north", "south", "west"]);

    // Their cursors are in the state, and a second run writes nothing new
    // for them.
    let shown = run_cli(
        &[
            "state".into(),
            "show".into(),
            "--state".into(),
            dir.join("state.db").display().to_string(),
            "--json".into(),
        ],
        &[],
    )
    .await;
    assert_ok(&shown);
    let shown: Value = serde_json::from_str(&stdout(&shown)).expect("json");
    let cursors = |ws: &str| -> Vec<String> {
        shown["workspaces"][ws]["cursors"]
            .as_array()
            .map(|c| {
                c.iter()
                    .map(|c| c["report"].as_str().expect("report").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut want: Vec<String> = REPORTS.map(String::from).to_vec();
    want.sort();
    for name in ["north", "south", "west"] {
        assert_eq!(cursors(name), want, "{name}");
    }
    assert!(cursors("refused").is_empty());
    let out_dirs = |name: &str| -> Vec<PathBuf> {
        REPORTS
            .iter()
            .flat_map(|r| run_dirs(&dir.join("out").join(name), r))
            .collect()
    };
    let before = out_dirs("north");
    let again = sync_fleet(&config, &summary_path, &env).await;
    assert_eq!(again.status.code(), Some(3));
    assert_eq!(out_dirs("north"), before, "nothing new for north");
}

#[tokio::test]
async fn each_token_has_its_own_company_scroll() {
    let world = World::start(world(&[])).await;
    let http = reqwest::Client::new();
    let scroll = |token: &'static str, param: Option<String>| {
        let mut url = format!("{}/companies/scroll", world.sim.base_url());
        if let Some(p) = param {
            url.push_str(&format!("?scroll_param={p}"));
        }
        http.get(url).bearer_auth(token).send()
    };
    let a = scroll("token-a", None).await.expect("sim");
    assert_eq!(a.status(), 200);
    let a: Value = a.json().await.expect("json");
    // Another workspace opens its own scroll while the first is open…
    let b = scroll("token-b", None).await.expect("sim");
    assert_eq!(b.status(), 200);
    let b: Value = b.json().await.expect("json");
    assert_ne!(a["scroll_param"], b["scroll_param"]);
    assert_eq!(a["data"], b["data"], "the same first page");
    // …a second one of the same workspace is refused, as by Intercom…
    let again = scroll("token-a", None).await.expect("sim");
    assert_eq!(again.status(), 400);
    let again: Value = again.json().await.expect("json");
    assert_eq!(again["errors"][0]["code"], "scroll_exists");
    // …and a workspace cannot page another's scroll.
    let param = b["scroll_param"].as_str().expect("param").to_string();
    let stolen = scroll("token-a", Some(param.clone())).await.expect("sim");
    assert_eq!(stolen.status(), 404);
    let next = scroll("token-b", Some(param)).await.expect("sim");
    assert_eq!(next.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_with_a_token_file_uses_it_not_intercom_access_token() {
    // The variable holds a token the simulator refuses: a workspace that
    // fell back on it would fail with 401.
    let world = World::start(world(&["the-top-level-token"])).await;
    let dir = world.dir.path().to_path_buf();
    let mut text = format!(
        "output_dir = {:?}\nstate_path = {:?}\nreports = [\"users\"]\n",
        dir.join("out"),
        dir.join("state.db"),
    );
    for name in ["a", "b"] {
        let token = dir.join(format!("token-{name}"));
        std::fs::write(&token, format!("token-of-{name}\n")).expect("token file");
        text.push_str(&format!(
            "\n[[workspace]]\nname = \"{name}\"\nbase_url = \"{}\"\ntoken_file = {:?}\n",
            world.sim.base_url(),
            token.display().to_string()
        ));
    }
    let config = dir.join("fleet.toml");
    std::fs::write(&config, text).expect("config");
    let out = run_cli(
        &[
            "sync".into(),
            "--config".into(),
            config.display().to_string(),
        ],
        &[("INTERCOM_ACCESS_TOKEN", "the-top-level-token")],
    )
    .await;
    assert_ok(&out);
    let stats = world.sim_get("stats").await;
    assert_eq!(stats["tokens"], 2, "each its own token: {stats}");
    assert!(stats["by_status"].get("401").is_none(), "{stats}");
    let users = truth_map(&world.truth("contacts").await, Some("user"));
    for name in ["a", "b"] {
        assert_eq!(exported(&dir.join("out").join(name), "users"), users);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_backfills_side_by_side_in_one_state_each_export_their_range() {
    const DAY: i64 = 86_400;
    let world = World::start(SimConfig {
        history_days: 60,
        ..world(&[])
    })
    .await;
    let names: Vec<String> = (1..=6).map(|i| format!("brand-{i}")).collect();
    let dir = world.dir.path().to_path_buf();
    let config = fleet_config(&dir, &world, &names, "");
    let since = intercom_export::simulator::DEFAULT_START_TIME - 30 * DAY;
    let env = tokens(&names);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = run_cli(
        &[
            "backfill".into(),
            "--config".into(),
            config,
            "--since".into(),
            since.to_string(),
            "--window".into(),
            "10d".into(),
        ],
        &env,
    )
    .await;
    assert_ok(&out);
    let in_range = |m: std::collections::BTreeMap<String, i64>| {
        m.into_iter()
            .filter(|(_, t)| *t >= since)
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let users = in_range(truth_map(&world.truth("contacts").await, Some("user")));
    let conversations = in_range(truth_map(&world.truth("conversations").await, None));
    assert!(!users.is_empty() && !conversations.is_empty());
    for name in &names {
        let out = dir.join("out").join(name);
        assert_eq!(exported(&out, "users"), users, "{name}");
        assert_eq!(exported(&out, "conversations"), conversations, "{name}");
    }
    assert!(world.sim_get("stats").await["peak_tokens_in_flight"].as_u64() > Some(1));
}

/// One workspace whose `token_env` variable is not set (a secret not
/// mounted) fails alone with a configuration error naming the variable;
/// the others are exported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_whose_token_variable_is_unset_fails_alone() {
    let names: Vec<String> = ["north", "unmounted", "south"].map(String::from).to_vec();
    let mut env = tokens(&names);
    env.remove(1);
    let world = World::start(world(&[])).await;
    // 2: a configuration error, the unmounted workspace's.
    let FailedAlone { line, .. } = fails_alone(&world, &names, &env, "unmounted", 2).await;
    assert!(
        line.contains("TOKEN_1") && line.contains("not set"),
        "{line}"
    );
}
