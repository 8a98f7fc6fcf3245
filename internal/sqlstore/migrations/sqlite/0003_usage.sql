-- API usage, written in batches by the usage buffer, never one row per
-- request on the hot path.

-- Per-key rate limit override ("1000/h"); empty means the instance default.
ALTER TABLE api_keys ADD COLUMN rate_limit TEXT NOT NULL DEFAULT '';
-- Set when a real key arrived over plain HTTP: its holder should roll it.
ALTER TABLE api_keys ADD COLUMN exposed_at INTEGER;
ALTER TABLE api_keys ADD COLUMN last_used_user_agent TEXT NOT NULL DEFAULT '';
-- The key that created this key through the API, if one did.
ALTER TABLE api_keys ADD COLUMN created_by_key_id INTEGER REFERENCES api_keys (id) ON DELETE SET NULL;

-- One row per API request, kept for --request-log-retention.
CREATE TABLE request_log (
	id              INTEGER PRIMARY KEY,
	organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	api_key_id      INTEGER REFERENCES api_keys (id) ON DELETE CASCADE,
	method          TEXT    NOT NULL,
	route           TEXT    NOT NULL,
	status          INTEGER NOT NULL,
	latency_us      INTEGER NOT NULL,
	ip              TEXT    NOT NULL DEFAULT '',
	user_agent      TEXT    NOT NULL DEFAULT '',
	created_at      INTEGER NOT NULL
);
CREATE INDEX request_log_org_time ON request_log (organization_id, created_at);
CREATE INDEX request_log_key_time ON request_log (api_key_id, created_at);

-- Requests per key per hour by status class: 2xx, 4xx, 5xx, 429.
CREATE TABLE usage_hourly (
	organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	api_key_id      INTEGER NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
	hour            INTEGER NOT NULL, -- Unix milliseconds at the start of the hour, UTC
	status_class    TEXT    NOT NULL CHECK (status_class IN ('2xx', '4xx', '5xx', '429')),
	count           INTEGER NOT NULL,
	PRIMARY KEY (api_key_id, hour, status_class)
);
CREATE INDEX usage_hourly_org_hour ON usage_hourly (organization_id, hour);
