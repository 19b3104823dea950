-- Schema version 2: TOTP enrollments and RADIUS clients added at run time.

-- One TOTP secret per identity (seat key). last_step is the latest time
-- step accepted: codes of that step or earlier are replays.
CREATE TABLE totp (
    seat_key    TEXT    PRIMARY KEY,
    secret      BLOB    NOT NULL,
    mode        TEXT,
    last_step   INTEGER NOT NULL,
    enrolled_at INTEGER NOT NULL
) WITHOUT ROWID;

-- networks: comma-separated CIDRs.
CREATE TABLE radius_clients (
    name                          TEXT    PRIMARY KEY,
    networks                      TEXT    NOT NULL,
    secret                        BLOB    NOT NULL,
    require_message_authenticator INTEGER NOT NULL,
    limit_proxy_state             INTEGER NOT NULL
) WITHOUT ROWID;
