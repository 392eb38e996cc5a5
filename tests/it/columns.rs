//! Every column of every row, compared with the simulator's ground truth.
//!
//! The expected value of each cell is computed here, independently of the
//! exporter's code, from the `source` pointer and type that
//! `schemas/<report>.json` documents, and from `/data_attributes` for the
//! typed custom-attribute columns.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::harness::*;

/// A documented column: name, Arrow type, JSON pointer, list item key, and
/// whether Intercom's `0`/`"0"` "none" sentinel means null.
struct DocColumn {
    name: String,
    ty: String,
    path: String,
    item: Option<String>,
    none_sentinel: bool,
}

fn documented_columns(report: &str) -> Vec<DocColumn> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("schemas/{report}.json"));
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("schema file")).expect("json");
    doc["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter(|c| !c["name"].as_str().unwrap_or("_").starts_with('_'))
        .map(|c| {
            let source = c["source"].as_str().expect("source");
            let (path, item) = match source.split_once("[]") {
                Some((p, rest)) => (
                    p.to_string(),
                    Some(rest.trim_start_matches('.').to_string()),
                ),
                None => (source.to_string(), None),
            };
            DocColumn {
                name: c["name"].as_str().expect("name").to_string(),
                ty: c["type"].as_str().expect("type").to_string(),
                path,
                item,
                none_sentinel: c.get("none_sentinel").is_some(),
            }
        })
        .collect()
}

fn rfc3339(secs: i64) -> Value {
    let t = time::OffsetDateTime::from_unix_timestamp(secs).expect("valid time");
    json!(
        t.format(&time::format_description::well_known::Rfc3339)
            .expect("format")
    )
}

fn text(v: &Value) -> Value {
    match v {
        Value::String(s) => json!(s),
        other => json!(other.to_string()),
    }
}

/// What arrow_json writes for `v` in a column of type `ty` (None: null).
fn expected_cell(ty: &str, item: Option<&str>, v: Option<&Value>) -> Option<Value> {
    let v = v.filter(|v| !v.is_null())?;
    if ty.starts_with("Timestamp") {
        return v.as_i64().map(rfc3339);
    }
    if ty.starts_with("List") {
        let items = v.as_array()?;
        return Some(Value::Array(
            items
                .iter()
                .map(|e| match item.filter(|k| !k.is_empty()) {
                    Some(k) => e.get(k).map_or(Value::Null, text),
                    None => text(e),
                })
                .collect(),
        ));
    }
    match ty {
        "Utf8" => Some(text(v)),
        "Int64" => v.as_i64().map(Value::from),
        "Float64" => v.as_f64().map(Value::from),
        "Boolean" => v.as_bool().map(Value::from),
        other => panic!("type {other} not covered by this test"),
    }
}

/// Custom attribute columns: (column name, attribute name, data_type).
fn custom_columns(data_attributes: &[Value], model: &str) -> Vec<(String, String, String)> {
    let mut declared: Vec<(String, String)> = data_attributes
        .iter()
        .filter(|a| a["model"] == model && a["custom"] == true)
        .map(|a| {
            (
                a["name"].as_str().expect("name").to_string(),
                a["data_type"].as_str().unwrap_or("string").to_string(),
            )
        })
        .collect();
    declared.sort();
    declared
        .into_iter()
        .map(|(name, ty)| {
            (
                format!(
                    "custom_{}",
                    intercom_export::reports::custom::snake_case(&name)
                ),
                name,
                ty,
            )
        })
        .collect()
}

/// The typed value of a custom attribute, or None when it does not fit.
fn expected_custom(data_type: &str, v: Option<&Value>) -> Option<Value> {
    let v = v.filter(|v| !v.is_null())?;
    match data_type {
        "integer" => v.as_i64().filter(|_| !v.is_f64()).map(Value::from),
        "float" => v.as_f64().map(Value::from),
        "boolean" => v.as_bool().map(Value::from),
        "date" => v.as_i64().filter(|_| !v.is_f64()).map(rfc3339),
        _ => Some(text(v)),
    }
}

async fn check(
    world: &World,
    report: &str,
    truth: Vec<Value>,
    custom_model: Option<&str>,
    key: fn(&Value) -> String,
) -> usize {
    check_run(world, report, 0, truth, custom_model, key, true).await
}

/// [`check`] for run `run` of several, and optionally without requiring
/// misfitting custom values or inline lists cut short (small selections may
/// have none).
pub(crate) async fn check_run(
    world: &World,
    report: &str,
    run: usize,
    truth: Vec<Value>,
    custom_model: Option<&str>,
    key: fn(&Value) -> String,
    require_misfits: bool,
) -> usize {
    let columns = documented_columns(report);
    let all_dirs = run_dirs(&world.output(), report);
    let dirs = &all_dirs[run..=run];
    if run == 0 {
        assert_eq!(all_dirs.len(), 1, "{report}: one run");
    }
    let rows = json_rows(&read_parquet_dir(&dirs[0]));
    let count = rows.len();
    let exported: BTreeMap<String, Map<String, Value>> = rows
        .into_iter()
        .map(|r| (key(&Value::Object(r.clone())), r))
        .collect();
    assert_eq!(
        exported.len(),
        count,
        "{report}: keys are unique: {:?}",
        exported.keys().collect::<Vec<_>>()
    );
    assert_eq!(exported.len(), truth.len(), "{report}: row count");
    let customs = match custom_model {
        Some("conversation") => {
            // 2.16 declares them at /conversations/attributes, in its own types.
            let declared: Vec<Value> = api_get(world, "/conversations/attributes").await["data"]
                .as_array()
                .expect("data")
                .iter()
                .map(|a| {
                    let ty = match a["data_type"].as_str().expect("data_type") {
                        "decimal" => "float",
                        "datetime" => "date",
                        "list" => "string",
                        other => other,
                    };
                    json!({"model": "conversation", "custom": true, "name": a["name"], "data_type": ty})
                })
                .collect();
            custom_columns(&declared, "conversation")
        }
        Some(model) => custom_columns(&world.truth("data_attributes").await, model),
        None => Vec::new(),
    };
    let mut misfits = 0;
    // Contacts' inline lists: what the API sent (some are cut short of
    // their total_count, a recorded wire variant the truth does not have).
    let inline_lists = columns.iter().any(|c| c.name == "tags_has_more");
    let mut cut_lists = 0;
    for record in &truth {
        let k = key(record);
        let row = exported
            .get(&k)
            .unwrap_or_else(|| panic!("{report}: row {k} missing"));
        let wire = if inline_lists {
            Some(api_get(world, &format!("/contacts/{k}")).await)
        } else {
            None
        };
        for c in &columns {
            // The truth holds 2.16's `0` for "unassigned"; documented
            // sentinel columns write it as null.
            let value = record
                .pointer(&c.path)
                .filter(|v| !(c.none_sentinel && (**v == json!(0) || **v == json!("0"))));
            let mut want = expected_cell(&c.ty, c.item.as_deref(), value);
            if let Some(wire) = &wire
                && let Some(list) = ["tags", "companies"]
                    .into_iter()
                    .find(|l| c.path == format!("/{l}/data") || c.path == format!("/{l}/has_more"))
            {
                let (sent, total) = inline_list(wire, record, list, &k);
                if c.path.ends_with("/has_more") {
                    // More exist than the row lists: has_more, or a
                    // total_count above the items sent.
                    want = Some(json!(total > sent.len()));
                } else {
                    // The items sent: the contact's first ones.
                    if sent.len() < total.min(10) {
                        cut_lists += 1;
                    }
                    want = Some(json!(sent));
                }
            }
            assert_eq!(
                row.get(&c.name),
                want.as_ref(),
                "{report} {k}: column {}",
                c.name
            );
        }
        for (column, name, data_type) in &customs {
            let raw = record["custom_attributes"].get(name);
            let want = expected_custom(data_type, raw);
            if want.is_none() && raw.is_some_and(|v| !v.is_null()) {
                misfits += 1;
            }
            assert_eq!(
                row.get(column),
                want.as_ref(),
                "{report} {k}: custom column {column}"
            );
        }
        let run = row.get("_run_id").and_then(Value::as_str).expect("_run_id");
        assert!(
            dirs[0].ends_with(run),
            "{report}: _run_id names the run directory"
        );
        assert!(row.contains_key("_extracted_at"));
    }
    if inline_lists && require_misfits {
        assert!(
            cut_lists > 0,
            "{report}: the API cut some inline lists short of their total_count"
        );
    }
    if custom_model.is_some() {
        assert!(!customs.is_empty(), "{report}: custom attributes declared");
        assert!(
            misfits > 0 || !require_misfits,
            "{report}: the world has values that do not fit their declared type"
        );
    }
    misfits
}

/// A contact's inline list `list` as the API sent it (`wire`): the ids of
/// the items sent, which must be the first items of the truth's list, and
/// the list's true size (the truth's `total_count`).
fn inline_list(wire: &Value, truth: &Value, list: &str, id: &str) -> (Vec<String>, usize) {
    let item_ids = |v: &Value| -> Vec<String> {
        v[list]["data"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|i| i["id"].as_str().expect("item id").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let (sent, canonical) = (item_ids(wire), item_ids(truth));
    let common = sent.len().min(canonical.len());
    assert_eq!(
        sent[..common],
        canonical[..common],
        "{id} {list}: the items sent are the list's first"
    );
    let total = truth[list]["total_count"].as_u64().expect("total_count") as usize;
    assert_eq!(wire[list]["total_count"], total, "{id} {list}");
    (sent, total)
}

fn by_id(r: &Value) -> String {
    r["id"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| r["id"].to_string())
}

/// A note by its id; the row of a contact without notes by its contact.
fn note_or_contact(r: &Value) -> String {
    match r["id"].as_str() {
        Some(id) => id.to_string(),
        None => format!(
            "no notes of {}",
            r["contact_id"].as_str().unwrap_or_default()
        ),
    }
}

fn by_model_and_full_name(r: &Value) -> String {
    format!(
        "{}/{}",
        r["model"].as_str().unwrap_or_default(),
        r["full_name"].as_str().unwrap_or_default()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_column_of_every_row_equals_the_ground_truth() {
    let world = World::start(intercom_export::simulator::SimConfig {
        contacts: 400,
        conversations: 80,
        ..skeleton_world()
    })
    .await;
    let summary = world.dir.path().join("summary.json");
    assert_ok(
        &world
            .sync(&[
                "--reports",
                "admins,teams,tags,segments,data_attributes,ticket_types,users,leads,conversations",
                "--summary-json",
                &summary.display().to_string(),
            ])
            .await,
    );
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).expect("summary")).expect("json");

    for report in ["admins", "teams", "tags", "segments", "ticket_types"] {
        let truth = world.truth(report).await;
        check(&world, report, truth, None, by_id).await;
    }
    // 2.16 declares conversation attributes at /conversations/attributes,
    // in their own shape: as data_attribute rows they are custom, keyed
    // `custom_attributes.<name>`, with option labels.
    let mut attributes: Vec<Value> = world
        .truth("data_attributes")
        .await
        .into_iter()
        .filter(|a| a["model"] != "conversation")
        .collect();
    let conversation_attributes = api_get(&world, "/conversations/attributes").await;
    for a in conversation_attributes["data"].as_array().expect("data") {
        let mut row = a.clone();
        let name = a["name"].as_str().expect("name");
        let m = row.as_object_mut().expect("object");
        m.insert("model".into(), json!("conversation"));
        m.insert(
            "full_name".into(),
            json!(format!("custom_attributes.{name}")),
        );
        m.insert("label".into(), json!(name));
        m.insert("custom".into(), json!(true));
        if let Some(options) = a["options"].as_array() {
            let labels: Vec<Value> = options.iter().map(|o| o["label"].clone()).collect();
            m.insert("options".into(), json!(labels));
        }
        attributes.push(row);
    }
    assert!(attributes.iter().any(|a| a["model"] == "conversation"));
    check(
        &world,
        "data_attributes",
        attributes,
        None,
        by_model_and_full_name,
    )
    .await;

    let contacts = world.truth("contacts").await;
    for (report, role) in [("users", "user"), ("leads", "lead")] {
        let truth = contacts
            .iter()
            .filter(|c| c["role"] == role)
            .cloned()
            .collect();
        let misfits = check(&world, report, truth, Some("contact"), by_id).await;
        // The summary says them, once, as unexpected shapes of the custom
        // attributes.
        let entry = summary["reports"]
            .as_array()
            .expect("reports")
            .iter()
            .find(|r| r["report"] == report)
            .expect("report in summary");
        let said: u64 = entry["anomalies"]
            .as_array()
            .expect("anomalies")
            .iter()
            .filter(|a| {
                a["kind"] == "unexpected_shapes"
                    && a["detail"]
                        .as_str()
                        .is_some_and(|d| d.starts_with("custom attributes"))
            })
            .map(|a| a["count"].as_u64().expect("count"))
            .sum();
        assert_eq!(said, misfits as u64, "{report}: {entry}");
        // Lists cut short without has_more: their has_more column was read
        // from the total_count, once each, in interpreted_values.
        for list in ["tags", "companies"] {
            let mut silent = 0u64;
            for c in contacts.iter().filter(|c| c["role"] == role) {
                let wire = api_get(&world, &format!("/contacts/{}", by_id(c))).await;
                let sent = wire[list]["data"].as_array().map_or(0, Vec::len) as u64;
                if wire[list]["has_more"] != true && wire[list]["total_count"].as_u64() > Some(sent)
                {
                    silent += 1;
                }
            }
            let column = format!("{list}_has_more");
            let counted: u64 = entry["anomalies"]
                .as_array()
                .expect("anomalies")
                .iter()
                .filter(|a| a["kind"] == "interpreted_values" && a["detail"] == column.as_str())
                .map(|a| a["count"].as_u64().expect("count"))
                .sum();
            assert_eq!(counted, silent, "{report} {column}: {entry}");
            if report == "users" && list == "tags" {
                assert!(silent > 0, "some users' tags are cut without has_more");
            }
        }
    }
    let conversations = world.truth("conversations").await;
    assert!(
        conversations
            .iter()
            .any(|c| c["custom_attributes"]["Order number"].is_i64()),
        "conversations carry typed custom attributes"
    );
    check_run(
        &world,
        "conversations",
        0,
        conversations,
        Some("conversation"),
        by_id,
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_snapshots_are_not_written_again() {
    let world = World::start(intercom_export::simulator::SimConfig {
        contacts: 30,
        conversations: 5,
        ..skeleton_world()
    })
    .await;
    let reports = [
        "--reports",
        "admins,teams,tags,segments,data_attributes,ticket_types",
    ];
    assert_ok(&world.sync(&reports).await);
    assert_ok(&world.sync(&reports).await);
    for report in [
        "admins",
        "teams",
        "tags",
        "segments",
        "data_attributes",
        "ticket_types",
    ] {
        assert_eq!(
            run_dirs(&world.output(), report).len(),
            1,
            "{report}: written once"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn companies_tickets_deletions_and_company_mappings_equal_the_ground_truth() {
    let world = World::start(intercom_export::simulator::SimConfig {
        contacts: 300,
        conversations: 120,
        ..skeleton_world()
    })
    .await;
    // Let the world delete some conversations first.
    world
        .sim_post("advance", json!({"seconds": 3 * 86_400}))
        .await;
    let deleted = world.truth("deleted_conversations").await;
    assert!(!deleted.is_empty(), "the world deleted conversations");
    let summary = world.dir.path().join("summary.json");
    assert_ok(
        &world
            .sync(&[
                "--reports",
                "companies,company_tags,company_segments,tickets,deleted_conversations",
                "--summary-json",
                &summary.display().to_string(),
            ])
            .await,
    );

    let companies = world.truth("companies").await;
    check(
        &world,
        "companies",
        companies.clone(),
        Some("company"),
        by_id,
    )
    .await;
    // The API sends some companies' remote_created_at in unix milliseconds
    // (the truth: seconds); the rows above hold the right instant, and the
    // summary counts each as an interpreted value of that column.
    let mut millis = 0u64;
    for c in &companies {
        let wire = api_get(&world, &format!("/companies/{}", by_id(c))).await;
        if wire["remote_created_at"].as_i64() >= Some(100_000_000_000) {
            millis += 1;
        }
    }
    assert!(millis > 0, "some companies send milliseconds");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).expect("summary")).expect("json");
    let interpreted: u64 = summary["reports"]
        .as_array()
        .expect("reports")
        .iter()
        .filter(|r| r["report"] == "companies")
        .flat_map(|r| r["anomalies"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["kind"] == "interpreted_values" && a["detail"] == "remote_created_at")
        .map(|a| a["count"].as_u64().expect("count"))
        .sum();
    assert_eq!(interpreted, millis, "{summary}");
    check(&world, "tickets", world.truth("tickets").await, None, by_id).await;
    check(&world, "deleted_conversations", deleted, None, by_id).await;

    // Mapping tables: exactly the (company, item) pairs of the truth.
    for (report, list, column) in [
        ("company_tags", "/tags/tags", "tag_id"),
        ("company_segments", "/segments/segments", "segment_id"),
    ] {
        let want: std::collections::BTreeSet<(String, String)> = companies
            .iter()
            .flat_map(|c| {
                let id = c["id"].as_str().expect("id").to_string();
                mapping_pairs(
                    &id,
                    &c.pointer(list)
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default(),
                )
            })
            .collect();
        let rows: Vec<Map<String, Value>> = run_dirs(&world.output(), report)
            .iter()
            .flat_map(|d| json_rows(&read_parquet_dir(d)))
            .collect();
        let got: std::collections::BTreeSet<(String, String)> = rows
            .iter()
            .map(|r| {
                (
                    r["company_id"].as_str().expect("company_id").to_string(),
                    // The one row of a company without items has no item.
                    r.get(column)
                        .map(|v| v.as_str().expect("item").to_string())
                        .unwrap_or_default(),
                )
            })
            .collect();
        assert!(!want.is_empty(), "{report}: the world has some");
        assert_eq!(got.len(), rows.len(), "{report}: no duplicate pairs");
        assert_eq!(got, want, "{report}");
    }
}

/// The (parent id, item id) pairs a mapping table holds for a parent with
/// `items`: one per item, or `(parent, "")` (the one row with null item
/// columns) when it has none.
fn mapping_pairs(parent: &str, items: &[Value]) -> Vec<(String, String)> {
    if items.is_empty() {
        return vec![(parent.to_string(), String::new())];
    }
    items
        .iter()
        .map(|t| {
            (
                parent.to_string(),
                t["id"].as_str().expect("item id").to_string(),
            )
        })
        .collect()
}

/// (parent id, item id) pairs of a mapping report's output; `""` for the
/// null item of a parent without items.
fn exported_pairs(
    world: &World,
    report: &str,
    parent: &str,
    item: &str,
) -> std::collections::BTreeSet<(String, String)> {
    let rows: Vec<Map<String, Value>> = run_dirs(&world.output(), report)
        .iter()
        .flat_map(|d| json_rows(&read_parquet_dir(d)))
        .collect();
    let pairs: std::collections::BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r[parent].as_str().expect("parent").to_string(),
                r.get(item)
                    .map(|v| v.as_str().expect("item").to_string())
                    .unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(pairs.len(), rows.len(), "{report}: no duplicate pairs");
    pairs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_tables_follow_lists_past_the_ten_inline_items() {
    let world = World::start(intercom_export::simulator::SimConfig {
        contacts: 300,
        conversations: 60,
        ..skeleton_world()
    })
    .await;
    assert_ok(
        &world
            .sync(&[
                "--reports",
                "contact_tags,contact_companies,conversation_tags,conversation_contacts",
            ])
            .await,
    );
    let contacts = world.truth("contacts").await;
    let base = world.sim.base_url();
    let http = reqwest::Client::new();
    // The full lists, as the API gives them (the inline ones stop at 10).
    let mut long_lists = 0;
    for (report, what, item) in [
        ("contact_tags", "tags", "tag_id"),
        ("contact_companies", "companies", "company_id"),
    ] {
        let mut want = std::collections::BTreeSet::new();
        for c in &contacts {
            let id = c["id"].as_str().expect("id");
            let list = if c[what]["has_more"] == true {
                long_lists += 1;
                let body: Value = http
                    .get(format!("{base}/contacts/{id}/{what}"))
                    .bearer_auth("t")
                    .send()
                    .await
                    .expect("request")
                    .json()
                    .await
                    .expect("json");
                body.get("data")
                    .or(body.get(what))
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            } else {
                c[what]["data"].as_array().cloned().unwrap_or_default()
            };
            assert_eq!(
                list.len() as u64,
                c[what]["total_count"].as_u64().expect("total_count"),
                "{id} {what}"
            );
            want.extend(mapping_pairs(id, &list));
        }
        assert_eq!(
            exported_pairs(&world, report, "contact_id", item),
            want,
            "{report}"
        );
    }
    assert!(
        long_lists > 0,
        "the world has contacts with more than 10 tags or companies"
    );
    // Lists the API cut short of their total_count (without has_more, in
    // the truth) are read from the sub-resource too.
    let short: u64 = ["tags", "companies"]
        .iter()
        .map(|what| {
            contacts
                .iter()
                .filter(|c| {
                    c[what]["has_more"] != true && c[what]["total_count"].as_u64() > Some(1)
                })
                .count() as u64
        })
        .sum();
    let fetched = world.requests_to("GET /contacts/{id}/tags").await
        + world.requests_to("GET /contacts/{id}/companies").await;
    assert!(
        fetched > long_lists && fetched < long_lists + short,
        "{fetched} sub-resource reads: the {long_lists} long lists and some cut ones"
    );

    let conversations = world.truth("conversations").await;
    for (report, pointer, item) in [
        ("conversation_tags", "/tags/tags", "tag_id"),
        ("conversation_contacts", "/contacts/contacts", "contact_id"),
    ] {
        let want: std::collections::BTreeSet<(String, String)> = conversations
            .iter()
            .flat_map(|c| {
                let id = c["id"].as_str().expect("id").to_string();
                mapping_pairs(
                    &id,
                    &c.pointer(pointer)
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default(),
                )
            })
            .collect();
        assert!(!want.is_empty());
        assert_eq!(
            exported_pairs(&world, report, "conversation_id", item),
            want,
            "{report}"
        );
    }
}

/// The documented `event_key`, computed here from its definition in the
/// README: SHA-256 of user id, name, created_at and sorted-key metadata JSON,
/// each followed by a newline; the first 16 bytes in hex.
fn with_event_key(mut event: Value) -> Value {
    use sha2::{Digest, Sha256};
    let metadata: Value = match &event["metadata"] {
        Value::String(s) => serde_json::from_str(s).expect("metadata JSON"),
        other => other.clone(),
    };
    let text = format!(
        "{}\n{}\n{}\n{}\n",
        event["intercom_user_id"].as_str().expect("user id"),
        event["event_name"].as_str().expect("name"),
        event["created_at"].as_i64().expect("created_at"),
        metadata
    );
    let digest = Sha256::digest(text.as_bytes());
    event["event_key"] = Value::String(digest[..16].iter().map(|b| format!("{b:02x}")).collect());
    event
}

/// Events have no id: a user, name and metadata identify one in this world.
fn event_key(r: &Value) -> String {
    let metadata = match &r["metadata"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    format!(
        "{}/{}/{metadata}",
        r["intercom_user_id"].as_str().unwrap_or_default(),
        r["event_name"].as_str().unwrap_or_default()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_every_user_within_90_days_equal_the_ground_truth() {
    let world = World::start(intercom_export::simulator::SimConfig {
        contacts: 120,
        conversations: 5,
        ..skeleton_world()
    })
    .await;
    // Small pages, so users' events span several pages (pages.next URLs).
    let config = world.dir.path().join("events.toml");
    std::fs::write(&config, "page_size = 4\n").expect("config");
    let config = config.display().to_string();
    assert_ok(
        &world
            .sync(&["--config", &config, "--reports", "events"])
            .await,
    );
    let truth = world.truth("events").await;
    let contacts = world.truth("contacts").await;
    let users: std::collections::BTreeSet<&str> = contacts
        .iter()
        .filter(|c| c["role"] == "user")
        .filter_map(|c| c["id"].as_str())
        .collect();
    let truth: Vec<Value> = truth
        .into_iter()
        .filter(|e| users.contains(e["intercom_user_id"].as_str().unwrap_or_default()))
        .collect();
    assert!(truth.len() > 100, "the world has events");
    // Users' events (the default event_type) say so in contact_role.
    let truth: Vec<Value> = truth
        .into_iter()
        .map(with_event_key)
        .map(|mut e| {
            e["contact_role"] = "user".into();
            e
        })
        .collect();
    let now = world.sim_get("clock").await["now"].as_i64().expect("now");
    assert!(
        truth
            .iter()
            .all(|e| e["created_at"].as_i64().expect("created_at") > now - 90 * 86_400),
        "the truth lists only the last 90 days"
    );
    check(&world, "events", truth, None, event_key).await;
    assert!(
        world.requests_to("GET /events").await > users.len() as u64,
        "some users' events took more than one page"
    );

    // Nothing changed: the next run reads no user and writes no event.
    let before = world.requests_to("GET /events").await;
    assert_ok(
        &world
            .sync(&["--config", &config, "--reports", "events"])
            .await,
    );
    assert_eq!(world.requests_to("GET /events").await, before);
    assert_eq!(run_dirs(&world.output(), "events").len(), 1);
}

/// HTML → text by the documented rule (paragraphs and breaks become lines,
/// links `label (url)`, entities decoded), written here independently of the
/// exporter's converter, for the markup the simulator emits.
pub(crate) fn html_text(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    let mut href: Option<String> = None;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('>').expect("tag closes") + open;
        let tag = &rest[open + 1..close];
        rest = &rest[close + 1..];
        if tag.starts_with("a ") {
            href = tag
                .split("href=\"")
                .nth(1)
                .and_then(|h| h.split('"').next())
                .map(str::to_string);
        } else if tag == "/a" {
            if let Some(h) = href.take() {
                out.push_str(&format!(" ({h})"));
            }
        } else if tag == "/p" || tag.starts_with("br") {
            out.push('\n');
        }
    }
    out.push_str(rest);
    out.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .trim_end()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_of_every_contact_and_of_given_contacts_equal_the_ground_truth() {
    let world = World::start(intercom_export::simulator::SimConfig {
        contacts: 160,
        conversations: 5,
        ..skeleton_world()
    })
    .await;
    // Small pages: contacts with a dozen notes take several.
    let config = world.dir.path().join("notes.toml");
    std::fs::write(&config, "page_size = 5\n").expect("config");
    let config = config.display().to_string();
    assert_ok(
        &world
            .sync(&["--config", &config, "--reports", "notes_by_user"])
            .await,
    );
    let contacts = world.truth("contacts").await;
    let updated: BTreeMap<&str, i64> = contacts
        .iter()
        .map(|c| {
            (
                c["id"].as_str().expect("id"),
                c["updated_at"].as_i64().expect("updated_at"),
            )
        })
        .collect();
    let mut truth: Vec<Value> = world
        .truth("notes")
        .await
        .into_iter()
        .map(|mut n| {
            let contact = n["contact"]["id"].as_str().expect("contact").to_string();
            let text = html_text(n["body"].as_str().expect("body"));
            let m = n.as_object_mut().expect("object");
            m.insert(
                "contact_updated_at".into(),
                json!(updated[contact.as_str()]),
            );
            m.insert("contact_id".into(), json!(contact));
            m.insert("body_text".into(), json!(text));
            n
        })
        .collect();
    assert!(
        truth.iter().any(|n| n["body_text"]
            .as_str()
            .is_some_and(|t| t.contains(" (https://"))),
        "a note with a link"
    );
    let mut per_contact: BTreeMap<String, usize> = BTreeMap::new();
    for n in &truth {
        *per_contact
            .entry(n["contact_id"].as_str().expect("id").to_string())
            .or_default() += 1;
    }
    let (busy, busy_count) = per_contact
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(k, n)| (k.clone(), *n))
        .expect("some notes");
    assert!(busy_count > 10, "a contact with more notes than a page");
    // A contact without notes: one row, its columns and null note columns.
    let without: Vec<Value> = updated
        .iter()
        .filter(|(id, _)| !per_contact.contains_key(**id))
        .map(|(id, at)| json!({"contact_id": id, "contact_updated_at": at}))
        .collect();
    assert!(!without.is_empty(), "a contact without notes");
    truth.extend(without);
    check(&world, "notes_by_user", truth, None, note_or_contact).await;

    // Given contacts: only theirs, in a run of their own (its own cursor).
    let ids = format!("notes_by_user.contact_ids={busy}");
    assert_ok(
        &world
            .sync(&[
                "--config",
                &config,
                "--reports",
                "notes_by_user",
                "--option",
                &ids,
            ])
            .await,
    );
    let dirs = run_dirs(&world.output(), "notes_by_user");
    assert_eq!(dirs.len(), 2);
    let rows = json_rows(&read_parquet_dir(&dirs[1]));
    assert_eq!(rows.len(), busy_count);
    assert!(rows.iter().all(|r| r["contact_id"] == busy.as_str()));
    // Unchanged since: the next run writes nothing.
    assert_ok(
        &world
            .sync(&[
                "--config",
                &config,
                "--reports",
                "notes_by_user",
                "--option",
                &ids,
            ])
            .await,
    );
    assert_eq!(run_dirs(&world.output(), "notes_by_user").len(), 2);
}

/// What a flattened scalar field looks like in the files, by its JSON type
/// (timestamps by the `_at` naming rule).
fn expected_scalar(field: &str, v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::Number(n) if field.ends_with("_at") => n.as_i64().map(rfc3339),
        Value::Number(_) | Value::Bool(_) | Value::String(_) => Some(v.clone()),
        _ => None,
    }
}

/// Every scalar field of `object` (and of its nested objects) as the
/// `<prefix>_<field>` columns `expand` must produce.
fn flattened(prefix: &str, object: &Value, out: &mut BTreeMap<String, Value>) {
    let Some(map) = object.as_object() else {
        return;
    };
    for (k, v) in map {
        let name = format!("{prefix}_{k}");
        if v.is_object() {
            flattened(&name, v, out);
        } else if let Some(want) = expected_scalar(k, v) {
            out.insert(name, want);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expand_flattens_listed_objects_and_keeps_the_others_as_json() {
    let world = World::start(intercom_export::simulator::SimConfig {
        contacts: 120,
        conversations: 80,
        ..skeleton_world()
    })
    .await;
    // Pages of 20: past the first page, records are read in windows and
    // decoded with only the keys the columns read
    // (`extract::record_keys`), expanded and whole objects included.
    let config = world.dir.path().join("pages.toml");
    std::fs::write(&config, "page_size = 20\n").expect("config");
    let config = config.display().to_string();
    assert_ok(
        &world
            .sync(&[
                "--config",
                &config,
                "--reports",
                "conversations,users",
                "--option",
                "conversations.expand=statistics,source",
                "--option",
                "users.expand=location,social_profiles",
            ])
            .await,
    );
    let rows_of = |report: &str| -> BTreeMap<String, Map<String, Value>> {
        let dirs = run_dirs(&world.output(), report);
        assert_eq!(dirs.len(), 1);
        json_rows(&read_parquet_dir(&dirs[0]))
            .into_iter()
            .map(|r| (r["id"].as_str().expect("id").to_string(), r))
            .collect()
    };

    let conversations = world.truth("conversations").await;
    let rows = rows_of("conversations");
    assert_eq!(rows.len(), conversations.len());
    let (mut flattened_cells, mut whole_cells) = (0, 0);
    for c in &conversations {
        let row = &rows[c["id"].as_str().expect("id")];
        for listed in ["statistics", "source"] {
            let mut want = BTreeMap::new();
            flattened(listed, &c[listed], &mut want);
            for (column, value) in want {
                // `source_*` and some statistics also exist as default columns.
                assert_eq!(row.get(&column), Some(&value), "{} {column}", c["id"]);
                flattened_cells += 1;
            }
        }
        for whole in [
            "sla_applied",
            "conversation_rating",
            "first_contact_reply",
            "ai_agent",
            "channel",
        ] {
            let want = c
                .get(whole)
                .filter(|v| !v.is_null())
                .map(|v| json!(v.to_string()));
            assert_eq!(row.get(whole), want.as_ref(), "{} {whole}", c["id"]);
            whole_cells += usize::from(want.is_some());
        }
        assert!(!row.contains_key("statistics") && !row.contains_key("source"));
        // Default columns stay.
        assert_eq!(
            row.get("time_to_assignment"),
            row.get("statistics_time_to_assignment")
        );
    }
    assert!(flattened_cells > conversations.len() * 10 && whole_cells > 0);

    let contacts = world.truth("contacts").await;
    let users: Vec<&Value> = contacts.iter().filter(|c| c["role"] == "user").collect();
    let rows = rows_of("users");
    assert_eq!(rows.len(), users.len());
    let mut profiles = 0;
    for u in users {
        let row = &rows[u["id"].as_str().expect("id")];
        let mut want = BTreeMap::new();
        flattened("location", &u["location"], &mut want);
        for (column, value) in want {
            assert_eq!(row.get(&column), Some(&value), "{} {column}", u["id"]);
        }
        let items = u["social_profiles"]["data"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let names: Vec<Value> = items.iter().map(|p| p["name"].clone()).collect();
        let urls: Vec<Value> = items.iter().map(|p| p["url"].clone()).collect();
        profiles += items.len();
        assert_eq!(row.get("social_profiles_names"), Some(&Value::Array(names)));
        assert_eq!(row.get("social_profiles_urls"), Some(&Value::Array(urls)));
        // Whole, as sent: the avatar object, or its URL as a plain string
        // for the contacts whose wire form is that (see the simulator).
        let avatar = u.get("avatar").filter(|v| !v.is_null());
        let whole = avatar.map(|v| json!(v.to_string()));
        let url = avatar.map(|v| json!(v["image_url"].to_string()));
        assert!(
            row.get("avatar") == whole.as_ref() || row.get("avatar") == url.as_ref(),
            "{} avatar: {:?}",
            u["id"],
            row.get("avatar")
        );
    }
    assert!(profiles > 0, "some users have social profiles");
}

/// GET an API endpoint of the simulator (as the exporter would).
async fn api_get(world: &World, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}{path}", world.sim.base_url()))
        .bearer_auth("t")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

/// The `conversation_parts` truth: every part of `/__sim/truth/conversation_parts`
/// with the columns the exporter derives from its conversation
/// (`conversation_created_at`, `conversation_updated_at`, `body_text`,
/// `attachment_count`, `parts_truncated`, `parts_total`).
pub(crate) async fn conversation_parts_truth(world: &World) -> Vec<Value> {
    let conversations = world.truth("conversations").await;
    let by_id: BTreeMap<&str, &Value> = conversations
        .iter()
        .map(|c| (c["id"].as_str().expect("id"), c))
        .collect();
    world
        .truth("conversation_parts")
        .await
        .into_iter()
        .map(|mut p| {
            let c = by_id[p["conversation_id"].as_str().expect("conversation_id")];
            let listed = c["conversation_parts"]["conversation_parts"]
                .as_array()
                .expect("parts")
                .len() as u64;
            let total = c["statistics"]["count_conversation_parts"]
                .as_u64()
                .expect("count");
            let body_text = p["body"].as_str().map(html_text);
            let attachments = p["attachments"].as_array().map_or(0, Vec::len);
            let m = p.as_object_mut().expect("object");
            m.insert("conversation_created_at".into(), c["created_at"].clone());
            m.insert("conversation_updated_at".into(), c["updated_at"].clone());
            m.insert("body_text".into(), json!(body_text));
            m.insert("attachment_count".into(), json!(attachments));
            m.insert("parts_truncated".into(), json!(total > listed));
            m.insert("parts_total".into(), json!(total));
            p
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversation_parts_derived_columns_equal_the_ground_truth() {
    let world = World::start(intercom_export::simulator::SimConfig {
        contacts: 40,
        conversations: 100,
        parts: 3,
        ..skeleton_world()
    })
    .await;
    assert_ok(&world.sync(&["--reports", "conversation_parts"]).await);
    let truth = conversation_parts_truth(&world).await;
    let truncated = truth
        .iter()
        .filter(|p| p["parts_truncated"] == json!(true))
        .count();
    assert!(truncated >= 500, "a conversation past the 500-part cap");
    assert!(
        truth.iter().any(|p| p["author"]["name"].is_string()),
        "authors with names"
    );
    check(&world, "conversation_parts", truth, None, by_id_key).await;
}

pub(crate) fn by_id_key(r: &Value) -> String {
    by_id(r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_segments_and_users_by_tag_segment_company_equal_the_ground_truth() {
    let world = World::start(intercom_export::simulator::SimConfig {
        contacts: 250,
        conversations: 5,
        ..skeleton_world()
    })
    .await;
    let contacts = world.truth("contacts").await;
    let users: Vec<&Value> = contacts.iter().filter(|c| c["role"] == "user").collect();
    // Memberships as the API's per-contact endpoints give them.
    let mut segments_of: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut tags_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut companies_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in &contacts {
        let id = c["id"].as_str().expect("id");
        let segs = api_get(&world, &format!("/contacts/{id}/segments")).await;
        segments_of.insert(
            id.into(),
            segs["data"].as_array().cloned().unwrap_or_default(),
        );
        let tags = api_get(&world, &format!("/contacts/{id}/tags")).await;
        tags_of.insert(
            id.into(),
            tags["data"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|t| t["id"].as_str().expect("tag id").to_string())
                .collect(),
        );
        let companies = api_get(&world, &format!("/contacts/{id}/companies?per_page=150")).await;
        companies_of.insert(
            id.into(),
            companies["data"]
                .as_array()
                .or(companies["companies"].as_array())
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|t| t["id"].as_str().expect("company id").to_string())
                .collect(),
        );
    }
    // The most common tag, segment and company among users.
    let most_common = |lists: Vec<Vec<String>>| {
        let mut n: BTreeMap<String, usize> = BTreeMap::new();
        for l in lists {
            for x in l {
                *n.entry(x).or_default() += 1;
            }
        }
        n.into_iter().max_by_key(|(_, k)| *k).expect("some").0
    };
    let user_ids: Vec<String> = users
        .iter()
        .map(|u| u["id"].as_str().expect("id").to_string())
        .collect();
    let tag = most_common(user_ids.iter().map(|u| tags_of[u].clone()).collect());
    let segment = most_common(
        user_ids
            .iter()
            .map(|u| {
                segments_of[u]
                    .iter()
                    .map(|s| s["id"].as_str().expect("id").to_string())
                    .collect()
            })
            .collect(),
    );
    let company = most_common(user_ids.iter().map(|u| companies_of[u].clone()).collect());
    let (t, s, c) = (
        format!("users_by_tag.tag_ids={tag}"),
        format!("users_by_segment.segment_ids={segment}"),
        format!("users_by_company.company_ids={company}"),
    );
    assert_ok(
        &world
            .sync(&[
                "--reports",
                "contact_segments,users_by_tag,users_by_segment,users_by_company",
                "--option",
                &t,
                "--option",
                &s,
                "--option",
                &c,
            ])
            .await,
    );

    let select = |keep: &dyn Fn(&str) -> bool| -> Vec<Value> {
        users
            .iter()
            .filter(|u| keep(u["id"].as_str().expect("id")))
            .map(|u| (*u).clone())
            .collect()
    };
    let with_tag = select(&|u| tags_of[u].contains(&tag));
    let in_segment = select(&|u| segments_of[u].iter().any(|s| s["id"] == segment.as_str()));
    let of_company = select(&|u| companies_of[u].contains(&company));
    for (report, truth) in [
        ("users_by_tag", with_tag),
        ("users_by_segment", in_segment),
        ("users_by_company", of_company),
    ] {
        assert!(truth.len() > 1, "{report}: a selection with several users");
        check_run(&world, report, 0, truth, Some("contact"), by_id, false).await;
    }

    // contact_segments: one row per (contact, segment), every column.
    let updated: BTreeMap<&str, &Value> = contacts
        .iter()
        .map(|c| (c["id"].as_str().expect("id"), &c["updated_at"]))
        .collect();
    let truth: Vec<Value> = segments_of
        .iter()
        .flat_map(|(contact, segs)| {
            let contact_updated = updated[contact.as_str()].clone();
            // A contact in no segment: one row with null segment columns.
            let items = if segs.is_empty() {
                vec![json!({})]
            } else {
                segs.clone()
            };
            items.into_iter().map(move |mut r| {
                let m = r.as_object_mut().expect("object");
                m.insert("contact_id".into(), json!(contact));
                m.insert("contact_updated_at".into(), contact_updated.clone());
                r
            })
        })
        .collect();
    assert!(truth.len() > 50, "contacts are in segments");
    check(&world, "contact_segments", truth, None, |r| {
        format!(
            "{}/{}",
            r["contact_id"].as_str().unwrap_or_default(),
            r["segment_id"]
                .as_str()
                .or(r["id"].as_str())
                .unwrap_or_default()
        )
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversation_custom_attributes_are_typed_on_2_11_too() {
    let world = World::start(intercom_export::simulator::SimConfig {
        contacts: 20,
        conversations: 30,
        ..skeleton_world()
    })
    .await;
    // 2.11 has no /conversations/attributes: the declarations come from
    // /data_attributes?model=conversation instead.
    let config = world.dir.path().join("v211.toml");
    std::fs::write(&config, "intercom_version = \"2.11\"\n").expect("config");
    assert_ok(
        &world
            .sync(&[
                "--config",
                &config.display().to_string(),
                "--reports",
                "conversations",
            ])
            .await,
    );
    assert_eq!(world.requests_to("GET /conversations/attributes").await, 1);
    assert_eq!(world.requests_to("GET /data_attributes").await, 1);
    let truth = world.truth("conversations").await;
    let rows = json_rows(&read_parquet_dir(
        &run_dirs(&world.output(), "conversations")[0],
    ));
    let by_id: BTreeMap<&str, &Map<String, Value>> = rows
        .iter()
        .map(|r| (r["id"].as_str().expect("id"), r))
        .collect();
    for c in &truth {
        let row = by_id[c["id"].as_str().expect("id")];
        assert_eq!(
            row.get("custom_category"),
            c["custom_attributes"].get("Category")
        );
        assert_eq!(
            row.get("custom_order_number"),
            c["custom_attributes"].get("Order number")
        );
    }
}
