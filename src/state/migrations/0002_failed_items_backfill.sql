-- Items a report could not fetch in a run (also kept in failed_items until recovered).
ALTER TABLE report_runs ADD COLUMN failed_items INTEGER NOT NULL DEFAULT 0;

-- A `backfill --since --until` job. A rerun with the same arguments resumes
-- it; `until` is fixed when the job is first created.
CREATE TABLE backfills (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    since           INTEGER NOT NULL,          -- unix seconds, inclusive
    until           INTEGER NOT NULL,          -- unix seconds, exclusive
    until_requested INTEGER,                   -- NULL when --until was not given
    window_secs     INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    finished_at     INTEGER
);

-- Windows of a backfill already exported and committed, per report. Recorded
-- in the same transaction as the window's files.
CREATE TABLE backfill_windows (
    backfill_id  INTEGER NOT NULL REFERENCES backfills(id),
    report       TEXT    NOT NULL,
    window_start INTEGER NOT NULL,
    window_end   INTEGER NOT NULL,
    rows         INTEGER NOT NULL,
    run_id       INTEGER NOT NULL REFERENCES runs(id),
    committed_at INTEGER NOT NULL,
    PRIMARY KEY (backfill_id, report, window_start)
);
