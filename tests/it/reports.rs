//! Reports with options: each export is compared with the simulator's ground
//! truth filtered the same way, and bad options are rejected up front.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::harness::*;

fn ids(rows: &BTreeMap<String, i64>) -> BTreeSet<String> {
    rows.keys().cloned().collect()
}

fn exported(world: &World, report: &str) -> BTreeMap<String, i64> {
    let rows: Vec<(String, i64)> = run_dirs(&world.output(), report)
        .iter()
        .flat_map(|d| ids_and_updated(&read_parquet_dir(d)))
        .collect();
    unique_map(&rows)
}

fn truth_where(records: &[Value], keep: impl Fn(&Value) -> bool) -> BTreeMap<String, i64> {
    let kept: Vec<Value> = records.iter().filter(|r| keep(r)).cloned().collect();
    truth_map(&kept, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_reports_equal_the_filtered_ground_truth() {
    let world = World::start(intercom_export::simulator::SimConfig {
        contacts: 600,
        conversations: 300,
        ..skeleton_world()
    })
    .await;
    let conversations = world.truth("conversations").await;
    let contacts = world.truth("contacts").await;
    let leads: Vec<&Value> = contacts.iter().filter(|c| c["role"] == "lead").collect();
    let users: Vec<&Value> = contacts.iter().filter(|c| c["role"] == "user").collect();
    let some_admin = conversations
        .iter()
        .find_map(|c| c["admin_assignee_id"].as_i64().filter(|&a| a > 0))
        .expect("an assigned conversation");
    let lead_ids: Vec<&str> = leads
        .iter()
        .take(3)
        .map(|c| c["id"].as_str().expect("id"))
        .collect();
    let user_id = users[0]["id"].as_str().expect("id");
    let emails: Vec<&str> = users
        .iter()
        .skip(5)
        .take(2)
        .map(|c| c["email"].as_str().expect("email"))
        .collect();

    let lead_option = format!("lead_by_id.ids={},{user_id}", lead_ids.join(","));
    let admin_option = format!("conversations_by_admin.admin_ids={some_admin}");
    let email_option = format!("users_by_username.emails={}", emails.join(","));
    let out = world
        .sync(&[
            "--reports",
            "conversations,conversations_by_admin,lead_by_id,users_by_username",
            "--option",
            "conversations.state=open",
            "--option",
            "conversations_by_admin.admin_type=specific",
            "--option",
            &admin_option,
            "--option",
            &lead_option,
            "--option",
            &email_option,
        ])
        .await;
    assert_ok(&out);

    let open = truth_where(&conversations, |c| c["state"] == "open");
    assert!(!open.is_empty() && open.len() < conversations.len());
    assert_eq!(exported(&world, "conversations"), open, "state = open");

    let by_admin = truth_where(&conversations, |c| c["admin_assignee_id"] == some_admin);
    assert_eq!(
        exported(&world, "conversations_by_admin"),
        by_admin,
        "admin {some_admin}"
    );

    let wanted: BTreeSet<String> = lead_ids.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        ids(&exported(&world, "lead_by_id")),
        wanted,
        "only the leads, not the user id"
    );

    let by_email = truth_where(&contacts, |c| {
        c["role"] == "user" && emails.contains(&c["email"].as_str().unwrap_or_default())
    });
    assert_eq!(exported(&world, "users_by_username"), by_email);

    // Changing a report's options starts a new cursor: the unassigned
    // conversations are all exported although the specific-admin run moved
    // that report's cursor to the newest conversation.
    let out = world
        .sync(&[
            "--reports",
            "conversations_by_admin",
            "--option",
            "conversations_by_admin.admin_type=unassigned",
        ])
        .await;
    assert_ok(&out);
    let unassigned = truth_where(&conversations, |c| c["admin_assignee_id"] == 0);
    let dirs = run_dirs(&world.output(), "conversations_by_admin");
    let second = unique_map(&ids_and_updated(&read_parquet_dir(
        dirs.last().expect("a run"),
    )));
    assert_eq!(second, unassigned, "unassigned, from the beginning");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_options_are_checked_before_anything_runs() {
    let world = World::start(intercom_export::simulator::SimConfig {
        contacts: 20,
        conversations: 5,
        ..skeleton_world()
    })
    .await;
    let cases: [(&[&str], &str); 4] = [
        (&["--reports", "users_by_tag"], "needs option tag_ids"),
        (
            &["--option", "conversations.state=opn"],
            "open, closed, snoozed",
        ),
        (
            &["--option", "conversations.sate=open"],
            "its options are: state, order",
        ),
        (&["--option", "nope"], "REPORT.KEY=VALUE"),
    ];
    for (args, message) in cases {
        let out = world.sync(args).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(world.sim_get("stats").await["total"], 0, "no request made");

    let listing = run_cli(&["reports".into()], &[]).await;
    assert_ok(&listing);
    let text = stdout(&listing);
    for report in intercom_export::reports::ReportName::all() {
        assert!(text.contains(report.as_str()), "reports lists {report}");
    }
    assert!(text.contains("--option users_by_tag.tag_ids"), "{text}");
}
