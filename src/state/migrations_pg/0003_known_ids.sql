-- The ids of contacts and companies the `deletions` report has seen, in
-- chunks of sorted ids; the same table as the SQLite state's migration 0005.
CREATE TABLE known_ids (
    workspace   TEXT    NOT NULL DEFAULT '',
    object_type TEXT    NOT NULL,
    chunk       BIGINT  NOT NULL,
    count       BIGINT  NOT NULL,
    ids         BYTEA   NOT NULL,
    PRIMARY KEY (workspace, object_type, chunk)
);
