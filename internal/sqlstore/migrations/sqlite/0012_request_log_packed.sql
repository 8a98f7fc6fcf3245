-- The request log is stored packed: one request_log_chunk row holds the
-- requests of one second that share an organization, key, method, route,
-- status, address and user agent (a client calling the same route in a
-- loop fills one row a second instead of a row a request), up to 1,024 of
-- them. Its entries are a JSON array of integers, one per request in the
-- order they were logged: latency_us * 1024 + the millisecond within the
-- second. Entry k of chunk c has the id c * 1024 + k, so ids keep growing
-- with time (by second) and serve as the log's keyset cursor.
--
-- Every index of the log is at chunk level: a row and its five index
-- entries are written once a second for a busy key, not once a request.
--
-- As before, no foreign keys: the usage flush checks each organization
-- and key of a batch once, and triggers delete a deleted organization's or
-- key's log.
CREATE TABLE request_log_chunk (
	id              INTEGER PRIMARY KEY,
	organization_id INTEGER NOT NULL,
	api_key_id      INTEGER,
	method          TEXT    NOT NULL,
	route           TEXT    NOT NULL,
	status          INTEGER NOT NULL,
	ip              TEXT    NOT NULL DEFAULT '',
	user_agent      TEXT    NOT NULL DEFAULT '',
	second          INTEGER NOT NULL, -- Unix seconds of every entry
	n               INTEGER NOT NULL, -- entries
	entries         TEXT    NOT NULL  -- JSON [latency_us * 1024 + millisecond, ...]
);

INSERT INTO request_log_chunk (organization_id, api_key_id, method, route, status, ip, user_agent, second, n, entries)
	SELECT organization_id, api_key_id, method, route, status, ip, user_agent, second, COUNT(*),
		json_group_array(MAX(latency_us, 0) * 1024 + created_at - second * 1000 ORDER BY id)
	FROM (SELECT *, created_at / 1000 AS second,
			(ROW_NUMBER() OVER (PARTITION BY organization_id, api_key_id, method, route, status, ip, user_agent, created_at / 1000 ORDER BY id) - 1) / 1024 AS part
		FROM request_log)
	GROUP BY organization_id, api_key_id, method, route, status, ip, user_agent, second, part
	ORDER BY MIN(id);

DROP TRIGGER request_log_organization_deleted;
DROP TRIGGER request_log_key_deleted;
DROP TABLE request_log;

-- The unpacked log, for reading by hand and for tests: one row a request.
CREATE VIEW request_log (id, organization_id, api_key_id, method, route, status, latency_us, ip, user_agent, created_at) AS
	SELECT c.id * 1024 + j.key, c.organization_id, c.api_key_id, c.method, c.route, c.status, j.value >> 10,
		c.ip, c.user_agent, c.second * 1000 + (j.value & 1023)
	FROM request_log_chunk c, json_each(c.entries) j;

CREATE TRIGGER request_log_organization_deleted AFTER DELETE ON organizations
BEGIN
	DELETE FROM request_log_chunk WHERE organization_id = OLD.id;
END;
CREATE TRIGGER request_log_key_deleted AFTER DELETE ON api_keys
BEGIN
	DELETE FROM request_log_chunk WHERE api_key_id = OLD.id;
END;

-- A time range of the log, and the retention sweep organization by
-- organization.
CREATE INDEX request_log_chunk_org_time ON request_log_chunk (organization_id, second);
-- The log newest first, by id; a key's log, and its top routes and
-- addresses.
CREATE INDEX request_log_chunk_org_id ON request_log_chunk (organization_id, id);
CREATE INDEX request_log_chunk_key_id ON request_log_chunk (api_key_id, id);
-- The route filter, and the distinct routes for its menu.
CREATE INDEX request_log_chunk_org_route ON request_log_chunk (organization_id, route, id);
-- The status class filter, errors only (a 2xx filter reads
-- request_log_chunk_org_id). The expression must stay identical to
-- requestLogClassExpr in monitoring_log.go, and the queries must say
-- status >= 400, or the planner will not use this index.
CREATE INDEX request_log_chunk_org_class ON request_log_chunk (organization_id,
	(CASE WHEN status = 429 THEN '429' WHEN status >= 500 AND status <= 599 THEN '5xx' WHEN status >= 400 AND status <= 499 THEN '4xx' WHEN status >= 200 AND status <= 399 THEN '2xx' ELSE '' END),
	id) WHERE status >= 400;
