-- Schema version 12: administrators over their lifetime.

-- The first-start administrator's one-time password must be replaced at
-- its first sign-in. Not tagged: clearing it by hand gives nobody the
-- password, and setting it only asks for a new one.
ALTER TABLE admins ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;

-- API tokens may expire (covered by the token's tag when set) and carry a
-- label that says what they are for.
ALTER TABLE admin_tokens ADD COLUMN expires_at INTEGER;
ALTER TABLE admin_tokens ADD COLUMN label TEXT NOT NULL DEFAULT '';
