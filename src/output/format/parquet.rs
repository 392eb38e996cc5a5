//! Parquet parts: zstd (level 3), row groups bounded by the memory their
//! writer holds (its share of the run's budget,
//! [`crate::output::budget::RowGroupBudget`]), small dictionary and data
//! pages.

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::{FormatSpec, FormatWriter};
use crate::error::Result;
use crate::output::budget::RowGroupBudget;
use crate::output::encode_error;
use crate::output::part::HashingWriter;

/// `--format parquet`.
pub(crate) static SPEC: FormatSpec = FormatSpec {
    extension: "parquet",
    flat: false,
    open,
};

/// Per-column limit of a Parquet dictionary page and of a data page.
const PAGE_BYTES: usize = 256 * 1024;

/// A Parquet part being written.
struct ParquetPart {
    writer: ArrowWriter<HashingWriter>,
    report: String,
    /// A row group is flushed once the memory its writer holds (encoded
    /// pages, dictionaries and the page being filled,
    /// `ArrowWriter::memory_size`) passes this writer's share of the run's
    /// budget (at most [`crate::output::budget::ROW_GROUP_BYTES`]). This, not
    /// the report's size, bounds the writer's memory; see the scale run in
    /// `BENCHMARKS.md`.
    row_groups: RowGroupBudget,
}

fn open(
    row_groups: RowGroupBudget,
    out: HashingWriter,
    schema: SchemaRef,
    report: &str,
) -> Result<Box<dyn FormatWriter>> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).map_err(|e| encode_error(report, e))?,
        ))
        .set_created_by(concat!("intercom-export ", env!("CARGO_PKG_VERSION")).into())
        // Each column buffers a dictionary and a data page before
        // encoding; at the 1 MiB defaults a 60-column report held
        // most of its memory there (see `row_groups`).
        .set_dictionary_page_size_limit(PAGE_BYTES)
        .set_data_page_size_limit(PAGE_BYTES)
        .build();
    let writer =
        ArrowWriter::try_new(out, schema, Some(props)).map_err(|e| encode_error(report, e))?;
    Ok(Box::new(ParquetPart {
        writer,
        report: report.to_string(),
        row_groups,
    }))
}

impl FormatWriter for ParquetPart {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let report = &self.report;
        self.writer
            .write(batch)
            .map_err(|e| encode_error(report, e))?;
        if self.writer.memory_size() > self.row_groups.row_group_bytes() {
            self.writer.flush().map_err(|e| encode_error(report, e))?;
            release_freed_memory();
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<HashingWriter> {
        let report = self.report;
        self.writer
            .into_inner()
            .map_err(|e| encode_error(&report, e))
    }
}

/// Hand memory freed by a flushed row group back to the operating system.
/// glibc keeps freed heap pages (here many small buffers, freed on another
/// thread than the one that allocated the records), so without this the
/// process's RSS crept up by row group on long reports.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns unused pages of the allocator's own
    // heap to the kernel; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
