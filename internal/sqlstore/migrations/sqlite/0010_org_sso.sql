-- Organization single sign-on: an organization's own OpenID Connect
-- provider. The client secret is stored only as AES-256-GCM ciphertext
-- under the master key (internal/secretbox), bound to the organization
-- ("<org public id>|sso"), plus its last four characters for recognition.

CREATE TABLE org_sso (
	organization_id INTEGER PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
	issuer          TEXT    NOT NULL,
	client_id       TEXT    NOT NULL,
	client_secret   BLOB    NOT NULL,
	secret_last4    TEXT    NOT NULL DEFAULT '',
	require_sso     INTEGER NOT NULL DEFAULT 0 CHECK (require_sso IN (0, 1)),
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	updated_by      INTEGER REFERENCES users (id) ON DELETE SET NULL
);

-- The email domains an organization's provider is trusted for. A domain
-- belongs to one organization only: the PRIMARY KEY enforces it.
CREATE TABLE org_sso_domains (
	domain          TEXT    PRIMARY KEY,
	organization_id INTEGER NOT NULL REFERENCES org_sso (organization_id) ON DELETE CASCADE
);
CREATE INDEX org_sso_domains_org ON org_sso_domains (organization_id);
