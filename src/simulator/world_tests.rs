//! Unit tests of `world.rs`.

use super::super::SimConfig;
use super::*;

fn cfg(contacts: usize, conversations: usize) -> SimConfig {
    SimConfig {
        contacts,
        conversations,
        ..SimConfig::default()
    }
}

#[test]
fn generation_is_deterministic_and_ordered() {
    let a = World::generate(&cfg(300, 100));
    let b = World::generate(&cfg(300, 100));
    assert_eq!(a.contacts, b.contacts);
    assert_eq!(a.conversations, b.conversations);
    let now = SimConfig::default().start_time;
    for w in a.contacts.windows(2) {
        assert!(w[0].created_at <= w[1].created_at);
    }
    for c in &a.contacts {
        assert!(c.created_at <= c.updated_at && c.updated_at <= now);
    }
    for (i, c) in a.conversations.iter().enumerate() {
        if i > 0 {
            assert!(a.conversations[i - 1].created_at <= c.created_at);
        }
        let last = c.parts.last().map_or(c.created_at, |p| i64::from(p.at));
        assert_eq!(c.updated_at, last);
        assert!(c.updated_at <= now);
        assert!(c.parts.windows(2).all(|p| p[0].at <= p[1].at));
        let contact = &a.contacts[c.contact as usize];
        assert!(contact.created_at <= c.created_at);
    }
    let other = World::generate(&SimConfig {
        seed: 7,
        ..cfg(300, 100)
    });
    assert_ne!(a.contacts, other.contacts);
}

#[test]
fn ids_round_trip_and_sort_like_indexes() {
    let w = World::generate(&cfg(200, 50));
    let ids: Vec<String> = (0..200).map(|i| w.contact_id(i)).collect();
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(id.len(), 24);
        assert_eq!(w.parse_contact_id(id), Some(i as u32));
    }
    assert!(ids.windows(2).all(|p| p[0] < p[1]));
    assert_eq!(w.parse_contact_id("ffffffffffffffffffffffff"), None);
    assert_eq!(w.parse_contact_id("nope"), None);
    for i in 0..50 {
        let id = w.conversation_id(i).to_string();
        assert_eq!(id.len(), 12);
        assert_eq!(w.parse_conversation_id(&id), Some(i));
    }
    assert_eq!(w.parse_conversation_id("12"), None);
    assert_eq!(w.parse_conversation_id("abc"), None);
}

#[test]
fn advance_touches_what_it_reports_inside_the_window() {
    let mut w = World::generate(&cfg(2000, 500));
    let before_c = w.contacts.clone();
    let before_v = w.conversations.clone();
    let old = SimConfig::default().start_time;
    let new = old + 6 * 3600;
    let s = w.advance(old, new);
    assert!(s.updated_contacts >= 1 && s.created_contacts >= 1);
    assert!(s.updated_conversations >= 1 && s.created_conversations >= 1);
    assert_eq!(w.contacts.len(), before_c.len() + s.created_contacts);
    let gone = w.contacts.iter().filter(|c| c.gone != LIVE).count();
    assert_eq!(gone, s.merged_contacts + s.deleted_contacts);
    assert_eq!(gone, w.gone_contacts);
    assert!(s.merged_contacts >= 1 && s.deleted_contacts >= 1);
    let changed = before_c
        .iter()
        .zip(&w.contacts)
        .filter(|(a, b)| a.updated_at != b.updated_at)
        .count();
    // Merge targets get a new version too (sometimes one already updated).
    assert!(changed >= s.updated_contacts);
    assert!(changed <= s.updated_contacts + s.merged_contacts);
    for c in &w.contacts[before_c.len()..] {
        assert!(c.created_at > old && c.created_at <= new);
    }
    for (a, b) in before_c.iter().zip(&w.contacts) {
        if a.updated_at != b.updated_at {
            assert!(b.updated_at > old && b.updated_at <= new);
            assert!(b.version > a.version);
        }
    }
    let changed = before_v
        .iter()
        .zip(&w.conversations)
        .filter(|(a, b)| a.parts != b.parts)
        .count();
    assert_eq!(changed, s.updated_conversations);
    let deleted = w.conversations.iter().filter(|c| c.deleted_at != 0).count();
    assert_eq!(deleted, s.deleted_conversations);
    assert_eq!(deleted, w.deleted_conversations.len());
    assert!(s.created_companies >= 1 && s.updated_companies >= 1);
    assert_eq!(
        w.conversations.len(),
        before_v.len() + s.created_conversations
    );
    assert_eq!(w.contacts_by_updated.len(), w.contacts.len() - gone);
    assert_eq!(
        w.conversations_by_updated.len(),
        w.conversations.len() - deleted
    );
    for (u, i) in &w.conversations_by_updated {
        assert_eq!(w.conversations[*i as usize].updated_at, *u);
    }
    // Same inputs, same result.
    let mut again = World::generate(&cfg(2000, 500));
    assert_eq!(again.advance(old, new), s);
    assert_eq!(again.conversations, w.conversations);
}
