//! The command line's contract: exit codes and messages for bad input, and
//! the token never showing up in what the program prints.

use serde_json::json;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_token_exits_3_with_advice_and_never_prints_the_token() {
    let secret = "tok_REJECTED_5f2c9a1e";
    let world = World::start(intercom_export::simulator::SimConfig {
        contacts: 50,
        conversations: 10,
        reject_tokens: vec![secret.to_string()],
        ..skeleton_world()
    })
    .await;
    for log_format in ["human", "json"] {
        let out = world
            .sync_with_token(secret, &["--log-format", log_format])
            .await;
        assert_eq!(
            out.status.code(),
            Some(3),
            "auth failure exit code; stderr: {}",
            stderr(&out)
        );
        let err = stderr(&out);
        assert!(err.contains("401"), "{err}");
        assert!(err.contains("rejected"), "{err}");
        assert!(
            err.contains("INTERCOM_ACCESS_TOKEN"),
            "says how to set it: {err}"
        );
        assert!(
            !err.contains(secret) && !stdout(&out).contains(secret),
            "token leaked"
        );
    }
    // Nothing was exported, and the state file does not hold the token.
    for report in ["conversations", "users", "leads"] {
        assert!(
            run_dirs(&world.output(), report)
                .iter()
                .all(|d| files_in(d, "parquet").is_empty())
        );
    }
    let state = std::fs::read(world.state()).expect("state file exists");
    assert!(
        !state.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "token in the state file"
    );
    let stats = world.sim_get("stats").await;
    assert!(
        stats["by_status"]["401"].as_u64().unwrap_or(0) >= 1,
        "{stats}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_exit_2_and_a_message_naming_the_problem() {
    let world = World::start(intercom_export::simulator::SimConfig {
        contacts: 20,
        conversations: 5,
        ..skeleton_world()
    })
    .await;

    // Unknown report: the message lists the valid ones.
    let out = world.sync(&["--reports", "users,contactz"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("contactz") && stderr(&out).contains("leads"),
        "{}",
        stderr(&out)
    );

    // Unknown config key: named.
    let cfg = world.dir.path().join("bad.toml");
    std::fs::write(&cfg, "output_dri = \"x\"\n").expect("write config");
    let out = world.sync(&["--config", &cfg.display().to_string()]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("output_dri"), "{}", stderr(&out));

    // No token at all.
    let out = run_cli(
        &[
            "sync".into(),
            "--base-url".into(),
            world.sim.base_url(),
            "--output".into(),
            world.output().display().to_string(),
            "--state".into(),
            world.state().display().to_string(),
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("INTERCOM_ACCESS_TOKEN"),
        "{}",
        stderr(&out)
    );

    // Output directory that cannot be created (a file is in the way).
    let blocker = world.dir.path().join("a-file");
    std::fs::write(&blocker, "x").expect("write");
    let out = run_cli(
        &[
            "sync".into(),
            "--base-url".into(),
            world.sim.base_url(),
            "--output".into(),
            blocker.join("out").display().to_string(),
            "--state".into(),
            world.state().display().to_string(),
        ],
        &[("INTERCOM_ACCESS_TOKEN", "t")],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!(
            "its parent {} is a file, not a directory",
            blocker.display()
        )),
        "{}",
        stderr(&out)
    );

    // Plain http to a non-loopback host is refused before any request.
    let out = run_cli(
        &[
            "sync".into(),
            "--base-url".into(),
            "http://example.com".into(),
            "--output".into(),
            world.output().display().to_string(),
            "--state".into(),
            world.state().display().to_string(),
        ],
        &[("INTERCOM_ACCESS_TOKEN", "t")],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("plain http"), "{}", stderr(&out));

    // A corrupt state file: clear error, and the file is left alone.
    let garbage = vec![b'#'; 4096];
    std::fs::write(world.state(), &garbage).expect("write");
    let out = world.sync(&[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("state"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(world.state()).expect("state"),
        garbage,
        "state file untouched"
    );

    let stats = world.sim_get("stats").await;
    assert_eq!(
        stats["total"],
        json!(0),
        "no API request was made for bad input"
    );
}

/// Run the binary with `args`, its stdout a pipe whose reader is already
/// closed (what `| head` leaves once it has its lines), stderr captured.
fn run_with_closed_stdout(args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    std::process::Command::new(env!("CARGO_BIN_EXE_intercom-export"))
        .args(args)
        .env_remove("INTERCOM_ACCESS_TOKEN")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("binary runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_ends_a_printing_command_quietly_with_success() {
    // The trial: `state show | head` printed "Broken pipe" and exited 1.
    let world = World::start(intercom_export::simulator::SimConfig {
        contacts: 20,
        conversations: 5,
        ..skeleton_world()
    })
    .await;
    assert_ok(&world.sync(&["--reports", "users"]).await);
    let state = world.state().display().to_string();
    for args in [
        vec!["state", "show", "--state", &state],
        vec!["state", "show", "--json", "--state", &state],
        vec!["reports"],
        vec!["schemas"],
    ] {
        let out = tokio::task::spawn_blocking({
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            move || run_with_closed_stdout(&args.iter().map(String::as_str).collect::<Vec<_>>())
        })
        .await
        .expect("joined");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(
            !err.contains("Broken pipe") && !err.contains("error") && !err.contains("panicked"),
            "{args:?} said nothing: {err}"
        );
    }
}
