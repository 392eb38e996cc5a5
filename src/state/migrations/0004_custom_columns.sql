-- The column name given to each custom attribute (per workspace and model:
-- contact, company, conversation). Once given, a name never changes and is
-- never given to another attribute, also when attributes declared later
-- would sort or collide differently; archived attributes keep theirs.
CREATE TABLE custom_columns (
    workspace   TEXT    NOT NULL DEFAULT '',
    model       TEXT    NOT NULL,
    attribute   TEXT    NOT NULL,          -- the attribute's name as declared
    column_name TEXT    NOT NULL,          -- custom_<snake_case name>[_N]
    assigned_at INTEGER NOT NULL,          -- unix seconds
    PRIMARY KEY (workspace, model, attribute),
    UNIQUE (workspace, model, column_name)
);
