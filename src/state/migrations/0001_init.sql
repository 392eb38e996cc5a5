-- Runs of the exporter: one row per `sync` (or demo) invocation.
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_key     TEXT    NOT NULL UNIQUE,   -- directory name under OUTPUT/<report>/
    mode        TEXT    NOT NULL,          -- sync | backfill | demo
    started_at  INTEGER NOT NULL,          -- unix seconds, local clock
    finished_at INTEGER,
    status      TEXT    NOT NULL           -- running | succeeded | partial | failed
);

-- What each report did in each run.
CREATE TABLE report_runs (
    run_id   INTEGER NOT NULL REFERENCES runs(id),
    report   TEXT    NOT NULL,
    status   TEXT    NOT NULL,             -- succeeded | failed
    rows     INTEGER NOT NULL DEFAULT 0,
    files    INTEGER NOT NULL DEFAULT 0,
    error    TEXT,
    PRIMARY KEY (run_id, report)
);

-- One incremental cursor per report (and per parameter set, for reports
-- that take parameters). The cursor is an opaque JSON document owned by the
-- report's extractor.
CREATE TABLE cursors (
    report     TEXT    NOT NULL,
    param_key  TEXT    NOT NULL DEFAULT '',
    cursor     TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (report, param_key)
);

-- Every committed output file. A file under the output directory that no
-- row here names was not committed and may be removed.
CREATE TABLE files (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id       INTEGER NOT NULL REFERENCES runs(id),
    report       TEXT    NOT NULL,
    path         TEXT    NOT NULL UNIQUE,  -- relative to the output directory
    format       TEXT    NOT NULL,
    rows         INTEGER NOT NULL,
    bytes        INTEGER NOT NULL,
    sha256       TEXT    NOT NULL,
    committed_at INTEGER NOT NULL
);

-- Items (e.g. conversations) that could not be downloaded; retried next run.
CREATE TABLE failed_items (
    report          TEXT    NOT NULL,
    item_id         TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    last_error      TEXT    NOT NULL,
    first_failed_at INTEGER NOT NULL,
    PRIMARY KEY (report, item_id)
);
