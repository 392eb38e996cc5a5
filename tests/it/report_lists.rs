//! `reports` and `exclude_reports` from the config file, the environment
//! and the flags (the second trial): an unknown excluded name names where
//! it was given.

use std::path::Path;

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
