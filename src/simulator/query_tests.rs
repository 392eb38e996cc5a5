//! Unit tests of `query.rs`.

use super::*;
use serde_json::json;

const FIELDS: &[FieldDef] = &[
    FieldDef {
        name: "name",
        ty: FieldType::Str,
        key: 0,
    },
    FieldDef {
        name: "updated_at",
        ty: FieldType::Date,
        key: 1,
    },
    FieldDef {
        name: "seats",
        ty: FieldType::Int,
        key: 2,
    },
    FieldDef {
        name: "vip",
        ty: FieldType::Bool,
        key: 3,
    },
    FieldDef {
        name: "tag_ids",
        ty: FieldType::Str,
        key: 4,
    },
    FieldDef {
        name: "mrr",
        ty: FieldType::Float,
        key: 5,
    },
    FieldDef {
        name: "phone",
        ty: FieldType::Str,
        key: 6,
    },
];
const DAYS: Dialect = Dialect {
    fields: FIELDS,
    dates: DateMode::Day,
};
const EXACT: Dialect = Dialect {
    fields: FIELDS,
    dates: DateMode::Exact,
};

struct Rec {
    name: &'static str,
    updated_at: i64,
    seats: i64,
    vip: bool,
    tags: Vec<String>,
}

impl Record for Rec {
    fn field(&self, key: u16) -> FieldValue<'_> {
        match key {
            0 => FieldValue::Str(self.name),
            1 => FieldValue::Int(self.updated_at),
            2 => FieldValue::Int(self.seats),
            3 => FieldValue::Bool(self.vip),
            4 => FieldValue::Many(&self.tags),
            5 => FieldValue::Float(12.5),
            _ => FieldValue::Null,
        }
    }
}

/// 2026-05-10T00:00:00Z
const MIDNIGHT: i64 = 1_778_371_200;
/// 2026-05-10T13:20:00Z
const T: i64 = MIDNIGHT + 13 * 3600 + 20 * 60;

fn rec(updated_at: i64) -> Rec {
    Rec {
        name: "Zoë Martin",
        updated_at,
        seats: 9,
        vip: true,
        tags: vec!["1".into(), "2".into()],
    }
}

fn check(q: serde_json::Value, d: &Dialect, r: &Rec) -> bool {
    let f = Filter::parse(&q, d).unwrap_or_else(|e| panic!("{q}: {e}"));
    f.matches(r, d.dates)
}

fn rejected(q: serde_json::Value, d: &Dialect) -> String {
    match Filter::parse(&q, d) {
        Ok(f) => panic!("{q} accepted as {f:?}"),
        Err(e) => e.0,
    }
}

#[test]
fn contact_dates_are_day_granular_in_utc() {
    let leaf =
        |op: &str, v: serde_json::Value| json!({"field":"updated_at","operator":op,"value":v});
    // `=` matches the whole UTC day of the value.
    for t in [MIDNIGHT, T, MIDNIGHT + 86_399] {
        assert!(check(leaf("=", json!(T)), &DAYS, &rec(t)));
    }
    assert!(!check(leaf("=", json!(T)), &DAYS, &rec(MIDNIGHT - 1)));
    assert!(!check(leaf("=", json!(T)), &DAYS, &rec(MIDNIGHT + 86_400)));
    // `>` starts at midnight of the next day: later the same day is excluded.
    assert!(!check(leaf(">", json!(T)), &DAYS, &rec(T + 3600)));
    assert!(!check(leaf(">", json!(T)), &DAYS, &rec(MIDNIGHT + 86_399)));
    assert!(check(leaf(">", json!(T)), &DAYS, &rec(MIDNIGHT + 86_400)));
    // `<` ends before midnight of the value's day.
    assert!(!check(leaf("<", json!(T)), &DAYS, &rec(T - 3600)));
    assert!(!check(leaf("<", json!(T)), &DAYS, &rec(MIDNIGHT)));
    assert!(check(leaf("<", json!(T)), &DAYS, &rec(MIDNIGHT - 1)));
    // Numeric strings are accepted.
    assert!(check(
        leaf("=", json!(T.to_string())),
        &DAYS,
        &rec(MIDNIGHT)
    ));
    // Only = < > on dates.
    for op in [">=", "<=", "!=", "IN", "NIN", "~"] {
        let v = if op.contains("IN") {
            json!([T])
        } else {
            json!(T)
        };
        let msg = rejected(leaf(op, v), &DAYS);
        assert!(msg.contains("not supported"), "{op}: {msg}");
    }
    assert!(rejected(leaf("=", json!("yesterday")), &DAYS).contains("unix timestamp"));
}

#[test]
fn conversation_dates_are_exact_to_the_second() {
    let leaf =
        |op: &str, v: serde_json::Value| json!({"field":"updated_at","operator":op,"value":v});
    assert!(check(leaf(">", json!(T)), &EXACT, &rec(T + 1)));
    assert!(!check(leaf(">", json!(T)), &EXACT, &rec(T)));
    assert!(check(leaf("<", json!(T)), &EXACT, &rec(T - 1)));
    assert!(!check(leaf("<", json!(T)), &EXACT, &rec(T)));
    assert!(check(leaf("=", json!(T)), &EXACT, &rec(T)));
    assert!(!check(leaf("=", json!(T)), &EXACT, &rec(T + 1)));
    assert!(check(leaf(">=", json!(T)), &EXACT, &rec(T)));
    assert!(check(leaf("<=", json!(T.to_string())), &EXACT, &rec(T)));
    assert!(check(leaf("IN", json!([1, T])), &EXACT, &rec(T)));
    assert!(check(leaf("!=", json!(T)), &EXACT, &rec(T + 1)));
}

#[test]
fn strings_numbers_booleans_and_lists() {
    let r = rec(T);
    let q = |f: &str, op: &str, v: serde_json::Value| json!({"field":f,"operator":op,"value":v});
    assert!(check(q("name", "=", json!("Zoë Martin")), &DAYS, &r));
    assert!(!check(q("name", "=", json!("zoë martin")), &DAYS, &r));
    assert!(check(q("name", "~", json!("MART")), &DAYS, &r));
    assert!(check(q("name", "!~", json!("smith")), &DAYS, &r));
    assert!(check(q("name", "^", json!("zoë")), &DAYS, &r));
    assert!(check(q("name", "$", json!("tin")), &DAYS, &r));
    assert!(check(
        q("name", "IN", json!(["a", "Zoë Martin"])),
        &DAYS,
        &r
    ));
    assert!(check(q("name", "NIN", json!(["a", "b"])), &DAYS, &r));
    assert!(check(q("seats", ">", json!(8)), &DAYS, &r));
    assert!(check(q("seats", "<=", json!("9")), &DAYS, &r));
    assert!(!check(q("seats", "<", json!(9)), &DAYS, &r));
    assert!(check(q("mrr", ">", json!(12)), &DAYS, &r));
    assert!(check(q("vip", "=", json!(true)), &DAYS, &r));
    assert!(check(q("vip", "!=", json!("false")), &DAYS, &r));
    assert!(check(q("tag_ids", "=", json!("2")), &DAYS, &r));
    assert!(!check(q("tag_ids", "!=", json!("2")), &DAYS, &r));
    assert!(check(q("tag_ids", "NIN", json!(["3"])), &DAYS, &r));
    assert!(check(q("phone", "=", json!(null)), &DAYS, &r));
    assert!(!check(q("phone", "!=", json!(null)), &DAYS, &r));
    assert!(!check(q("phone", "~", json!("5")), &DAYS, &r));
    assert!(check(q("phone", "!=", json!("5")), &DAYS, &r));
    assert!(rejected(q("seats", "=", json!("many")), &DAYS).contains("integer"));
    assert!(rejected(q("vip", ">", json!(true)), &DAYS).contains("not supported"));
    assert!(rejected(q("name", ">", json!("a")), &DAYS).contains("not supported"));
    assert!(rejected(q("name", "IN", json!("a")), &DAYS).contains("array"));
    assert!(rejected(q("name", "=", json!(["a"])), &DAYS).contains("single value"));
    assert!(rejected(q("nope", "=", json!("a")), &DAYS).contains("not a searchable field"));
    assert!(rejected(q("name", "LIKE", json!("a")), &DAYS).contains("not a valid operator"));
}

#[test]
fn groups_nest_two_levels_and_hold_fifteen_filters() {
    let leaf = json!({"field":"seats","operator":">","value":1});
    let or = json!({"operator":"OR","value":[leaf, leaf]});
    // (1 OR 2) AND (3 OR 4): two levels, accepted.
    let two = json!({"operator":"AND","value":[or, or]});
    assert!(check(two.clone(), &DAYS, &rec(T)));
    // A third level is rejected.
    let three = json!({"operator":"AND","value":[{"operator":"OR","value":[two]}]});
    assert!(rejected(three, &DAYS).contains("at most 2 levels"));
    let fifteen = json!({"operator":"AND","value":vec![leaf.clone(); 15]});
    assert!(check(fifteen, &DAYS, &rec(T)));
    let sixteen = json!({"operator":"OR","value":vec![leaf.clone(); 16]});
    assert!(rejected(sixteen, &DAYS).contains("at most 15"));
    assert!(rejected(json!({"operator":"AND","value":[]}), &DAYS).contains("empty"));
    assert!(rejected(json!({"operator":"XOR","value":[leaf]}), &DAYS).contains("XOR"));
    assert!(rejected(json!("updated_at > 1"), &DAYS).contains("object"));
    assert!(rejected(json!({"value": 1}), &DAYS).contains("needs either"));
    // OR and AND evaluate as expected.
    let q = json!({"operator":"OR","value":[
        {"field":"seats","operator":"=","value":1},
        {"field":"name","operator":"~","value":"zoë"}]});
    assert!(check(q, &DAYS, &rec(T)));
    let q = json!({"operator":"AND","value":[
        {"field":"seats","operator":"=","value":1},
        {"field":"name","operator":"~","value":"zoë"}]});
    assert!(!check(q, &DAYS, &rec(T)));
}

#[test]
fn bounds_cover_every_match() {
    let f = |q: serde_json::Value, d: &Dialect| Filter::parse(&q, d).unwrap().bounds(1, d.dates);
    let gt = json!({"field":"updated_at","operator":">","value":T});
    assert_eq!(f(gt.clone(), &DAYS), (MIDNIGHT + 86_400, i64::MAX));
    assert_eq!(f(gt.clone(), &EXACT), (T + 1, i64::MAX));
    let eq = json!({"field":"updated_at","operator":"=","value":T});
    assert_eq!(f(eq.clone(), &DAYS), (MIDNIGHT, MIDNIGHT + 86_399));
    // The connector pattern (= day) OR (> day) covers from midnight.
    let or = json!({"operator":"OR","value":[eq, gt]});
    assert_eq!(f(or, &DAYS), (MIDNIGHT, i64::MAX));
    let lt = json!({"field":"updated_at","operator":"<","value":T + 100});
    let and = json!({"operator":"AND","value":[
        {"field":"updated_at","operator":">","value":T}, lt,
        {"field":"seats","operator":"=","value":1}]});
    assert_eq!(f(and, &EXACT), (T + 1, T + 99));
    let other = json!({"operator":"OR","value":[
        {"field":"updated_at","operator":">","value":T},
        {"field":"seats","operator":"=","value":1}]});
    assert_eq!(f(other, &EXACT), FULL);
}
