-- Schema version 7: policies saved through the panel, the API or the CLI.

-- The whole ordered list in one row, so one tag covers every policy and
-- their order: a policy written in, removed or moved by hand fails it (and
-- logins then fail closed). generation moves by one with every save; a
-- save names the generation it edited, so two administrators' edits never
-- overwrite each other unseen.
CREATE TABLE policy_set (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL,
    -- The policies as JSON (an array, in order).
    policies   TEXT   NOT NULL,
    saved_at   BIGINT NOT NULL,
    saved_by   TEXT   NOT NULL,
    tag        BYTEA
);
