-- Two-step verification: one authenticator app per person, pending until
-- its first code is confirmed, and single-use recovery codes.
CREATE TABLE user_totp (
	user_id    BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	secret     BYTEA  NOT NULL, -- sealed with the instance's secret key when it has one
	enabled_at BIGINT,          -- NULL while enrollment is pending
	last_step  BIGINT NOT NULL DEFAULT 0, -- the last 30-second step used: a code is good once
	created_at BIGINT NOT NULL
);
CREATE TABLE user_recovery_codes (
	user_id   BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	code_hash BYTEA  NOT NULL, -- SHA-256 of the code
	PRIMARY KEY (user_id, code_hash)
);
