//! Tests of search pages kept as the JSON text the server sent
//! ([`RawPage`]): read ahead, decoded when delivered, on or off the task.

use serde_json::value::RawValue;

use super::*;
use crate::api::Page;

#[test]
fn a_page_read_ahead_is_kept_as_its_text_and_decodes_equal_to_the_direct_decode() {
    // A contact search answer as sent (pretty-printed, keys in the server's
    // order, a nested object, an escaped string, a number that `Value`
    // would not round-trip as text: 1.50).
    let body = r#"{
  "type": "list",
  "data": [
    {"type": "contact", "id": "c1", "updated_at": 1700000000,
     "name": "Zo\u00eb \"Z\"", "custom_attributes": {"score": 1.50, "tags": ["a", "b"]}},
    {"type": "contact", "id": "c2", "updated_at": "2023-11-14T22:13:21Z", "email": null}
  ],
  "total_count": 2,
  "pages": {"type": "pages", "next": {"page": 2, "starting_after": "WzE3MDAwMDAwMDAsImMyIl0="}, "per_page": 2}
}"#;
    let raw = RawValue::from_string(body.to_string()).expect("json");
    let page = RawPage::decode("POST /contacts/search", "data", &raw).expect("decode");
    let direct = Page::decode(
        "POST /contacts/search",
        "data",
        serde_json::from_str(body).expect("json"),
    )
    .expect("direct");
    // Kept as the server's text, byte for byte.
    assert!(
        page.data[0]
            .get()
            .starts_with(r#"{"type": "contact", "id": "c1""#)
    );
    assert!(page.data[0].get().contains(r#""score": 1.50"#));
    // Decoded when delivered: equal to decoding the page at once.
    assert_eq!(
        pages::decode("contacts/search", page.data.clone(), None).expect("decoded"),
        direct.data
    );
    assert_eq!(page.envelope.next_cursor(), direct.next_cursor());
    assert_eq!(
        page.envelope.next_cursor().as_deref(),
        Some("WzE3MDAwMDAwMDAsImMyIl0=")
    );
    assert_eq!(page.envelope.total_count, Some(2));
    // Identities read from the text are those of the decoded records.
    for (text, value) in page.data.iter().zip(&direct.data) {
        let (id, t, _) = pages::raw_identity_created("contacts/search", text).expect("identity");
        assert_eq!(
            (id.as_str(), t),
            crate::extract::cursor::identity("contacts/search", value).expect("identity")
        );
    }
    // The budget counts the text's exact length.
    let text_len: usize = page.data.iter().map(|r| r.get().len()).sum();
    assert_eq!(crate::extract::ahead::page_bytes(&page.data), text_len);
    let budget = AheadBudget::new(1 << 20);
    let mut held = budget.hold();
    held.resize(crate::extract::ahead::page_bytes(&page.data));
    assert_eq!(budget.used(), text_len);
}

#[test]
fn a_raw_page_of_the_wrong_shape_is_the_decoded_page_error() {
    for body in [
        r#"[1, 2]"#,
        r#"{"type": "list", "contacts": []}"#,
        r#"{"data": {}}"#,
    ] {
        let raw = RawValue::from_string(body.to_string()).expect("json");
        let got = RawPage::decode("POST /contacts/search", "data", &raw)
            .expect_err(body)
            .to_string();
        let want = Page::decode(
            "POST /contacts/search",
            "data",
            serde_json::from_str(body).expect("json"),
        )
        .expect_err(body)
        .to_string();
        assert_eq!(got, want);
    }
    let raw = RawValue::from_string(r#"[{"id": 5, "updated_at": 1}]"#.into()).expect("json");
    let records: Vec<RawRecord> = serde_json::from_str(raw.get()).expect("records");
    assert!(
        pages::raw_identity_created("contacts/search", &records[0])
            .expect_err("a number id")
            .to_string()
            .contains("without a string `id`")
    );
}

/// A large page kept as text decodes off the extractor's task to the same
/// records as [`pages::decode`].
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_page_kept_as_text_decodes_off_the_task_equal_to_here() {
    let record = |i: usize| {
        RawValue::from_string(format!(
            r#"{{"type": "contact", "id": "c{i}", "updated_at": {i}, "name": "{}"}}"#,
            "x".repeat(200)
        ))
        .expect("json")
    };
    let records: Vec<RawRecord> = (0..400).map(record).collect();
    let bytes: usize = records.iter().map(|r| r.get().len()).sum();
    assert!(bytes >= crate::http::OFF_TASK_DECODE_BYTES, "{bytes}");
    let here = pages::decode("contacts/search", records.clone(), None).expect("here");
    let off = pages::decode_off_task("contacts/search", records.clone(), None)
        .await
        .expect("off the task");
    assert_eq!(off, here);
    assert_eq!(off.len(), 400);
    // Small pages stay on the task and decode the same.
    let small = pages::decode_off_task("contacts/search", records[..2].to_vec(), None)
        .await
        .expect("small");
    assert_eq!(small, here[..2].to_vec());
}

/// The one-pass read of the envelope keeps what the map read kept: a key
/// written with escapes is that key, other keys (nested lists included) are
/// skipped, a later duplicate wins, and `pages`/`total_count` of the wrong
/// type are absent rather than an error.
#[test]
fn the_envelope_is_read_in_one_pass_as_the_map_read_it() {
    let body = r#"{"type": "list", "extra": {"data": [{"id": "x"}]},
        "d\u0061ta": [{"id": "c1", "updated_at": 1}, {"id": "c2", "updated_at": 2}],
        "pages": {"next": {"starting_after": "old"}}, "total_count": "many",
        "pages": {"next": {"starting_after": "new"}}}"#;
    let raw = RawValue::from_string(body.to_string()).expect("json");
    let page = RawPage::decode("POST /contacts/search", "data", &raw).expect("decode");
    let ids: Vec<&str> = page.data.iter().map(|r| r.get()).collect();
    assert_eq!(
        ids,
        [
            r#"{"id": "c1", "updated_at": 1}"#,
            r#"{"id": "c2", "updated_at": 2}"#
        ]
    );
    assert_eq!(page.envelope.next_cursor().as_deref(), Some("new"));
    assert_eq!(page.envelope.total_count, None);
    // A list key that is not a list: the decoded page's error, as before.
    let raw = RawValue::from_string(r#"{"data": 5, "pages": {}}"#.into()).expect("json");
    let got = RawPage::decode("POST /contacts/search", "data", &raw).expect_err("not a list");
    assert!(got.to_string().contains("data"), "{got}");
}
