-- State that replicas on one database share, so that a person or a client
-- cannot tell which replica answered: rate-limit buckets, login throttles,
-- Idempotency-Keys in flight and the schedule of background jobs. A single
-- SQLite instance keeps the first three in memory instead; the tables
-- exist on both engines so that their schemas stay one.

-- One GCRA bucket per API key (or signup address): its theoretical
-- arrival time. Replicas reserve batches of cells from it.
CREATE TABLE rate_limits (
	bucket BLOB    PRIMARY KEY, -- SHA-256 of the bucket's name
	tat_us INTEGER NOT NULL,    -- Unix microseconds; the bucket is full once it is past
	taken  INTEGER NOT NULL     -- cells the last reservation took
);
CREATE INDEX rate_limits_tat ON rate_limits (tat_us);

-- Recent failures of one login throttle key (an account, an address, a
-- browser), the newest last.
CREATE TABLE throttle_failures (
	key_hash   BLOB    PRIMARY KEY, -- SHA-256 of the key, which names an account or an address
	failures   TEXT    NOT NULL,    -- Unix milliseconds, comma-separated, oldest first
	expires_at INTEGER NOT NULL     -- when the newest failure leaves the window
);
CREATE INDEX throttle_failures_expires ON throttle_failures (expires_at);

-- An API request with an Idempotency-Key being served by some replica.
CREATE TABLE idempotency_claims (
	organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	method          TEXT    NOT NULL,
	path            TEXT    NOT NULL,
	idempotency_key TEXT    NOT NULL,
	token           TEXT    NOT NULL, -- names the claim, so that only its holder releases it
	expires_at      INTEGER NOT NULL, -- a claim left by a replica that stopped lapses then
	PRIMARY KEY (organization_id, method, path, idempotency_key)
);
CREATE INDEX idempotency_claims_expires ON idempotency_claims (expires_at);

-- Background jobs that run once across the replicas: whoever moves
-- next_run_at forward runs the job.
CREATE TABLE scheduled_jobs (
	name            TEXT    PRIMARY KEY,
	next_run_at     INTEGER NOT NULL,
	last_started_at INTEGER NOT NULL
);
