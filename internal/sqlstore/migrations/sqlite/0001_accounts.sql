-- Accounts, organizations, memberships, sessions and the audit log.
-- Times are integer Unix milliseconds taken from the application clock.

CREATE TABLE users (
	id            INTEGER PRIMARY KEY,
	public_id     TEXT    NOT NULL UNIQUE,
	name          TEXT    NOT NULL,
	email         TEXT    NOT NULL UNIQUE, -- trimmed and lower-cased
	password_hash TEXT,                    -- argon2id PHC string; NULL for SSO-only users
	is_superuser  INTEGER NOT NULL DEFAULT 0,
	disabled_at   INTEGER,
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL
);

CREATE TABLE organizations (
	id         INTEGER PRIMARY KEY,
	public_id  TEXT    NOT NULL UNIQUE,
	name       TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);

CREATE TABLE memberships (
	organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	role            TEXT    NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE sessions (
	id           INTEGER PRIMARY KEY,
	public_id    TEXT    NOT NULL UNIQUE,
	token_hash   BLOB    NOT NULL UNIQUE, -- SHA-256 of the random token in the cookie
	user_id      INTEGER REFERENCES users (id) ON DELETE CASCADE,
	data         BLOB    NOT NULL,
	ip           TEXT    NOT NULL DEFAULT '',
	user_agent   TEXT    NOT NULL DEFAULT '',
	created_at   INTEGER NOT NULL,
	last_seen_at INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);

CREATE TABLE audit_events (
	id              INTEGER PRIMARY KEY,
	organization_id INTEGER REFERENCES organizations (id) ON DELETE CASCADE,
	actor_user_id   INTEGER REFERENCES users (id) ON DELETE SET NULL,
	actor_name      TEXT    NOT NULL DEFAULT '',
	action          TEXT    NOT NULL,
	target_type     TEXT    NOT NULL DEFAULT '',
	target_id       TEXT    NOT NULL DEFAULT '',
	target_name     TEXT    NOT NULL DEFAULT '',
	ip              TEXT    NOT NULL DEFAULT '',
	user_agent      TEXT    NOT NULL DEFAULT '',
	created_at      INTEGER NOT NULL
);
CREATE INDEX audit_events_org ON audit_events (organization_id, id);
