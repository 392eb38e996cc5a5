//! Tests of the state store: cursors, commits, failed items, backfill jobs,
//! locations and workspaces.

use super::*;

#[tokio::test]
async fn cursor_moves_only_with_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = StateStore::open(&dir.path().join("state.db"))
        .await
        .expect("open");
    let run = store.begin_run("sync").await.expect("run");
    assert!(run.key.ends_with("-000001"), "{}", run.key);
    assert_eq!(store.cursor("users", "").await.expect("cursor"), None);
    store
        .commit_report(&run, "users", "", &[], 0, Some("{\"t\":1}"))
        .await
        .expect("commit");
    assert_eq!(
        store.cursor("users", "").await.expect("cursor").as_deref(),
        Some("{\"t\":1}")
    );
    store
        .finish_run(&run, RunStatus::Succeeded)
        .await
        .expect("finish");
    let run2 = store.begin_run("sync").await.expect("run");
    assert!(run2.key > run.key || run2.key.ends_with("-000002"));
}

#[tokio::test]
async fn failed_items_are_counted_retried_and_cleared_in_the_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = StateStore::open(&dir.path().join("state.db"))
        .await
        .expect("open");
    let item = |id: &str, error: &str| FailedItem {
        id: id.into(),
        error: error.into(),
    };
    let run = store.begin_run("sync").await.expect("run");
    let failed = [item("c1", "HTTP 500"), item("c2", "timeout")];
    store
        .commit(
            &run,
            "conversation_parts",
            &Commit {
                rows: 5,
                cursor: Some("{}"),
                failed: &failed,
                ..Commit::default()
            },
        )
        .await
        .expect("commit");
    assert_eq!(
        store.failed_ids("conversation_parts").await.expect("ids"),
        ["c1", "c2"]
    );
    // Next run: c1 recovered, c2 failed again.
    let run2 = store.begin_run("sync").await.expect("run");
    store
        .commit(
            &run2,
            "conversation_parts",
            &Commit {
                failed: &[item("c2", "HTTP 502")],
                recovered: &["c1".to_string()],
                ..Commit::default()
            },
        )
        .await
        .expect("commit");
    let report = store.report(10).await.expect("report");
    assert_eq!(report.failed_items.len(), 1);
    let c2 = &report.failed_items[0];
    assert_eq!((c2.item_id.as_str(), c2.attempts), ("c2", 2));
    assert_eq!(c2.last_error, "HTTP 502");
    assert_eq!(report.runs[0].failed_items, 1);
    assert_eq!(report.runs[1].failed_items, 2);
    // A reset forgets them together with the cursor.
    assert_eq!(
        store
            .reset(Some("conversation_parts"))
            .await
            .expect("reset"),
        1
    );
    assert!(
        store
            .failed_ids("conversation_parts")
            .await
            .expect("ids")
            .is_empty()
    );
    assert_eq!(
        store.cursor("conversation_parts", "").await.expect("c"),
        None
    );
}

#[tokio::test]
async fn a_backfill_job_is_found_again_with_the_same_arguments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = StateStore::open(&dir.path().join("state.db"))
        .await
        .expect("open");
    let (job, resumed) = store.backfill_job(100, None, 10).await.expect("job");
    assert!(!resumed);
    let run = store.begin_run("backfill").await.expect("run");
    store
        .commit(
            &run,
            "users",
            &Commit {
                window: Some((job.id, 100, 110)),
                ..Commit::default()
            },
        )
        .await
        .expect("commit");
    let (again, resumed) = store.backfill_job(100, None, 10).await.expect("job");
    assert!(resumed);
    assert_eq!(again, job, "same until, so the same windows");
    assert_eq!(store.done_windows(&job, "users").await.expect("w"), [100]);
    assert!(
        store
            .done_windows(&job, "leads")
            .await
            .expect("w")
            .is_empty()
    );
    store.finish_backfill(&job).await.expect("finish");
    let (fresh, resumed) = store.backfill_job(100, None, 10).await.expect("job");
    assert!(!resumed && fresh.id != job.id);
}

#[test]
fn state_locations_parse_and_passwords_never_show() {
    let p = |t: &str| StateLocation::parse(t);
    assert_eq!(
        p("sqlite://data/s.db").expect("sqlite"),
        StateLocation::Sqlite("data/s.db".into())
    );
    assert_eq!(
        p("/var/lib/s.db").expect("path"),
        StateLocation::Sqlite("/var/lib/s.db".into())
    );
    let pg = p("postgres://u:hunter2@db:5432/ie").expect("postgres");
    assert!(pg.is_shared());
    let shown = pg.path_for_messages().display().to_string();
    assert!(
        !shown.contains("hunter2") && shown.contains("***"),
        "{shown}"
    );
    let err = p("mysql://db/x").expect_err("unsupported").to_string();
    assert!(err.contains("postgres://"), "{err}");
}

#[tokio::test]
async fn workspaces_keep_cursors_apart_in_one_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = StateStore::open(&dir.path().join("state.db"))
        .await
        .expect("open");
    let a = store.scoped("a");
    let run = a.begin_run("sync").await.expect("run");
    a.commit_report(&run, "users", "", &[], 0, Some("{\"a\":1}"))
        .await
        .expect("commit");
    assert_eq!(
        a.cursor("users", "").await.expect("c").as_deref(),
        Some("{\"a\":1}")
    );
    assert_eq!(store.cursor("users", "").await.expect("c"), None);
    assert_eq!(
        store.scoped("b").cursor("users", "").await.expect("c"),
        None
    );
    assert_eq!(store.workspaces().await.expect("ws"), ["a"]);
    assert_eq!(store.scoped("b").reset(None).await.expect("reset"), 0);
    assert_eq!(a.reset(None).await.expect("reset"), 1);
}

#[tokio::test]
async fn garbage_file_gives_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.db");
    std::fs::write(&path, b"this is not sqlite, just some bytes that go on and on ...........................................................................................").expect("write");
    let err = match StateStore::open(&path).await {
        Ok(_) => panic!("a garbage file must not open"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("move it aside"), "{err}");
    assert!(err.contains("state.db"), "{err}");
}
