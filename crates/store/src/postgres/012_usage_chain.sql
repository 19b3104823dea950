-- Schema version 12: the verifiable usage statement (SPEC §16).

-- The head of each month's hash chain over its admissions; NULL for a
-- month begun before the chain existed (it stays unchained).
ALTER TABLE months ADD COLUMN chain_head BYTEA;
-- A seat's place in its month's chain (1 for the first user counted);
-- NULL in an unchained month.
ALTER TABLE seats ADD COLUMN chain_seq BIGINT;
CREATE INDEX seats_chain ON seats (month, chain_seq);
