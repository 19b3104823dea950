-- Schema version 14: how each counted user got their seat (SPEC §16):
-- 'within' the user limit, 'overage' past it within the vendor's overage
-- allowance, or 'reserved' past it as a break-glass user. Shown in the
-- Users table and the export; the count itself stays the sealed one.
ALTER TABLE seats ADD COLUMN kind TEXT NOT NULL DEFAULT 'within';
