-- Passkeys (WebAuthn credentials): a person may have several, each a
-- second step after the password and a way to sign in on its own.
CREATE TABLE user_passkeys (
	id               INTEGER PRIMARY KEY,
	user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name             TEXT    NOT NULL,
	credential_id    BLOB    NOT NULL UNIQUE,
	public_key       BLOB    NOT NULL, -- COSE key: public, no need to seal
	sign_count       INTEGER NOT NULL DEFAULT 0,
	transports       TEXT    NOT NULL DEFAULT '', -- comma-separated, as the authenticator said
	aaguid           BLOB,
	flags            INTEGER NOT NULL DEFAULT 0, -- user present/verified, backup eligible/state
	attestation_type TEXT    NOT NULL DEFAULT '',
	created_at       INTEGER NOT NULL,
	last_used_at     INTEGER
);
CREATE INDEX user_passkeys_user_id ON user_passkeys (user_id);
