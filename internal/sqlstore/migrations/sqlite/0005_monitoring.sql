-- Monitoring: latency histograms, and the indexes the dashboard's usage
-- pages need to stay fast on a request log of a million rows.

-- Requests per key per hour by latency bucket. bucket is the bucket's upper
-- bound in microseconds (usage.LatencyBucketsUS); 9223372036854775807
-- stands for +Inf.
CREATE TABLE usage_latency_hourly (
	organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	api_key_id      INTEGER NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
	hour            INTEGER NOT NULL, -- Unix milliseconds at the start of the hour, UTC
	bucket          INTEGER NOT NULL,
	count           INTEGER NOT NULL,
	PRIMARY KEY (api_key_id, hour, bucket)
);
CREATE INDEX usage_latency_hourly_org_hour ON usage_latency_hourly (organization_id, hour);

-- The organization-wide summary and daily chart. The queries name every
-- bucket (class) in an IN list, so SQLite seeks each one's hours and reads
-- them from the index alone, already grouped: no row lookups and no sort
-- of a month of every key's counters.
CREATE INDEX usage_latency_hourly_org_bucket ON usage_latency_hourly (organization_id, bucket, hour, count);
CREATE INDEX usage_hourly_org_class ON usage_hourly (organization_id, status_class, hour, count);

-- The log is read newest first by id, with a keyset cursor (id < $n): one
-- index per filter whose equality columns come before id, so every filter
-- walks its index backwards and stops after one page.
CREATE INDEX request_log_org_id ON request_log (organization_id, id);
CREATE INDEX request_log_key_id ON request_log (api_key_id, id);
-- The route filter, and the distinct routes for its menu (a skip scan
-- from one route to the next, not a scan of the log).
CREATE INDEX request_log_org_route ON request_log (organization_id, route, id);
-- The status class filter. An index on (organization_id, status, id) would
-- serve 429 alone: the other classes are ranges of statuses, whose rows an
-- index on status returns out of id order, to be sorted in full. The
-- expression must stay identical to requestLogClassExpr in monitoring_log.go,
-- or the planner will not use this index.
CREATE INDEX request_log_org_class ON request_log (organization_id,
	(CASE WHEN status = 429 THEN '429' WHEN status >= 500 AND status <= 599 THEN '5xx' WHEN status >= 400 AND status <= 499 THEN '4xx' WHEN status >= 200 AND status <= 399 THEN '2xx' ELSE '' END),
	id);
-- The retention sweep deletes the oldest rows, in batches.
CREATE INDEX request_log_time ON request_log (created_at);
