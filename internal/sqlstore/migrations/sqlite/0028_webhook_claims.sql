-- Until when a delivery is claimed by the process sending it (Unix
-- milliseconds), NULL when it is not. A single process on SQLite releases
-- what it had claimed before a crash as soon as it starts again.
ALTER TABLE webhook_deliveries ADD COLUMN claimed_until INTEGER;
