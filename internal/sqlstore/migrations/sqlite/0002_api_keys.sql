-- API keys. The secret itself is never stored: only its SHA-256 (looked up
-- by the API on every request, hence UNIQUE) and a short display hint.

CREATE TABLE api_keys (
	id              INTEGER PRIMARY KEY,
	public_id       TEXT    NOT NULL UNIQUE,
	organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	name            TEXT    NOT NULL,
	environment     TEXT    NOT NULL CHECK (environment IN ('production', 'staging', 'development', 'ci', 'other')),
	scopes          TEXT    NOT NULL,
	secret_hash     BLOB    NOT NULL UNIQUE,
	hint            TEXT    NOT NULL,
	note            TEXT    NOT NULL DEFAULT '',
	created_by      INTEGER REFERENCES users (id) ON DELETE SET NULL,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	expires_at      INTEGER,
	revoked_at      INTEGER,
	revoked_by      INTEGER REFERENCES users (id) ON DELETE SET NULL,
	last_used_at    INTEGER,
	last_used_ip    TEXT    NOT NULL DEFAULT '',
	rolled_from_id  INTEGER REFERENCES api_keys (id) ON DELETE SET NULL,
	-- One-time token of the form that created the key: a resubmission is a no-op.
	form_token      TEXT,
	UNIQUE (organization_id, form_token)
);
CREATE INDEX api_keys_org ON api_keys (organization_id, id);
CREATE INDEX api_keys_rolled_from ON api_keys (rolled_from_id);
