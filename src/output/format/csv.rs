//! CSV parts: a header row, timestamps in RFC 3339 UTC
//! (`2026-05-31T23:16:54Z`), lists and objects as JSON text.

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use super::{FormatSpec, FormatWriter};
use crate::error::Result;
use crate::output::encode_error;
use crate::output::part::HashingWriter;

/// `--format csv`.
pub(crate) static SPEC: FormatSpec = FormatSpec {
    extension: "csv",
    flat: true,
    open,
};

/// A CSV part being written.
struct CsvPart {
    writer: arrow_csv::Writer<HashingWriter>,
    report: String,
}

fn open(
    _row_groups: crate::output::budget::RowGroupBudget,
    out: HashingWriter,
    _schema: SchemaRef,
    report: &str,
) -> Result<Box<dyn FormatWriter>> {
    let writer = arrow_csv::WriterBuilder::new()
        .with_header(true)
        .with_timestamp_tz_format("%Y-%m-%dT%H:%M:%S%.fZ".to_string())
        .build(out);
    Ok(Box::new(CsvPart {
        writer,
        report: report.to_string(),
    }))
}

impl FormatWriter for CsvPart {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer
            .write(batch)
            .map_err(|e| encode_error(&self.report, e))
    }

    fn finish(self: Box<Self>) -> Result<HashingWriter> {
        Ok(self.writer.into_inner())
    }
}
