-- An organization's key policy: the longest a key may live (0 for no
-- limit), whether every key needs a note, and after how many days unused
-- a key is revoked (0 for never).
ALTER TABLE organizations ADD COLUMN key_max_lifetime_days INTEGER NOT NULL DEFAULT 0
	CHECK (key_max_lifetime_days IN (0, 30, 90, 180, 365));
ALTER TABLE organizations ADD COLUMN key_note_required INTEGER NOT NULL DEFAULT 0
	CHECK (key_note_required IN (0, 1));
ALTER TABLE organizations ADD COLUMN key_revoke_unused_days INTEGER NOT NULL DEFAULT 0
	CHECK (key_revoke_unused_days IN (0, 30, 60, 90, 180));
-- When the people who look after an unused key were told it will be
-- revoked (Unix milliseconds): they are told once per stretch of disuse.
ALTER TABLE api_keys ADD COLUMN unused_warned_at INTEGER;
