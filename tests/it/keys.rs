//! The keys declared in `schemas/` (`reports::keys`) hold in a real export:
//! a full export of a simulator world (first sync, the clock moved a day,
//! a second sync, an hour, a third sync whose lookback re-reads records it
//! exported, and a sync with nothing new) has every primary key non-null
//! where declared so and unique (repeats only where a report declares
//! `repeats_versions`, and then with identical values), and every foreign
//! key resolves to a row of the report it names.

use std::collections::{BTreeMap, BTreeSet};

use intercom_export::reports::ReportName;
use intercom_export::reports::keys::keys;
use intercom_export::simulator::SimConfig;
use serde_json::{Map, Value, json};

use crate::harness::*;

type Row = Map<String, Value>;

/// Columns that say which run wrote a row, not what the row is.
const META: [&str; 2] = ["_run_id", "_extracted_at"];

/// The value of a key: one JSON value per column (`Null` when missing).
fn key_of(row: &Row, columns: &[&str]) -> Vec<Value> {
    columns
        .iter()
        .map(|c| row.get(*c).cloned().unwrap_or(Value::Null))
        .collect()
}

fn without_meta(row: &Row) -> Row {
    let mut r = row.clone();
    for m in META {
        r.remove(m);
    }
    r
}

/// What is wrong with the primary key of `report`'s rows: null key
/// columns that are declared never null, a key on several rows (unless the
/// report repeats versions, and then only identical rows), and a parent
/// version of a mapping table with both an empty-list row and items.
fn primary_key_problems(report: ReportName, rows: &[Row]) -> Vec<String> {
    let k = keys(report);
    let mut problems = Vec::new();
    let mut by_key: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
    for row in rows {
        let key = key_of(row, k.primary_key);
        for (c, v) in k.primary_key.iter().zip(&key) {
            if v.is_null() && !k.nullable_key_columns.contains(c) {
                problems.push(format!(
                    "{report}: primary key column {c} is null in {row:?}"
                ));
            }
        }
        by_key
            .entry(serde_json::to_string(&key).expect("json"))
            .or_default()
            .push(row);
    }
    for (key, same) in &by_key {
        if same.len() < 2 {
            continue;
        }
        if !k.repeats_versions {
            problems.push(format!(
                "{report}: primary key {key} on {} rows (runs {:?})",
                same.len(),
                same.iter().map(|r| r.get("_run_id")).collect::<Vec<_>>()
            ));
        } else if same
            .iter()
            .any(|r| without_meta(r) != without_meta(same[0]))
        {
            problems.push(format!(
                "{report}: primary key {key} on rows with different values: {same:?}"
            ));
        }
    }
    // A parent version whose list is empty is that one row alone.
    if !k.nullable_key_columns.is_empty() {
        let fixed: Vec<&str> = k
            .primary_key
            .iter()
            .copied()
            .filter(|c| !k.nullable_key_columns.contains(c))
            .collect();
        let mut versions: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for row in rows {
            let empty = key_of(row, k.nullable_key_columns)
                .iter()
                .all(Value::is_null);
            let e = versions
                .entry(serde_json::to_string(&key_of(row, &fixed)).expect("json"))
                .or_default();
            e.0 += 1;
            e.1 += usize::from(empty);
        }
        for (version, (rows, empty)) in versions {
            if empty > 0 && rows > 1 {
                problems.push(format!(
                    "{report}: version {version} has an empty-list row and {} others",
                    rows - 1
                ));
            }
        }
    }
    problems
}

/// Foreign keys of `report` whose targets are all in `export` that point at
/// no row of them (null and the key's `none_values` are no references).
fn foreign_key_problems(
    report: ReportName,
    export: &BTreeMap<ReportName, Vec<Row>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(rows) = export.get(&report) else {
        return problems;
    };
    for fk in keys(report).foreign_keys {
        if !fk.references.iter().all(|r| export.contains_key(r)) {
            continue;
        }
        let targets: BTreeSet<String> = fk
            .references
            .iter()
            .flat_map(|r| &export[r])
            .map(|row| Value::from(key_of(row, fk.referenced_columns)).to_string())
            .collect();
        let dangling: Vec<String> = rows
            .iter()
            .map(|row| key_of(row, fk.columns))
            .filter(|k| {
                !k.iter()
                    .any(|v| v.is_null() || v.as_str().is_some_and(|v| fk.none_values.contains(&v)))
            })
            .map(|k| Value::from(k).to_string())
            .filter(|k| !targets.contains(k))
            .collect();
        if !dangling.is_empty() {
            problems.push(format!(
                "{report}: {} rows' {:?} are in none of {:?}, e.g. {:?}",
                dangling.len(),
                fk.columns,
                fk.references,
                &dangling[..dangling.len().min(3)]
            ));
        }
    }
    problems
}

fn rows_of(world: &World, report: ReportName) -> Vec<Row> {
    run_dirs(&world.output(), report.as_str())
        .iter()
        .flat_map(|d| json_rows(&read_parquet_dir(d)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_keys_are_unique_and_foreign_keys_resolve_in_a_full_export() {
    let world = World::start(SimConfig {
        seed: 18,
        contacts: 300,
        conversations: 120,
        parts: 3,
        companies: 40,
        tickets: 20,
        events_per_user: 3,
        ..SimConfig::default()
    })
    .await;
    // A two-hour lookback: every sync re-reads what the one before exported
    // in its last two hours; the cursor must keep it from being written twice.
    let config = world.dir.path().join("config.toml");
    std::fs::write(&config, "lookback_secs = 7200\n").expect("config");
    let config = config.display().to_string();

    // The reports that need parameters get some from the truth.
    let contacts = world.truth("contacts").await;
    let pick = |role: &str, field: &str| -> Vec<String> {
        contacts
            .iter()
            .filter(|c| c["role"] == role)
            .filter_map(|c| c[field].as_str().map(str::to_string))
            .take(3)
            .collect()
    };
    let ids_of = |records: &[Value]| -> Vec<String> {
        records
            .iter()
            .filter_map(|r| r["id"].as_str().map(str::to_string))
            .take(2)
            .collect()
    };
    let options = [
        format!("lead_by_id.ids={}", pick("lead", "id").join(",")),
        format!(
            "users_by_username.emails={}",
            pick("user", "email").join(",")
        ),
        format!(
            "users_by_tag.tag_ids={}",
            ids_of(&world.truth("tags").await).join(",")
        ),
        format!(
            "users_by_segment.segment_ids={}",
            ids_of(&world.truth("segments").await).join(",")
        ),
        format!(
            "users_by_company.company_ids={}",
            ids_of(&world.truth("companies").await).join(",")
        ),
    ];
    let mut reports = ReportName::defaults();
    reports.extend([
        ReportName::ConversationsByAdmin,
        ReportName::NotesByUser,
        ReportName::LeadById,
        ReportName::UsersByUsername,
        ReportName::UsersByTag,
        ReportName::UsersBySegment,
        ReportName::UsersByCompany,
    ]);
    let list: Vec<&str> = reports.iter().map(|r| r.as_str()).collect();
    let list = list.join(",");
    let mut args: Vec<&str> = vec!["--config", &config, "--reports", &list];
    for o in &options {
        args.extend(["--option", o]);
    }

    assert_ok(&world.sync(&args).await);
    world.sim_post("advance", json!({"seconds": 86_400})).await;
    assert_ok(&world.sync(&args).await);
    world.sim_post("advance", json!({"seconds": 3_600})).await;
    assert_ok(&world.sync(&args).await);
    assert_ok(&world.sync(&args).await);

    let export: BTreeMap<ReportName, Vec<Row>> =
        reports.iter().map(|r| (*r, rows_of(&world, *r))).collect();
    let mut problems = Vec::new();
    for (report, rows) in &export {
        assert!(!rows.is_empty(), "{report}: the export has rows");
        problems.extend(primary_key_problems(*report, rows));
        problems.extend(foreign_key_problems(*report, &export));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // The second sync wrote new versions of records the first wrote, so
    // the uniqueness above is across runs, not within one.
    let conversations = &export[&ReportName::Conversations];
    let ids: BTreeSet<String> = conversations
        .iter()
        .filter_map(|r| r.get("id").map(Value::to_string))
        .collect();
    assert!(
        ids.len() < conversations.len(),
        "conversations changed between syncs"
    );
}

fn row(v: Value) -> Row {
    v.as_object().expect("object").clone()
}

#[test]
fn the_key_checks_catch_repeats_nulls_and_dangling_references() {
    // A version written twice by two runs.
    let twice = [
        row(json!({"id": "1", "updated_at": "t1", "state": "open", "_run_id": "a"})),
        row(json!({"id": "1", "updated_at": "t1", "state": "open", "_run_id": "b"})),
        row(json!({"id": "1", "updated_at": "t2", "state": "closed", "_run_id": "b"})),
    ];
    let found = primary_key_problems(ReportName::Conversations, &twice);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains(r#"["1","t1"] on 2 rows"#), "{found:?}");
    assert!(primary_key_problems(ReportName::Conversations, &twice[1..]).is_empty());

    // A null id.
    let null = [row(json!({"updated_at": "t1"}))];
    let found = primary_key_problems(ReportName::Conversations, &null);
    assert!(found[0].contains("column id is null"), "{found:?}");

    // Events: an identical re-read is fine, a different row under one key is not.
    let event = json!({"event_key": "k", "event_name": "paid", "_run_id": "a"});
    let mut reread = event.clone();
    reread["_run_id"] = json!("b");
    assert!(
        primary_key_problems(
            ReportName::Events,
            &[row(event.clone()), row(reread.clone())]
        )
        .is_empty()
    );
    reread["event_name"] = json!("refunded");
    let found = primary_key_problems(ReportName::Events, &[row(event), row(reread)]);
    assert!(found[0].contains("different values"), "{found:?}");

    // Mapping tables: one null-item row per empty version, alone.
    let empty = row(json!({"conversation_id": "c", "conversation_updated_at": "t1"}));
    let tagged =
        row(json!({"conversation_id": "c", "conversation_updated_at": "t1", "tag_id": "x"}));
    assert!(
        primary_key_problems(ReportName::ConversationTags, std::slice::from_ref(&empty)).is_empty()
    );
    let found = primary_key_problems(ReportName::ConversationTags, &[empty, tagged]);
    assert!(
        found[0].contains("empty-list row and 1 others"),
        "{found:?}"
    );

    // A part of a conversation the export does not hold; contacts resolve
    // in users or leads.
    let export = BTreeMap::from([
        (ReportName::Conversations, vec![row(json!({"id": "c1"}))]),
        (
            ReportName::ConversationParts,
            vec![
                row(json!({"id": "p1", "conversation_id": "c1"})),
                row(json!({"id": "p2", "conversation_id": "c9"})),
            ],
        ),
        (
            ReportName::ConversationContacts,
            vec![
                row(json!({"conversation_id": "c1", "contact_id": "u1"})),
                row(json!({"conversation_id": "c1", "contact_id": "l1"})),
                row(json!({"conversation_id": "c1"})),
            ],
        ),
        (ReportName::Users, vec![row(json!({"id": "u1"}))]),
        (ReportName::Leads, vec![row(json!({"id": "l1"}))]),
    ]);
    let mut export = export;
    export.insert(ReportName::Admins, vec![row(json!({"id": "a1"}))]);
    export
        .get_mut(&ReportName::Conversations)
        .expect("conversations")
        .extend([
            row(json!({"id": "c2", "admin_assignee_id": "a1"})),
            row(json!({"id": "c3", "admin_assignee_id": "0"})),
        ]);
    assert!(foreign_key_problems(ReportName::Conversations, &export).is_empty());
    export
        .get_mut(&ReportName::Conversations)
        .expect("conversations")
        .push(row(json!({"id": "c4", "admin_assignee_id": "a7"})));
    let found = foreign_key_problems(ReportName::Conversations, &export);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("admin_assignee_id"), "{found:?}");
    let found = foreign_key_problems(ReportName::ConversationParts, &export);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains(r#"["[\"c9\"]"]"#), "{found:?}");
    assert!(foreign_key_problems(ReportName::ConversationContacts, &export).is_empty());
}
