-- Gatehouse embedded schema, version 1. Times are Unix microseconds (UTC);
-- months are 'YYYY-MM' in the license time zone.

CREATE TABLE installation (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    signing_key      BLOB    NOT NULL,
    first_start      INTEGER NOT NULL,
    demo_support_end TEXT    NOT NULL,
    time_zone        TEXT    NOT NULL
);

-- The license in force. key IS NULL while the built-in demo is in force.
CREATE TABLE license (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    key          TEXT,
    user_limit   INTEGER NOT NULL CHECK (user_limit >= 1),
    generation   INTEGER NOT NULL,
    installed_at INTEGER
);

-- Every key ever installed, newest last.
CREATE TABLE license_history (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    key          TEXT    NOT NULL,
    user_limit   INTEGER NOT NULL,
    installed_at INTEGER NOT NULL
);

-- The clock high-water mark.
CREATE TABLE clock (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    high_water INTEGER NOT NULL
);

-- One row per month: the count (kept equal to the seats of that month in
-- the same transaction), the limit in force and the peak usage.
CREATE TABLE months (
    month        TEXT    PRIMARY KEY,
    active_users INTEGER NOT NULL CHECK (active_users >= 0),
    user_limit   INTEGER NOT NULL,
    peak_tenths  INTEGER NOT NULL
) WITHOUT ROWID;

-- The seat ledger: append-only within a month.
CREATE TABLE seats (
    month        TEXT    NOT NULL,
    seat_key     TEXT    NOT NULL,
    username     TEXT    NOT NULL,
    display_name TEXT    NOT NULL,
    source       TEXT    NOT NULL,
    first_seen   INTEGER NOT NULL,
    last_login   INTEGER NOT NULL,
    last_client  TEXT    NOT NULL,
    PRIMARY KEY (month, seat_key)
) WITHOUT ROWID;
CREATE INDEX seats_by_username   ON seats (month, username, seat_key);
CREATE INDEX seats_by_first_seen ON seats (month, first_seen, seat_key);
CREATE INDEX seats_by_last_login ON seats (month, last_login, seat_key);

-- New users turned away for the limit, one row per user and month.
CREATE TABLE limit_refusals (
    month         TEXT    NOT NULL,
    seat_key      TEXT    NOT NULL,
    username      TEXT    NOT NULL,
    first_refused INTEGER NOT NULL,
    last_refused  INTEGER NOT NULL,
    attempts      INTEGER NOT NULL,
    last_client   TEXT    NOT NULL,
    PRIMARY KEY (month, seat_key)
) WITHOUT ROWID;

CREATE TABLE local_users (
    username      TEXT    PRIMARY KEY,
    display_name  TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    enabled       INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
) WITHOUT ROWID;
