//! # intercom-export
//!
//! Copies an Intercom workspace into Parquet and CSV files for a warehouse,
//! incrementally: each `sync` exports only what changed since the last one.
//!
//! ## Architecture
//!
//! One straight line, and imports go down it only (a test,
//! `arch_tests`, fails on an import cycle among these modules):
//!
//! ```text
//!   main ──▶ cli ──▶ config (file → env → flags → Settings)
//!             │
//!             └──▶ cli::run::run_workspace (the composition root: Settings →
//!                  state lock, destination, StateStore, IntercomClient, SyncPlan)
//!                    │
//!                    ▼
//!                  pipeline::sync / backfill: reports side by side, each
//!                  lease → export → outcome
//!                    │
//!                    ▼ pipeline::export (one export, a straight line)
//!   http::IntercomClient ◀── reports::extract ──mpsc<WriterMsg>──▶ output::ReportWriter
//!   (auth, version, retries,    (on extract::search,          (blocking thread:
//!    pacing)                     fanout, list; a ReportSpec's  Parquet / CSV parts)
//!                                plan says which)
//!                                                                 │ durable files
//!                                                                 ▼
//!                              pipeline::commit::Committer (async): publish to
//!                              the object store, then one StateStore::commit
//!                              (files + cursor, or a backfill window) per
//!                              checkpoint and at the end
//! ```
//!
//! Import direction: `cli → config, pipeline`; `pipeline → reports, output,
//! state, http`; `reports → api, http, output::schema, state` (types and the
//! custom-column cache); `output → error`; `state → output` (the
//! `WrittenFile` it records), `lock`, `time`, and nothing above it;
//! `simulator` → nothing of the exporter.
//!
//! ## Glossary
//!
//! - **report**: one output table (`companies`, `conversation_parts`, …):
//!   its columns and how its rows are read ([`reports`]). The three company
//!   reports of a run share one companies scroll
//!   ([`extract::company_scroll`]), and the reports that read conversation
//!   details (`conversation_parts`, `lifecycle_events`,
//!   `part_attachments`: the run's *consumers* of them) one
//!   `GET /conversations/{id}` per changed conversation
//!   ([`extract::shared_conversations`]); every report that reads the
//!   conversation or ticket search gets each search page once per run
//!   ([`extract::shared_search`]).
//! - **run**: one `sync` or `backfill` of some reports (`runs` in the state);
//!   its key (`20261122T015000Z-000042`) names the directory of its files.
//! - **cursor**: where a report's next incremental export starts (opaque
//!   JSON kept per report and option set; moves only with committed files).
//! - **checkpoint**: a commit in the middle of a report's export (after a
//!   completed search window): the files so far with the cursor covering
//!   them, so an interrupted sync resumes there.
//! - **window**: a time range read as one unit: a search window of a
//!   report, or a backfill window (`[start, end)`, committed once).
//! - **part**: one output file, `part-NNNNN.parquet` (and `.csv`), at most
//!   `rows_per_file` rows; written to a temporary name, fsynced, renamed.
//!
//! ## Modules
//!
//! - [`anomalies`]: per-report counts of what was neither a success nor a
//!   failed item (skipped children, converted values, scroll restarts, …),
//!   said once per kind with samples, and in the summaries.
//! - [`http`]: the one HTTP client. Base URL by region, bearer token,
//!   `Intercom-Version`, JSON decoding, retries with backoff (`backon`),
//!   pacing by a `governor` limiter sized from `X-RateLimit-Limit` and
//!   corrected by the `X-RateLimit-*` headers (`http::pace`), and as many
//!   calls in flight as the allowed rate × the measured latency needs, up
//!   to `concurrency` (`http::inflight`).
//! - [`api`]: response envelopes and the search query builders.
//! - [`reports`]: one module per report: its columns, its `ReportSpec`
//!   (what it reads: a plan) and its extractor; `reports::ALL` is the
//!   registry. Extractors stream pages of raw API records and compute the
//!   next cursor, on the engine in [`extract`].
//! - [`extract`]: how records are read, for every report: `extract::search`
//!   reads time windows, several at once in window order
//!   (`extract::windows_parallel`; lookback, checkpoints), `extract::fanout` runs
//!   per-item requests under one failure rule (`Error::scope`) with
//!   checkpoints at the parent search's windows, `extract::list` pages
//!   page-numbered and `pages.next` listings.
//! - [`output`]: declarative columns → typed Arrow builders (`RecordBatchBuilder`)
//!   → one `FormatWriter` per format (Parquet with zstd, CSV), written to
//!   temporary names, fsynced, renamed, then published to a
//!   [`output::Destination`] (a local directory or an object store).
//! - [`state`]: the state (sqlx `Any`, embedded migrations): a SQLite file,
//!   or a Postgres database shared by several workers, which lease reports
//!   (`state::lease`) and take over a dead worker's.
//! - `pipeline`: runs one run (sync or backfill): `export` (extractor →
//!   channel → writer), `commit` (the one async committer), `outcome` (the
//!   run summary); a cursor only moves after its files are durable.
//! - `cli`: clap types and dispatch (`cli/mod.rs`), the composition root
//!   (`cli/run.rs`), `check`, the summaries and exit status, `state`,
//!   `demo`/`simulate`/`schemas`/`reports`.
//! - [`config`]: the TOML file, the environment and flags → `Settings`.
//! - `lock`: one process per SQLite state (flock; exit code 5 when held).
//! - `time`: unix seconds now and the compact UTC form of run keys.
//! - [`shutdown`]: SIGTERM/SIGINT stop the running reports at their last
//!   checkpoint and start no other, cleanly.
//! - [`failpoint`]: debug-build-only pause points the crash tests kill at.
//! - [`tap`]: `intercom-export tap`, a Singer tap (catalog, SCHEMA/RECORD/
//!   STATE messages) on the same extract → Arrow path as the files.
//! - [`metrics`]: Prometheus `/metrics` and `/healthz` for `schedule`.
//! - [`simulator`]: a deterministic Intercom API (axum) with a movable clock,
//!   used by the tests, the benchmarks and `intercom-export demo`.
//!
//! ## Adding a report
//!
//! A report is one declaration: in its file under `src/reports/`, its
//! columns (one line each) and a `pub static` [`reports::ReportSpec`] (name,
//! description, columns, options, keys, the [`reports::Probe`]s `check`
//! sends, and a [`reports::Plan`]: `Search`, `List`, `Scroll`, `Snapshot`
//! or `FanOut`, built from the report's options). Then one line in
//! [`reports::ALL`], and `intercom-export schemas --write` for its
//! `schemas/<name>.json`. The registry tests (`tests/it/registry.rs`) fail
//! for a report that lacks columns, probes, a plan or a schema; nothing
//! else names reports: extraction dispatches on the plan's kind, `check`
//! sends the declared probes.
//!
//! Output layout: `OUTPUT/<report>/<run-key>/part-NNNNN.parquet` (and
//! `.csv`), `OUTPUT/<workspace>/<report>/...` for `[[workspace]]` configs;
//! OUTPUT is a directory or an object-store URL ([`output::Destination`]:
//! parts of an object store are staged locally and uploaded before the
//! commit). Timestamps are `Timestamp(Microsecond, "UTC")`, ids are strings.
//!
//! ## Adding an output format
//!
//! A format is one file under `src/output/format/` (as `parquet.rs` and
//! `csv.rs`): a part writer implementing `output::format::FormatWriter`
//! (take a record batch; finish the file, e.g. write a footer) and its
//! `SPEC` (file extension; whether lists and objects are written as JSON
//! text; how a part is opened on its `.tmp` file). Then a variant of
//! [`output::Format`] (the name in `--format` and in the config) and its
//! line in `Format::spec`. Everything else is shared by every format: the
//! columns and their Arrow types (`output::schema`), the encoders, the
//! `.tmp` name, hashing, fsync and rename (`output::part`), parts rolled
//! every `rows_per_file` rows, checkpoints, the commit and recovery.
//! Document it in README's "Output" section.
//!
//! ## Adding an output destination
//!
//! A destination is one file under `src/output/` (as `object.rs`) and a
//! variant of [`output::Destination`] with its arm in each of its methods:
//! where the writer puts parts locally (`local_dir`), `publish` (make
//! finished parts visible under their final names, atomically per part),
//! `remove` (delete parts no commit will name). The commit protocol is the
//! destination's caller (`pipeline::commit`): a part is published before
//! the state records it, and removed when the commit fails. Recovery of a
//! dead run lists what a destination holds (`state::recovery`: the local
//! directory, or `ObjectOutput::remove_uncommitted`), so a new destination
//! also needs its listing there. `cli/run.rs` picks the destination from
//! the `output` setting.
//!
//! ## Adding a state backend
//!
//! The state goes through sqlx's `Any` driver with the same queries for
//! every backend (`$N` parameters, portable SQL). A backend is: a variant
//! of `state::StateLocation` (`src/state/location.rs`: the URL scheme it
//! parses from `state` / `--state`, with its password hidden in messages),
//! its arm in `StateStore::connect` (pool, and its migrations embedded with
//! `sqlx::migrate!` from its own folder, e.g. `src/state/migrations_pg/`,
//! the same tables as `src/state/migrations/`), the sqlx driver feature in
//! `Cargo.toml`, and whether it is shared by several workers
//! (`StateLocation::is_shared`: leases, `state::lease`, instead of the
//! flock in `lock`). Queries that differ between backends (upserts, time
//! functions) must stay portable or branch on the store's kind (as
//! `state/backfills.rs` does on `shared`); the state
//! tests (`src/state/tests.rs`) and the fleet tests (`tests/it/fleet.rs`,
//! Postgres) show what a backend has to pass.

pub mod allocator;
pub mod anomalies;
pub mod api;
pub mod cli;
pub mod config;
pub mod error;
pub mod exit;
pub mod extract;
pub mod failpoint;
pub mod http;
pub(crate) mod lock;
pub mod metrics;
pub mod output;
pub(crate) mod pipeline;
pub mod reports;
pub mod secret;
pub mod shutdown;
pub mod simulator;
pub mod state;
pub mod tap;
pub mod telemetry;
pub(crate) mod time;

pub use error::{Error, ErrorKind, Result};

#[cfg(test)]
mod arch_tests;
