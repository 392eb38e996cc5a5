//! Unit tests of `reports::lifecycle` (events derived from fixtures).
use super::*;
use crate::reports::both_parents::PairCursor;
use crate::reports::part_cursor::PartsCursor;

fn conversation() -> Value {
    json!({"id": "7", "created_at": 100, "updated_at": 400,
    "source": {"author": {"type": "admin", "id": "a1"}},
    "contacts": {"type": "contact.list", "contacts": [{"id": "c1"}, {"id": "c2"}]},
    "conversation_rating": {"rating": 4, "remark": "ok", "created_at": 300,
        "contact": {"id": "c1"}, "teammate": {"id": "a2"}},
    "conversation_parts": {"conversation_parts": [
        {"id": "p1", "part_type": "comment", "created_at": 150, "author": {"type": "user", "id": "c1"}},
        {"id": "p2", "part_type": "comment", "created_at": 200, "author": {"type": "admin", "id": "a2"}},
        {"id": "p3", "part_type": "close", "created_at": 300, "author": {"type": "admin", "id": "a2"}},
    ]}})
}

#[test]
fn conversation_events_by_the_rules() {
    let all = events(Kind::Conversation, &conversation(), PartCutoff::ALL);
    let keys: Vec<_> = all
        .iter()
        .map(|e| e["event_key"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        keys,
        vec![
            "conversation_created:7",
            "conversation_replied:p2",
            "conversation_closed:p3",
            "conversation_rated:7:300"
        ]
    );
    assert_eq!(all[0]["admin_id"], "a1");
    assert_eq!(all[0]["contact_ids"], json!(["c1", "c2"]));
    assert_eq!(all[3]["contact_ids"], json!(["c1"]));
    assert_eq!(all[3]["rating"], 4);
    assert_eq!(all[3]["admin_id"], "a2");
    assert_eq!(all[1]["ticket_id"], Value::Null);
}

#[test]
fn only_events_after_the_version_last_exported() {
    let cut = PartCutoff {
        since: 200,
        include_since: false,
    };
    let keys: Vec<_> = events(Kind::Conversation, &conversation(), cut)
        .iter()
        .map(|e| e["event_key"].clone())
        .collect();
    assert_eq!(
        keys,
        vec![
            json!("conversation_closed:p3"),
            json!("conversation_rated:7:300")
        ]
    );
}

#[test]
fn ticket_events_by_state() {
    let t = json!({"id": "70", "created_at": 10, "contacts": {"contacts": [{"id": "c9"}]},
    "ticket_parts": {"ticket_parts": [
        {"id": "t1", "part_type": "ticket_state_updated_by_admin", "ticket_state": "submitted", "created_at": 10, "author": {"type": "bot", "id": "b"}},
        {"id": "t2", "part_type": "ticket_state_updated_by_admin", "ticket_state": "in_progress", "created_at": 20, "author": {"type": "admin", "id": "a"}},
        {"id": "t3", "part_type": "comment", "created_at": 30, "author": {"type": "admin", "id": "a"}},
        {"id": "t4", "part_type": "ticket_state_updated_by_admin", "ticket_state": "waiting_on_customer", "created_at": 40, "author": {"type": "admin", "id": "a"}},
        {"id": "t5", "part_type": "ticket_state_updated_by_admin", "ticket_state": "resolved", "created_at": 50, "author": {"type": "admin", "id": "a"}},
    ]}});
    let all = events(Kind::Ticket, &t, PartCutoff::ALL);
    let names: Vec<_> = all
        .iter()
        .map(|e| e["event"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        vec![
            "ticket_created",
            "ticket_submitted",
            "ticket_replied",
            "ticket_pending",
            "ticket_resolved"
        ]
    );
    assert_eq!(all[1]["admin_id"], Value::Null, "a bot's submission");
    assert_eq!(all[2]["event_key"], "ticket_replied:t3");
    assert_eq!(all[0]["ticket_id"], "70");
}

#[test]
fn the_pair_cursor_reads_both_sides_and_a_plain_cursor_for_both() {
    let (c, t) = PairCursor::read("x", Some(r#"{"updated_at":5,"ids_at":[]}"#)).expect("plain");
    assert_eq!(c, t);
    let conv = PartsCursor::checkpoint(r#"{"updated_at":9,"ids_at":["a"]}"#, &None).expect("cp");
    let saved = PairCursor::json(Some(&conv), None);
    let (c, t) = PairCursor::read("x", Some(&saved)).expect("pair");
    assert_eq!(c.as_ref(), Some(&conv));
    assert_eq!(t, None, "the ticket side has no cursor yet");
    // The search cursor reader (reports::extract) reads it too.
    let plain: crate::reports::search::SearchCursor =
        serde_json::from_str(&saved).expect("a search cursor");
    assert_eq!(plain.updated_at, 9);
}
