-- Organization single sign-on: a domain does nothing until its ownership is
-- proven. Each organization's claim of a domain is a row with its own
-- challenge token; the claim is verified by a DNS TXT record
-- _keygate-challenge.<domain> holding the token ('dns'), or by a
-- superuser's approval ('admin'). Several organizations may claim a domain
-- while it is pending (so nobody can squat a name by typing it first), but
-- only one may hold it verified: the partial unique index enforces it.

CREATE TABLE org_sso_domains_new (
	organization_id INTEGER NOT NULL REFERENCES org_sso (organization_id) ON DELETE CASCADE,
	domain          TEXT    NOT NULL,
	token           TEXT    NOT NULL,
	created_at      INTEGER NOT NULL,
	verified_at     INTEGER,
	verified_method TEXT    NOT NULL DEFAULT '' CHECK (verified_method IN ('', 'dns', 'admin')),
	verified_by     INTEGER REFERENCES users (id) ON DELETE SET NULL,
	PRIMARY KEY (organization_id, domain)
);

-- Domains claimed before this release were never proven: they start
-- pending, each with a fresh token.
INSERT INTO org_sso_domains_new (organization_id, domain, token, created_at)
	SELECT d.organization_id, d.domain, 'keygate-' || lower(hex(randomblob(20))), s.updated_at
	FROM org_sso_domains d JOIN org_sso s ON s.organization_id = d.organization_id;

DROP TABLE org_sso_domains;
ALTER TABLE org_sso_domains_new RENAME TO org_sso_domains;

CREATE UNIQUE INDEX org_sso_domains_verified ON org_sso_domains (domain) WHERE verified_at IS NOT NULL;
CREATE INDEX org_sso_domains_domain ON org_sso_domains (domain);
CREATE INDEX org_sso_domains_verified_by ON org_sso_domains (verified_by);

-- An organization's provider could link itself to any existing account
-- whose email it asserted. Links it made to accounts that existed before
-- (an identity younger than its user) are dropped: a member signs in with
-- SSO again to link, which now needs a verified domain and membership.
-- Identities that created their account stay.
DELETE FROM identities
WHERE provider LIKE 'org:%'
  AND created_at > (SELECT u.created_at FROM users u WHERE u.id = identities.user_id);
