-- Schema version 6: local groups (policies match on them).

-- The groups an administrator made. A group's members are not listed
-- here: each local account names its own groups in member_of, covered by
-- its tag, so a membership written in or removed by hand fails the tag
-- (the account then signs nobody in) instead of moving the user between
-- policies.
CREATE TABLE local_groups (
    name       TEXT COLLATE "C" PRIMARY KEY,
    created_at BIGINT NOT NULL,
    -- Touched by every change of membership, so that a change and the
    -- group's deletion are ordered (a user is never added to a group
    -- being deleted).
    membership_changes BIGINT NOT NULL DEFAULT 0
);

-- The account's groups: their names, sorted, one per line.
ALTER TABLE local_users ADD COLUMN member_of TEXT NOT NULL DEFAULT '';
