//! Unit tests of `mod.rs`.

use super::error::error_details;
use super::headers::server_wait;
use super::*;

#[test]
fn base_url_must_be_https_unless_loopback() {
    let ok = |s: &str| validate_base_url(&Url::parse(s).expect("url")).is_ok();
    assert!(ok("https://api.intercom.io"));
    assert!(ok("http://127.0.0.1:8080"));
    assert!(ok("http://localhost:1"));
    assert!(ok("http://[::1]:9"));
    assert!(!ok("http://api.intercom.io"));
    assert!(!ok("http://10.0.0.1"));
    assert!(!ok("ftp://127.0.0.1"));
}

#[test]
fn error_bodies_of_every_shape() {
    let list = br#"{"type":"error.list","request_id":"x","errors":[{"code":"not_found","message":"Resource Not Found"}]}"#;
    assert_eq!(
        error_details(list),
        ("not_found".into(), "Resource Not Found".into())
    );
    let bare = br#"{"type":"error","request_id":null,"message":"boom"}"#;
    assert_eq!(error_details(bare), ("error".into(), "boom".into()));
    let html = b"<html><body>502 Bad Gateway</body></html>";
    assert_eq!(error_details(html).0, "non_json_body");
}

#[test]
fn forbidden_names_the_missing_permission() {
    let e = HttpError::Forbidden {
        endpoint: "POST /tickets/search".into(),
        code: "forbidden".into(),
        message: "You do not have the required scope (read_tickets)".into(),
    }
    .to_string();
    assert!(
        e.contains("lacks permission for tickets")
            && e.contains("`Read tickets`")
            && e.contains("read_tickets"),
        "{e}"
    );
    assert_eq!(permission("GET /events?type=user").0, "data events");
    assert_eq!(permission("GET /ticket_types").1, "Read tickets");
}

#[test]
fn next_urls_must_stay_on_the_base_origin() {
    let client = |base: &str| {
        IntercomClient::new(ClientConfig {
            base_url: Url::parse(base).expect("url"),
            intercom_version: DEFAULT_INTERCOM_VERSION.into(),
            token: AccessToken::new("t").expect("token"),
            request_timeout: Duration::from_secs(1),
            max_retries: 0,
            max_retry_time: Duration::from_secs(1),
            max_requests_per_minute: None,
            max_in_flight: 8,
        })
        .expect("client")
    };
    let c = client("http://127.0.0.1:9000");
    assert_eq!(
        c.relative_next("http://127.0.0.1:9000/events?type=user&before=x")
            .as_deref(),
        Ok("events?type=user&before=x")
    );
    for bad in [
        "http://127.0.0.1:9001/events",
        "https://127.0.0.1:9000/events",
        "http://evil.example:9000/events",
        "/events",
    ] {
        assert!(c.relative_next(bad).is_err(), "{bad}");
    }
    let c = client("https://api.eu.intercom.io/v/");
    assert_eq!(
        c.relative_next("https://api.eu.intercom.io/v/events")
            .as_deref(),
        Ok("events")
    );
    assert!(
        c.relative_next("https://api.eu.intercom.io/events")
            .is_err()
    );
}

#[test]
fn retry_after_wins_over_reset() {
    let mut h = HeaderMap::new();
    h.insert("retry-after", HeaderValue::from_static("3"));
    h.insert("x-ratelimit-reset", HeaderValue::from_static("1"));
    assert_eq!(server_wait(&h), Some(Duration::from_secs(3)));
    let mut h = HeaderMap::new();
    h.insert("x-ratelimit-remaining", HeaderValue::from_static("5"));
    h.insert("x-ratelimit-reset", HeaderValue::from_static("99999999999"));
    assert_eq!(server_wait(&h), None, "room left: no server-imposed wait");
}

#[tokio::test]
async fn a_counted_clone_counts_its_own_requests_and_the_clients_too() {
    let sim = crate::simulator::spawn(crate::simulator::SimConfig {
        contacts: 2,
        conversations: 1,
        parts: 1,
        ..Default::default()
    })
    .await
    .expect("simulator");
    let client = IntercomClient::new(ClientConfig {
        base_url: sim.base_url().parse().expect("url"),
        intercom_version: DEFAULT_INTERCOM_VERSION.into(),
        token: crate::secret::AccessToken::new("t".to_string()).expect("token"),
        request_timeout: Duration::from_secs(30),
        max_retries: 0,
        max_retry_time: Duration::from_secs(1),
        max_requests_per_minute: None,
        max_in_flight: 8,
    })
    .expect("client");
    let (a, b) = (client.counted(), client.counted());
    let a_clone = a.clone();
    for c in [&a, &a_clone, &b, &a] {
        let _: serde_json::Value = c.get("admins").await.expect("admins");
    }
    let _: serde_json::Value = client.get("teams").await.expect("teams");
    assert_eq!(a.own_stats().requests, 3, "a and its clone");
    assert_eq!(b.own_stats().requests, 1);
    assert_eq!(client.stats().requests, 5, "the client counts every clone");
    assert_eq!(client.own_stats(), client.stats(), "not a counted clone");
    assert_eq!(
        a.own_stats().rate_limit_per_10s,
        Some(1666),
        "the stated limit too"
    );
    // Five calls in well under a second: one of the simulator's 10-second
    // windows, or two when one ended between them.
    let windows = client.stats().rate_windows;
    assert!((1..=2).contains(&windows), "{windows}");
    assert!(a.own_stats().rate_windows <= windows);
}

/// A request whose first two copies hang (the trial: 2 % of calls hung, a
/// hedge that hung too cost the whole request timeout) is answered by a
/// third copy sent after the next stall, within the one attempt: no retry,
/// no timeout.
#[tokio::test]
async fn a_hedge_that_hangs_too_is_followed_by_another_copy() {
    use std::sync::atomic::AtomicUsize;
    let seen = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new()
        .route(
            "/admins",
            axum::routing::get(
                |axum::extract::State(seen): axum::extract::State<Arc<AtomicUsize>>| async move {
                    if seen.fetch_add(1, Ordering::SeqCst) < 2 {
                        tokio::time::sleep(Duration::from_secs(120)).await;
                    }
                    axum::Json(serde_json::json!({"type": "admin.list", "admins": []}))
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = IntercomClient::new(ClientConfig {
        base_url: format!("http://{addr}").parse().expect("url"),
        intercom_version: DEFAULT_INTERCOM_VERSION.into(),
        token: crate::secret::AccessToken::new("t".to_string()).expect("token"),
        request_timeout: Duration::from_secs(40),
        max_retries: 0,
        max_retry_time: Duration::from_secs(1),
        max_requests_per_minute: None,
        max_in_flight: 8,
    })
    .expect("client");
    let answer: serde_json::Value = client
        .get("admins")
        .await
        .expect("the third copy answers, within one attempt");
    assert_eq!(answer["type"], "admin.list");
    assert_eq!(seen.load(Ordering::SeqCst), 3, "the call and two hedges");
    assert_eq!(client.stats().retries, 0, "no retry was needed");
}
