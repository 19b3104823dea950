-- Schema version 11: the administrator's seat rules (SPEC §16): users
-- marked exempt or break-glass, within what the license grants.

-- One row, saved whole like policy_set: one tag covers every mark and
-- their order, so a mark written in by hand fails it (and no mark is
-- honoured until the rules are saved again); generation moves by one with
-- every save, and a save names the generation it edited, so two nodes
-- never both take the last free mark.
CREATE TABLE seat_rules (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL,
    -- The rules as JSON.
    rules      TEXT   NOT NULL,
    saved_at   BIGINT NOT NULL,
    saved_by   TEXT   NOT NULL,
    tag        BYTEA
);
