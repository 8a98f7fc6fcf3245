-- The request log goes back to one row a request, in a table that SQLite
-- and PostgreSQL store and read alike: the packed chunks of
-- 0012_request_log_packed.sql were read with SQLite's json_each, and
-- replicas on one PostgreSQL database append their flushes side by side,
-- each row taking its id from the table. Every request keeps its id
-- (chunk * 1024 + entry), so links to it stay valid, and new rows take
-- ids above them.
--
-- As before, no foreign keys: the usage flush checks each organization
-- and key of a batch once, and triggers delete a deleted organization's or
-- key's log.
CREATE TABLE request_log_rows (
	id              INTEGER PRIMARY KEY,
	organization_id INTEGER NOT NULL,
	api_key_id      INTEGER,
	method          TEXT    NOT NULL,
	route           TEXT    NOT NULL,
	path            TEXT    NOT NULL DEFAULT '', -- '' when it is the route
	status          INTEGER NOT NULL,
	code            TEXT    NOT NULL DEFAULT '',
	latency_us      INTEGER NOT NULL,
	ip              TEXT    NOT NULL DEFAULT '',
	user_agent      TEXT    NOT NULL DEFAULT '',
	created_at      INTEGER NOT NULL, -- Unix milliseconds
	request_id      BLOB              -- X-Request-Id, 8 bytes; NULL when none was logged
);

INSERT INTO request_log_rows (id, organization_id, api_key_id, method, route, path, status, code, latency_us, ip, user_agent, created_at, request_id)
	SELECT c.id * 1024 + j.key, c.organization_id, c.api_key_id, c.method, c.route,
		CASE WHEN c.paths = '' THEN '' WHEN substr(c.paths, 1, 1) = '[' THEN c.paths ->> j.key ELSE c.paths END,
		c.status, c.code, j.value >> 10, c.ip, c.user_agent, c.second * 1000 + (j.value & 1023),
		CASE WHEN length(c.request_ids) >= j.key * 8 + 8 AND substr(c.request_ids, j.key * 8 + 1, 8) <> zeroblob(8)
			THEN substr(c.request_ids, j.key * 8 + 1, 8) END
	FROM request_log_chunk c, json_each(c.entries) j;

DROP VIEW request_log;
DROP TRIGGER request_log_organization_deleted;
DROP TRIGGER request_log_key_deleted;
DROP TABLE request_log_chunk;
ALTER TABLE request_log_rows RENAME TO request_log;

CREATE TRIGGER request_log_organization_deleted AFTER DELETE ON organizations
BEGIN
	DELETE FROM request_log WHERE organization_id = OLD.id;
END;
CREATE TRIGGER request_log_key_deleted AFTER DELETE ON api_keys
BEGIN
	DELETE FROM request_log WHERE api_key_id = OLD.id;
END;

-- The same indexes on both engines (migrations/postgres/0017_request_log_rows.sql).
-- A time range of the log, and the retention sweep organization by
-- organization.
CREATE INDEX request_log_org_time ON request_log (organization_id, created_at);
-- The log newest first, by id; a key's log, and its top routes and
-- addresses.
CREATE INDEX request_log_org_id ON request_log (organization_id, id);
CREATE INDEX request_log_key_id ON request_log (api_key_id, id);
-- The route filter, and the distinct routes for its menu.
CREATE INDEX request_log_org_route ON request_log (organization_id, route, id);
-- The status class filter, errors only (a 2xx filter reads
-- request_log_org_id). The expression must stay identical to
-- requestLogClassExpr in monitoring_log.go, and the queries must say
-- status >= 400, or the planner will not use this index.
CREATE INDEX request_log_org_class ON request_log (organization_id,
	(CASE WHEN status = 429 THEN '429' WHEN status >= 500 AND status <= 599 THEN '5xx' WHEN status >= 400 AND status <= 499 THEN '4xx' WHEN status >= 200 AND status <= 399 THEN '2xx' ELSE '' END),
	id) WHERE status >= 400;
-- The search by request id.
CREATE INDEX request_log_org_request ON request_log (organization_id, request_id) WHERE request_id IS NOT NULL;

-- The overview's figures of the last 30 days and its daily chart read
-- daily sums of the hourly counters: a day's row instead of 24 for each
-- key and class or latency bucket. The usage flush adds to both, and
-- these start from the hourly counters kept so far.
CREATE TABLE usage_daily (
	organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	api_key_id      INTEGER NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
	day             INTEGER NOT NULL, -- Unix milliseconds at the start of the day, UTC
	status_class    TEXT NOT NULL CHECK (status_class IN ('2xx', '4xx', '5xx', '429')),
	count           INTEGER NOT NULL,
	PRIMARY KEY (api_key_id, day, status_class)
);
CREATE INDEX usage_daily_org_class ON usage_daily (organization_id, status_class, day, count);
INSERT INTO usage_daily (organization_id, api_key_id, day, status_class, count)
	SELECT organization_id, api_key_id, hour - hour % 86400000, status_class, SUM(count)
	FROM usage_hourly GROUP BY organization_id, api_key_id, hour - hour % 86400000, status_class;

CREATE TABLE usage_latency_daily (
	organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	api_key_id      INTEGER NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
	day             INTEGER NOT NULL, -- Unix milliseconds at the start of the day, UTC
	bucket          INTEGER NOT NULL,
	count           INTEGER NOT NULL,
	PRIMARY KEY (api_key_id, day, bucket)
);
CREATE INDEX usage_latency_daily_org_bucket ON usage_latency_daily (organization_id, bucket, day, count);
INSERT INTO usage_latency_daily (organization_id, api_key_id, day, bucket, count)
	SELECT organization_id, api_key_id, hour - hour % 86400000, bucket, SUM(count)
	FROM usage_latency_hourly GROUP BY organization_id, api_key_id, hour - hour % 86400000, bucket;
