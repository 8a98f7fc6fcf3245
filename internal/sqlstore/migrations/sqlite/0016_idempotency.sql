-- Answers to API requests made with an Idempotency-Key, kept for 24 hours
-- so that a retry gets the first answer rather than a second object. A key
-- belongs to one organization and one method and path. The body is the
-- answer as a retry gets it: never with a secret (a new key's secret or an
-- invitation's link), which exists only in the first response.

CREATE TABLE idempotency_keys (
	organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	method          TEXT    NOT NULL,
	path            TEXT    NOT NULL,
	idempotency_key TEXT    NOT NULL,
	-- SHA-256 of the request body in canonical JSON: a retry must send the same.
	request_hash    BLOB    NOT NULL,
	status          INTEGER NOT NULL,
	body            BLOB    NOT NULL,
	created_at      INTEGER NOT NULL,
	PRIMARY KEY (organization_id, method, path, idempotency_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
