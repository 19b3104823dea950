-- Schema version 3 (the SQLite store's version 7): how each user's push
-- logins wait (hold or challenge; no row: the configured default), and
-- enrolled phones as part of the local directory's generation.

-- The login name a phone was enrolled under, for people.
ALTER TABLE push_devices ADD COLUMN username TEXT NOT NULL DEFAULT '';
-- Where the phone is woken (Web Push subscription), when it has one.
ALTER TABLE push_devices ADD COLUMN webpush_endpoint TEXT;
ALTER TABLE push_devices ADD COLUMN webpush_p256dh BYTEA;
ALTER TABLE push_devices ADD COLUMN webpush_auth BYTEA;

CREATE TABLE push_modes (
    seat_key TEXT COLLATE "C" PRIMARY KEY,
    mode     TEXT NOT NULL CHECK (mode IN ('hold', 'challenge'))
);

CREATE TRIGGER push_devices_changed AFTER INSERT OR DELETE ON push_devices
    FOR EACH ROW EXECUTE FUNCTION bump_local_directory();
CREATE TRIGGER push_modes_changed AFTER INSERT OR UPDATE OR DELETE ON push_modes
    FOR EACH ROW EXECUTE FUNCTION bump_local_directory();

CREATE INDEX pushes_by_time ON pushes (created_at);

-- Ids of revoked phones: an enrollment link names its device's id, so a
-- revoked phone's link can never enroll again.
CREATE TABLE push_revoked (
    id         TEXT COLLATE "C" PRIMARY KEY,
    revoked_at BIGINT NOT NULL
);
