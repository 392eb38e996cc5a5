//! Tests of the report writer: parts roll over, checkpoints take waiting
//! rows, values are counted once across formats.

use super::*;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use schema::{ColType, Column};
use serde_json::Value;

static COLS: &[Column] = &[
    Column::new("id", ColType::Str, "/id", ""),
    Column::new("n", ColType::Int, "/n", ""),
];

#[test]
fn take_files_hands_over_rows_still_waiting_in_the_encoders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = WriterConfig {
        output_dir: dir.path().to_path_buf(),
        report: "things".into(),
        run_key: "run-1".into(),
        formats: vec![Format::Parquet],
        rows_per_file: 1000,
        extracted_at: 0,
        anomalies: Default::default(),
        row_groups: Default::default(),
    };
    let mut w = ReportWriter::new(config, COLS.to_vec()).expect("writer");
    let records: Vec<Value> = (0..3)
        .map(|i| serde_json::json!({"id": format!("x{i}"), "n": i}))
        .collect();
    w.write(&records[..2]).expect("write");
    let first = w.take_files().expect("checkpoint");
    assert_eq!(first.iter().map(|f| f.rows).collect::<Vec<_>>(), [2]);
    assert!(dir.path().join(&first[0].relative_path).exists());
    w.write(&records[2..]).expect("write");
    w.finish().expect("finish");
    assert_eq!(w.files().iter().map(|f| f.rows).collect::<Vec<_>>(), [1]);
}

#[test]
fn values_are_counted_once_whatever_the_number_of_formats() {
    static TS: &[Column] = &[
        Column::new("id", ColType::Str, "/id", ""),
        Column::new("at", ColType::Timestamp, "/at", ""),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let anomalies = crate::anomalies::Anomalies::default();
    let config = WriterConfig {
        output_dir: dir.path().to_path_buf(),
        report: "things".into(),
        run_key: "run-1".into(),
        formats: vec![Format::Parquet, Format::Csv],
        rows_per_file: 1000,
        extracted_at: 0,
        anomalies: anomalies.clone(),
        row_groups: Default::default(),
    };
    let mut w = ReportWriter::new(config, TS.to_vec()).expect("writer");
    // Milliseconds: read, and counted as an interpreted value.
    w.write(&[serde_json::json!({"id": "x", "at": 1_467_133_937_045_i64})])
        .expect("write");
    w.finish().expect("finish");
    assert_eq!(
        anomalies.count(crate::anomalies::AnomalyKind::InterpretedValue),
        1
    );
}

#[test]
fn rolls_parts_and_leaves_no_temporary_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = WriterConfig {
        output_dir: dir.path().to_path_buf(),
        report: "things".into(),
        run_key: "run-1".into(),
        formats: vec![Format::Parquet, Format::Csv],
        rows_per_file: 4,
        extracted_at: 0,
        anomalies: Default::default(),
        row_groups: Default::default(),
    };
    let mut w = ReportWriter::new(config, COLS.to_vec()).expect("writer");
    let records: Vec<Value> = (0..10)
        .map(|i| serde_json::json!({"id": format!("x{i}"), "n": i}))
        .collect();
    w.write(&records[..3]).expect("write");
    w.write(&records[3..]).expect("write");
    w.finish().expect("finish");
    let files = w.files().to_vec();
    let parquet: Vec<_> = files
        .iter()
        .filter(|f| f.format == Format::Parquet)
        .collect();
    assert_eq!(
        parquet.iter().map(|f| f.rows).collect::<Vec<_>>(),
        [4, 4, 2]
    );
    assert_eq!(files.len(), 6);
    let mut total = 0;
    for f in &parquet {
        let file = File::open(dir.path().join(&f.relative_path)).expect("open");
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .expect("parquet")
            .build()
            .expect("reader");
        total += reader.map(|b| b.expect("batch").num_rows()).sum::<usize>();
    }
    assert_eq!(total, 10);
    let leftovers: Vec<_> = fs::read_dir(dir.path().join("things/run-1"))
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
    let csv = fs::read_to_string(dir.path().join("things/run-1/part-00000.csv")).expect("csv");
    assert_eq!(csv.lines().next(), Some("id,n,_run_id,_extracted_at"));
}

#[test]
fn a_lazy_writer_asks_for_its_columns_on_its_first_rows_only() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let dir = tempfile::tempdir().expect("tempdir");
    let config = WriterConfig {
        output_dir: dir.path().to_path_buf(),
        report: "things".into(),
        run_key: "run-1".into(),
        formats: vec![Format::Parquet, Format::Csv],
        rows_per_file: 1000,
        extracted_at: 0,
        anomalies: Default::default(),
        row_groups: Default::default(),
    };
    let asked = Arc::new(AtomicUsize::new(0));
    let lazy = |asked: &Arc<AtomicUsize>| -> ColumnsOnDemand {
        let asked = asked.clone();
        Box::new(move || {
            asked.fetch_add(1, Ordering::SeqCst);
            Ok(COLS.to_vec())
        })
    };
    // No rows (empty pages, a checkpoint, the end): never asked, no file.
    let mut w = ReportWriter::lazy(config.clone(), lazy(&asked));
    w.write(&[]).expect("empty page");
    assert!(w.take_files().expect("checkpoint").is_empty());
    w.finish().expect("finish");
    assert_eq!(asked.load(Ordering::SeqCst), 0);
    assert!(w.files().is_empty() && !w.run_dir().exists());
    // Rows: asked once, and the files have its columns.
    let mut w = ReportWriter::lazy(config, lazy(&asked));
    for i in 0..3 {
        w.write(&[serde_json::json!({"id": format!("x{i}"), "n": i})])
            .expect("write");
    }
    w.finish().expect("finish");
    assert_eq!(asked.load(Ordering::SeqCst), 1);
    let csv = w
        .files()
        .iter()
        .find(|f| f.format == Format::Csv)
        .expect("csv part");
    let text = std::fs::read_to_string(dir.path().join(&csv.relative_path)).expect("csv");
    assert!(text.starts_with("id,n,"), "{text}");
    assert_eq!(text.lines().count(), 4, "{text}");
}

/// `rows` records of one 200-character string each, of 64 symbols drawn
/// at random: text that neither dictionary encoding nor zstd shrinks much,
/// so a row group's bytes grow with its rows.
fn random_rows(rows: usize) -> Vec<Value> {
    const SYMBOLS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..rows)
        .map(|i| {
            let text: String = (0..200)
                .map(|_| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    SYMBOLS[(state >> 58) as usize] as char
                })
                .collect();
            serde_json::json!({"id": text, "n": i})
        })
        .collect()
}

/// Write `records` as one Parquet part with `row_groups` as the writer's
/// budget; the compressed size of each of its row groups, and its rows.
fn row_group_sizes(records: &[Value], row_groups: budget::RowGroupBudget) -> (Vec<i64>, i64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = WriterConfig {
        output_dir: dir.path().to_path_buf(),
        report: "things".into(),
        run_key: "run-1".into(),
        formats: vec![Format::Parquet],
        rows_per_file: 1_000_000,
        extracted_at: 0,
        anomalies: Default::default(),
        row_groups,
    };
    let mut w = ReportWriter::new(config, COLS.to_vec()).expect("writer");
    for page in records.chunks(150) {
        w.write(page).expect("write");
    }
    w.finish().expect("finish");
    let [part] = w.files() else {
        panic!("one part expected: {:?}", w.files());
    };
    let file = File::open(dir.path().join(&part.relative_path)).expect("open");
    let meta = ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet")
        .metadata()
        .clone();
    let sizes = meta
        .row_groups()
        .iter()
        .map(|g| g.compressed_size())
        .collect();
    let rows = meta.row_groups().iter().map(|g| g.num_rows()).sum();
    (sizes, rows)
}

#[test]
fn a_parquet_writer_flushes_its_row_group_at_its_share_of_the_budget() {
    use budget::{MIN_ROW_GROUP_BYTES, ROW_GROUP_BYTES, RowGroupBudget};
    // ~12 MB of text, ~9 MB compressed: more than one writer alone holds.
    let records = random_rows(60_000);
    // A batch of rows goes to the file writer before the bound is checked,
    // so a row group may pass it by one batch (4,096 rows of ~210 bytes).
    let batch = 4096 * 210;
    let check = |sizes: &[i64], bound: usize, who: &str| {
        let (last, full) = sizes.split_last().expect("row groups");
        let total: i64 = sizes.iter().sum();
        assert!(
            full.len() >= total as usize / (bound + batch),
            "{who}: {sizes:?} for {total} bytes at {bound}"
        );
        for size in full {
            let size = *size as usize;
            assert!(
                size > bound / 2 && size <= bound + batch,
                "{who}: a row group of {size} bytes at a bound of {bound}: {sizes:?}"
            );
        }
        assert!(*last as usize <= bound + batch, "{who}: {sizes:?}");
    };

    // Alone: flushed at the ceiling.
    let (alone, rows) = row_group_sizes(&records, RowGroupBudget::default());
    assert_eq!(rows, 60_000);
    assert!(alone.len() >= 2, "{alone:?}");
    check(&alone, ROW_GROUP_BYTES, "alone");

    // Beside three other writers on a budget of the ceiling: a quarter
    // each, at least the floor.
    let shared = RowGroupBudget::new(ROW_GROUP_BYTES);
    let _others: Vec<_> = (0..4).map(|_| shared.join()).collect();
    let share = shared.row_group_bytes();
    assert_eq!(share, (ROW_GROUP_BYTES / 4).max(MIN_ROW_GROUP_BYTES));
    let (sizes, rows) = row_group_sizes(&records, shared);
    assert_eq!(rows, 60_000);
    assert!(sizes.len() > alone.len(), "{sizes:?} against {alone:?}");
    check(&sizes, share, "shared");
}
