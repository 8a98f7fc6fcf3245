-- An Owner may require two-step verification of the organization's
-- members before they open its pages (single sign-on sessions excepted).
ALTER TABLE organizations ADD COLUMN require_two_factor INTEGER NOT NULL DEFAULT 0
	CHECK (require_two_factor IN (0, 1));
