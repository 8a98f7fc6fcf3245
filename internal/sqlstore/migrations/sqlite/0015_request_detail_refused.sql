-- Requests refused with a 401 for a key that is known but no longer usable
-- (revoked, expired, or stopped with its disabled creator), each request's
-- details for the API logs, and hints that end with the key's end.

-- last_used_* is a key's last successful request (a status below 400);
-- last_attempt_* its last request of any outcome; last_refused_* its last
-- refused one. Until now every request counted as a use.
ALTER TABLE api_keys ADD COLUMN last_attempt_at INTEGER;
ALTER TABLE api_keys ADD COLUMN last_attempt_ip TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN last_attempt_status INTEGER NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN last_refused_at INTEGER;
ALTER TABLE api_keys ADD COLUMN last_refused_ip TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN last_refused_code TEXT NOT NULL DEFAULT '';
UPDATE api_keys SET last_attempt_at = last_used_at, last_attempt_ip = last_used_ip WHERE last_used_at IS NOT NULL;

-- Refused requests per key per hour. They are counted in usage_hourly too
-- (as 4xx): this counts them apart.
CREATE TABLE usage_refused_hourly (
	organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	api_key_id      INTEGER NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
	hour            INTEGER NOT NULL, -- Unix milliseconds at the start of the hour, UTC
	count           INTEGER NOT NULL,
	PRIMARY KEY (api_key_id, hour)
);
CREATE INDEX usage_refused_hourly_org_hour ON usage_refused_hourly (organization_id, hour, count);

-- Each request's details, in its chunk (migrations/0012_request_log_packed.sql):
-- code is the error code of the chunk's responses ('' for successes; it is
-- part of what a chunk's requests share). paths is '' when every request's
-- path is the chunk's route, the one path when they share it, or else a
-- JSON array of each entry's path, in entry order (escaped paths hold no
-- quote, backslash or control character). request_ids holds each entry's
-- X-Request-Id as 8 bytes, big-endian, in entry order: entry k's are bytes
-- k*8+1 to k*8+8. Chunks written before have none.
ALTER TABLE request_log_chunk ADD COLUMN code TEXT NOT NULL DEFAULT '';
ALTER TABLE request_log_chunk ADD COLUMN paths TEXT NOT NULL DEFAULT '';
ALTER TABLE request_log_chunk ADD COLUMN request_ids BLOB;

DROP VIEW request_log;
CREATE VIEW request_log (id, organization_id, api_key_id, method, route, path, status, code, latency_us, ip, user_agent, created_at, request_id) AS
	SELECT c.id * 1024 + j.key, c.organization_id, c.api_key_id, c.method, c.route,
		CASE WHEN c.paths = '' THEN c.route WHEN substr(c.paths, 1, 1) = '[' THEN c.paths ->> j.key ELSE c.paths END,
		c.status, c.code, j.value >> 10, c.ip, c.user_agent, c.second * 1000 + (j.value & 1023),
		lower(hex(substr(c.request_ids, j.key * 8 + 1, 8)))
	FROM request_log_chunk c, json_each(c.entries) j;

-- Hints used to show the first six characters and the three before the
-- six-character checksum (kg_4Nf…8Zp); they now end with the key's last
-- four (kg_4Nf…p8Zq). The secret is not stored, so older hints cannot be
-- redone: a trailing ellipsis (kg_4Nf…8Zp…) says that more of the key
-- follows their last characters.
UPDATE api_keys SET hint = hint || '…' WHERE length(hint) = 10 AND substr(hint, 7, 1) = '…';
