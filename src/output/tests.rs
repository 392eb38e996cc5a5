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
