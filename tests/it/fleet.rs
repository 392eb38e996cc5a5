//! Running a fleet: several `[[workspace]]` blocks in one config, each with
//! its own simulator, token, output and state rows.

use intercom_export::simulator::SimConfig;

use crate::harness::*;

fn small_world(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        contacts: 300,
        conversations: 60,
        parts: 2,
        ..SimConfig::default()
    }
}

/// Latest (id → updated_at) over every run directory of a report.
fn exported(output: &std::path::Path, report: &str) -> Vec<(String, i64)> {
    run_dirs(output, report)
        .iter()
        .flat_map(|d| ids_and_updated(&read_parquet_dir(d)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workspaces_each_get_their_own_data_and_state() {
    let a = World::start(small_world(1)).await;
    let b = World::start(small_world(2)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let state = dir.path().join("state.db");
    let config = dir.path().join("fleet.toml");
    std::fs::write(
        &config,
        format!(
            "output_dir = {out:?}\nstate_path = {state:?}\nreports = [\"users\", \"conversations\"]\n\n\
             [[workspace]]\nname = \"brand-a\"\nbase_url = \"{}\"\ntoken_env = \"TOKEN_A\"\n\n\
             [[workspace]]\nname = \"brand-b\"\nbase_url = \"{}\"\ntoken_env = \"TOKEN_B\"\n\
             reports = [\"users\"]\n",
            a.sim.base_url(),
            b.sim.base_url()
        ),
    )
    .expect("write config");
    let config = config.display().to_string();
    let env = [("TOKEN_A", "token-a"), ("TOKEN_B", "token-b")];

    // A missing token variable is named, before any work.
    let o = run_cli(
        &["sync".into(), "--config".into(), config.clone()],
        &env[..1],
    )
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("TOKEN_B"), "{}", stderr(&o));
    assert!(!out.exists(), "nothing ran");

    // Only brand-b, by --workspace.
    let o = run_cli(
        &[
            "sync".into(),
            "--config".into(),
            config.clone(),
            "--workspace".into(),
            "brand-b".into(),
        ],
        &env,
    )
    .await;
    assert_ok(&o);
    assert!(!out.join("brand-a").exists(), "brand-a not synced");
    let b_users = truth_map(&b.truth("contacts").await, Some("user"));
    assert_eq!(
        unique_map(&exported(&out.join("brand-b"), "users")),
        b_users
    );

    // Then both: brand-a in full, brand-b has nothing new (its own cursor).
    let o = run_cli(&["sync".into(), "--config".into(), config.clone()], &env).await;
    assert_ok(&o);
    let text = stdout(&o);
    assert!(
        text.contains("workspace brand-a:") && text.contains("workspace brand-b:"),
        "{text}"
    );
    let a_users = truth_map(&a.truth("contacts").await, Some("user"));
    let a_convs = truth_map(&a.truth("conversations").await, None);
    assert_ne!(a_users, b_users, "different seeds, different worlds");
    assert_eq!(
        unique_map(&exported(&out.join("brand-a"), "users")),
        a_users
    );
    assert_eq!(
        unique_map(&exported(&out.join("brand-a"), "conversations")),
        a_convs
    );
    assert_eq!(
        unique_map(&exported(&out.join("brand-b"), "users")),
        b_users,
        "the second brand-b run exported nothing again"
    );
    assert!(!out.join("brand-b").join("conversations").exists());
    // The state keeps them apart.
    let o = run_cli(
        &[
            "state".into(),
            "show".into(),
            "--state".into(),
            state.display().to_string(),
            "--json".into(),
        ],
        &[],
    )
    .await;
    assert_ok(&o);
    let shown: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let cursors = |ws: &str| -> Vec<String> {
        shown["workspaces"][ws]["cursors"]
            .as_array()
            .expect("cursors")
            .iter()
            .map(|c| c["report"].as_str().expect("report").to_string())
            .collect()
    };
    assert_eq!(cursors("brand-a"), ["conversations", "users"]);
    assert_eq!(cursors("brand-b"), ["users"]);

    // Unknown keys in a block are named, with the nearest valid one.
    std::fs::write(
        dir.path().join("bad.toml"),
        "[[workspace]]\nname = \"x\"\ntoken_evn = \"T\"\n",
    )
    .expect("write");
    let o = run_cli(
        &[
            "sync".into(),
            "--config".into(),
            dir.path().join("bad.toml").display().to_string(),
        ],
        &[],
    )
    .await;
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("did you mean `token_env`"),
        "{}",
        stderr(&o)
    );
}
