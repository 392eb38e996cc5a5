//! Syncing the selected streams: SCHEMA, RECORD and STATE messages on stdout.
//!
//! Per stream: a SCHEMA message (the columns of this run, custom attributes
//! included, less the fields the catalog deselected), then the report's
//! extractor from the stream's bookmark, its rows encoded by the Parquet
//! path's [`RecordBatchBuilder`] into Arrow record batches and written one RECORD
//! message per row (`arrow_json`, explicit nulls), a STATE message after
//! every checkpoint of a search-based report (the rows before it are
//! written first), and one at the end of the stream with its new cursor.
//! A stream that fails keeps its last STATE; the others go on (exit 4);
//! a rejected token ends the run (exit 3).

use std::io::Write;
use std::path::PathBuf;

use arrow_array::RecordBatch;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::anomalies::{Anomalies, AnomalyKind};
use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::http::IntercomClient;
use crate::output::schema::{Column, RecordBatchBuilder, RowMeta, all_columns};
use crate::reports::{self, ExtractOptions, ReportName, WriterMsg, keys};
use crate::state::{StateStore, format_utc, unix_now};

use super::catalog::{Selected, Selection, column_schema};
use super::config::TapConfig;
use super::state::{Bookmark, SingerState};

/// Rows encoded into one Arrow batch before they are written as RECORDs.
const BATCH_ROWS: usize = 1000;

/// Pages in flight between an extractor and the RECORD writer.
const CHANNEL_PAGES: usize = 4;

/// What a tap run needs besides its config: the API client and a
/// temporary state store for the custom-attribute column names (removed
/// when the session ends).
pub struct Session {
    /// The API client of the run (token, base URL, version, pacing).
    pub client: IntercomClient,
    store: StateStore,
    dir: PathBuf,
    config: TapConfig,
}

impl Session {
    /// Build the client and open the temporary store.
    pub async fn open(config: &TapConfig) -> Result<Self> {
        let client = IntercomClient::new(config.settings.client_config(config.token.clone()))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "intercom-export-tap-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| {
            Error::Config(format!(
                "cannot create a temporary directory {} ({e}); set TMPDIR to a writable directory",
                dir.display()
            ))
        })?;
        let store = match StateStore::open(&dir.join("columns.db")).await {
            Ok(s) => s,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        Ok(Self {
            client,
            store,
            dir,
            config: config.clone(),
        })
    }

    /// The columns a report's records have in this run.
    pub async fn columns(&self, report: ReportName) -> Result<Vec<Column>> {
        let options = self.options(report);
        reports::columns(report, &options, &self.client, &self.store).await
    }

    fn options(&self, report: ReportName) -> reports::ReportOptions {
        self.config
            .settings
            .report_options
            .get(&report)
            .cloned()
            .unwrap_or_default()
    }

    /// Close the store and remove the temporary directory.
    pub async fn close(self) {
        self.store.close().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Writes Singer messages and keeps the STATE they carry.
pub struct Emitter {
    out: Box<dyn Write + Send>,
    /// The STATE as of the last message written.
    pub state: SingerState,
    /// `time_extracted` of every RECORD: when the run started (RFC 3339).
    time_extracted: String,
    /// A write to stdout failed (the target exited): nothing more can be sent.
    broken: bool,
}

impl Emitter {
    /// Messages go to `out`, starting from the given STATE.
    pub fn new(out: Box<dyn Write + Send>, state: SingerState, started_at: i64) -> Self {
        Self {
            out,
            state,
            time_extracted: rfc3339(started_at),
            broken: false,
        }
    }

    /// Whether a write failed: the reader of stdout is gone.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    fn broken(&mut self, e: std::io::Error) -> Error {
        self.broken = true;
        Error::Internal(format!(
            "writing to stdout: {e} (the Singer target reading it stopped; see its output)"
        ))
    }

    fn line(&mut self, message: &Value) -> Result<()> {
        let written = serde_json::to_writer(&mut self.out, message).map_err(std::io::Error::from);
        written
            .and_then(|()| self.out.write_all(b"\n"))
            .map_err(|e| self.broken(e))
    }

    /// A SCHEMA message.
    pub fn schema(
        &mut self,
        stream: &str,
        schema: Value,
        key_properties: &[&str],
        replication_key: &str,
    ) -> Result<()> {
        self.line(&json!({
            "type": "SCHEMA",
            "stream": stream,
            "schema": schema,
            "key_properties": key_properties,
            "bookmark_properties": [replication_key],
        }))
    }

    /// One RECORD message per row of `batch` (values as `arrow_json` writes
    /// the Parquet values: RFC 3339 timestamps, lists as arrays, nulls
    /// explicit).
    pub fn records(&mut self, stream: &str, batch: &RecordBatch) -> Result<()> {
        let mut buf = Vec::with_capacity(batch.num_rows() * 512);
        {
            let mut writer = arrow_json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow_json::writer::LineDelimited>(&mut buf);
            writer
                .write(batch)
                .and_then(|()| writer.finish())
                .map_err(|e| Error::Internal(format!("encoding {stream} records: {e}")))?;
        }
        let head = format!("{{\"type\":\"RECORD\",\"stream\":\"{stream}\",\"record\":");
        let tail = format!(",\"time_extracted\":\"{}\"}}\n", self.time_extracted);
        for row in buf.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let written = self
                .out
                .write_all(head.as_bytes())
                .and_then(|()| self.out.write_all(row))
                .and_then(|()| self.out.write_all(tail.as_bytes()));
            written.map_err(|e| self.broken(e))?;
        }
        Ok(())
    }

    /// A STATE message with the current bookmarks, flushed (the target may
    /// commit what came before it).
    pub fn emit_state(&mut self) -> Result<()> {
        let value = serde_json::to_value(&self.state)
            .map_err(|e| Error::Internal(format!("encoding the state: {e}")))?;
        self.line(&json!({"type": "STATE", "value": value}))?;
        self.out.flush().map_err(|e| self.broken(e))
    }
}

/// `2026-05-31T23:16:54Z` for unix seconds.
fn rfc3339(secs: i64) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .unwrap_or_else(|_| secs.to_string())
}

/// How one stream ended.
#[derive(Debug, Default)]
struct StreamOutcome {
    rows: u64,
    failed_items: usize,
}

/// Sync the selected streams, writing Singer messages to `out`, from the
/// STATE `given`. The exit status: 0, or 4 when a stream (or, unless
/// `skip_failed`, an item) failed.
pub async fn sync(
    config: &TapConfig,
    selection: &Selection,
    given: SingerState,
    out: impl Write + Send + 'static,
) -> Result<ExitStatus> {
    let reports: Vec<ReportName> = selection.streams.iter().map(|s| s.report).collect();
    config.validate_streams(&reports)?;
    if reports.is_empty() {
        tracing::warn!(
            "the catalog selects no stream: nothing to sync (set \"selected\": true in a \
             stream's metadata entry with an empty breadcrumb)"
        );
    }
    let session = Session::open(config).await?;
    let started_at = unix_now();
    let meta = RowMeta {
        run_id: format!("{}-tap", format_utc(started_at)),
        extracted_at: started_at,
        ..RowMeta::default()
    };
    let mut emitter = Emitter::new(Box::new(out), given, started_at);
    let mut status = ExitStatus::Success;
    for selected in &selection.streams {
        let report = selected.report;
        let anomalies = Anomalies::default();
        let (back, result) =
            sync_stream(&session, config, selected, &meta, &anomalies, emitter).await;
        anomalies.warn(report.as_str());
        let Some(back) = back else {
            session.close().await;
            return Err(result
                .err()
                .unwrap_or_else(|| Error::Internal("the RECORD writer stopped".into())));
        };
        emitter = back;
        match result {
            Ok(done) => {
                tracing::info!(stream = %report, rows = done.rows, failed = done.failed_items, "stream done");
                if done.failed_items > 0 && !config.skip_failed {
                    status = ExitStatus::Partial;
                }
            }
            // No other stream would succeed either.
            Err(e) if e.is_unauthorized() || emitter.is_broken() => {
                session.close().await;
                return Err(e);
            }
            Err(e) => {
                tracing::error!(stream = %report, error = %e, "stream failed; its bookmark stays at its last STATE");
                status = ExitStatus::Partial;
            }
        }
    }
    session.close().await;
    Ok(status)
}

/// Sync one stream. Gives the emitter back (`None` only if its thread
/// panicked).
async fn sync_stream(
    session: &Session,
    config: &TapConfig,
    selected: &Selected,
    meta: &RowMeta,
    anomalies: &Anomalies,
    mut emitter: Emitter,
) -> (Option<Emitter>, Result<StreamOutcome>) {
    let report = selected.report;
    if !report.offered_by(&config.settings.intercom_version) {
        tracing::warn!(
            stream = %report,
            "stream {report} skipped: it needs Intercom-Version {} or later and intercom_version is {}",
            report.min_version().unwrap_or("?"),
            config.settings.intercom_version
        );
        return (Some(emitter), Ok(StreamOutcome::default()));
    }
    let options = session.options(report);
    let param_key = options.param_key(report.options());
    let previous = emitter
        .state
        .bookmarks
        .get(report.as_str())
        .filter(|b| b.param_key == param_key)
        .cloned()
        .unwrap_or_default();
    let cursor = previous
        .cursor
        .clone()
        .or_else(|| start_cursor(report, config.start_date));
    let columns = match session.columns(report).await {
        Ok(c) => c,
        Err(e) => return (Some(emitter), Err(e)),
    };
    let k = keys::keys(report);
    let kept: Vec<usize> = all_columns(&columns)
        .enumerate()
        .filter(|(_, c)| !selected.deselected.contains(c.name.as_ref()))
        .map(|(i, _)| i)
        .collect();
    let properties: serde_json::Map<String, Value> = all_columns(&columns)
        .filter(|c| !selected.deselected.contains(c.name.as_ref()))
        .map(|c| (c.name.to_string(), column_schema(c)))
        .collect();
    let schema = json!({"type": "object", "additionalProperties": false, "properties": properties});
    if let Err(e) = emitter.schema(
        report.as_str(),
        schema,
        super::catalog::key_properties(report),
        k.version_column,
    ) {
        return (Some(emitter), Err(e));
    }

    let (tx, mut rx) = mpsc::channel::<WriterMsg>(CHANNEL_PAGES);
    let meta = RowMeta {
        run_id: meta.run_id.clone(),
        extracted_at: meta.extracted_at,
        anomalies: anomalies.clone(),
        ..RowMeta::default()
    };
    let stream = report.as_str();
    let bookmark = Bookmark {
        param_key: param_key.clone(),
        ..previous.clone()
    };
    let writing = tokio::task::spawn_blocking(move || {
        let mut encoder = RecordBatchBuilder::new(&columns, false);
        let emit = |encoder: &mut RecordBatchBuilder, emitter: &mut Emitter| -> Result<()> {
            if let Some(batch) = encoder
                .flush()
                .map_err(|e| Error::Internal(format!("encoding {stream} rows: {e}")))?
            {
                let batch = batch
                    .project(&kept)
                    .map_err(|e| Error::Internal(format!("selecting {stream} fields: {e}")))?;
                emitter.records(stream, &batch)?;
            }
            Ok(())
        };
        let mut rows = 0u64;
        let result = (|| -> Result<()> {
            while let Some(msg) = rx.blocking_recv() {
                match msg {
                    WriterMsg::Rows(records) => {
                        rows += records.len() as u64;
                        encoder.append(&records, &meta);
                        if encoder.len() >= BATCH_ROWS {
                            emit(&mut encoder, &mut emitter)?;
                        }
                    }
                    WriterMsg::Checkpoint(point) => {
                        emit(&mut encoder, &mut emitter)?;
                        // The items failed since the last checkpoint are
                        // retried by the next run; recovered ones are done.
                        let current = emitter
                            .state
                            .bookmarks
                            .get(stream)
                            .map_or_else(|| bookmark.retry.clone(), |b| b.retry.clone());
                        let mut retry: Vec<String> = current
                            .into_iter()
                            .filter(|id| !point.recovered.contains(id))
                            .collect();
                        for item in point.failed {
                            if !retry.contains(&item.id) {
                                retry.push(item.id);
                            }
                        }
                        emitter.state.bookmarks.insert(
                            stream.to_string(),
                            Bookmark {
                                cursor: Some(point.cursor),
                                retry,
                                ..bookmark.clone()
                            },
                        );
                        emitter.emit_state()?;
                    }
                }
            }
            emit(&mut encoder, &mut emitter)
        })();
        (emitter, rows, meta.misfits.get(), result)
    });
    let extract_options = ExtractOptions {
        per_page: config.settings.page_size,
        concurrency: config.settings.concurrency,
        lookback_secs: config.settings.lookback_secs,
        checkpoint_every: config.settings.checkpoint_every,
        progress: Default::default(),
        anomalies: anomalies.clone(),
        // Each stream reads the companies itself (no run-wide spool here).
        companies: Default::default(),
        lists: Default::default(),
        conversations: Default::default(),
        searches: Default::default(),
    };
    let extracted = reports::extract(
        report,
        &options,
        &session.client,
        &extract_options,
        cursor.as_deref(),
        &previous.retry,
        tx,
    )
    .await;
    let (mut emitter, rows, misfits, written) = match writing.await {
        Ok(x) => x,
        Err(e) => {
            return (
                None,
                Err(Error::Internal(format!(
                    "the {report} RECORD writer panicked: {e}"
                ))),
            );
        }
    };
    if misfits > 0 {
        anomalies.record_n(
            AnomalyKind::UnexpectedShape,
            "custom attributes (not of their declared type; raw values in custom_attributes_json)",
            misfits,
            None,
        );
    }
    // The writer's failure is the root cause of an extractor's "writer stopped".
    let extracted = match (extracted, written) {
        (Ok(x), Ok(())) => x,
        (_, Err(e)) | (Err(e), Ok(())) => return (Some(emitter), Err(e)),
    };
    emitter.state.bookmarks.insert(
        stream.to_string(),
        Bookmark {
            cursor: extracted.cursor.or(cursor),
            param_key,
            retry: extracted.failed.iter().map(|f| f.id.clone()).collect(),
        },
    );
    for f in &extracted.failed {
        tracing::debug!(stream, id = %f.id, error = %f.error, "item failed; retried next run");
    }
    if !extracted.failed.is_empty() {
        tracing::warn!(
            stream,
            count = extracted.failed.len(),
            sample = %extracted.failed[0].id,
            "items failed after retries; they are kept in the STATE and fetched first next run"
        );
    }
    let result = emitter.emit_state().map(|()| StreamOutcome {
        rows,
        failed_items: extracted.failed.len(),
    });
    (Some(emitter), result)
}

/// The cursor a stream without a bookmark starts from: records updated at
/// or after `start_date` (the search cursor's saved form, as the state
/// store keeps it). Snapshot reports have no date cursor: always whole.
fn start_cursor(report: ReportName, start_date: Option<i64>) -> Option<String> {
    let start = start_date?;
    let options = reports::ReportOptions::default();
    if matches!(
        (report.spec().plan)(&options),
        Ok(reports::spec::Plan::Snapshot(_))
    ) {
        return None;
    }
    Some(json!({"updated_at": start - 1, "ids_at": []}).to_string())
}
