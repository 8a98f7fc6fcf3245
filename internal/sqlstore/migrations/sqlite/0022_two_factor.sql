-- Two-step verification: one authenticator app per person, pending until
-- its first code is confirmed, and single-use recovery codes.
CREATE TABLE user_totp (
	user_id    INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	secret     BLOB    NOT NULL, -- sealed with the instance's secret key when it has one
	enabled_at INTEGER,          -- NULL while enrollment is pending
	last_step  INTEGER NOT NULL DEFAULT 0, -- the last 30-second step used: a code is good once
	created_at INTEGER NOT NULL
);
CREATE TABLE user_recovery_codes (
	user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	code_hash BLOB    NOT NULL, -- SHA-256 of the code
	PRIMARY KEY (user_id, code_hash)
);
