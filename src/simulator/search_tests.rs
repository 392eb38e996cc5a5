//! Unit tests of `search.rs`.

use super::*;
use crate::simulator::SimConfig;
use serde_json::json;

fn world(contacts: usize, conversations: usize) -> World {
    World::generate(&SimConfig {
        contacts,
        conversations,
        ..SimConfig::default()
    })
}

fn all_pages(
    w: &World,
    cache: &SearchCache,
    ds: Dataset,
    q: &Value,
    sort: Sort,
    per_page: usize,
) -> Vec<u32> {
    let dialect = match ds {
        Dataset::Contacts => &contact::DIALECT,
        Dataset::Conversations => &conversation::DIALECT,
        Dataset::Tickets => &ticket::DIALECT,
    };
    let f = Filter::parse(q, dialect).unwrap();
    let mut out = Vec::new();
    let mut cursor = None;
    let mut expected_page = 1;
    loop {
        let p = search_page(
            w,
            cache,
            ds,
            "s",
            &f,
            &q.to_string(),
            sort,
            per_page,
            cursor.as_ref(),
        );
        assert_eq!(p.page, expected_page);
        expected_page += 1;
        out.extend(&p.items);
        match p.next {
            Some(c) => cursor = Some(Cursor::decode(&c, "s", sort).unwrap()),
            None => break,
        }
    }
    out
}

fn brute(w: &World, ds: Dataset, q: &Value, sort: Sort) -> Vec<u32> {
    let dialect = match ds {
        Dataset::Contacts => &contact::DIALECT,
        Dataset::Conversations => &conversation::DIALECT,
        Dataset::Tickets => &ticket::DIALECT,
    };
    let f = Filter::parse(q, dialect).unwrap();
    let mut v: Vec<u32> = (0..ds.len(w) as u32)
        .filter(|&i| ds.matches(w, i, &f))
        .collect();
    v.sort_by_key(|&i| (sort.key(ds, w, i), i));
    if sort.descending {
        v.reverse();
    }
    v
}

#[test]
fn pages_agree_with_a_brute_force_scan() {
    let w = world(700, 200);
    let cache = SearchCache::default();
    let now = SimConfig::default().start_time;
    let queries = [
        json!({"field":"updated_at","operator":">","value":now - 200 * 86_400}),
        json!({"operator":"OR","value":[
            {"field":"updated_at","operator":"=","value":now - 30 * 86_400},
            {"field":"updated_at","operator":">","value":now - 30 * 86_400}]}),
        json!({"operator":"AND","value":[
            {"field":"role","operator":"=","value":"user"},
            {"field":"created_at","operator":"<","value":now - 400 * 86_400}]}),
        json!({"field":"email","operator":"~","value":"gmail"}),
    ];
    let sorts = [
        Sort::DEFAULT,
        Sort {
            field: SortField::UpdatedAt,
            descending: false,
        },
        Sort {
            field: SortField::CreatedAt,
            descending: true,
        },
        Sort {
            field: SortField::Id,
            descending: false,
        },
    ];
    for q in &queries {
        for sort in sorts {
            let want = brute(&w, Dataset::Contacts, q, sort);
            assert!(!want.is_empty(), "{q} matches nothing");
            assert_eq!(
                all_pages(&w, &cache, Dataset::Contacts, q, sort, 37),
                want,
                "{q} {sort:?}"
            );
        }
    }
    let q = json!({"operator":"AND","value":[
        {"field":"updated_at","operator":">","value":now - 90 * 86_400},
        {"field":"state","operator":"!=","value":"closed"}]});
    for sort in sorts {
        let want = brute(&w, Dataset::Conversations, &q, sort);
        assert!(!want.is_empty());
        assert_eq!(
            all_pages(&w, &cache, Dataset::Conversations, &q, sort, 7),
            want
        );
    }
}

#[test]
fn cursors_stay_stable_when_the_world_changes() {
    let mut w = world(1000, 100);
    let cache = SearchCache::default();
    let now = SimConfig::default().start_time;
    let q = json!({"field":"created_at","operator":">","value":0});
    let f = Filter::parse(&q, &contact::DIALECT).unwrap();
    for sort in [
        Sort {
            field: SortField::UpdatedAt,
            descending: false,
        },
        Sort::DEFAULT,
        Sort {
            field: SortField::Id,
            descending: false,
        },
    ] {
        let before: Vec<(i64, u32)> = brute(&w, Dataset::Contacts, &q, sort)
            .into_iter()
            .map(|i| (w.contacts[i as usize].updated_at, i))
            .collect();
        let mut seen = Vec::new();
        let mut cursor: Option<Cursor> = None;
        let mut t = w.generation as i64;
        loop {
            let p = search_page(
                &w,
                &cache,
                Dataset::Contacts,
                "s",
                &f,
                "k",
                sort,
                50,
                cursor.as_ref(),
            );
            seen.extend(p.items.iter().copied());
            let Some(next) = p.next else { break };
            cursor = Some(Cursor::decode(&next, "s", sort).unwrap());
            // Change the world between every page.
            let old = now + t * 1800;
            t += 1;
            w.advance(old, old + 1800);
        }
        // Every record that existed and did not change was returned exactly once.
        let unchanged: Vec<u32> = before
            .iter()
            .filter(|(u, i)| w.contacts[*i as usize].updated_at == *u && w.contact_live(*i))
            .map(|(_, i)| *i)
            .collect();
        assert!(unchanged.len() > 900);
        for i in &unchanged {
            assert_eq!(
                seen.iter().filter(|s| *s == i).count(),
                1,
                "{sort:?} idx {i}"
            );
        }
        if sort.field == SortField::Id {
            // Creation order never moves: no duplicates at all, and new
            // records show up at the end.
            let mut dedup = seen.clone();
            dedup.sort_unstable();
            dedup.dedup();
            assert_eq!(dedup.len(), seen.len());
            assert!(seen.windows(2).all(|p| p[0] < p[1]));
        }
    }
}

#[test]
fn cursors_are_checked() {
    let c = Cursor {
        scope: "contacts.search".into(),
        sort: Sort::DEFAULT.code(),
        page: 3,
        key: 1_700_000_000,
        idx: 42,
    };
    let text = c.encode();
    assert!(text.starts_with("Wy"));
    assert_eq!(
        Cursor::decode(&text, "contacts.search", Sort::DEFAULT),
        Ok(c)
    );
    assert!(Cursor::decode(&text, "conversations.search", Sort::DEFAULT).is_err());
    assert!(Cursor::decode(&text, "contacts.search", Sort::LIST).is_err());
    assert!(Cursor::decode("garbage!", "contacts.search", Sort::DEFAULT).is_err());
    assert!(Cursor::decode("WzFd", "contacts.search", Sort::DEFAULT).is_err());
}

#[test]
fn list_pages_walk_creation_order() {
    let w = world(95, 0);
    let mut cursor = None;
    let mut seen = Vec::new();
    loop {
        let p = list_page(&w, Dataset::Contacts, "l", 10, cursor.as_ref());
        assert_eq!(p.total, 95);
        seen.extend(p.items);
        match p.next {
            Some(c) => cursor = Some(Cursor::decode(&c, "l", Sort::LIST).unwrap()),
            None => break,
        }
    }
    assert_eq!(seen, (0..95).collect::<Vec<u32>>());
}
