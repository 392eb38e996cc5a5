//! Shared test machinery: an in-process simulator, the compiled binary run in
//! a temporary directory, and readers for the files it writes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Output;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, RecordBatch};
use intercom_export::simulator::{self, SimConfig, SimHandle};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

/// A simulator plus a scratch directory for output and state.
pub struct World {
    pub sim: SimHandle,
    pub dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl World {
    pub async fn start(config: SimConfig) -> World {
        let sim = simulator::spawn(config).await.expect("simulator starts");
        World {
            sim,
            dir: tempfile::tempdir().expect("tempdir"),
            http: reqwest::Client::new(),
        }
    }

    pub fn output(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state.db")
    }

    /// Run `intercom-export sync` against this world with a valid token.
    pub async fn sync(&self, extra: &[&str]) -> Output {
        self.sync_with_token("test-token", extra).await
    }

    pub async fn sync_with_token(&self, token: &str, extra: &[&str]) -> Output {
        let mut args: Vec<String> = vec![
            "sync".into(),
            "--base-url".into(),
            self.sim.base_url(),
            "--output".into(),
            self.output().display().to_string(),
            "--state".into(),
            self.state().display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        run_cli(&args, &[("INTERCOM_ACCESS_TOKEN", token)]).await
    }

    /// `GET /__sim/<path>` as JSON.
    pub async fn sim_get(&self, path: &str) -> Value {
        let url = format!("{}/__sim/{path}", self.sim.base_url());
        let resp = self.http.get(url).send().await.expect("sim reachable");
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.json().await.expect("json")
    }

    /// `POST /__sim/<path>` with a JSON body.
    pub async fn sim_post(&self, path: &str, body: Value) -> Value {
        let url = format!("{}/__sim/{path}", self.sim.base_url());
        let resp = self
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            .expect("sim reachable");
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.json().await.expect("json")
    }

    /// The simulator's ground truth for a dataset (JSON lines).
    pub async fn truth(&self, dataset: &str) -> Vec<Value> {
        let url = format!("{}/__sim/truth/{dataset}", self.sim.base_url());
        let text = self
            .http
            .get(url)
            .send()
            .await
            .expect("sim reachable")
            .text()
            .await
            .expect("body");
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("truth line is JSON"))
            .collect()
    }

    /// A count in the simulator's `GET /__sim/stats` at the JSON `pointer`
    /// (`/total`, `/in_flight`, `/max_in_flight_by_class/search`,
    /// `/by_endpoint/GET ~1conversations~1{id}`); 0 when it is absent.
    pub async fn sim_stat(&self, pointer: &str) -> u64 {
        self.sim_get("stats")
            .await
            .pointer(pointer)
            .and_then(Value::as_u64)
            .unwrap_or(0)
    }

    /// Requests per endpoint (`/__sim/stats` `by_endpoint`: `METHOD /path`
    /// → count).
    pub async fn by_endpoint(&self) -> BTreeMap<String, u64> {
        self.sim_get("stats").await["by_endpoint"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Requests counted by the simulator for `METHOD /path`.
    pub async fn requests_to(&self, endpoint: &str) -> u64 {
        let stats = self.sim_get("stats").await;
        stats["by_endpoint"][endpoint].as_u64().unwrap_or(0)
    }
}

/// The requests made between two [`World::by_endpoint`] snapshots, per
/// endpoint (non-zero only).
pub fn requests_between(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// The arguments of a test's `sync`: `sync --config <config> --reports
/// <reports> --base-url <base_url> --output <output> --state <state>`.
pub fn sync_argv(
    config: &Path,
    reports: &str,
    base_url: &str,
    output: &Path,
    state: &Path,
) -> Vec<String> {
    [
        "sync",
        "--config",
        &config.display().to_string(),
        "--reports",
        reports,
        "--base-url",
        base_url,
        "--output",
        &output.display().to_string(),
        "--state",
        &state.display().to_string(),
    ]
    .map(String::from)
    .to_vec()
}

/// Run the compiled binary with `args` and extra environment variables.
pub async fn run_cli(args: &[String], env: &[(&str, &str)]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_intercom-export"));
    cmd.args(args)
        .env_remove("INTERCOM_ACCESS_TOKEN")
        .env("RUST_LOG", "info");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().await.expect("binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert success, printing the program's output if not.
pub fn assert_ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
}

/// Run directories of a report, oldest first.
pub fn run_dirs(output: &Path, report: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = match std::fs::read_dir(output.join(report)) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect(),
        Err(_) => Vec::new(),
    };
    dirs.sort();
    dirs
}

/// Files with extension `ext` in a directory, sorted.
pub fn files_in(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    files
}

/// Every Parquet batch under a directory tree.
pub fn read_parquet_dir(dir: &Path) -> Vec<RecordBatch> {
    let mut batches = Vec::new();
    for file in files_in(dir, "parquet") {
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&file).expect("open"))
            .expect("valid parquet")
            .build()
            .expect("reader");
        batches.extend(reader.map(|b| b.expect("batch")));
    }
    batches
}

/// (id, updated_at in unix seconds) of every row.
pub fn ids_and_updated(batches: &[RecordBatch]) -> Vec<(String, i64)> {
    let mut rows = Vec::new();
    for b in batches {
        let ids = b
            .column_by_name("id")
            .expect("id column")
            .as_string::<i32>();
        let upd = b
            .column_by_name("updated_at")
            .expect("updated_at column")
            .as_primitive::<TimestampMicrosecondType>();
        for i in 0..b.num_rows() {
            assert!(
                !ids.is_null(i) && !upd.is_null(i),
                "id and updated_at are always set"
            );
            rows.push((ids.value(i).to_string(), upd.value(i) / 1_000_000));
        }
    }
    rows
}

/// (id → updated_at) of truth records, optionally only those with `role`.
pub fn truth_map(records: &[Value], role: Option<&str>) -> BTreeMap<String, i64> {
    records
        .iter()
        .filter(|r| role.is_none_or(|want| r["role"] == want))
        .map(|r| {
            (
                r["id"].as_str().expect("id").to_string(),
                r["updated_at"].as_i64().expect("updated_at"),
            )
        })
        .collect()
}

/// Rows as a map, asserting there are no duplicate ids.
pub fn unique_map(rows: &[(String, i64)]) -> BTreeMap<String, i64> {
    let map: BTreeMap<String, i64> = rows.iter().cloned().collect();
    assert_eq!(map.len(), rows.len(), "duplicate ids in one export");
    map
}

/// Keep the latest `updated_at` per id.
pub fn latest_per_id(rows: impl IntoIterator<Item = (String, i64)>) -> BTreeMap<String, i64> {
    let mut map: HashMap<String, i64> = HashMap::new();
    for (id, t) in rows {
        let e = map.entry(id).or_insert(t);
        *e = (*e).max(t);
    }
    map.into_iter().collect()
}

/// A small world, the size the walking-skeleton acceptance names.
pub fn skeleton_world() -> SimConfig {
    SimConfig {
        seed: 7,
        contacts: 2000,
        conversations: 500,
        parts: 4,
        ..SimConfig::default()
    }
}

/// Rows as JSON objects (nulls left out), in file order.
pub fn json_rows(batches: &[RecordBatch]) -> Vec<serde_json::Map<String, Value>> {
    let mut buf = Vec::new();
    {
        let mut writer = arrow_json::LineDelimitedWriter::new(&mut buf);
        for b in batches {
            writer.write(b).expect("json write");
        }
        writer.finish().expect("json finish");
    }
    String::from_utf8(buf)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("row json"))
        .collect()
}

/// The committed cursor's `updated_at` (unix seconds) of `report` with
/// default options, in the SQLite state at `state`; `None` while no
/// checkpoint saved one.
pub async fn cursor_updated_at(state: &Path, report: &str) -> Option<i64> {
    let store = intercom_export::state::StateStore::open(state)
        .await
        .expect("state");
    let cursor = store.cursor(report, "").await.expect("cursor");
    store.close().await;
    let cursor: Value = serde_json::from_str(&cursor?).expect("cursor JSON");
    cursor["updated_at"].as_i64()
}

/// A JSON value as text: a string as it is, anything else as JSON.
pub fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A lifecycle event's key (row or truth line): its `event_key`.
pub fn event_key(r: &Value) -> String {
    as_text(&r["event_key"])
}

/// An attachment's key (a `part_attachments` row or truth line):
/// `parent_type/part_id/url`.
pub fn attachment_key(r: &Value) -> String {
    format!(
        "{}/{}/{}",
        as_text(&r["parent_type"]),
        as_text(&r["part_id"]),
        as_text(&r["url"])
    )
}

/// `(conversation id, contact id)` of every conversation's contacts in the
/// simulator's truth (`/__sim/truth/conversations`, `contacts.contacts`).
pub async fn truth_contact_pairs(world: &World) -> BTreeSet<(String, String)> {
    world
        .truth("conversations")
        .await
        .iter()
        .flat_map(|c| {
            let id = c["id"].as_str().expect("id").to_string();
            c.pointer("/contacts/contacts")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |contact| {
                    let contact = contact["id"].as_str().expect("contact id").to_string();
                    (id.clone(), contact)
                })
        })
        .collect()
}

/// `(conversation_id, contact_id)` of every `conversation_contacts` row
/// under `output` (rows without a contact left out), sorted; a pair
/// written twice is there twice.
pub fn exported_contact_pairs(output: &Path) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = run_dirs(output, "conversation_contacts")
        .iter()
        .flat_map(|d| json_rows(&read_parquet_dir(d)))
        .filter_map(|r| {
            Some((
                r["conversation_id"].as_str()?.to_string(),
                r.get("contact_id")?.as_str()?.to_string(),
            ))
        })
        .collect();
    pairs.sort();
    pairs
}

/// Assert that the one run directory of `report` under `output` holds
/// exactly the ids of the simulator's `dataset` truth (which is not empty).
pub async fn assert_one_run_equals_truth_ids(
    world: &World,
    output: &Path,
    report: &str,
    dataset: &str,
) {
    let dirs = run_dirs(output, report);
    assert_eq!(dirs.len(), 1, "{report} exported once: {dirs:?}");
    let mut got: Vec<String> = json_rows(&read_parquet_dir(&dirs[0]))
        .iter()
        .map(|r| as_text(&r["id"]))
        .collect();
    let mut want: Vec<String> = world
        .truth(dataset)
        .await
        .iter()
        .map(|t| as_text(&t["id"]))
        .collect();
    got.sort();
    want.sort();
    assert!(!want.is_empty(), "{dataset}: an empty truth proves nothing");
    assert_eq!(got, want, "every {dataset} record exported, once");
}
