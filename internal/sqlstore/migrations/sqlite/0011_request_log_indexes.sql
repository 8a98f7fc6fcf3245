-- Every API request adds a request_log row and an entry to each of its
-- indexes, so the log keeps only what its readers need, and no foreign
-- keys: their check would look up the organization and the key for every
-- row. The usage flush checks each organization and key of a batch once
-- instead (UsageStore.WriteUsage), and triggers delete the log of a
-- deleted organization or key, as ON DELETE CASCADE did.
CREATE TABLE request_log_new (
	id              INTEGER PRIMARY KEY,
	organization_id INTEGER NOT NULL,
	api_key_id      INTEGER,
	method          TEXT    NOT NULL,
	route           TEXT    NOT NULL,
	status          INTEGER NOT NULL,
	latency_us      INTEGER NOT NULL,
	ip              TEXT    NOT NULL DEFAULT '',
	user_agent      TEXT    NOT NULL DEFAULT '',
	created_at      INTEGER NOT NULL
);
INSERT INTO request_log_new (id, organization_id, api_key_id, method, route, status, latency_us, ip, user_agent, created_at)
	SELECT id, organization_id, api_key_id, method, route, status, latency_us, ip, user_agent, created_at FROM request_log;
DROP TABLE request_log;
ALTER TABLE request_log_new RENAME TO request_log;

CREATE TRIGGER request_log_organization_deleted AFTER DELETE ON organizations
BEGIN
	DELETE FROM request_log WHERE organization_id = OLD.id;
END;
CREATE TRIGGER request_log_key_deleted AFTER DELETE ON api_keys
BEGIN
	DELETE FROM request_log WHERE api_key_id = OLD.id;
END;

-- A time range of the log, and the retention sweep organization by
-- organization.
CREATE INDEX request_log_org_time ON request_log (organization_id, created_at);
-- The log is read newest first by id, with a keyset cursor (id < $n).
-- The top routes and addresses of a key read its rows of the last 30 days
-- from request_log_key_id: the retention sweep leaves little else of the
-- key's log, so they need no time index of their own.
CREATE INDEX request_log_org_id ON request_log (organization_id, id);
CREATE INDEX request_log_key_id ON request_log (api_key_id, id);
-- The route filter, and the distinct routes for its menu.
CREATE INDEX request_log_org_route ON request_log (organization_id, route, id);
-- The status class filter: only errors are indexed. A 2xx filter reads
-- request_log_org_id (or _key_id) and skips the few errors between its
-- rows; 4xx, 429 and 5xx, a small part of most logs, are found here. The
-- expression must stay identical to requestLogClassExpr in
-- monitoring_log.go, and the queries must say status >= 400, or the
-- planner will not use this index.
CREATE INDEX request_log_org_class ON request_log (organization_id,
	(CASE WHEN status = 429 THEN '429' WHEN status >= 500 AND status <= 599 THEN '5xx' WHEN status >= 400 AND status <= 499 THEN '4xx' WHEN status >= 200 AND status <= 399 THEN '2xx' ELSE '' END),
	id) WHERE status >= 400;
