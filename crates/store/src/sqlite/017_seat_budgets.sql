-- Schema version 17: seat budgets (SPEC §16).

-- The budget a seat was counted against (NULL: none); a budget's users in
-- a month are counted under the month's lock, as the month's are.
ALTER TABLE seats ADD COLUMN budget TEXT;
CREATE INDEX seats_budget ON seats (month, budget);
