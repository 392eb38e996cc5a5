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

    // A missing token variable is named and fails its own workspace only
    // (a secret not mounted does not stop the other brands)…
    let o = run_cli(
        &["sync".into(), "--config".into(), config.clone()],
        &env[..1],
    )
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("TOKEN_B"), "{}", stderr(&o));
    assert!(!out.join("brand-b").exists(), "brand-b did not run");
    assert!(out.join("brand-a").join("users").exists(), "brand-a ran");
    // …then start again from nothing for the rest of the test.
    std::fs::remove_dir_all(&out).expect("clear the output");
    std::fs::remove_file(&state).expect("clear the state");
    for side in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{side}", state.display()));
    }

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

/// The throwaway PostgreSQL `.ci/run` starts, or `None` (skip) when it is
/// absent; with `CI=true` its absence fails the test.
pub(crate) fn postgres_admin_url(test: &str) -> Option<String> {
    match std::env::var("INTERCOM_EXPORT_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test}: INTERCOM_EXPORT_TEST_POSTGRES_URL is not set (run .ci/run)")
        }
        _ => {
            eprintln!(
                "skipping {test}: INTERCOM_EXPORT_TEST_POSTGRES_URL is not set (.ci/run starts \
                 a PostgreSQL and sets it)"
            );
            None
        }
    }
}

/// A fresh, empty database on the test server; its URL.
pub(crate) async fn fresh_database(admin: &str, name: &str) -> String {
    use sqlx::Executor;
    let pid = std::process::id();
    let db = format!("ie_{name}_{pid}");
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(admin)
        .await
        .expect("test postgres reachable");
    pool.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db}")))
        .await
        .expect("drop database");
    pool.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .await
        .expect("create database");
    pool.close().await;
    let mut url = url::Url::parse(admin).expect("admin url");
    url.set_path(&format!("/{db}"));
    url.to_string()
}

const FLEET_REPORTS: [&str; 3] = ["conversations", "users", "leads"];

/// A config for workers sharing `state` (a short lease for the tests).
fn worker_config(world: &World, state: &str, ttl: u64) -> Vec<String> {
    let config = world.dir.path().join("worker.toml");
    std::fs::write(
        &config,
        format!(
            "state = {state:?}\nlease_ttl_secs = {ttl}\npage_size = 20\nrows_per_file = 25\n\
             reports = [\"conversations\", \"users\", \"leads\"]\n"
        ),
    )
    .expect("config");
    vec![
        "sync".into(),
        "--config".into(),
        config.display().to_string(),
        "--base-url".into(),
        world.sim.base_url(),
        "--output".into(),
        world.output().display().to_string(),
    ]
}

/// Every file under the output is committed in the Postgres state, and
/// every report's rows equal the truth, each row version once.
async fn assert_fleet_exactly_once(world: &World, state_url: &str) {
    for report in FLEET_REPORTS {
        let truth = crate::crash::truth_of(world, report).await;
        crate::crash::assert_exactly_once(world, report, &truth).await;
    }
    let location = intercom_export::state::StateLocation::parse(state_url).expect("state url");
    let store = intercom_export::state::StateStore::connect(&location)
        .await
        .expect("state");
    let mut committed = std::collections::BTreeSet::new();
    for report in FLEET_REPORTS {
        committed.extend(store.committed_files(report).await.expect("files"));
    }
    store.close().await;
    let mut on_disk = std::collections::BTreeSet::new();
    for report in FLEET_REPORTS {
        for dir in run_dirs(&world.output(), report) {
            for f in std::fs::read_dir(&dir).expect("dir").filter_map(|e| e.ok()) {
                let rel = f.path();
                let rel = rel.strip_prefix(world.output()).expect("under output");
                on_disk.insert(rel.display().to_string());
            }
        }
    }
    assert!(!on_disk.is_empty());
    assert_eq!(on_disk, committed, "files on disk == committed files");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_a_postgres_state_and_export_each_report_once() {
    let Some(admin) = postgres_admin_url("two_workers_share_a_postgres_state") else {
        return;
    };
    let state = fresh_database(&admin, "two_workers").await;
    let world = World::start(crate::crash::small_world()).await;
    let args = worker_config(&world, &state, 30);
    let env = [("INTERCOM_ACCESS_TOKEN", "test-token")];
    let (a, b) = tokio::join!(run_cli(&args, &env), run_cli(&args, &env));
    assert_ok(&a);
    assert_ok(&b);
    assert_fleet_exactly_once(&world, &state).await;

    // The simulator moves on; two more workers export only what changed.
    world
        .sim_post("advance", serde_json::json!({ "seconds": 86_400 }))
        .await;
    let (a, b) = tokio::join!(run_cli(&args, &env), run_cli(&args, &env));
    assert_ok(&a);
    assert_ok(&b);
    assert_fleet_exactly_once(&world, &state).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_workers_report_is_taken_over_after_its_lease_expires() {
    let Some(admin) = postgres_admin_url("a_dead_workers_report_is_taken_over") else {
        return;
    };
    let state = fresh_database(&admin, "takeover").await;
    let world = World::start(crate::crash::small_world()).await;
    // Long enough for worker B to start while A's lease is still live.
    let ttl = 5;
    let args = worker_config(&world, &state, ttl);
    // Worker A, exporting only `conversations` (a run's reports go side by
    // side, so which of several is written first is not known), dies with
    // it written but not committed.
    let mut args_a = args.clone();
    args_a.extend(["--reports".to_string(), "conversations".to_string()]);
    let ended = crate::crash::run_and_kill_at(&args_a, "written:1").await;
    assert_eq!(ended, crate::crash::Ended::Killed);
    let leftovers: Vec<_> = run_dirs(&world.output(), "conversations");
    assert_eq!(leftovers.len(), 1, "A left its uncommitted files");

    // Worker B, at once: the report is still leased by A; B skips it and
    // exports the others.
    let env = [("INTERCOM_ACCESS_TOKEN", "test-token")];
    let b = run_cli(&args, &env).await;
    assert_ok(&b);
    assert!(
        stderr(&b).contains("another worker is exporting this report"),
        "{}",
        stderr(&b)
    );
    assert!(
        leftovers[0].exists(),
        "nobody but the lease's next holder cleans A's files"
    );

    // After the lease expired, worker C takes the report over: A's files go,
    // C exports the report.
    tokio::time::sleep(std::time::Duration::from_millis(ttl * 1000 + 500)).await;
    let c = run_cli(&args, &env).await;
    assert_ok(&c);
    assert!(
        stderr(&c).contains("took over the report"),
        "{}",
        stderr(&c)
    );
    assert!(!leftovers[0].exists(), "A's uncommitted files were removed");
    assert_fleet_exactly_once(&world, &state).await;
}

/// The S3-compatible server (moto) `.ci/run` starts, or `None` (skip).
fn s3_endpoint(test: &str) -> Option<String> {
    match std::env::var("INTERCOM_EXPORT_TEST_S3_ENDPOINT") {
        Ok(url) if !url.is_empty() => Some(url.trim_end_matches('/').to_string()),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test}: INTERCOM_EXPORT_TEST_S3_ENDPOINT is not set (run .ci/run)")
        }
        _ => {
            eprintln!(
                "skipping {test}: INTERCOM_EXPORT_TEST_S3_ENDPOINT is not set (.ci/run starts \
                 an S3 server, moto, and sets it)"
            );
            None
        }
    }
}

/// A client of the test server's `bucket` (credentials are moto's dummies).
fn s3_store(endpoint: &str, bucket: &str) -> object_store::aws::AmazonS3 {
    object_store::aws::AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_bucket_name(bucket)
        .with_region("us-east-1")
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .build()
        .expect("s3 client")
}

/// Keys under `prefix` in the test bucket.
async fn s3_keys(store: &object_store::aws::AmazonS3, prefix: &str) -> Vec<String> {
    use futures::TryStreamExt;
    use object_store::ObjectStore;
    let prefix = object_store::path::Path::from(prefix);
    let objects: Vec<_> = store
        .list(Some(&prefix))
        .try_collect()
        .await
        .expect("list objects");
    objects.iter().map(|m| m.location.to_string()).collect()
}

fn s3_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("INTERCOM_ACCESS_TOKEN", "test-token".to_string()),
        ("AWS_ACCESS_KEY_ID", "test".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_ALLOW_HTTP", "true".to_string()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_export_has_the_rows_of_a_local_one_and_no_partial_objects() {
    let Some(endpoint) = s3_endpoint("an_s3_export_has_the_rows_of_a_local_one") else {
        return;
    };
    let world = World::start(crate::crash::small_world()).await;
    let bucket = format!("ie-test-{}", std::process::id());
    let resp = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("s3 reachable");
    assert!(
        resp.status().is_success(),
        "create bucket: {}",
        resp.status()
    );
    let s3 = s3_store(&endpoint, &bucket);
    let env = s3_env(&endpoint);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut args = crate::crash::sync_args(&world, "sync");
    let output_at = args.iter().position(|a| a == "--output").expect("--output") + 1;
    args[output_at] = format!("s3://{bucket}/exports");

    // Killed after its objects were uploaded, before the commit: they are
    // not committed, and the next run deletes them.
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_intercom-export"))
        .args(&args)
        .envs(env.iter().copied())
        .env("INTERCOM_EXPORT_TEST_PAUSE", "in_commit:1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    assert!(
        crate::crash::wait_paused(&mut child).await.is_none(),
        "paused in the commit"
    );
    child.start_kill().expect("SIGKILL");
    child.wait().await.expect("reaped");
    let uploaded = s3_keys(&s3, "exports").await;
    assert!(
        !uploaded.is_empty(),
        "the first report's parts were uploaded"
    );

    // Small pages and a checkpoint after every search window: checkpoint
    // files are uploaded before their commit too.
    let mut checkpointing = env.clone();
    checkpointing.extend([
        ("INTERCOM_PAGE_SIZE", "4"),
        ("INTERCOM_CHECKPOINT_SECS", "0"),
    ]);
    let o = run_cli(&args, &checkpointing).await;
    assert_ok(&o);
    // Every object is a complete, committed part: no temporary names, no
    // leftovers of the killed run.
    let keys = s3_keys(&s3, "exports").await;
    let store = intercom_export::state::StateStore::open(&world.state())
        .await
        .expect("state");
    let mut committed = Vec::new();
    let mut reports: Vec<&str> = keys.iter().filter_map(|k| k.split('/').nth(1)).collect();
    reports.dedup();
    for report in crate::crash::REPORTS.map(|r| r.0) {
        assert!(reports.contains(&report), "{report} was exported");
    }
    for report in reports {
        committed.extend(
            store
                .committed_files(report)
                .await
                .expect("files")
                .into_iter()
                .map(|p| format!("exports/{p}")),
        );
    }
    store.close().await;
    let mut keys_sorted = keys.clone();
    keys_sorted.sort();
    committed.sort();
    assert_eq!(keys_sorted, committed, "objects == committed files");
    for old in &uploaded {
        assert!(
            !keys.contains(old),
            "{old}: the killed run's object was deleted"
        );
    }

    // The same rows as a local export of the same world.
    let local = World::start(crate::crash::small_world()).await;
    let o = run_cli(
        &crate::crash::sync_args(&local, "sync"),
        &[("INTERCOM_ACCESS_TOKEN", "t")],
    )
    .await;
    assert_ok(&o);
    for report in crate::crash::REPORTS.map(|r| r.0) {
        let mut s3_rows = Vec::new();
        for key in keys
            .iter()
            .filter(|k| k.starts_with(&format!("exports/{report}/")))
        {
            assert!(key.ends_with(".parquet"), "{key}");
            let body = object_store::ObjectStoreExt::get(
                &s3,
                &object_store::path::Path::from(key.as_str()),
            )
            .await
            .expect("get")
            .bytes()
            .await
            .expect("body");
            let reader =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(body)
                    .expect("a complete parquet object")
                    .build()
                    .expect("reader");
            let batches: Vec<_> = reader.map(|b| b.expect("batch")).collect();
            s3_rows.extend(ids_and_updated(&batches));
        }
        let local_rows: Vec<(String, i64)> = run_dirs(&local.output(), report)
            .iter()
            .flat_map(|d| ids_and_updated(&read_parquet_dir(d)))
            .collect();
        let truth = crate::crash::truth_of(&world, report).await;
        assert_eq!(unique_map(&s3_rows), truth, "{report}: s3 export == truth");
        assert_eq!(
            unique_map(&s3_rows),
            unique_map(&local_rows),
            "{report}: s3 == local"
        );
    }
}
