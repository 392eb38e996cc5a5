-- Several Intercom workspaces can share one state: runs, cursors, files,
-- failed items and backfills are keyed by workspace. '' is the workspace of
-- a config without [[workspace]] blocks, so an older state upgrades in place
-- with everything it holds in ''.
ALTER TABLE runs ADD COLUMN workspace TEXT NOT NULL DEFAULT '';
ALTER TABLE backfills ADD COLUMN workspace TEXT NOT NULL DEFAULT '';

CREATE TABLE cursors_new (
    workspace  TEXT    NOT NULL DEFAULT '',
    report     TEXT    NOT NULL,
    param_key  TEXT    NOT NULL DEFAULT '',
    cursor     TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (workspace, report, param_key)
);
INSERT INTO cursors_new (workspace, report, param_key, cursor, updated_at)
    SELECT '', report, param_key, cursor, updated_at FROM cursors;
DROP TABLE cursors;
ALTER TABLE cursors_new RENAME TO cursors;

-- Paths are relative to the workspace's output: unique per workspace.
CREATE TABLE files_new (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace    TEXT    NOT NULL DEFAULT '',
    run_id       INTEGER NOT NULL REFERENCES runs(id),
    report       TEXT    NOT NULL,
    path         TEXT    NOT NULL,
    format       TEXT    NOT NULL,
    rows         INTEGER NOT NULL,
    bytes        INTEGER NOT NULL,
    sha256       TEXT    NOT NULL,
    committed_at INTEGER NOT NULL,
    UNIQUE (workspace, path)
);
INSERT INTO files_new (id, workspace, run_id, report, path, format, rows, bytes, sha256, committed_at)
    SELECT id, '', run_id, report, path, format, rows, bytes, sha256, committed_at FROM files;
DROP TABLE files;
ALTER TABLE files_new RENAME TO files;

CREATE TABLE failed_items_new (
    workspace       TEXT    NOT NULL DEFAULT '',
    report          TEXT    NOT NULL,
    item_id         TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    last_error      TEXT    NOT NULL,
    first_failed_at INTEGER NOT NULL,
    PRIMARY KEY (workspace, report, item_id)
);
INSERT INTO failed_items_new (workspace, report, item_id, attempts, last_error, first_failed_at)
    SELECT '', report, item_id, attempts, last_error, first_failed_at FROM failed_items;
DROP TABLE failed_items;
ALTER TABLE failed_items_new RENAME TO failed_items;
