//! Tests of the column definitions, the encoder and the reference row view.

use super::*;
use crate::anomalies::AnomalyKind;
use arrow_array::{Array, ListArray, StringArray, TimestampMicrosecondArray};
use arrow_json::ReaderBuilder;

const COLS: &[Column] = &[
    Column::new("id", ColType::Str, "/id", ""),
    Column::new("updated_at", ColType::Timestamp, "/updated_at", ""),
    Column::new("author_id", ColType::Str, "/author/id", ""),
    Column::new("open", ColType::Bool, "/open", ""),
    Column::list("tag_ids", "/tags/data", "id", ""),
    Column::new("custom", ColType::Json, "/custom", ""),
];

fn decode(records: &[Value], csv: bool) -> arrow_array::RecordBatch {
    let meta = RowMeta {
        run_id: "r1".into(),
        extracted_at: 5,
        ..RowMeta::default()
    };
    let mut decoder = ReaderBuilder::new(arrow_schema(COLS, csv))
        .build_decoder()
        .expect("decoder");
    let rows: Vec<RowView> = records
        .iter()
        .map(|record| RowView {
            columns: COLS,
            record,
            meta: &meta,
            csv,
        })
        .collect();
    decoder.serialize(&rows).expect("serialize");
    decoder.flush().expect("flush").expect("a batch")
}

#[test]
fn converts_api_values_to_typed_columns() {
    let records = vec![
        serde_json::json!({"id": "a1", "updated_at": 1700000000, "author": {"id": 42},
            "open": true, "tags": {"data": [{"id": "7"}, {"id": 8}]}, "custom": {"k": 1}}),
        serde_json::json!({"id": "b2", "updated_at": null}),
    ];
    let batch = decode(&records, false);
    assert_eq!(batch.num_rows(), 2);
    let ts = batch
        .column(1)
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .expect("timestamp column");
    assert_eq!(ts.value(0), 1_700_000_000_000_000);
    assert!(ts.is_null(1));
    let author = batch
        .column(2)
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("str");
    assert_eq!(author.value(0), "42", "numeric ids become strings");
    let tags = batch
        .column(4)
        .as_any()
        .downcast_ref::<ListArray>()
        .expect("list");
    let first = tags.value(0);
    let first = first
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("str items");
    assert_eq!((first.value(0), first.value(1)), ("7", "8"));
    assert!(tags.is_null(1), "missing list is null, not empty");
    assert_eq!(batch.num_columns(), COLS.len() + 2, "meta columns appended");
    let run = batch.column_by_name("_run_id").expect("_run_id");
    assert_eq!(
        run.as_any()
            .downcast_ref::<StringArray>()
            .expect("str")
            .value(1),
        "r1"
    );
    let custom = batch
        .column(5)
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("json");
    assert_eq!(custom.value(0), r#"{"k":1}"#);
}

#[test]
fn csv_mode_writes_lists_as_json_text() {
    let records = vec![serde_json::json!({"id": "a", "tags": {"data": [{"id": "x"}]}})];
    let batch = decode(&records, true);
    let tags = batch
        .column(4)
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("text");
    assert_eq!(tags.value(0), r#"["x"]"#);
}

#[test]
fn encoder_matches_the_arrow_json_reference() {
    let cols = vec![
        Column::new("id", ColType::Str, "/id", ""),
        Column::new("n", ColType::Int, "/n", ""),
        Column::new("f", ColType::Float, "/f", ""),
        Column::new("b", ColType::Bool, "/b", ""),
        Column::new("t", ColType::Timestamp, "/t", ""),
        Column::new("deep", ColType::Str, "/a/b~1c/0", ""),
        Column::list("tags", "/tags", "id", ""),
        Column::list("plain", "/plain", "", ""),
        Column::new("j", ColType::Json, "/j", ""),
        Column::dynamic("custom_n".into(), ColType::Int, "/c/n".into(), ""),
        Column::dynamic("custom_f".into(), ColType::Float, "/c/f".into(), ""),
    ];
    let records = [
        serde_json::json!({"id": 7, "n": "12", "f": "1.5", "b": "true", "t": 1.9e9,
            "a": {"b/c": ["x", "y"]}, "tags": [{"id": 1}, {"id": null}, {"x": 1}, {"id": "s"}],
            "plain": ["a", 2, null, {"k": [1, 2.5]}], "j": [1, {"z": "é\n"}],
            "c": {"n": 1.5, "f": "zz"}}),
        serde_json::json!({"id": "x", "n": 1.9, "f": 3, "b": false, "t": "1700000000",
            "a": {"b/c": [{"k": 1}]}, "tags": [], "plain": "no", "j": "s",
            "c": {"n": "7", "f": 2.25}}),
        serde_json::json!({"id": true, "n": true, "f": null, "b": "yes", "t": [],
            "tags": null, "c": {"n": 9223372036854775807u64}}),
        serde_json::json!({"id": [1, "a"], "n": 18446744073709551615u64, "t": 9.3e18}),
        serde_json::json!({}),
    ];
    for csv in [false, true] {
        let meta = RowMeta {
            run_id: "r".into(),
            extracted_at: 9,
            ..RowMeta::default()
        };
        let mut reference = ReaderBuilder::new(arrow_schema(&cols, csv))
            .build_decoder()
            .expect("decoder");
        let rows: Vec<RowView> = records
            .iter()
            .map(|record| RowView {
                columns: &cols,
                record,
                meta: &meta,
                csv,
            })
            .collect();
        reference.serialize(&rows).expect("serialize");
        let expected = reference.flush().expect("flush").expect("batch");
        let reference_misfits = meta.misfits.get();
        meta.misfits.set(0);
        let mut encoder = RecordBatchBuilder::new(&cols, csv);
        encoder.append(&records[..2], &meta);
        encoder.append(&records[2..], &meta);
        assert_eq!(encoder.len(), records.len());
        let got = encoder.flush().expect("flush").expect("batch");
        assert_eq!(got, expected, "csv = {csv}");
        assert_eq!(meta.misfits.get(), reference_misfits);
        assert!(encoder.flush().expect("flush").is_none());
    }
}

#[test]
fn timestamps_in_every_accepted_form() {
    let t = |v: Value| timestamp_micros(&v);
    assert_eq!(
        t(serde_json::json!(1_467_133_700)),
        Some((1_467_133_700_000_000, false))
    );
    assert_eq!(
        t(serde_json::json!(1_467_133_937_045_i64)),
        Some((1_467_133_937_045_000, true)),
        "milliseconds by magnitude"
    );
    assert_eq!(t(serde_json::json!(1.5)), Some((1_500_000, false)));
    assert_eq!(
        t(serde_json::json!("1467133700")),
        Some((1_467_133_700_000_000, true))
    );
    assert_eq!(
        t(serde_json::json!("2026-01-10T04:22:28.240+00:00")),
        Some((1_768_018_948_240_000, true))
    );
    assert_eq!(
        t(serde_json::json!("2026-01-10T07:56:29.000Z")),
        Some((1_768_031_789_000_000, true))
    );
    assert_eq!(
        t(serde_json::json!("2026-01-10T07:56:29")),
        Some((1_768_031_789_000_000, true)),
        "no offset: UTC"
    );
    assert_eq!(
        t(serde_json::json!("2026-01-10")),
        Some((1_768_003_200_000_000, true))
    );
    assert_eq!(
        t(serde_json::json!(-86_400)),
        Some((-86_400_000_000, false))
    );
    for bad in [
        serde_json::json!("next spring"),
        serde_json::json!(""),
        serde_json::json!(true),
        serde_json::json!({"at": 1}),
        serde_json::json!([1]),
        serde_json::json!(MILLIS_LIMIT),
    ] {
        assert_eq!(t(bad.clone()), None, "{bad}");
    }
    assert_eq!(
        timestamp_secs(&serde_json::json!("2026-01-10T04:22:28.999Z")),
        Some(1_768_018_948),
        "seconds round down"
    );
}

#[test]
fn alternatives_sentinels_and_shapes_are_documented() {
    let col = Column::new("a", ColType::Str, "/x/id", "doc")
        .or(&["/y"])
        .none_zero();
    let doc = columns_document("r", std::slice::from_ref(&col));
    assert_eq!(doc["columns"][0]["source"], "/x/id");
    assert_eq!(doc["columns"][0]["alternatives"], serde_json::json!(["/y"]));
    assert_eq!(
        doc["columns"][0]["none_sentinel"],
        serde_json::json!([0, "0"])
    );
    let plain = columns_document("r", &[Column::new("b", ColType::Str, "/b", "")]);
    assert!(plain["columns"][0].get("alternatives").is_none());
    assert!(plain["columns"][0].get("none_sentinel").is_none());
}

#[test]
fn an_object_read_into_by_another_pointer_is_not_a_misfit() {
    let cols = [Column::new("state", ColType::Str, "/s/category", "").or(&["/s"])];
    let records = [
        serde_json::json!({"id": "1", "s": "open"}),
        serde_json::json!({"id": "2", "s": {"category": "closed"}}),
        serde_json::json!({"id": "3", "s": {"category": null}}),
        serde_json::json!({"id": "4", "s": [1]}),
    ];
    let meta = RowMeta::default();
    let mut encoder = RecordBatchBuilder::new(&cols, false);
    encoder.append(&records, &meta);
    let batch = encoder.flush().expect("flush").expect("batch");
    let a = batch
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("str");
    assert_eq!(a.value(0), "open");
    assert_eq!(a.value(1), "closed");
    assert!(a.is_null(2) && a.is_null(3));
    assert_eq!(meta.anomalies.count(AnomalyKind::UnexpectedShape), 1);
    assert_eq!(meta.anomalies.entries()[0].2.samples, ["4"]);
}

/// #13: an inline list cut short of its `total_count` with
/// `has_more: false` (11 of 14 tags) says there is more; so does
/// `has_more: true`; a complete list does not. Both writers agree.
#[test]
fn has_more_is_also_true_for_a_list_cut_short_of_its_total() {
    let cols = [Column::new("tags_has_more", ColType::Bool, "/tags/has_more", "").or_short("data")];
    let tags = |n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| serde_json::json!({"type": "tag", "id": i.to_string()}))
            .collect()
    };
    let records = [
        serde_json::json!({"id": "cut", "tags": {"data": tags(11), "total_count": 14, "has_more": false}}),
        serde_json::json!({"id": "said", "tags": {"data": tags(1), "total_count": 12, "has_more": true}}),
        serde_json::json!({"id": "whole", "tags": {"data": tags(3), "total_count": 3, "has_more": false}}),
        serde_json::json!({"id": "no-total", "tags": {"data": tags(2), "has_more": false}}),
        serde_json::json!({"id": "absent"}),
        serde_json::json!({"id": "text", "tags": {"data": [], "total_count": "2", "has_more": null}}),
    ];
    let want = [
        Some(true),
        Some(true),
        Some(false),
        Some(false),
        None,
        Some(true),
    ];
    let meta = RowMeta::default();
    let mut encoder = RecordBatchBuilder::new(&cols, false);
    encoder.append(&records, &meta);
    let batch = encoder.flush().expect("flush").expect("batch");
    let a = batch
        .column(0)
        .as_any()
        .downcast_ref::<arrow_array::BooleanArray>()
        .expect("bool");
    let got: Vec<Option<bool>> = (0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i)))
        .collect();
    assert_eq!(got, want);
    // Read from another form than the field itself: counted, with samples.
    assert_eq!(meta.anomalies.count(AnomalyKind::InterpretedValue), 2);
    assert_eq!(meta.anomalies.entries()[0].2.samples, ["cut", "text"]);
    // The row-view writer (arrow_json reference) gives the same values.
    for (record, want) in records.iter().zip(want) {
        let view = RowView {
            columns: &cols,
            record,
            meta: &meta,
            csv: false,
        };
        let row = serde_json::to_value(&view).expect("row");
        assert_eq!(row["tags_has_more"].as_bool(), want, "{record}");
    }
}
