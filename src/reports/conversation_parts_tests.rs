//! Tests of [`super`]: rows of parts, cutoffs.

use super::*;
use serde_json::json;

fn conversation(total: u64) -> Value {
    json!({"id": "42", "created_at": 10, "updated_at": 30, "conversation_parts": {
    "type": "conversation_part.list", "total_count": total, "conversation_parts": [
        {"id": "p1", "part_type": "comment", "body": "<p>Hi &amp; bye</p>", "created_at": 10, "updated_at": 10,
         "attachments": [{"type": "upload"}]},
        {"id": "p2", "part_type": "close", "body": null, "created_at": 20, "updated_at": 20},
        {"id": "p3", "part_type": "note", "body": "<b>x</b>", "created_at": 30, "updated_at": 30},
    ]}})
}

#[test]
fn rows_carry_the_conversation_and_flag_truncation() {
    let rows = part_rows(conversation(3), PartCutoff::ALL);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["conversation_id"], "42");
    assert_eq!(rows[0]["conversation_updated_at"], 30);
    assert_eq!(rows[0]["body_text"], "Hi & bye");
    assert_eq!(rows[0]["attachment_count"], 1);
    assert_eq!(rows[0]["parts_truncated"], false);
    let rows = part_rows(conversation(900), PartCutoff::ALL);
    assert!(
        rows.iter()
            .all(|r| r["parts_truncated"] == true && r["parts_total"] == 900)
    );
}

#[test]
fn only_parts_after_the_cutoff() {
    let strict = PartCutoff {
        since: 20,
        include_since: false,
    };
    let ids = |c| {
        part_rows(conversation(3), c)
            .iter()
            .map(|r| r["id"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(strict), vec![json!("p3")]);
    let tie = PartCutoff {
        since: 20,
        include_since: true,
    };
    assert_eq!(ids(tie), vec![json!("p2"), json!("p3")]);
}

#[test]
fn the_cutoff_starts_after_the_version_last_exported() {
    let old = SearchCursor {
        updated_at: 1000,
        ids_at: vec!["a".into()],
        recent: vec![("b".into(), 950), ("b".into(), 900)],
    };
    let cut = |id, t, lookback| {
        let c = PartCutoff::of(Some(&old), id, t, lookback);
        (c.since, c.include_since)
    };
    assert_eq!(cut("a", 1200, 100), (1000, false), "exported at the cursor");
    assert_eq!(
        cut("b", 990, 100),
        (950, false),
        "newest version in the margin"
    );
    assert_eq!(cut("c", 980, 100), (900, false), "found by the lookback");
    assert_eq!(
        cut("c", 1200, 100),
        (1000, true),
        "changed after the cursor"
    );
    assert_eq!(cut("c", 1200, 0), (1000, true), "no lookback: as before");
    let first = PartCutoff::of(None, "a", 5, 100);
    assert!(first.admits(i64::MIN + 1) && first.failed_since() == i64::MIN);
}
