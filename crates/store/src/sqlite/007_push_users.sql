-- Schema version 7: how each user's push logins wait (hold or challenge;
-- no row: the configured default), and enrolled phones as part of the
-- local directory's generation, so in-memory accounts learn of a phone
-- enrolled or removed by another process.

-- The login name a phone was enrolled under, for people (the seat key is
-- what counts).
ALTER TABLE push_devices ADD COLUMN username TEXT NOT NULL DEFAULT '';
-- Where the phone is woken (Web Push subscription), when it has one.
ALTER TABLE push_devices ADD COLUMN webpush_endpoint TEXT;
ALTER TABLE push_devices ADD COLUMN webpush_p256dh BLOB;
ALTER TABLE push_devices ADD COLUMN webpush_auth BLOB;

CREATE TABLE push_modes (
    seat_key TEXT PRIMARY KEY,
    mode     TEXT NOT NULL CHECK (mode IN ('hold', 'challenge'))
) WITHOUT ROWID;

CREATE TRIGGER push_devices_inserted AFTER INSERT ON push_devices
BEGIN UPDATE counters SET value = value + 1 WHERE name = 'local_directory'; END;
CREATE TRIGGER push_devices_deleted AFTER DELETE ON push_devices
BEGIN UPDATE counters SET value = value + 1 WHERE name = 'local_directory'; END;
CREATE TRIGGER push_modes_inserted AFTER INSERT ON push_modes
BEGIN UPDATE counters SET value = value + 1 WHERE name = 'local_directory'; END;
CREATE TRIGGER push_modes_updated AFTER UPDATE ON push_modes
BEGIN UPDATE counters SET value = value + 1 WHERE name = 'local_directory'; END;
CREATE TRIGGER push_modes_deleted AFTER DELETE ON push_modes
BEGIN UPDATE counters SET value = value + 1 WHERE name = 'local_directory'; END;

CREATE INDEX pushes_by_time ON pushes (created_at);

-- Ids of revoked phones: an enrollment link names its device's id, so a
-- revoked phone's link can never enroll again.
CREATE TABLE push_revoked (
    id         TEXT    PRIMARY KEY,
    revoked_at INTEGER NOT NULL
) WITHOUT ROWID;
