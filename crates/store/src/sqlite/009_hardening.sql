-- Schema version 9: the front door (SPEC §12).

-- Service accounts that log in with the password alone while a second
-- factor is required. Covered by the row's tag (an exemption written in by
-- hand fails it).
ALTER TABLE local_users ADD COLUMN second_factor_exempt INTEGER NOT NULL DEFAULT 0;

-- Failed logins in a row per user, and the lock they lead to. A row exists
-- only while a user has failures or a lock; last_password is a keyed digest
-- of the wrong password counted last (never the password), so the same
-- wrong password retried counts once.
CREATE TABLE lockouts (
    seat_key          TEXT    PRIMARY KEY,
    username          TEXT    NOT NULL,
    otp_failures      INTEGER NOT NULL,
    password_failures INTEGER NOT NULL,
    last_password     BLOB,
    last_failure_at   INTEGER NOT NULL,
    locks             INTEGER NOT NULL,
    locked_at         INTEGER,
    locked_until      INTEGER
) WITHOUT ROWID;
CREATE INDEX lockouts_by_username ON lockouts (username);
INSERT INTO counters (name, value) VALUES ('lockouts', 0);

-- Panel sign-in attempts per key (an address, a username) in the current
-- window, reserved before the password is checked so that concurrent
-- attempts on any node cannot pass the limit; a successful sign-in gives
-- its attempt back.
CREATE TABLE sign_in_attempts (
    key          TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    attempts     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sign_in_attempts_by_window ON sign_in_attempts (window_start);

-- Number matching: the number a push's login prompt shows (never sent to
-- the phone) and the choices the phone offers ("12,47,83").
ALTER TABLE pushes ADD COLUMN number INTEGER;
ALTER TABLE pushes ADD COLUMN choices TEXT NOT NULL DEFAULT '';
