-- Gatehouse on PostgreSQL, schema version 1 (the SQLite schema as of its
-- version 5). Times are Unix microseconds (UTC); months are 'YYYY-MM' in
-- the license time zone. Text that is sorted or searched by prefix uses the
-- "C" collation: byte order, the same on every server whatever its locale,
-- so keyset pages and prefix ranges mean what they mean on SQLite.

CREATE TABLE installation (
    id               BIGINT PRIMARY KEY CHECK (id = 1),
    signing_key      BYTEA  NOT NULL,
    first_start      BIGINT NOT NULL,
    demo_support_end TEXT   NOT NULL,
    time_zone        TEXT   NOT NULL
);

-- The license in force. key IS NULL while the built-in demo is in force.
CREATE TABLE license (
    id           BIGINT PRIMARY KEY CHECK (id = 1),
    key          TEXT,
    user_limit   BIGINT NOT NULL CHECK (user_limit >= 1),
    generation   BIGINT NOT NULL,
    installed_at BIGINT
);

-- Every key ever installed, newest last.
CREATE TABLE license_history (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key          TEXT   NOT NULL,
    user_limit   BIGINT NOT NULL,
    installed_at BIGINT NOT NULL
);

-- The clock high-water mark.
CREATE TABLE clock (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    high_water BIGINT NOT NULL
);

-- One row per month: the count (kept equal to the seats of that month in
-- the same transaction; admissions lock this row), the limit in force and
-- the peak usage.
CREATE TABLE months (
    month        TEXT COLLATE "C" PRIMARY KEY,
    active_users BIGINT NOT NULL CHECK (active_users >= 0),
    user_limit   BIGINT NOT NULL,
    peak_tenths  BIGINT NOT NULL
);

-- The seat ledger: append-only within a month.
CREATE TABLE seats (
    month        TEXT COLLATE "C" NOT NULL,
    seat_key     TEXT COLLATE "C" NOT NULL,
    username     TEXT COLLATE "C" NOT NULL,
    display_name TEXT   NOT NULL,
    source       TEXT   NOT NULL,
    first_seen   BIGINT NOT NULL,
    last_login   BIGINT NOT NULL,
    last_client  TEXT   NOT NULL,
    PRIMARY KEY (month, seat_key)
);
CREATE INDEX seats_by_username   ON seats (month, username, seat_key);
CREATE INDEX seats_by_first_seen ON seats (month, first_seen, seat_key);
CREATE INDEX seats_by_last_login ON seats (month, last_login, seat_key);

-- New users turned away for the limit, one row per user and month.
CREATE TABLE limit_refusals (
    month         TEXT COLLATE "C" NOT NULL,
    seat_key      TEXT COLLATE "C" NOT NULL,
    username      TEXT   NOT NULL,
    first_refused BIGINT NOT NULL,
    last_refused  BIGINT NOT NULL,
    attempts      BIGINT NOT NULL,
    last_client   TEXT   NOT NULL,
    PRIMARY KEY (month, seat_key)
);

CREATE TABLE local_users (
    username      TEXT COLLATE "C" PRIMARY KEY,
    display_name  TEXT   NOT NULL,
    password_hash TEXT   NOT NULL,
    enabled       BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);

-- One TOTP secret per identity (seat key). last_step is the latest time
-- step accepted: codes of that step or earlier are replays.
CREATE TABLE totp (
    seat_key    TEXT COLLATE "C" PRIMARY KEY,
    secret      BYTEA  NOT NULL,
    mode        TEXT,
    last_step   BIGINT NOT NULL,
    enrolled_at BIGINT NOT NULL
);

-- networks: comma-separated CIDRs.
CREATE TABLE radius_clients (
    name                          TEXT COLLATE "C" PRIMARY KEY,
    networks                      TEXT   NOT NULL,
    secret                        BYTEA  NOT NULL,
    require_message_authenticator BIGINT NOT NULL,
    limit_proxy_state             BIGINT NOT NULL
);

-- A counter that changes whenever a local account or a TOTP enrollment
-- changes (triggers, in the same transaction), so every node knows when its
-- in-memory copy is stale. Using a code (totp.last_step) is not a change.
CREATE TABLE counters (
    name  TEXT   PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('local_directory', 0);

CREATE FUNCTION bump_local_directory() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'local_directory';
    RETURN NULL;
END;
$$;
CREATE TRIGGER local_users_changed AFTER INSERT OR UPDATE OR DELETE ON local_users
    FOR EACH ROW EXECUTE FUNCTION bump_local_directory();
CREATE TRIGGER totp_enrolled AFTER INSERT OR DELETE ON totp
    FOR EACH ROW EXECUTE FUNCTION bump_local_directory();
CREATE TRIGGER totp_reenrolled AFTER UPDATE OF secret, mode, enrolled_at ON totp
    FOR EACH ROW EXECUTE FUNCTION bump_local_directory();

-- New users per day of each month (license time zone), kept in the
-- admission transaction so analytics never scan the ledger.
CREATE TABLE daily_new_users (
    month TEXT COLLATE "C" NOT NULL,
    day   BIGINT NOT NULL CHECK (day BETWEEN 1 AND 31),
    users BIGINT NOT NULL,
    PRIMARY KEY (month, day)
);

CREATE TABLE admins (
    name          TEXT COLLATE "C" PRIMARY KEY,
    password_hash TEXT   NOT NULL,
    created_at    BIGINT NOT NULL
);

-- Only the SHA-256 of API tokens and session tokens is stored.
CREATE TABLE admin_tokens (
    token_hash BYTEA  PRIMARY KEY,
    admin      TEXT COLLATE "C" NOT NULL REFERENCES admins (name) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);

CREATE TABLE admin_sessions (
    token_hash BYTEA  PRIMARY KEY,
    admin      TEXT COLLATE "C" NOT NULL REFERENCES admins (name) ON DELETE CASCADE,
    csrf       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Thresholds as comma-separated numbers, recipients one per line.
CREATE TABLE alarm_settings (
    id                 BIGINT PRIMARY KEY CHECK (id = 1),
    days_before_end    TEXT   NOT NULL,
    user_limit_percent TEXT   NOT NULL,
    recipients         TEXT   NOT NULL
);

-- The alarm outbox. One row per alarm that fired; its unique key is the
-- "fired" mark, so marking and queueing are one insert, whichever node
-- notices first.
CREATE TABLE alarm_outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alarm_key       TEXT   NOT NULL UNIQUE,
    kind            TEXT   NOT NULL,
    subject         TEXT   NOT NULL,
    body            TEXT   NOT NULL,
    -- One address per line.
    recipients      TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    delivery        TEXT   NOT NULL CHECK (delivery IN ('queued', 'sent', 'no_recipients', 'superseded')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    sent_at         BIGINT
);
CREATE INDEX alarm_outbox_due ON alarm_outbox (delivery, next_attempt_at);
