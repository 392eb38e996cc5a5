-- The ids of contacts and companies the `deletions` report has seen, so a
-- later pass can tell which are gone. One row per chunk of up to 65,536
-- sorted ids (see src/state/known_ids.rs for the blob's encoding: zstd of
-- hex-packed or newline-joined ids), so 1 M contacts are ~16 rows of a few
-- hundred KB each. Replaced as a whole per (workspace, object_type) in the
-- same transaction as the deletions report's cursor and files.
CREATE TABLE known_ids (
    workspace   TEXT    NOT NULL DEFAULT '',
    object_type TEXT    NOT NULL,          -- contact | company
    chunk       INTEGER NOT NULL,          -- 0, 1, ... in id order
    count       INTEGER NOT NULL,          -- ids in this chunk
    ids         BLOB    NOT NULL,
    PRIMARY KEY (workspace, object_type, chunk)
);
