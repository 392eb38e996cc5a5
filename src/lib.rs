//! # intercom-export
//!
//! Copies an Intercom workspace into Parquet and CSV files for a warehouse,
//! incrementally: each `sync` exports only what changed since the last one.
//!
//! ## Architecture
//!
//! ```text
//!   cli ──▶ config::Settings ──▶ pipeline::sync
//!                                   │ for each report
//!                                   ▼
//!   http::IntercomClient ◀── reports::extract ──mpsc──▶ output::ReportWriter
//!   (auth, version, retries)    (search windows,          (Arrow batches →
//!                                cursor logic)             Parquet / CSV parts)
//!                                   │                             │
//!                                   └──── state::StateStore ◀─────┘
//!                                 (SQLite or shared Postgres: runs, cursors,
//!                                  files — one transaction per finished
//!                                  report and per search-window checkpoint;
//!                                  Postgres: per-report leases)
//! ```
//!
//! - [`anomalies`]: per-report counts of what was neither a success nor a
//!   failed item (skipped children, converted values, scroll restarts, …),
//!   said once per kind with samples, and in the summaries.
//! - [`http`]: the one HTTP client. Base URL by region, bearer token,
//!   `Intercom-Version`, JSON decoding, retries with backoff (`backon`),
//!   pacing by a `governor` limiter sized from `X-RateLimit-Limit` and
//!   corrected by the `X-RateLimit-*` headers (`http::pace`).
//! - [`api`]: response envelopes and the search query builders.
//! - [`reports`]: one module per report: its columns and its extractor.
//!   Extractors stream pages of raw API records and compute the next cursor;
//!   `reports::search` reads time windows, `reports::fanout` runs per-item
//!   fetches with bounded concurrency.
//! - [`output`]: declarative columns → typed Arrow builders (`BatchEncoder`)
//!   → Parquet (zstd) and CSV, written to temporary names, fsynced, renamed.
//! - [`state`]: the state (sqlx `Any`, embedded migrations): a SQLite file,
//!   or a Postgres database shared by several workers, which lease reports
//!   (`state::lease`) and take over a dead worker's.
//! - [`pipeline`]: wires one run together (sync or backfill); a cursor only
//!   moves after its files are durable.
//! - [`lock`]: one process per SQLite state (flock; exit code 5 when held).
//! - [`shutdown`]: SIGTERM/SIGINT end a run between reports, cleanly.
//! - [`testpoint`]: debug-build-only pause points the crash tests kill at.
//! - [`simulator`]: a deterministic Intercom API (axum) with a movable clock,
//!   used by the tests, the benchmarks and `intercom-export demo`.
//!
//! Output layout: `OUTPUT/<report>/<run-key>/part-NNNNN.parquet` (and
//! `.csv`), `OUTPUT/<workspace>/<report>/...` for `[[workspace]]` configs;
//! OUTPUT is a directory or an object-store URL (`output::object`: parts are
//! staged locally and uploaded before the commit). Timestamps are
//! `Timestamp(Microsecond, "UTC")`, ids are strings.

pub mod anomalies;
pub mod api;
pub mod cli;
pub mod config;
pub mod error;
pub mod http;
pub mod lock;
pub mod output;
pub(crate) mod pipeline;
pub mod reports;
pub mod secret;
pub mod shutdown;
pub mod simulator;
pub mod state;
pub mod telemetry;
pub mod testpoint;
pub mod time;

pub use error::{Error, ErrorKind, Result};

#[cfg(test)]
mod arch_tests;
