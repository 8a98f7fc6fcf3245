-- Keys that guard other services: an organization's own permission names,
-- granted to keys alongside the scopes; per-key address allowlists; the
-- service a request was checked for; and what a leaked key gets.
CREATE TABLE org_permissions (
	id              INTEGER PRIMARY KEY,
	organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	name            TEXT    NOT NULL, -- invoices:read: a-z0-9:._-
	description     TEXT    NOT NULL DEFAULT '',
	created_at      INTEGER NOT NULL,
	UNIQUE (organization_id, name)
);
CREATE TABLE api_key_permissions (
	api_key_id    INTEGER NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
	permission_id INTEGER NOT NULL REFERENCES org_permissions (id) ON DELETE CASCADE,
	PRIMARY KEY (api_key_id, permission_id)
);
CREATE INDEX api_key_permissions_permission ON api_key_permissions (permission_id);

-- CIDRs the key may be used from, comma-separated; '' means anywhere.
ALTER TABLE api_keys ADD COLUMN allowed_ips TEXT NOT NULL DEFAULT '';
-- Where a leak report found the key (a URL), and who reported it.
ALTER TABLE api_keys ADD COLUMN exposed_url TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN exposed_source TEXT NOT NULL DEFAULT '';
-- What a key reported leaked gets: notify, read_only or revoke.
ALTER TABLE organizations ADD COLUMN leak_policy TEXT NOT NULL DEFAULT 'notify';

-- The service a forward-auth or verify call was checked for; '' for
-- Keygate's own API.
ALTER TABLE request_log ADD COLUMN service TEXT NOT NULL DEFAULT '';

-- Calls per key per hour by service ('' for Keygate's own API) and
-- status class, as usage_hourly counts them all.
CREATE TABLE usage_service_hourly (
	organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	api_key_id      INTEGER NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
	hour            INTEGER NOT NULL,
	service         TEXT    NOT NULL,
	status_class    TEXT    NOT NULL CHECK (status_class IN ('2xx', '4xx', '5xx', '429')),
	count           INTEGER NOT NULL,
	PRIMARY KEY (api_key_id, hour, service, status_class)
);
CREATE INDEX usage_service_hourly_org ON usage_service_hourly (organization_id, hour);
