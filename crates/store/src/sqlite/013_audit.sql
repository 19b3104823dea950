-- Schema version 13: the audit trail.

-- Appended only, each entry's tag covering its fields and prev_tag (the
-- tag of the entry before it), so an entry edited, inserted or removed by
-- hand breaks the chain. Ids are given by the appender: the previous
-- entry's plus one.
CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    actor    TEXT    NOT NULL,
    source   TEXT    NOT NULL,
    action   TEXT    NOT NULL,
    subject  TEXT    NOT NULL,
    detail   TEXT    NOT NULL,
    prev_tag BLOB    NOT NULL,
    tag      BLOB    NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);

-- The newest entry as the last append left it: entries removed from the
-- end show as a head that is not the chain's end.
CREATE TABLE audit_head (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    last_id  INTEGER NOT NULL,
    last_tag BLOB    NOT NULL,
    tag      BLOB    NOT NULL
);
