//! End-to-end syncs against the simulator: first run, incremental runs, and
//! the output formats. Every assertion compares exported rows with the
//! simulator's ground truth.

use std::collections::BTreeMap;
use std::fs::File;
use std::sync::Arc;

use arrow_array::RecordBatch;
use serde_json::{Value, json};

use intercom_export::simulator::SimConfig;

use crate::harness::*;

const REPORTS: [(&str, Option<&str>, &str); 4] = [
    ("conversations", None, "conversations"),
    ("conversation_parts", None, "conversations"),
    ("users", Some("user"), "contacts"),
    ("leads", Some("lead"), "contacts"),
];

async fn truth_for(world: &World, report: &str) -> BTreeMap<String, i64> {
    let (_, role, dataset) = REPORTS
        .iter()
        .find(|(r, _, _)| *r == report)
        .copied()
        .expect("known report");
    let records = world.truth(dataset).await;
    if report == "conversation_parts" {
        return truth_map(&parts_of(&records), None);
    }
    truth_map(&records, role)
}

/// Every part of the truth conversations, with its conversation's id.
fn parts_of(conversations: &[Value]) -> Vec<Value> {
    conversations
        .iter()
        .flat_map(|c| {
            let parts = c["conversation_parts"]["conversation_parts"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            parts.into_iter().map(move |mut p| {
                p["conversation_id"] = c["id"].clone();
                p
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_sync_then_incremental_syncs_match_the_ground_truth() {
    let world = World::start(skeleton_world()).await;

    // 1. First sync: every record, once, with the simulator's updated_at.
    let summary_path = world.dir.path().join("summary.json");
    let summary_arg = summary_path.display().to_string();
    assert_ok(&world.sync(&["--summary-json", &summary_arg]).await);
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(&summary_path).expect("summary written"))
            .expect("summary is JSON");
    assert_eq!(summary["status"], "succeeded");
    assert_eq!(summary["exit_code"], 0);
    let mut before = BTreeMap::new();
    for (report, _, _) in REPORTS {
        let truth = truth_for(&world, report).await;
        assert!(truth.len() > 50, "{report}: the world has records");
        let dirs = run_dirs(&world.output(), report);
        assert_eq!(dirs.len(), 1, "{report}: one run directory");
        let exported = unique_map(&ids_and_updated(&read_parquet_dir(&dirs[0])));
        assert_eq!(
            exported, truth,
            "{report}: first sync equals the ground truth"
        );
        let reported = summary["reports"]
            .as_array()
            .expect("reports")
            .iter()
            .find(|r| r["report"] == report)
            .expect("report in the summary");
        assert_eq!(reported["rows"], exported.len(), "{report}: summary rows");
        assert!(reported["requests"].as_u64().expect("requests") >= 1);
        if report == "conversation_parts" {
            let owner: BTreeMap<String, String> = parts_of(&world.truth("conversations").await)
                .iter()
                .map(|p| {
                    (
                        p["id"].as_str().expect("id").to_string(),
                        p["conversation_id"].as_str().expect("cid").to_string(),
                    )
                })
                .collect();
            let batches = read_parquet_dir(&dirs[0]);
            let exported_owner = string_column_by_id(&batches, "conversation_id");
            assert_eq!(
                exported_owner, owner,
                "every part carries its conversation's id"
            );
        }
        before.insert(report, truth);
    }

    // 2. The world moves: some records created, some updated.
    let advanced = world.sim_post("advance", json!({"seconds": 86_400})).await;
    let mut changed_total = 0;
    for (report, _, _) in REPORTS {
        let after = truth_for(&world, report).await;
        let old = &before[report];
        let changed: BTreeMap<String, i64> = after
            .iter()
            .filter(|(id, t)| old.get(*id) != Some(t))
            .map(|(id, t)| (id.clone(), *t))
            .collect();
        changed_total += changed.len();
        before.insert(report, after);
        world.sim_post("reset-stats", json!({})).await;
        // Sync one report at a time to check each against its own change set.
        assert_ok(&world.sync(&["--reports", report]).await);
        let dirs = run_dirs(&world.output(), report);
        if changed.is_empty() {
            assert_eq!(dirs.len(), 1, "{report}: nothing changed, no new files");
            continue;
        }
        assert_eq!(dirs.len(), 2, "{report}: a second run directory");
        let second = unique_map(&ids_and_updated(&read_parquet_dir(&dirs[1])));
        assert_eq!(
            second, changed,
            "{report}: second sync holds exactly the changed rows"
        );

        let all = dirs
            .iter()
            .flat_map(|d| ids_and_updated(&read_parquet_dir(d)));
        // Records merged or deleted by `advance` vanish from the truth; the
        // exporter keeps their last version (deletions are exported apart).
        let mut union = latest_per_id(all);
        union.retain(|id, _| before[report].contains_key(id));
        assert_eq!(
            union, before[report],
            "{report}: union (minus deleted/merged), latest per id, equals truth"
        );
    }
    assert!(changed_total > 10, "advance changed records: {advanced}");

    // 3. Nothing changed: no data files, at most one search request per report.
    let count_files = || -> usize {
        REPORTS
            .iter()
            .flat_map(|(report, _, _)| run_dirs(&world.output(), report))
            .map(|d| files_in(&d, "parquet").len())
            .sum()
    };
    // Catch up the reports this test did not sync one by one, then nothing
    // has changed for any report.
    assert_ok(&world.sync(&[]).await);
    let files_before = count_files();
    world.sim_post("reset-stats", json!({})).await;
    let out = world.sync(&[]).await;
    assert_ok(&out);
    assert_eq!(count_files(), files_before, "no new data files");
    for (report, _, _) in REPORTS {
        assert!(
            run_dirs(&world.output(), report).len() <= 2,
            "{report}: no new run directory"
        );
    }
    // At most one search request per report that searches (all default reports run).
    let conversation_searches = [
        "conversations",
        "conversation_parts",
        "conversation_tags",
        "conversation_contacts",
        "lifecycle_events",
        "part_attachments",
    ];
    let contact_searches = [
        "users",
        "leads",
        "contact_tags",
        "contact_companies",
        "contact_segments",
        "events",
    ];
    let searched = |reports: &[&str]| reports.len() as u64;
    assert!(
        world.requests_to("POST /conversations/search").await <= searched(&conversation_searches)
    );
    assert!(world.requests_to("POST /contacts/search").await <= searched(&contact_searches));
    // tickets, ticket_parts, ticket_contacts, lifecycle_events, part_attachments.
    assert!(world.requests_to("POST /tickets/search").await <= 5);
    for per_item in [
        "GET /conversations/{id}",
        "GET /contacts/{id}/tags",
        "GET /contacts/{id}/segments",
        "GET /events",
    ] {
        assert_eq!(
            world.requests_to(per_item).await,
            0,
            "nothing changed: no {per_item}"
        );
    }
    assert!(
        stdout(&out).contains("conversations"),
        "summary table printed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_holds_the_same_rows_as_parquet() {
    let world = World::start(SimConfig {
        contacts: 300,
        conversations: 120,
        ..skeleton_world()
    })
    .await;
    // Two independent exports of the same world, one per format.
    assert_ok(&world.sync(&["--format", "parquet"]).await);
    let csv_out = world.dir.path().join("csv-out");
    let csv_state = world.dir.path().join("csv-state.db");
    let out = run_cli(
        &[
            "sync".into(),
            "--base-url".into(),
            world.sim.base_url(),
            "--output".into(),
            csv_out.display().to_string(),
            "--state".into(),
            csv_state.display().to_string(),
            "--format".into(),
            "csv".into(),
        ],
        &[("INTERCOM_ACCESS_TOKEN", "t")],
    )
    .await;
    assert_ok(&out);
    // Not a terminal: no progress bar, no escape codes in what orchestrators read.
    assert!(
        !stderr(&out).contains('\u{1b}') && !stderr(&out).contains('\r'),
        "{}",
        stderr(&out)
    );

    for (report, _, _) in REPORTS {
        let parquet_dir = &run_dirs(&world.output(), report)[0];
        let csv_dir = &run_dirs(&csv_out, report)[0];
        assert!(files_in(csv_dir, "parquet").is_empty(), "csv only");
        let csv_files = files_in(csv_dir, "csv");
        assert_eq!(csv_files.len(), 1);
        let header = std::fs::read_to_string(&csv_files[0]).expect("csv text");
        let header = header.lines().next().expect("a header line");
        assert!(header.starts_with("id,"), "{report}: header row: {header}");

        let parquet_batches = read_parquet_dir(parquet_dir);
        let parquet_rows = json_rows(&parquet_batches);
        // The CSV has the Parquet file's columns, lists written as JSON text.
        let parquet_schema = parquet_batches[0].schema();
        let list_columns: Vec<String> = parquet_schema
            .fields()
            .iter()
            .filter(|f| matches!(f.data_type(), arrow_schema::DataType::List(_)))
            .map(|f| f.name().clone())
            .collect();
        let csv_fields: Vec<arrow_schema::Field> = parquet_schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                arrow_schema::DataType::List(_) => {
                    arrow_schema::Field::new(f.name(), arrow_schema::DataType::Utf8, true)
                }
                _ => f.as_ref().clone(),
            })
            .collect();
        let schema = Arc::new(arrow_schema::Schema::new(csv_fields));
        let reader = arrow_csv::ReaderBuilder::new(Arc::clone(&schema))
            .with_header(true)
            .build(File::open(&csv_files[0]).expect("open"))
            .expect("csv reader");
        let batches: Vec<RecordBatch> = reader.map(|b| b.expect("csv batch")).collect();
        let mut csv_rows = json_rows(&batches);
        // CSV holds lists as JSON text: parse them back for the comparison.
        for row in csv_rows.iter_mut() {
            for col in &list_columns {
                if let Some(Value::String(text)) = row.get(col) {
                    let parsed: Value = serde_json::from_str(text).expect("list cell is JSON");
                    row.insert(col.clone(), parsed);
                }
            }
        }
        // The one thing CSV cannot carry: an empty string and a null are
        // both an empty field (documented in the README).
        let mut parquet_rows = parquet_rows;
        for row in parquet_rows.iter_mut() {
            row.retain(|_, v| v != &Value::String(String::new()));
        }
        assert_eq!(csv_rows.len(), parquet_rows.len(), "{report}: row count");
        // Two independent exports: per-item fetches finish in any order.
        let key = |r: &serde_json::Map<String, Value>| r.get("id").map(Value::to_string);
        csv_rows.sort_by_key(key);
        parquet_rows.sort_by_key(key);
        assert!(!csv_rows.is_empty());
        for (i, (c, p)) in csv_rows.iter().zip(&parquet_rows).enumerate() {
            // The two exports are different runs: their run columns differ.
            for key in c.keys().chain(p.keys()).filter(|k| !k.starts_with("_")) {
                assert_eq!(
                    c.get(key),
                    p.get(key),
                    "{report}: row {i}, column {key}: CSV vs Parquet"
                );
            }
        }
    }
}

/// id → the value of a string column.
fn string_column_by_id(batches: &[RecordBatch], column: &str) -> BTreeMap<String, String> {
    use arrow_array::cast::AsArray;
    let mut map = BTreeMap::new();
    for b in batches {
        let ids = b.column_by_name("id").expect("id").as_string::<i32>();
        let values = b.column_by_name(column).expect("column").as_string::<i32>();
        for i in 0..b.num_rows() {
            map.insert(ids.value(i).to_string(), values.value(i).to_string());
        }
    }
    map
}
