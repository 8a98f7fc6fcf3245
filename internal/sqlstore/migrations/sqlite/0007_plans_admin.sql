-- Plans and instance administration.

-- Every organization has a plan; API access needs professional or higher.
-- Existing organizations keep the access they had.
ALTER TABLE organizations ADD COLUMN plan TEXT NOT NULL DEFAULT 'professional'
	CHECK (plan IN ('free', 'professional', 'enterprise'));

-- Whether API keys created by a user who has since been disabled keep
-- working. 'stop' is the safe default; an Owner may choose 'keep'.
ALTER TABLE organizations ADD COLUMN disabled_user_keys TEXT NOT NULL DEFAULT 'stop'
	CHECK (disabled_user_keys IN ('stop', 'keep'));

-- Instance-wide settings a superuser changes at run time, by name:
-- 'signup_mode' (overrides --signup) and 'default_plan' (overrides
-- --default-plan). A missing row means the flag decides.
CREATE TABLE instance_settings (
	name  TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
