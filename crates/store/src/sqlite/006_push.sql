-- Schema version 6: push approval. Phones enrolled per identity, and the
-- pushes sent to them; a push's decision is written once.

CREATE TABLE push_devices (
    id         TEXT    PRIMARY KEY,
    seat_key   TEXT    NOT NULL,
    label      TEXT    NOT NULL,
    public_key BLOB    NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX push_devices_by_seat ON push_devices (seat_key, created_at);

CREATE TABLE pushes (
    id         TEXT    PRIMARY KEY,
    seat_key   TEXT    NOT NULL,
    username   TEXT    NOT NULL,
    client     TEXT    NOT NULL,
    source     TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    nonce      TEXT    NOT NULL,
    decision   TEXT    CHECK (decision IN ('approve', 'deny')),
    decided_by TEXT,
    decided_at INTEGER
) WITHOUT ROWID;
CREATE INDEX pushes_by_seat ON pushes (seat_key, created_at);
