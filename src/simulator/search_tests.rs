//! Unit tests of `search.rs`.

use super::*;
use crate::simulator::SimConfig;
use crate::simulator::world::ContactFields;
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

/// The page a search must answer right now, from a brute-force scan of the
/// current world: the records strictly after `cursor`'s position, and the
/// total.
fn brute_page(
    w: &World,
    ds: Dataset,
    q: &Value,
    sort: Sort,
    per_page: usize,
    cursor: Option<&Cursor>,
) -> (Vec<u32>, usize, bool) {
    let all = brute(w, ds, q, sort);
    let start = cursor.map_or(0, |c| {
        all.iter()
            .position(|&i| {
                let k = (sort.key(ds, w, i), i);
                if sort.descending {
                    k < (c.key, c.idx)
                } else {
                    k > (c.key, c.idx)
                }
            })
            .unwrap_or(all.len())
    });
    let items: Vec<u32> = all[start..].iter().take(per_page).copied().collect();
    (items, all.len(), all.len() - start > per_page)
}

/// Many searches paged in turn, as an exporter's windows read at once,
/// with the world changing between pages (the clock, and every kind of
/// write): every page equals a brute-force scan of the world as it is when
/// the page is asked for. A cache that served a result of an older world
/// fails this.
#[test]
fn interleaved_pages_match_a_brute_force_scan_while_the_world_changes() {
    let mut w = world(900, 250);
    let cache = SearchCache::default();
    let mut rng = crate::simulator::rng::Rng::new(7, 99, 0, 0);
    let now = w.now;
    let day = 86_400;
    // Contact windows of both roles (as `users` and `leads` read them),
    // conversation and ticket windows, and searches without a date bound.
    let mut searches: Vec<(Dataset, Value, Sort)> = Vec::new();
    for k in 0..6 {
        let lo = now - (k + 1) * 60 * day;
        let hi = now - k * 60 * day + 3 * day;
        for role in ["user", "lead"] {
            searches.push((
                Dataset::Contacts,
                json!({"operator":"AND","value":[
                    {"field":"role","operator":"=","value":role},
                    {"field":"updated_at","operator":">","value":lo},
                    {"field":"updated_at","operator":"<","value":hi}]}),
                Sort::DEFAULT,
            ));
        }
        searches.push((
            Dataset::Conversations,
            json!({"operator":"AND","value":[
                {"field":"updated_at","operator":">","value":lo},
                {"field":"updated_at","operator":"<","value":hi}]}),
            Sort {
                field: SortField::UpdatedAt,
                descending: false,
            },
        ));
    }
    searches.push((
        Dataset::Contacts,
        json!({"field":"created_at","operator":">","value":0}),
        Sort {
            field: SortField::Id,
            descending: false,
        },
    ));
    searches.push((
        Dataset::Tickets,
        json!({"field":"created_at","operator":">","value":0}),
        Sort::DEFAULT,
    ));
    let mut cursors: Vec<Option<Cursor>> = vec![None; searches.len()];
    let mut done = vec![false; searches.len()];
    let (mut pages, mut changes) = (0, 0);
    while done.iter().any(|d| !d) {
        let s = rng.below(searches.len() as u64) as usize;
        if done[s] {
            continue;
        }
        let (ds, q, sort) = &searches[s];
        let dialect = match ds {
            Dataset::Contacts => &contact::DIALECT,
            Dataset::Conversations => &conversation::DIALECT,
            Dataset::Tickets => &ticket::DIALECT,
        };
        let f = Filter::parse(q, dialect).unwrap();
        let want = brute_page(&w, *ds, q, *sort, 13, cursors[s].as_ref());
        let p = search_page(
            &w,
            &cache,
            *ds,
            "s",
            &f,
            &q.to_string(),
            *sort,
            13,
            cursors[s].as_ref(),
        );
        assert_eq!(
            (p.items.clone(), p.total, p.next.is_some()),
            want,
            "search {s} page {}",
            p.page
        );
        pages += 1;
        match p.next {
            Some(c) => cursors[s] = Some(Cursor::decode(&c, "s", *sort).unwrap()),
            None => done[s] = true,
        }
        // Change the world after about one page in three (for a while: a
        // world that grows faster than it is read is never read to its end).
        if pages < 400 && rng.chance(0.35) {
            changes += 1;
            let live: Vec<u32> = (0..w.contacts.len() as u32)
                .filter(|&i| w.contact_live(i))
                .collect();
            let c = live[rng.below(live.len() as u64) as usize];
            match rng.below(6) {
                0 => {
                    let old = w.now;
                    w.advance(old, old + rng.range(60, day / 4));
                }
                1 => {
                    // A role flip at the same second keeps the sort key.
                    let role = if rng.chance(0.5) { "user" } else { "lead" };
                    let mut fields = serde_json::Map::new();
                    fields.insert("role".into(), role.into());
                    w.update_contact(
                        c,
                        ContactFields {
                            fields,
                            ..ContactFields::default()
                        },
                    );
                }
                2 => w.delete_contact(c),
                3 => {
                    w.create_contact(ContactFields::default());
                }
                4 => {
                    let conv = rng.below(w.conversations.len() as u64) as u32;
                    if w.conversations[conv as usize].deleted_at == 0 {
                        let at = w.last_part_at(conv).max(w.now);
                        w.reply(conv, 0, false, at, "hi".into(), Vec::new());
                    }
                }
                _ => {
                    w.create_ticket(0, c, serde_json::Map::new());
                }
            }
        }
    }
    assert!(
        pages > 100 && changes > 30,
        "{pages} pages, {changes} changes"
    );
}

/// A client paging through more searches in turn than the old cache held
/// (8, first in first out) gets every search's result from the cache after
/// its first page: each search is evaluated once.
#[test]
fn the_cache_keeps_searches_paged_in_turn() {
    let cache = SearchCache::default();
    let computed = std::cell::Cell::new(0);
    for _round in 0..5 {
        for k in 0..200u32 {
            let list = cache.get_or_compute(format!("q{k}"), 3, || {
                computed.set(computed.get() + 1);
                vec![k; 10]
            });
            assert_eq!(*list, vec![k; 10]);
        }
    }
    assert_eq!(computed.get(), 200);
    assert_eq!(cache.len(), 200);
    // A new world generation evaluates again, and drops the old results.
    cache.get_or_compute("q0".into(), 4, || {
        computed.set(computed.get() + 1);
        vec![1]
    });
    assert_eq!(computed.get(), 201);
    assert_eq!(cache.len(), 1);
}

/// Past `CACHE_ENTRIES` searches, the least recently used goes first.
#[test]
fn the_cache_evicts_the_least_recently_used_search() {
    let cache = SearchCache::default();
    let computed = std::cell::Cell::new(0);
    let get = |k: usize| {
        cache.get_or_compute(format!("q{k}"), 0, || {
            computed.set(computed.get() + 1);
            Vec::new()
        })
    };
    for k in 0..CACHE_ENTRIES {
        get(k);
    }
    get(0); // q0 is now the most recently used; q1 the least.
    get(CACHE_ENTRIES); // evicts q1
    assert_eq!(computed.get(), CACHE_ENTRIES + 1);
    get(0);
    assert_eq!(computed.get(), CACHE_ENTRIES + 1, "q0 was kept");
    get(1);
    assert_eq!(computed.get(), CACHE_ENTRIES + 2, "q1 was evicted");
    assert_eq!(cache.len(), CACHE_ENTRIES);
}
