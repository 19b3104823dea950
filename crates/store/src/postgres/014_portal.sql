-- Schema version 14: the user portal's sessions (SPEC §17), and local
-- users' email addresses (enrollment invitations).

-- Only the SHA-256 of the session token is stored; `tag` covers the token
-- hash, the user, the scope, the CSRF token and the expiry.
-- `pending_totp` is a TOTP secret shown and not yet confirmed, sealed.
CREATE TABLE portal_sessions (
    token_hash   BYTEA  PRIMARY KEY,
    seat         TEXT   NOT NULL,
    username     TEXT   NOT NULL,
    display_name TEXT   NOT NULL,
    source       TEXT   NOT NULL,
    scope        TEXT   NOT NULL,
    csrf         TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    pending_totp BYTEA,
    tag          BYTEA
);
CREATE INDEX portal_sessions_by_seat ON portal_sessions (seat);
CREATE INDEX portal_sessions_by_expiry ON portal_sessions (expires_at);

-- Where a local user's enrollment invitation goes (not covered by the
-- row's tag: it signs nobody in).
ALTER TABLE local_users ADD COLUMN email TEXT;
