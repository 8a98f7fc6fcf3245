-- Single-use links that let a person who forgot their password choose a
-- new one. Only the SHA-256 of the token is kept; the link holds the rest.
CREATE TABLE password_resets (
	id         INTEGER PRIMARY KEY,
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	token_hash BLOB    NOT NULL UNIQUE,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at    INTEGER
);
CREATE INDEX password_resets_user ON password_resets (user_id);

-- Single-use links that confirm a change of email: sent to the new
-- address, which becomes the account's only once the link is followed.
CREATE TABLE email_changes (
	id         INTEGER PRIMARY KEY,
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	new_email  TEXT   NOT NULL, -- trimmed and lower-cased
	token_hash BLOB   NOT NULL UNIQUE,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at    INTEGER
);
CREATE INDEX email_changes_user ON email_changes (user_id);
