-- The column name given to each custom attribute (per workspace and model:
-- contact, company, conversation). Once given, a name never changes and is
-- never given to another attribute; the same table as the SQLite state's
-- migration 0004.
CREATE TABLE custom_columns (
    workspace   TEXT    NOT NULL DEFAULT '',
    model       TEXT    NOT NULL,
    attribute   TEXT    NOT NULL,
    column_name TEXT    NOT NULL,
    assigned_at BIGINT  NOT NULL,
    PRIMARY KEY (workspace, model, attribute),
    UNIQUE (workspace, model, column_name)
);
