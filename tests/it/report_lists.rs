//! `reports` and `exclude_reports` from the config file, the environment
//! and the flags (the second trial): the command line wins over the config
//! file with one warning, one source naming a report in both lists is an
//! error naming both, and an unknown excluded name names where it was given.

use std::path::Path;
use std::process::Output;

use crate::crash::small_world;
use crate::harness::*;

/// `sync --config <config>` with `extra` flags and `env` besides the token.
async fn sync_with(
    world: &World,
    config: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut args: Vec<String> = [
        "sync",
        "--config",
        &config.display().to_string(),
        "--base-url",
        &world.sim.base_url(),
        "--output",
        &world.output().display().to_string(),
        "--state",
        &world.state().display().to_string(),
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut all = vec![("INTERCOM_ACCESS_TOKEN", "test-token")];
    all.extend_from_slice(env);
    run_cli(&args, &all).await
}

/// The reports a run's `--summary-json` lists, sorted.
fn ran(summary: &Path) -> Vec<String> {
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(summary).expect("summary")).expect("json");
    let mut names: Vec<String> = doc["reports"]
        .as_array()
        .expect("reports")
        .iter()
        .map(|r| r["report"].as_str().expect("name").to_string())
        .collect();
    names.sort();
    names
}

/// A config's `exclude_reports` names `teams`; `--reports admins,teams`
/// (and then `INTERCOM_REPORTS=admins,teams`) exports `teams` anyway, every
/// team of the truth, with one warning naming the config file's key, the
/// report and what overrode it (the trial: `teams` silently left out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_named_on_the_command_line_wins_over_the_configs_exclusion() {
    let world = World::start(small_world()).await;
    let config = world.dir.path().join("exclude.toml");
    std::fs::write(&config, "exclude_reports = [\"teams\", \"tickets\"]\n").expect("config");
    let summary = world.dir.path().join("summary.json");
    let summary_arg = summary.display().to_string();

    let out = sync_with(
        &world,
        &config,
        &["--reports", "admins,teams", "--summary-json", &summary_arg],
        &[],
    )
    .await;
    let want = format!(
        "`exclude_reports` in the config file {} leaves out teams, which --reports names: it is \
         exported (the command line overrides the config file)",
        config.display()
    );
    admins_and_teams_ran_with_one_warning(&out, &summary, &want);
    assert_one_run_equals_truth_ids(&world, &world.output(), "teams", "teams").await;

    // The same from the environment.
    let out = sync_with(
        &world,
        &config,
        &["--summary-json", &summary_arg],
        &[("INTERCOM_REPORTS", "admins,teams")],
    )
    .await;
    admins_and_teams_ran_with_one_warning(
        &out,
        &summary,
        "which INTERCOM_REPORTS names: it is exported (the environment overrides the config file)",
    );

    // The exclusion from the environment, no config file involved: the
    // warning names the environment (the third trial: it said "the command
    // line overrides the config file").
    let empty = world.dir.path().join("empty.toml");
    std::fs::write(&empty, "").expect("config");
    let out = sync_with(
        &world,
        &empty,
        &["--reports", "admins,teams", "--summary-json", &summary_arg],
        &[("INTERCOM_EXCLUDE_REPORTS", "teams")],
    )
    .await;
    let warned = admins_and_teams_ran_with_one_warning(
        &out,
        &summary,
        "INTERCOM_EXCLUDE_REPORTS leaves out teams, which --reports names: it is exported \
         (the command line overrides the environment)",
    );
    assert!(!warned.contains("config file"), "{warned}");

    // The config's exclusion still applies to the reports it did not name
    // on the command line: the default reports without teams and tickets.
    let out = sync_with(&world, &config, &["--summary-json", &summary_arg], &[]).await;
    assert_ok(&out);
    let all = ran(&summary);
    assert!(all.contains(&"admins".to_string()), "{all:?}");
    assert!(
        !all.contains(&"teams".to_string()) && !all.contains(&"tickets".to_string()),
        "{all:?}"
    );
    assert!(!stderr(&out).contains("leaves out"), "{}", stderr(&out));
}

/// One source naming a report in both lists is a usage error naming both
/// (`--reports admins,teams --exclude-reports teams`), before any request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_source_naming_a_report_in_both_lists_is_an_error_naming_both() {
    let world = World::start(small_world()).await;
    let config = world.dir.path().join("empty.toml");
    std::fs::write(&config, "").expect("config");
    let out = sync_with(
        &world,
        &config,
        &["--reports", "admins,teams", "--exclude-reports", "teams"],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("--reports and --exclude-reports both name teams; keep it in one of them"),
        "{err}"
    );
    assert_eq!(world.sim_stat("/total").await, 0, "no request");

    std::fs::write(
        &config,
        "reports = [\"admins\", \"teams\"]\nexclude_reports = [\"teams\"]\n",
    )
    .expect("config");
    let out = sync_with(&world, &config, &[], &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let path = config.display();
    // The file named once (the third trial: its path was said twice).
    let want = format!("`reports` and `exclude_reports` in the config file {path} both name teams");
    assert!(stderr(&out).contains(&want), "{}", stderr(&out));
}

/// An unknown name in `exclude_reports`, `INTERCOM_EXCLUDE_REPORTS` or
/// `--exclude-reports`: exit 2 naming where it was given, the name, the
/// nearest report and the valid ones (the trial: no source was named).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_excluded_report_names_where_it_was_given() {
    let world = World::start(small_world()).await;
    let config = world.dir.path().join("typo.toml");
    std::fs::write(&config, "exclude_reports = [\"tikets\"]\n").expect("config");
    let empty = world.dir.path().join("empty.toml");
    std::fs::write(&empty, "").expect("config");
    let in_file = format!(
        "`exclude_reports` in the config file {}: ",
        config.display()
    );
    for (config, extra, env, source) in [
        (&config, &[][..], &[][..], in_file.as_str()),
        (
            &empty,
            &[][..],
            &[("INTERCOM_EXCLUDE_REPORTS", "tikets")][..],
            "INTERCOM_EXCLUDE_REPORTS: ",
        ),
        (
            &empty,
            &["--exclude-reports", "tikets"][..],
            &[][..],
            "--exclude-reports: ",
        ),
    ] {
        let out = sync_with(&world, config, extra, env).await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{source}: {err}");
        let want = format!(
            "{source}unknown report \"tikets\" (did you mean \"tickets\"?); valid reports are: "
        );
        assert!(err.contains(&want), "{want}\n{err}");
        assert!(err.contains("admins, "), "the valid names: {err}");
    }
}

/// The run succeeded, exported exactly `admins` and `teams` (its
/// `--summary-json` at `summary`), and warned once about an override, a
/// warning that contains `want`; returns that warning.
fn admins_and_teams_ran_with_one_warning(out: &Output, summary: &Path, want: &str) -> String {
    assert_ok(out);
    assert_eq!(ran(summary), ["admins", "teams"]);
    let err = stderr(out);
    let warned = override_warnings(&err);
    assert_eq!(warned.len(), 1, "{err}");
    assert!(warned[0].contains(want), "{want}\n{}", warned[0]);
    warned[0].to_string()
}

/// The WARN lines saying an exclusion was overridden.
fn override_warnings(err: &str) -> Vec<&str> {
    err.lines()
        .filter(|l| l.contains("WARN") && l.contains("leaves out"))
        .collect()
}
