-- The PostgreSQL state: the same tables as the SQLite one after its
-- migrations (src/state/migrations/), plus `leases`, which lets several
-- workers on different machines share one state. Integers are BIGINT (unix
-- seconds, counts) so both backends decode the same Rust types.

CREATE TABLE runs (
    id          BIGSERIAL PRIMARY KEY,
    run_key     TEXT    NOT NULL UNIQUE,   -- directory name under OUTPUT/<report>/
    workspace   TEXT    NOT NULL DEFAULT '',
    mode        TEXT    NOT NULL,          -- sync | backfill | demo | schedule
    started_at  BIGINT  NOT NULL,
    finished_at BIGINT,
    status      TEXT    NOT NULL           -- running | succeeded | partial | failed | interrupted
);

CREATE TABLE report_runs (
    run_id       BIGINT  NOT NULL REFERENCES runs(id),
    report       TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    rows         BIGINT  NOT NULL DEFAULT 0,
    files        BIGINT  NOT NULL DEFAULT 0,
    error        TEXT,
    failed_items BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, report)
);

CREATE TABLE cursors (
    workspace  TEXT    NOT NULL DEFAULT '',
    report     TEXT    NOT NULL,
    param_key  TEXT    NOT NULL DEFAULT '',
    cursor     TEXT    NOT NULL,
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (workspace, report, param_key)
);

CREATE TABLE files (
    id           BIGSERIAL PRIMARY KEY,
    workspace    TEXT    NOT NULL DEFAULT '',
    run_id       BIGINT  NOT NULL REFERENCES runs(id),
    report       TEXT    NOT NULL,
    path         TEXT    NOT NULL,
    format       TEXT    NOT NULL,
    rows         BIGINT  NOT NULL,
    bytes        BIGINT  NOT NULL,
    sha256       TEXT    NOT NULL,
    committed_at BIGINT  NOT NULL,
    UNIQUE (workspace, path)
);

CREATE TABLE failed_items (
    workspace       TEXT    NOT NULL DEFAULT '',
    report          TEXT    NOT NULL,
    item_id         TEXT    NOT NULL,
    attempts        BIGINT  NOT NULL,
    last_error      TEXT    NOT NULL,
    first_failed_at BIGINT  NOT NULL,
    PRIMARY KEY (workspace, report, item_id)
);

CREATE TABLE backfills (
    id              BIGSERIAL PRIMARY KEY,
    workspace       TEXT    NOT NULL DEFAULT '',
    since           BIGINT  NOT NULL,
    until           BIGINT  NOT NULL,
    until_requested BIGINT,
    window_secs     BIGINT  NOT NULL,
    created_at      BIGINT  NOT NULL,
    finished_at     BIGINT
);

CREATE TABLE backfill_windows (
    backfill_id  BIGINT  NOT NULL REFERENCES backfills(id),
    report       TEXT    NOT NULL,
    window_start BIGINT  NOT NULL,
    window_end   BIGINT  NOT NULL,
    rows         BIGINT  NOT NULL,
    run_id       BIGINT  NOT NULL REFERENCES runs(id),
    committed_at BIGINT  NOT NULL,
    PRIMARY KEY (backfill_id, report, window_start)
);

-- Who exports a (workspace, report) now. A worker takes a free or expired
-- lease, renews it (heartbeat) while it works, checks it inside the commit
-- transaction and deletes it when done. `run_id` is the holder's run: a
-- worker that takes over an expired lease cleans up that run's uncommitted
-- files of the report.
CREATE TABLE leases (
    workspace  TEXT    NOT NULL,
    report     TEXT    NOT NULL,
    holder     TEXT    NOT NULL,
    run_id     BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,           -- unix milliseconds
    PRIMARY KEY (workspace, report)
);
