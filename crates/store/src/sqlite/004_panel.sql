-- Schema version 4: what the panel needs.

-- New users per day of each month (license time zone), kept in the
-- admission transaction so analytics never scan the ledger.
CREATE TABLE daily_new_users (
    month TEXT    NOT NULL,
    day   INTEGER NOT NULL CHECK (day BETWEEN 1 AND 31),
    users INTEGER NOT NULL,
    PRIMARY KEY (month, day)
) WITHOUT ROWID;

CREATE TABLE admins (
    name          TEXT    PRIMARY KEY,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
) WITHOUT ROWID;

-- Only the SHA-256 of API tokens and session tokens is stored.
CREATE TABLE admin_tokens (
    token_hash BLOB    PRIMARY KEY,
    admin      TEXT    NOT NULL REFERENCES admins (name) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE admin_sessions (
    token_hash BLOB    PRIMARY KEY,
    admin      TEXT    NOT NULL REFERENCES admins (name) ON DELETE CASCADE,
    csrf       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Thresholds as comma-separated numbers, recipients one per line.
CREATE TABLE alarm_settings (
    id                 INTEGER PRIMARY KEY CHECK (id = 1),
    days_before_end    TEXT    NOT NULL,
    user_limit_percent TEXT    NOT NULL,
    recipients         TEXT    NOT NULL
);
