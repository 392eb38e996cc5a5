//! `activity_logs`, `articles`, `collections` and `help_centers` (issue
//! #17) against the simulator's truth (`/__sim/truth/<name>`), column by
//! column: a first sync exports the whole truth, and after the clock moves
//! the next sync exports exactly what changed (for the snapshot, the whole
//! list only when it changed); a lookback re-read writes nothing twice.

use std::collections::{BTreeMap, BTreeSet};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use intercom_export::simulator::SimConfig;
use serde_json::{Value, json};

use crate::harness::{World, assert_ok, read_parquet_dir, run_dirs};

const DAY: i64 = 86_400;

/// A small world with a month of history (about 250 activity logs).
fn small_world() -> SimConfig {
    SimConfig {
        seed: 23,
        contacts: 40,
        conversations: 20,
        companies: 5,
        tickets: 5,
        parts: 2,
        history_days: 30,
        ..SimConfig::default()
    }
}

/// Run `sync` with a config file holding `config` and the extra flags.
async fn sync(world: &World, config: &str, extra: &[&str]) {
    let path = world.dir.path().join("helpcenter.toml");
    std::fs::write(&path, config).expect("config");
    let path = path.display().to_string();
    let mut args = vec!["--config", path.as_str()];
    args.extend_from_slice(extra);
    assert_ok(&world.sync(&args).await);
}

/// One row as column name → JSON value (timestamps in unix seconds, JSON
/// columns parsed, lists as arrays, nulls as null); `_run_id` and
/// `_extracted_at` left out.
type Row = BTreeMap<String, Value>;

fn rows(batches: &[RecordBatch], json_columns: &[&str]) -> Vec<Row> {
    let mut out = Vec::new();
    for b in batches {
        for i in 0..b.num_rows() {
            let mut row = Row::new();
            for (field, col) in b.schema().fields().iter().zip(b.columns()) {
                let name = field.name();
                if name.starts_with('_') {
                    continue;
                }
                let v = if col.is_null(i) {
                    Value::Null
                } else {
                    match field.data_type() {
                        DataType::Utf8 => {
                            let s = col.as_string::<i32>().value(i);
                            if json_columns.contains(&name.as_str()) {
                                serde_json::from_str(s).expect("a JSON column holds JSON")
                            } else {
                                Value::from(s)
                            }
                        }
                        DataType::Timestamp(..) => Value::from(
                            col.as_primitive::<TimestampMicrosecondType>().value(i) / 1_000_000,
                        ),
                        DataType::Int64 => Value::from(col.as_primitive::<Int64Type>().value(i)),
                        DataType::Boolean => Value::from(col.as_boolean().value(i)),
                        DataType::List(_) => {
                            let list = col.as_list::<i32>().value(i);
                            let items = list.as_string::<i32>();
                            Value::from(
                                (0..items.len())
                                    .map(|k| items.value(k).to_string())
                                    .collect::<Vec<_>>(),
                            )
                        }
                        other => panic!("{name}: unexpected type {other}"),
                    }
                };
                row.insert(name.clone(), v);
            }
            out.push(row);
        }
    }
    out
}

/// The rows of each run directory of `report`, oldest run first.
fn runs(world: &World, report: &str, json_columns: &[&str]) -> Vec<Vec<Row>> {
    run_dirs(&world.output(), report)
        .iter()
        .map(|d| rows(&read_parquet_dir(d), json_columns))
        .collect()
}

/// A truth value as the file holds it: ids (numbers or strings) as text.
fn text(v: &Value) -> Value {
    match v {
        Value::Number(n) => Value::from(n.to_string()),
        other => other.clone(),
    }
}

/// Rows keyed by `id`, asserting no id repeats.
fn by_id(rows: Vec<Row>) -> BTreeMap<String, Row> {
    let n = rows.len();
    let map: BTreeMap<String, Row> = rows
        .into_iter()
        .map(|r| (r["id"].as_str().expect("id").to_string(), r))
        .collect();
    assert_eq!(map.len(), n, "an id written twice in one run");
    map
}

/// Assert `got` equals `want` row by row, column by column, naming the
/// first difference.
fn assert_rows(report: &str, got: Vec<Row>, want: Vec<Row>) {
    let got = by_id(got);
    let want = by_id(want);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{report}: the ids exported"
    );
    for (id, w) in &want {
        let g = &got[id];
        assert_eq!(
            g.keys().collect::<Vec<_>>(),
            w.keys().collect::<Vec<_>>(),
            "{report}: the columns"
        );
        for (col, value) in w {
            assert_eq!(&g[col], value, "{report} {id}: column {col}");
        }
    }
}

fn activity_row(t: &Value) -> Row {
    let by = &t["performed_by"];
    [
        ("id", text(&t["id"])),
        ("performed_by_type", text(&by["type"])),
        ("performed_by_id", text(&by["id"])),
        ("performed_by_email", text(&by["email"])),
        ("performed_by_ip", text(&by["ip"])),
        ("activity_type", text(&t["activity_type"])),
        ("activity_description", text(&t["activity_description"])),
        ("metadata", t["metadata"].clone()),
        ("created_at", t["created_at"].clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn ids(records: &[Value]) -> BTreeSet<String> {
    records
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_logs_export_the_truth_then_only_new_logs_and_a_lookback_writes_nothing_twice() {
    let world = World::start(small_world()).await;
    // The default start, 90 days before the newest log, is before this
    // month-old workspace: the first sync reads the whole log.
    let flags = ["--reports", "activity_logs"];
    // Pages of 7, a checkpoint after every 30-day window, a two-day
    // lookback (the cursor keeps what it wrote in the margin).
    let config = format!(
        "page_size = 7\ncheckpoint_secs = 0\nlookback_secs = {}\n",
        2 * DAY
    );
    let first = world.truth("activity_logs").await;
    assert!(first.len() > 100, "a month of logs: {}", first.len());
    sync(&world, &config, &flags).await;
    let got = runs(&world, "activity_logs", &["metadata"]);
    assert_eq!(got.len(), 1, "one run written");
    assert_rows(
        "activity_logs",
        got[0].clone(),
        first.iter().map(activity_row).collect(),
    );

    // A day later: the re-read margin holds logs already written; only
    // the new ones are.
    world.sim_post("advance", json!({"seconds": DAY})).await;
    let later = world.truth("activity_logs").await;
    let old = ids(&first);
    let new: Vec<Value> = later
        .iter()
        .filter(|l| !old.contains(l["id"].as_str().expect("id")))
        .cloned()
        .collect();
    assert!(!new.is_empty(), "a day adds logs");
    let margin = first
        .iter()
        .filter(|l| l["created_at"].as_i64().expect("t") > world.sim.sim.now() - 3 * DAY)
        .count();
    assert!(margin > 0, "the lookback re-reads logs already written");
    sync(&world, &config, &flags).await;
    let got = runs(&world, "activity_logs", &["metadata"]);
    assert_eq!(got.len(), 2, "the second run wrote");
    assert_rows(
        "activity_logs",
        got[1].clone(),
        new.iter().map(activity_row).collect(),
    );

    // Nothing new: the next sync writes no row.
    sync(&world, &config, &flags).await;
    let got = runs(&world, "activity_logs", &["metadata"]);
    let written: usize = got.iter().map(Vec::len).sum();
    assert_eq!(written, later.len(), "every log written once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_logs_first_sync_starts_at_since() {
    let world = World::start(small_world()).await;
    let truth = world.truth("activity_logs").await;
    let time = |l: &Value| l["created_at"].as_i64().expect("created_at");
    let newest = truth.iter().map(time).max().expect("logs");
    // `7d`: seven days before the newest log (the simulator's clock is not
    // the machine's).
    let config = "page_size = 50\n";
    sync(
        &world,
        config,
        &[
            "--reports",
            "activity_logs",
            "--option",
            "activity_logs.since=7d",
        ],
    )
    .await;
    let want: Vec<Row> = truth
        .iter()
        .filter(|l| time(l) >= newest - 7 * DAY)
        .map(activity_row)
        .collect();
    assert!(
        want.len() > 10 && want.len() < truth.len(),
        "{}",
        want.len()
    );
    let got = runs(&world, "activity_logs", &["metadata"]);
    assert_eq!(got.len(), 1);
    assert_rows("activity_logs", got[0].clone(), want);

    // A bad value: a clear error naming the option, nothing written.
    let other = World::start(small_world()).await;
    let out = other
        .sync(&[
            "--reports",
            "activity_logs",
            "--option",
            "activity_logs.since=last week",
        ])
        .await;
    assert!(!out.status.success());
    let err = crate::harness::stderr(&out);
    assert!(
        err.contains("activity_logs.since") && err.contains("YYYY-MM-DD"),
        "{err}"
    );
    assert!(run_dirs(&other.output(), "activity_logs").is_empty());
}

fn row(pairs: Vec<(&str, Value)>) -> Row {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// An article of the truth (2.16) as its row.
fn article_row(t: &Value) -> Row {
    let parents: Vec<Value> = t["parent_ids"]
        .as_array()
        .map(|p| p.iter().map(text).collect())
        .unwrap_or_default();
    row(vec![
        ("id", text(&t["id"])),
        ("workspace_id", text(&t["workspace_id"])),
        ("title", text(&t["title"])),
        ("description", text(&t["description"])),
        ("body", text(&t["body"])),
        ("author_id", text(&t["author_id"])),
        ("state", text(&t["state"])),
        ("created_at", t["created_at"].clone()),
        ("updated_at", t["updated_at"].clone()),
        ("url", text(&t["url"])),
        ("parent_id", parents.first().cloned().unwrap_or(Value::Null)),
        ("parent_type", Value::Null),
        ("parent_ids", Value::from(parents)),
        ("default_locale", Value::Null),
        ("statistics", Value::Null),
        ("translated_content", Value::Null),
    ])
}

/// A collection of the truth (2.16) as its row.
fn collection_row(t: &Value) -> Row {
    row(vec![
        ("id", text(&t["id"])),
        ("workspace_id", text(&t["workspace_id"])),
        ("name", text(&t["name"])),
        ("description", text(&t["description"])),
        ("url", text(&t["url"])),
        ("icon", text(&t["icon"])),
        ("order", t["order"].clone()),
        ("default_locale", Value::Null),
        ("parent_id", text(&t["parent_id"])),
        ("help_center_id", text(&t["help_center_id"])),
        ("created_at", t["created_at"].clone()),
        ("updated_at", t["updated_at"].clone()),
    ])
}

/// A help center of the truth as its row.
fn help_center_row(t: &Value) -> Row {
    row(vec![
        ("id", text(&t["id"])),
        ("workspace_id", text(&t["workspace_id"])),
        ("identifier", text(&t["identifier"])),
        ("website_turned_on", t["website_turned_on"].clone()),
        ("display_name", text(&t["display_name"])),
        ("created_at", t["created_at"].clone()),
        ("updated_at", t["updated_at"].clone()),
    ])
}

/// `(id, updated_at)` of each record: a version.
fn versions(records: &[Value]) -> BTreeSet<(String, i64)> {
    records
        .iter()
        .map(|r| {
            (
                r["id"].as_str().expect("id").to_string(),
                r["updated_at"].as_i64().expect("updated_at"),
            )
        })
        .collect()
}

/// The records of `later` whose version is not in `before`.
fn changed(before: &[Value], later: &[Value]) -> Vec<Value> {
    let old = versions(before);
    later
        .iter()
        .filter(|r| {
            !old.contains(&(
                r["id"].as_str().expect("id").to_string(),
                r["updated_at"].as_i64().expect("updated_at"),
            ))
        })
        .cloned()
        .collect()
}

const HELP_JSON: &[&str] = &["statistics", "translated_content"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_center_reports_export_the_truth_then_only_changed_versions() {
    let world = World::start(small_world()).await;
    // Pages of 5 (articles and collections span several), a one-day
    // lookback re-read on each later sync.
    let config = format!("page_size = 5\nlookback_secs = {DAY}\n");
    let flags = ["--reports", "articles,collections,help_centers"];
    let articles = world.truth("articles").await;
    let collections = world.truth("collections").await;
    let centers = world.truth("help_centers").await;
    assert!(articles.len() > 20 && collections.len() > 5 && centers.len() == 2);
    sync(&world, &config, &flags).await;
    let got = runs(&world, "articles", HELP_JSON);
    assert_eq!(got.len(), 1);
    assert_rows(
        "articles",
        got[0].clone(),
        articles.iter().map(article_row).collect(),
    );
    let got = runs(&world, "collections", &[]);
    assert_eq!(got.len(), 1);
    assert_rows(
        "collections",
        got[0].clone(),
        collections.iter().map(collection_row).collect(),
    );
    let got = runs(&world, "help_centers", &[]);
    assert_eq!(got.len(), 1);
    assert_rows(
        "help_centers",
        got[0].clone(),
        centers.iter().map(help_center_row).collect(),
    );

    // A month later: articles and collections were edited, a few articles
    // published; the help centers did not change.
    world
        .sim_post("advance", json!({"seconds": 30 * DAY}))
        .await;
    let articles_later = world.truth("articles").await;
    let collections_later = world.truth("collections").await;
    assert_eq!(world.truth("help_centers").await, centers);
    let new_articles = changed(&articles, &articles_later);
    let new_collections = changed(&collections, &collections_later);
    assert!(
        !new_articles.is_empty() && new_articles.len() < articles_later.len(),
        "some articles changed: {}",
        new_articles.len()
    );
    assert!(
        new_articles.len() > ids(&new_articles).intersection(&ids(&articles)).count(),
        "new articles too"
    );
    assert!(!new_collections.is_empty(), "some collections changed");
    sync(&world, &config, &flags).await;
    let got = runs(&world, "articles", HELP_JSON);
    assert_eq!(got.len(), 2);
    assert_rows(
        "articles",
        got[1].clone(),
        new_articles.iter().map(article_row).collect(),
    );
    let got = runs(&world, "collections", &[]);
    assert_eq!(got.len(), 2);
    assert_rows(
        "collections",
        got[1].clone(),
        new_collections.iter().map(collection_row).collect(),
    );
    assert_eq!(
        runs(&world, "help_centers", &[]).len(),
        1,
        "an unchanged snapshot is not written again"
    );

    // Nothing changed since: nothing is written, and the article list is
    // read only down to the cursor's lookback, not to its end.
    let asked = world.requests_to("GET /articles").await;
    sync(&world, &config, &flags).await;
    let pages = articles_later.len().div_ceil(5) as u64;
    let asked = world.requests_to("GET /articles").await - asked;
    assert!(asked >= 1 && asked < pages, "{asked} of {pages} pages");
    for (report, n) in [
        ("articles", articles.len() + new_articles.len()),
        ("collections", collections.len() + new_collections.len()),
        ("help_centers", centers.len()),
    ] {
        let written: usize = runs(&world, report, HELP_JSON).iter().map(Vec::len).sum();
        assert_eq!(written, n, "{report}: every version written once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn articles_and_collections_in_2_11_carry_parent_type_locale_and_statistics() {
    let world = World::start(small_world()).await;
    let truth = world.truth("articles").await;
    sync(
        &world,
        "intercom_version = \"2.11\"\n",
        &["--reports", "articles,collections"],
    )
    .await;
    // Collections: 2.11 adds default_locale.
    let want = world
        .truth("collections")
        .await
        .iter()
        .map(|t| {
            let mut r = collection_row(t);
            r.insert("default_locale".into(), "en".into());
            r
        })
        .collect();
    assert_rows(
        "collections",
        runs(&world, "collections", &[]).remove(0),
        want,
    );
    let mut got = runs(&world, "articles", HELP_JSON).remove(0);
    // 2.11 adds parent_id/parent_type (the first parent), default_locale,
    // translated_content (null here) and statistics.
    for r in &mut got {
        let stats = r.remove("statistics").expect("statistics column");
        assert_eq!(stats["type"], "article_statistics", "{stats}");
        assert!(stats["views"].is_u64(), "{stats}");
    }
    let want = truth
        .iter()
        .map(|t| {
            let mut r = article_row(t);
            r.remove("statistics");
            if !r["parent_id"].is_null() {
                r.insert("parent_type".into(), "collection".into());
            }
            r.insert("default_locale".into(), "en".into());
            r
        })
        .collect();
    assert_rows("articles", got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_articles_scope_fails_the_help_center_reports_only() {
    let world = World::start(SimConfig {
        deny_scopes: vec!["articles".into()],
        ..small_world()
    })
    .await;
    let out = world
        .sync(&[
            "--reports",
            "activity_logs,articles,collections,help_centers",
        ])
        .await;
    let text = format!(
        "{}{}",
        crate::harness::stdout(&out),
        crate::harness::stderr(&out)
    );
    assert_eq!(out.status.code(), Some(4), "partial: {text}");
    assert!(
        text.contains("lacks permission for the help center") && text.contains("`Read articles`"),
        "{text}"
    );
    for report in ["articles", "collections", "help_centers"] {
        assert!(run_dirs(&world.output(), report).is_empty(), "{report}");
    }
    let logs = world.truth("activity_logs").await;
    let got = runs(&world, "activity_logs", &["metadata"]);
    assert_eq!(got.len(), 1);
    assert_rows(
        "activity_logs",
        got[0].clone(),
        logs.iter().map(activity_row).collect(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_activity_log_read_resumes_after_its_last_committed_window() {
    let world = World::start(SimConfig {
        history_days: 100,
        ..small_world()
    })
    .await;
    let truth = world.truth("activity_logs").await;
    let time = |l: &Value| l["created_at"].as_i64().expect("created_at");
    let newest = truth.iter().map(time).max().expect("logs");
    let want: Vec<Value> = truth
        .iter()
        .filter(|l| time(l) >= newest - 90 * DAY)
        .cloned()
        .collect();
    // Pages of 50: a 30-day window is about five pages. The token stops
    // working at the log's ninth request (the newest-log probe, then the
    // first window, then part of the second).
    let config = "page_size = 50\ncheckpoint_secs = 0\n";
    let flags = ["--reports", "activity_logs"];
    world
        .sim_post(
            "faults",
            json!({"unauthorized_after": 8, "only_paths": ["/admins/activity_logs"]}),
        )
        .await;
    let path = world.dir.path().join("helpcenter.toml");
    std::fs::write(&path, config).expect("config");
    let path = path.display().to_string();
    let mut args = vec!["--config", path.as_str()];
    args.extend_from_slice(&flags);
    let out = world.sync(&args).await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        crate::harness::stderr(&out)
    );
    let committed: Vec<Row> = runs(&world, "activity_logs", &["metadata"]).concat();
    assert!(
        !committed.is_empty() && committed.len() < want.len(),
        "the first window is kept: {} of {}",
        committed.len(),
        want.len()
    );
    // Kept: the oldest logs, window by window.
    let oldest: Vec<Row> = {
        let mut w = want.clone();
        w.sort_by_key(|l| time(l));
        w.iter().take(committed.len()).map(activity_row).collect()
    };
    assert_rows("activity_logs", committed, oldest);

    // The token works again: the next sync exports the rest, nothing twice.
    world.sim_post("faults", json!({})).await;
    sync(&world, config, &flags).await;
    let all: Vec<Row> = runs(&world, "activity_logs", &["metadata"]).concat();
    assert_rows(
        "activity_logs",
        all,
        want.iter().map(activity_row).collect(),
    );
}
