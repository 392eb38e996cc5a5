use super::*;

/// A contact as the search sends it (inline lists of 10 at most).
fn contact() -> Value {
    json!({
        "type": "contact", "id": "c1", "role": "user", "email": "a@example.com",
        "updated_at": 1_700_000_100, "created_at": 1_700_000_000,
        "custom_attributes": {"plan": "pro"},
        "tags": {"type": "list", "data": [{"type": "tag", "id": "7", "url": "/tags/7"}],
                 "url": "/contacts/c1/tags", "total_count": 1, "has_more": false},
        "companies": {"type": "list", "data": [{"type": "company", "id": "co1"}],
                      "url": "/contacts/c1/companies", "total_count": 3, "has_more": true},
        "notes": {"type": "list", "data": [], "total_count": 0, "has_more": false}
    })
}

/// A conversation as the search sends it.
fn conversation() -> Value {
    json!({
        "type": "conversation", "id": "9", "updated_at": 1_700_000_200, "state": "open",
        "source": {"type": "conversation", "body": "<p>Hello</p>", "author": {"id": "c1"}},
        "tags": {"type": "tag.list", "tags": [{"type": "tag", "id": "5", "name": "vip"}]},
        "contacts": {"type": "contact.list", "contacts": [{"type": "contact", "id": "c1"}]},
        "statistics": {"time_to_assignment": 0}
    })
}

#[test]
fn a_parent_job_keeps_only_what_the_table_reads_and_gives_the_same_rows() {
    let cases = [
        (Mapping::ContactTags, contact(), "tags", "data", 3),
        (Mapping::ContactCompanies, contact(), "companies", "data", 3),
        (Mapping::ContactSegments, contact(), "", "", 2),
        (Mapping::ConversationTags, conversation(), "tags", "tags", 3),
        (
            Mapping::ConversationContacts,
            conversation(),
            "contacts",
            "contacts",
            3,
        ),
    ];
    for (mapping, full, field, items_key, kept) in cases {
        let endpoint = format!("POST /{}", mapping.spec().path);
        let job = parent_job(mapping, &endpoint, full.clone())
            .expect("a valid parent")
            .expect("a job");
        let (slim, fetch) = job.parent;
        assert!(!fetch);
        assert_eq!(
            job.key.to_string(),
            format!("{}@{}", full["id"].as_str().unwrap(), full["updated_at"])
        );
        let fields = slim.as_object().expect("an object");
        assert_eq!(fields.len(), kept, "{mapping:?}: {slim}");
        assert_eq!(slim["id"], full["id"]);
        assert_eq!(slim["updated_at"], full["updated_at"]);
        if field.is_empty() {
            continue;
        }
        assert_eq!(slim[field], full[field], "{mapping:?}");
        let from_slim = inline(&slim, field, items_key);
        assert_eq!(from_slim, inline(&full, field, items_key), "{mapping:?}");
        let items = from_slim.unwrap_or_default();
        assert_eq!(
            rows(mapping, &slim, items.clone()),
            rows(mapping, &full, items),
            "{mapping:?}"
        );
    }
}

#[test]
fn a_parent_without_updated_at_is_the_searchs_error() {
    let endpoint = "POST /contacts/search";
    let err =
        parent_job(Mapping::ContactTags, endpoint, json!({"id": "c1"})).expect_err("no updated_at");
    assert!(err.to_string().contains("contacts/search"), "{err}");
}
