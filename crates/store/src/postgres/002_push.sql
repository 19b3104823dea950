-- Schema version 2: push approval (the SQLite store's version 6). Phones
-- enrolled per identity, and the pushes sent to them; a push's decision is
-- written once.

CREATE TABLE push_devices (
    id         TEXT COLLATE "C" PRIMARY KEY,
    seat_key   TEXT COLLATE "C" NOT NULL,
    label      TEXT   NOT NULL,
    public_key BYTEA  NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX push_devices_by_seat ON push_devices (seat_key, created_at);

CREATE TABLE pushes (
    id         TEXT COLLATE "C" PRIMARY KEY,
    seat_key   TEXT COLLATE "C" NOT NULL,
    username   TEXT   NOT NULL,
    client     TEXT   NOT NULL,
    source     TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    nonce      TEXT   NOT NULL,
    decision   TEXT   CHECK (decision IN ('approve', 'deny')),
    decided_by TEXT,
    decided_at BIGINT
);
CREATE INDEX pushes_by_seat ON pushes (seat_key, created_at);
