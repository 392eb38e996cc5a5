//! Output file formats, behind one trait: a format opens a part on its
//! `.tmp` file ([`FormatSpec::open`]), takes record batches
//! ([`FormatWriter::write`]) and finishes the file ([`FormatWriter::finish`];
//! [`super::part`] then fsyncs and renames it, the same for every format).
//!
//! Each format is one file: [`parquet`], [`csv`]. Adding one is its file
//! (a [`FormatWriter`] and its `SPEC`), a [`super::Format`] variant (the
//! name in `--format` and the config) and its line in
//! [`super::Format::spec`].

pub(crate) mod csv;
pub(crate) mod parquet;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use super::part::HashingWriter;
use crate::error::Result;

/// One part file of a format being written.
pub(crate) trait FormatWriter: Send {
    /// Append one record batch (of the schema the part was opened with).
    fn write(&mut self, batch: &RecordBatch) -> Result<()>;

    /// Write what the format puts at the end (Parquet's footer) and hand
    /// back the file written to, still under its `.tmp` name.
    fn finish(self: Box<Self>) -> Result<HashingWriter>;
}

/// What the writer knows of a format.
/// Opens a part of one format over `out` (a `.tmp` file that hashes what
/// it is given); `row_groups` is the run's shared Parquet row-group budget
/// (formats without row groups ignore it).
pub(crate) type OpenPart = fn(
    row_groups: crate::output::budget::RowGroupBudget,
    out: HashingWriter,
    schema: SchemaRef,
    report: &str,
) -> Result<Box<dyn FormatWriter>>;

#[derive(Debug)]
pub(crate) struct FormatSpec {
    /// The file name extension of its parts (`part-00000.<extension>`).
    pub(crate) extension: &'static str,
    /// Lists and objects are written as JSON text (a format without nested
    /// types); otherwise as the format's own lists.
    pub(crate) flat: bool,
    /// Open a part on `out` for batches of `schema`; `report` names the
    /// report in errors (see [`OpenPart`]).
    pub(crate) open: OpenPart,
}
