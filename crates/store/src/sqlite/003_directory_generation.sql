-- Schema version 3: a counter that changes whenever a local account or a
-- TOTP enrollment changes, so long-running processes know when their
-- in-memory copy of the local directory is stale. Triggers keep it in the
-- same transaction as the change. Using a code (totp.last_step) is not a
-- change of the directory.

CREATE TABLE counters (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO counters (name, value) VALUES ('local_directory', 0);

CREATE TRIGGER local_users_inserted AFTER INSERT ON local_users
BEGIN UPDATE counters SET value = value + 1 WHERE name = 'local_directory'; END;
CREATE TRIGGER local_users_updated AFTER UPDATE ON local_users
BEGIN UPDATE counters SET value = value + 1 WHERE name = 'local_directory'; END;
CREATE TRIGGER local_users_deleted AFTER DELETE ON local_users
BEGIN UPDATE counters SET value = value + 1 WHERE name = 'local_directory'; END;
CREATE TRIGGER totp_inserted AFTER INSERT ON totp
BEGIN UPDATE counters SET value = value + 1 WHERE name = 'local_directory'; END;
CREATE TRIGGER totp_updated AFTER UPDATE OF secret, mode, enrolled_at ON totp
BEGIN UPDATE counters SET value = value + 1 WHERE name = 'local_directory'; END;
CREATE TRIGGER totp_deleted AFTER DELETE ON totp
BEGIN UPDATE counters SET value = value + 1 WHERE name = 'local_directory'; END;
