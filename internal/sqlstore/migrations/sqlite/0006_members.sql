-- Invitations to join an organization. The token is stored as its SHA-256
-- and shown once.
CREATE TABLE invitations (
	id              INTEGER PRIMARY KEY,
	public_id       TEXT    NOT NULL UNIQUE,
	organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	email           TEXT    NOT NULL,
	role            TEXT    NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
	token_hash      BLOB    NOT NULL UNIQUE,
	invited_by      INTEGER REFERENCES users (id) ON DELETE SET NULL,
	created_at      INTEGER NOT NULL,
	expires_at      INTEGER NOT NULL,
	accepted_at     INTEGER,
	accepted_by     INTEGER REFERENCES users (id) ON DELETE SET NULL,
	revoked_at      INTEGER
);
CREATE INDEX invitations_org ON invitations (organization_id, id);
