-- Signed webhooks: an organization's endpoints, the outbox of events its
-- changes write in their own transactions, and one delivery per endpoint
-- and event. Signing secrets are sealed with the instance's secret key.
CREATE TABLE webhook_endpoints (
	id                         INTEGER PRIMARY KEY,
	public_id                  TEXT    NOT NULL UNIQUE,
	organization_id            INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	url                        TEXT    NOT NULL,
	description                TEXT    NOT NULL DEFAULT '',
	events                     TEXT    NOT NULL, -- comma-separated event types
	secret                     BLOB    NOT NULL,
	previous_secret            BLOB,
	previous_secret_expires_at INTEGER,
	created_at                 INTEGER NOT NULL,
	updated_at                 INTEGER NOT NULL,
	disabled_at                INTEGER,
	failing_since              INTEGER
);
CREATE INDEX webhook_endpoints_org ON webhook_endpoints (organization_id, id);

CREATE TABLE webhook_events (
	id              INTEGER PRIMARY KEY,
	public_id       TEXT    NOT NULL UNIQUE, -- msg_..., the webhook-id header
	organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	type            TEXT    NOT NULL,
	ordering_key    TEXT    NOT NULL,
	payload         TEXT    NOT NULL,
	created_at      INTEGER NOT NULL
);
CREATE INDEX webhook_events_org ON webhook_events (organization_id, type, ordering_key, created_at);
CREATE INDEX webhook_events_created ON webhook_events (created_at);

CREATE TABLE webhook_deliveries (
	id              INTEGER PRIMARY KEY,
	public_id       TEXT    NOT NULL UNIQUE,
	endpoint_id     INTEGER NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
	event_id        INTEGER NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
	ordering_key    TEXT    NOT NULL,
	state           TEXT    NOT NULL, -- pending, delivered, failed
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL,
	last_attempt_at INTEGER,
	delivered_at    INTEGER,
	response_code   INTEGER NOT NULL DEFAULT 0,
	duration_ms     INTEGER NOT NULL DEFAULT 0,
	response_body   TEXT    NOT NULL DEFAULT '', -- its first 2 KB
	error           TEXT    NOT NULL DEFAULT '',
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, ordering_key, state, id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created_at);
