-- Integrations: the credentials of services an organization connects (a
-- Zoom OAuth app, a Deepgram API key, other named secrets). Secrets are
-- stored only as AES-256-GCM ciphertext under a master key kept outside the
-- database (internal/secretbox), bound to organization, kind and name, plus
-- their last four characters for recognition.

CREATE TABLE integrations (
	id              INTEGER PRIMARY KEY,
	organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	kind            TEXT    NOT NULL CHECK (kind IN ('zoom', 'deepgram', 'other')),
	-- The name of an Other credential; '' for zoom and deepgram, so that
	-- UNIQUE below allows one of each of those per organization.
	name            TEXT    NOT NULL DEFAULT '' CHECK ((kind = 'other') = (name <> '')),
	-- The Zoom app's client ID: not secret, stored as is.
	client_id       TEXT    NOT NULL DEFAULT '' CHECK (kind = 'zoom' OR client_id = ''),
	secret          BLOB    NOT NULL,
	secret_last4    TEXT    NOT NULL DEFAULT '',
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	updated_by      INTEGER REFERENCES users (id) ON DELETE SET NULL,
	UNIQUE (organization_id, kind, name)
);

-- One value sealed under the master key when it is first used. At start-up
-- a key that cannot open it is refused before anything is written, so a
-- wrong key never mixes with the right one in the database.
CREATE TABLE secret_key_check (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	value      BLOB    NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
