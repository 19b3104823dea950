-- Schema version 4 (the SQLite schema's version 8): the database is sealed
-- (SPEC §11). Secrets are encrypted, and the records the license rests on
-- tagged, under a key kept outside the database (the sealing key file);
-- `seal` names that key by its id. Rows written before this version are
-- sealed by Gatehouse in the same transaction as this migration.
-- installation.signing_key then holds the whole installation record sealed
-- (the other columns only show it).

CREATE TABLE seal (
    id        BIGINT PRIMARY KEY CHECK (id = 1),
    key_id    BYTEA  NOT NULL
);

-- HMAC-SHA-256 tags under the sealing key.
ALTER TABLE license ADD COLUMN tag BYTEA;
-- The issue time (Unix seconds) of the vendor key that last re-anchored
-- the clock; a mark is raised only within its anchor.
ALTER TABLE clock ADD COLUMN anchor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE clock ADD COLUMN tag BYTEA;
-- A month's count, sealed with the month: admissions are decided on it, so
-- active_users only shows it, and lowering that column frees no seat.
ALTER TABLE months ADD COLUMN sealed_count BYTEA;

-- Who may sign in is tagged too: an administrator, API token, session or
-- local password written into the database outside Gatehouse signs nobody
-- in.
ALTER TABLE admins ADD COLUMN tag BYTEA;
ALTER TABLE admin_tokens ADD COLUMN tag BYTEA;
ALTER TABLE admin_sessions ADD COLUMN tag BYTEA;
ALTER TABLE local_users ADD COLUMN tag BYTEA;

-- A phone's row is tagged (its id, user and public key), so a phone written
-- into the database outside Gatehouse approves nothing.
ALTER TABLE push_devices ADD COLUMN tag BYTEA;

-- One-time push enrollment links: only the SHA-256 of a link's secret is
-- kept, with the device id it gives; a link is used once (used_at),
-- atomically with its device. Rows are tagged like phones.
CREATE TABLE push_enrollments (
    token_hash BYTEA  PRIMARY KEY,
    seat_key   TEXT COLLATE "C" NOT NULL,
    username   TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    device_id  TEXT   NOT NULL,
    tag        BYTEA  NOT NULL
);
CREATE INDEX push_enrollments_by_expiry ON push_enrollments (expires_at);
