-- Every API request adds a request_log row and an entry to each of its
-- indexes, so the log keeps only the indexes its readers need.
--
-- The top routes and addresses of a key read its rows of the last 30 days,
-- which request_log_key_id finds as well as request_log_key_time did: the
-- retention sweep leaves little else of the key's log.
DROP INDEX request_log_key_time;
-- The retention sweep seeks request_log_org_time organization by
-- organization instead of a time index of its own.
DROP INDEX request_log_time;
-- The status class filter: only errors are indexed. A 2xx filter reads
-- request_log_org_id (or _key_id) and skips the few errors between its
-- rows; 4xx, 429 and 5xx, a small part of most logs, are found here. The
-- expression must stay identical to requestLogClassExpr in
-- monitoring_log.go, and the queries must say status >= 400, or the
-- planner will not use this index.
DROP INDEX request_log_org_class;
CREATE INDEX request_log_org_class ON request_log (organization_id,
	(CASE WHEN status = 429 THEN '429' WHEN status >= 500 AND status <= 599 THEN '5xx' WHEN status >= 400 AND status <= 499 THEN '4xx' WHEN status >= 200 AND status <= 399 THEN '2xx' ELSE '' END),
	id) WHERE status >= 400;
