-- Until when a delivery is claimed by the process sending it (Unix
-- milliseconds), NULL when it is not. A single process on SQLite releases
-- what it had claimed before a crash as soon as it starts again.
ALTER TABLE webhook_deliveries ADD COLUMN claimed_until BIGINT;

-- A pending delivery waits (blocked = 1) while an earlier one of its
-- endpoint and ordering key is pending: the worker looks only at the
-- others, however long the queue behind one busy key.
ALTER TABLE webhook_deliveries ADD COLUMN blocked BIGINT NOT NULL DEFAULT 0;
UPDATE webhook_deliveries SET blocked = 1 WHERE state = 'pending' AND EXISTS (SELECT 1 FROM webhook_deliveries p
	WHERE p.endpoint_id = webhook_deliveries.endpoint_id AND p.ordering_key = webhook_deliveries.ordering_key
	AND p.state = 'pending' AND p.id < webhook_deliveries.id);
CREATE INDEX webhook_deliveries_ready ON webhook_deliveries (state, blocked, next_attempt_at);
