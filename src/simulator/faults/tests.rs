//! Tests of fault profiles: scopes, deterministic draws, scripts, search
//! window widths, rejected profiles.

use super::*;
use serde_json::json;

use super::layer::updated_at_width;
use super::scopes::check_scopes;

#[test]
fn denied_scopes_match_whole_path_segments() {
    let denied = vec!["tickets".to_string(), "contacts".to_string()];
    assert_eq!(
        denied_scope(&denied, "/tickets/search"),
        Some("read_tickets")
    );
    assert_eq!(denied_scope(&denied, "/ticket_types"), Some("read_tickets"));
    assert_eq!(
        denied_scope(&denied, "/contacts/abc/tags"),
        Some("read_users_companies")
    );
    assert_eq!(denied_scope(&denied, "/conversations/1"), None);
    assert_eq!(denied_scope(&denied, "/ticketsx"), None);
    assert_eq!(denied_scope(&[], "/tickets/search"), None);
    assert!(check_scopes(&denied).is_ok());
    let err = check_scopes(&["ticket".into()]).expect_err("unknown");
    assert!(err.contains("tickets, admins"), "{err}");
    let profile = FaultProfile {
        denied_scopes: vec!["nope".into()],
        ..FaultProfile::default()
    };
    assert!(profile.validate().is_err());
}

#[test]
fn draws_are_deterministic_and_match_the_rates() {
    let p = FaultProfile::load("flaky").expect("named");
    let a: Vec<_> = (0..20_000).map(|n| p.draw(n)).collect();
    let b: Vec<_> = (0..20_000).map(|n| p.draw(n)).collect();
    assert_eq!(a, b);
    let count = |f: Fault| a.iter().filter(|x| **x == Some(f)).count() as f64 / 20_000.0;
    assert!((count(Fault::E500) - 0.02).abs() < 0.005);
    assert!((count(Fault::Stall) - 0.01).abs() < 0.004);
    assert!((count(Fault::Empty) - 0.01).abs() < 0.004);
}

#[test]
fn scripts_fire_where_told() {
    let p = FaultProfile {
        burst: Some(Burst {
            every: 10,
            length: 2,
        }),
        unauthorized_after: Some(25),
        ..FaultProfile::default()
    };
    let fates: Vec<_> = (0..30).map(|n| p.draw(n)).collect();
    assert_eq!(fates[0], Some(Fault::RateLimited));
    assert_eq!(fates[11], Some(Fault::RateLimited));
    assert_eq!(fates[12], None);
    assert_eq!(fates[25], Some(Fault::Unauthorized));
}

#[test]
fn a_search_window_is_as_wide_as_its_updated_at_bounds() {
    let q = json!({"operator": "AND", "value": [
        {"field": "role", "operator": "=", "value": "user"},
        {"field": "updated_at", "operator": ">", "value": 1000},
        {"field": "updated_at", "operator": "<", "value": "4601"},
    ]});
    assert_eq!(updated_at_width(&q), Some(3601));
    let open = json!({"field": "updated_at", "operator": ">", "value": 1000});
    assert_eq!(updated_at_width(&open), None);
    let nested = json!({"operator": "AND", "value": [
        {"operator": "AND", "value": [
            {"field": "updated_at", "operator": ">=", "value": 10},
            {"field": "updated_at", "operator": ">", "value": 20},
        ]},
        {"field": "updated_at", "operator": "<=", "value": 50},
    ]});
    assert_eq!(updated_at_width(&nested), Some(30));
    assert_eq!(updated_at_width(&serde_json::Value::Null), None);
    let p = FaultProfile::parse_toml("search_max_window_secs = 86400").expect("valid");
    assert_eq!(p.search_max_window_secs, Some(86_400));
}

#[test]
fn bad_profiles_are_rejected_with_the_reason() {
    assert!(
        FaultProfile::parse_toml("error_500 = 1.5")
            .expect_err("range")
            .contains("error_500")
    );
    assert!(
        FaultProfile::parse_toml("error_500 = 0.6\nstall = 0.6")
            .expect_err("sum")
            .contains("more than 1")
    );
    assert!(FaultProfile::parse_toml("eror_500 = 0.1").is_err());
    assert!(
        FaultProfile::load("no-such-profile")
            .expect_err("unknown")
            .contains("named profile")
    );
    let p = FaultProfile::parse_toml(
        "seed = 3\nerror_500 = 0.1\nfailing_conversations = [\"7\"]\n[burst]\nevery = 50\nlength = 2\n",
    )
    .expect("valid");
    assert_eq!(p.failing_conversations, vec!["7"]);
}
