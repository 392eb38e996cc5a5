//! `intercom-export tap`, the Singer tap: the catalog against the report
//! registry and `schemas/`, RECORDs against the simulator's truth and the
//! Parquet export of the same world, the STATE round trip, bad input.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Output;

use serde_json::{Map, Value, json};

use intercom_export::reports::ReportName;

use crate::crash::{small_world, truth_of};
use crate::harness::*;

/// The streams the sync tests select.
const STREAMS: &[&str] = &[
    "conversations",
    "conversation_parts",
    "users",
    "leads",
    "companies",
    "company_tags",
    "tags",
    "admins",
];

fn write_json(world: &World, name: &str, value: &Value) -> PathBuf {
    let path = world.dir.path().join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(value).expect("json")).expect("write");
    path
}

fn config(world: &World) -> PathBuf {
    write_json(
        world,
        "tap-config.json",
        &json!({"access_token": "test-token", "base_url": world.sim.base_url()}),
    )
}

async fn tap(args: &[&str]) -> Output {
    let mut all = vec!["tap".to_string()];
    all.extend(args.iter().map(|s| s.to_string()));
    run_cli(&all, &[]).await
}

async fn discover(world: &World) -> Value {
    let config = config(world);
    let out = tap(&["--config", &config.display().to_string(), "--discover"]).await;
    assert_ok(&out);
    serde_json::from_str(&stdout(&out)).expect("the catalog is JSON")
}

/// The discovered catalog with exactly `streams` selected.
async fn catalog_selecting(world: &World, streams: &[&str]) -> PathBuf {
    let mut catalog = discover(world).await;
    for s in catalog["streams"].as_array_mut().expect("streams") {
        let on = streams.contains(&s["tap_stream_id"].as_str().expect("id"));
        s["metadata"][0]["metadata"]["selected"] = json!(on);
    }
    write_json(world, "catalog.json", &catalog)
}

/// Every stdout line parsed as a Singer message (asserting each is one).
fn messages(out: &Output) -> Vec<Value> {
    stdout(out)
        .lines()
        .map(|line| {
            let m: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
            let kind = m["type"].as_str().unwrap_or_default();
            assert!(
                ["SCHEMA", "RECORD", "STATE"].contains(&kind),
                "not a Singer message: {line}"
            );
            m
        })
        .collect()
}

/// RECORD values per stream.
fn records(messages: &[Value]) -> BTreeMap<String, Vec<Map<String, Value>>> {
    let mut by_stream: BTreeMap<String, Vec<Map<String, Value>>> = BTreeMap::new();
    for m in messages.iter().filter(|m| m["type"] == "RECORD") {
        let record = m["record"].as_object().expect("record object").clone();
        by_stream
            .entry(m["stream"].as_str().expect("stream").to_string())
            .or_default()
            .push(record);
    }
    by_stream
}

/// The value of the last STATE message.
fn last_state(messages: &[Value]) -> Value {
    messages
        .iter()
        .rev()
        .find(|m| m["type"] == "STATE")
        .map(|m| m["value"].clone())
        .expect("a STATE message")
}

/// Rows without the run's meta columns and nulls, as sortable JSON text.
fn comparable(rows: impl IntoIterator<Item = Map<String, Value>>) -> Vec<String> {
    let mut out: Vec<String> = rows
        .into_iter()
        .map(|mut r| {
            r.remove("_run_id");
            r.remove("_extracted_at");
            r.retain(|_, v| !v.is_null());
            Value::Object(r).to_string()
        })
        .collect();
    out.sort();
    out
}

fn id_and_updated(rows: &[Map<String, Value>]) -> BTreeMap<String, String> {
    rows.iter()
        .map(|r| {
            (
                r["id"].as_str().expect("id").to_string(),
                r["updated_at"].as_str().expect("updated_at").to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_lists_every_report_with_the_keys_of_schemas() {
    let world = World::start(small_world()).await;
    let catalog = discover(&world).await;
    let streams = catalog["streams"].as_array().expect("streams");
    let names: Vec<&str> = streams
        .iter()
        .map(|s| s["tap_stream_id"].as_str().expect("id"))
        .collect();
    let registry: Vec<&str> = ReportName::all().map(|r| r.as_str()).collect();
    assert_eq!(names, registry, "one stream per report, in registry order");
    let schemas_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas");
    for s in streams {
        let name = s["tap_stream_id"].as_str().expect("id");
        let doc: Value = serde_json::from_slice(
            &std::fs::read(schemas_dir.join(format!("{name}.json"))).expect("schema file"),
        )
        .expect("schema json");
        // The primary key, unless a column of it may be null (Singer
        // targets make key properties NOT NULL): then none, and the key
        // in the stream's metadata.
        let want_keys = if doc["nullable_key_columns"]
            .as_array()
            .expect("list")
            .is_empty()
        {
            doc["primary_key"].clone()
        } else {
            json!([])
        };
        assert_eq!(s["key_properties"], want_keys, "{name}");
        let top_meta = &s["metadata"][0]["metadata"];
        assert_eq!(
            top_meta["intercom-export-primary-key"], doc["primary_key"],
            "{name}"
        );
        assert_eq!(
            top_meta["intercom-export-nullable-key-columns"], doc["nullable_key_columns"],
            "{name}"
        );
        assert_eq!(s["replication_key"], doc["version_column"], "{name}");
        let top = &s["metadata"][0];
        assert_eq!(top["breadcrumb"], json!([]), "{name}");
        assert_eq!(top["metadata"]["table-key-properties"], want_keys);
        assert_eq!(top["metadata"]["inclusion"], "available");
        let default = ReportName::all()
            .find(|r| r.as_str() == name)
            .expect("known")
            .info()
            .default_enabled;
        assert_eq!(top["metadata"]["selected"], json!(default), "{name}");
        // Every column of schemas/ is a property of the type its Parquet
        // type says; the only others are the declared custom attributes.
        let props = s["schema"]["properties"].as_object().expect("properties");
        let mut columns = BTreeSet::new();
        for c in doc["columns"].as_array().expect("columns") {
            let col = c["name"].as_str().expect("name");
            columns.insert(col);
            let p = &props[col];
            let want = match c["type"].as_str().expect("type") {
                "Utf8" => json!(["null", "string"]),
                "Int64" => json!(["null", "integer"]),
                "Float64" => json!(["null", "number"]),
                "Boolean" => json!(["null", "boolean"]),
                t if t.starts_with("Timestamp") => {
                    assert_eq!(p["format"], "date-time", "{name}.{col}");
                    json!(["null", "string"])
                }
                t if t.starts_with("List") => {
                    assert_eq!(
                        p["items"]["type"],
                        json!(["null", "string"]),
                        "{name}.{col}"
                    );
                    json!(["null", "array"])
                }
                t => panic!("{name}.{col}: type {t} not mapped"),
            };
            assert_eq!(p["type"], want, "{name}.{col}");
            let inclusion = s["metadata"]
                .as_array()
                .expect("metadata")
                .iter()
                .find(|m| m["breadcrumb"] == json!(["properties", col]))
                .map(|m| m["metadata"]["inclusion"].clone());
            let key = doc["primary_key"]
                .as_array()
                .expect("pk")
                .contains(&json!(col))
                || doc["version_column"] == col;
            let want = if key { "automatic" } else { "available" };
            assert_eq!(inclusion, Some(json!(want)), "{name}.{col}");
        }
        for p in props.keys() {
            assert!(
                columns.contains(p.as_str()) || p.starts_with("custom_"),
                "{name}: property {p} is not a column"
            );
        }
    }
    let users = &streams[registry.iter().position(|r| *r == "users").expect("users")];
    assert!(
        users["schema"]["properties"]
            .as_object()
            .expect("props")
            .keys()
            .any(|k| k == "custom_plan"),
        "custom attributes declared by /data_attributes are in the schema"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_equal_the_parquet_export_and_the_state_reads_only_changes() {
    let world = World::start(small_world()).await;
    let catalog = catalog_selecting(&world, STREAMS).await;
    let config = config(&world);
    let (config, catalog) = (config.display().to_string(), catalog.display().to_string());
    let first = tap(&["--config", &config, "--catalog", &catalog]).await;
    assert_ok(&first);
    assert!(stderr(&first).contains("stream done"), "logs go to stderr");
    let msgs = messages(&first);
    let recs = records(&msgs);
    let schemas: Vec<&str> = msgs
        .iter()
        .filter(|m| m["type"] == "SCHEMA")
        .map(|m| m["stream"].as_str().expect("stream"))
        .collect();
    let mut want: Vec<&str> = STREAMS.to_vec();
    want.sort_by_key(|s| s.parse::<ReportName>().expect("report"));
    assert_eq!(
        schemas, want,
        "one SCHEMA per selected stream, nothing else"
    );
    // Each stream's SCHEMA comes before its first RECORD.
    for s in STREAMS {
        let schema_at = msgs
            .iter()
            .position(|m| m["type"] == "SCHEMA" && m["stream"] == *s);
        let record_at = msgs
            .iter()
            .position(|m| m["type"] == "RECORD" && m["stream"] == *s);
        assert!(schema_at < record_at, "{s}");
    }
    for report in ["conversations", "conversation_parts", "users", "leads"] {
        let got: BTreeMap<String, i64> = recs[report]
            .iter()
            .map(|r| {
                let t = r["updated_at"].as_str().expect("rfc 3339 text");
                let secs =
                    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                        .expect("RFC 3339")
                        .unix_timestamp();
                (r["id"].as_str().expect("id").to_string(), secs)
            })
            .collect();
        assert_eq!(got.len(), recs[report].len(), "{report}: one row per id");
        assert_eq!(got, truth_of(&world, report).await, "{report} = truth");
    }
    // The Parquet export of the same world has the same rows, value for value.
    let mut args = vec!["--reports".to_string(), STREAMS.join(",")];
    args.extend(["--format".into(), "parquet".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_ok(&world.sync(&args).await);
    for report in STREAMS {
        let parquet = json_rows(&read_parquet_dir(&run_dirs(&world.output(), report)[0]));
        assert!(!parquet.is_empty(), "{report} has rows");
        assert_eq!(
            comparable(recs[*report].clone()),
            comparable(parquet),
            "{report}: RECORDs = Parquet rows"
        );
    }

    // A day later, from the STATE of the first run: only what changed,
    // which is what the second `sync` exports.
    let state = write_json(&world, "state.json", &last_state(&msgs));
    world.sim_post("advance", json!({"seconds": 86_400})).await;
    let state = state.display().to_string();
    let second = tap(&[
        "--config",
        &config,
        "--catalog",
        &catalog,
        "--state",
        &state,
    ])
    .await;
    assert_ok(&second);
    let second_msgs = messages(&second);
    let changed = records(&second_msgs);
    assert_ok(&world.sync(&args).await);
    for report in ["conversations", "users", "leads", "companies"] {
        let dirs = run_dirs(&world.output(), report);
        assert_eq!(dirs.len(), 2, "{report}: the second sync wrote a run");
        let parquet = json_rows(&read_parquet_dir(&dirs[1]));
        let got = changed.get(report).cloned().unwrap_or_default();
        assert!(!got.is_empty(), "{report}: the day changed some");
        assert!(
            got.len() < recs[report].len(),
            "{report}: not everything again"
        );
        assert_eq!(id_and_updated(&got), id_and_updated(&parquet), "{report}");
        assert_eq!(comparable(got), comparable(parquet), "{report}");
    }
    // Unchanged snapshots are not sent again.
    assert!(!changed.contains_key("admins"), "admins did not change");
    // Bookmarks of every selected stream, cursors as the state store keeps them.
    let state2 = last_state(&second_msgs);
    for s in STREAMS {
        assert!(
            state2["bookmarks"][s]["cursor"].is_string(),
            "{s}: {state2}"
        );
    }
    // A third run from that STATE finds nothing new.
    let state = write_json(&world, "state2.json", &state2);
    let third = tap(&[
        "--config",
        &config,
        "--catalog",
        &catalog,
        "--state",
        &state.display().to_string(),
    ])
    .await;
    assert_ok(&third);
    assert_eq!(records(&messages(&third)).len(), 0, "nothing changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_date_and_deselected_fields_shape_the_first_run() {
    let world = World::start(small_world()).await;
    let mut catalog = discover(&world).await;
    for s in catalog["streams"].as_array_mut().expect("streams") {
        let on = s["tap_stream_id"] == "users";
        s["metadata"][0]["metadata"]["selected"] = json!(on);
        for m in s["metadata"].as_array_mut().expect("metadata") {
            if m["breadcrumb"] == json!(["properties", "email"]) {
                m["metadata"]["selected"] = json!(false);
            }
        }
    }
    let catalog = write_json(&world, "catalog.json", &catalog);
    let truth = truth_of(&world, "users").await;
    let mut times: Vec<i64> = truth.values().copied().collect();
    times.sort();
    let start = times[times.len() / 2];
    let config = write_json(
        &world,
        "dated.json",
        &json!({
            "access_token": "test-token",
            "base_url": world.sim.base_url(),
            "start_date": time::OffsetDateTime::from_unix_timestamp(start)
                .expect("time")
                .format(&time::format_description::well_known::Rfc3339)
                .expect("format"),
        }),
    );
    let out = tap(&[
        "--config",
        &config.display().to_string(),
        "--catalog",
        &catalog.display().to_string(),
    ])
    .await;
    assert_ok(&out);
    let msgs = messages(&out);
    let users = &records(&msgs)["users"];
    let want: BTreeSet<&String> = truth
        .iter()
        .filter(|(_, t)| **t >= start)
        .map(|(id, _)| id)
        .collect();
    let got: BTreeSet<&String> = users
        .iter()
        .map(|r| match &r["id"] {
            Value::String(s) => s,
            other => panic!("id {other}"),
        })
        .collect();
    assert_eq!(got, want, "users updated at or after start_date");
    assert!(
        users.iter().all(|r| !r.contains_key("email")),
        "email deselected"
    );
    let schema = msgs.iter().find(|m| m["type"] == "SCHEMA").expect("schema");
    assert!(schema["schema"]["properties"].get("email").is_none());
    assert!(schema["schema"]["properties"].get("id").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_config_catalog_or_state_exits_2_naming_the_problem() {
    let world = World::start(small_world()).await;
    let good = config(&world).display().to_string();
    let catalog = catalog_selecting(&world, &["users"])
        .await
        .display()
        .to_string();
    let file = |name: &str, text: &str| {
        let p = world.dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p.display().to_string()
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--config".into(),
                file("c1.json", "{not json"),
                "--discover".into(),
            ],
            "is not valid JSON",
        ),
        (
            vec![
                "--config".into(),
                file(
                    "c2.json",
                    r#"{"access_token": "t", "start_dat": "2024-01-01"}"#,
                ),
                "--discover".into(),
            ],
            "did you mean `start_date`",
        ),
        (
            vec![
                "--config".into(),
                file("c3.json", r#"{"access_token": "t", "start_date": "soon"}"#),
                "--discover".into(),
            ],
            "`start_date`",
        ),
        (
            vec![
                "--config".into(),
                file("c4.json", r#"{"base_url": "http://127.0.0.1:9"}"#),
                "--discover".into(),
            ],
            "no access token",
        ),
        (vec!["--config".into(), good.clone()], "--catalog FILE"),
        (
            vec![
                "--config".into(),
                good.clone(),
                "--catalog".into(),
                file(
                    "k1.json",
                    r#"{"streams": [{"tap_stream_id": "userz", "selected": true}]}"#,
                ),
            ],
            "unknown stream \"userz\"",
        ),
        (
            vec![
                "--config".into(),
                good.clone(),
                "--catalog".into(),
                file("k2.json", "[]"),
            ],
            "no `streams` list",
        ),
        (
            vec![
                "--config".into(),
                good.clone(),
                "--catalog".into(),
                file(
                    "k3.json",
                    r#"{"streams": [{"tap_stream_id": "lead_by_id", "selected": true}]}"#,
                ),
            ],
            "stream lead_by_id is selected",
        ),
        (
            vec![
                "--config".into(),
                good.clone(),
                "--catalog".into(),
                catalog.clone(),
                "--state".into(),
                file("s1.json", r#"{"bookmarks": {"users": {"cursor": 7}}}"#),
            ],
            "not a state of this tap",
        ),
    ];
    for (args, message) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = tap(&args).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}\n{}", stderr(&out));
        assert!(
            stderr(&out).contains(message),
            "{args:?}: want {message:?} in\n{}",
            stderr(&out)
        );
        assert!(
            stdout(&out).is_empty(),
            "no Singer message on bad input: {}",
            stdout(&out)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_token_exits_3_and_never_shows_the_token() {
    let world = World::start(intercom_export::simulator::SimConfig {
        reject_tokens: vec!["secret-bad-token".into()],
        ..small_world()
    })
    .await;
    let catalog = catalog_selecting(&world, &["users"])
        .await
        .display()
        .to_string();
    let config = write_json(
        &world,
        "bad-token.json",
        &json!({"access_token": "secret-bad-token", "base_url": world.sim.base_url()}),
    );
    let out = tap(&[
        "--config",
        &config.display().to_string(),
        "--catalog",
        &catalog,
    ])
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(!stderr(&out).contains("secret-bad-token"));
    assert!(!stdout(&out).contains("secret-bad-token"));
    messages(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_stops_reading_ends_the_tap_at_once() {
    use tokio::io::AsyncBufReadExt;
    let world = World::start(small_world()).await;
    let catalog = write_json(&world, "catalog.json", &discover(&world).await);
    let config = config(&world);
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_intercom-export"))
        .args(["tap", "--config"])
        .arg(&config)
        .arg("--catalog")
        .arg(&catalog)
        .env_remove("INTERCOM_ACCESS_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starts");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines
        .next_line()
        .await
        .expect("read")
        .expect("a first message");
    assert!(first.contains("\"SCHEMA\""), "{first}");
    drop(lines); // the target exits
    let out = child.wait_with_output().await.expect("exits");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err.matches("the Singer target reading it stopped").count(),
        1,
        "one error, no attempt at the other streams:\n{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tap_intercom_export_is_intercom_export_tap() {
    let world = World::start(small_world()).await;
    let config = config(&world);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tap-intercom-export"))
        .arg("--config")
        .arg(&config)
        .arg("--discover")
        .env_remove("INTERCOM_ACCESS_TOKEN")
        .output()
        .await
        .expect("runs");
    assert_ok(&out);
    let catalog: Value = serde_json::from_slice(&out.stdout).expect("catalog");
    assert_eq!(catalog, discover(&world).await);
    let version = tokio::process::Command::new(env!("CARGO_BIN_EXE_tap-intercom-export"))
        .arg("--version")
        .output()
        .await
        .expect("runs");
    assert_eq!(
        stdout(&version).trim(),
        format!("intercom-export {}", env!("CARGO_PKG_VERSION"))
    );
}

/// The README's tap section names every config key the tap accepts.
#[test]
fn readme_documents_every_tap_config_key() {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .expect("README");
    let section = readme
        .split("## Use with Meltano / Singer")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README has a \"Use with Meltano / Singer\" section");
    for key in intercom_export::tap::config::keys() {
        assert!(
            section.contains(&format!("`{key}`")),
            "README tap section: `{key}`"
        );
    }
}
