-- Single sign-on: identities at external providers linked to users. An
-- identity is (provider, issuer, subject), never an email: the email is kept
-- only to show which account at the provider it is.

CREATE TABLE identities (
	id            INTEGER PRIMARY KEY,
	public_id     TEXT    NOT NULL UNIQUE,
	user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	provider      TEXT    NOT NULL,
	issuer        TEXT    NOT NULL,
	subject       TEXT    NOT NULL,
	email         TEXT    NOT NULL DEFAULT '',
	created_at    INTEGER NOT NULL,
	last_login_at INTEGER,
	UNIQUE (provider, issuer, subject)
);
CREATE INDEX identities_user ON identities (user_id);
