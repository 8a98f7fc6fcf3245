-- Every foreign key leads an index. Deleting a parent row checks, or sets
-- to NULL, the rows that reference it: without an index each deleted row
-- scans the child table (an organization's keys, deleted with it, each
-- scanned api_keys for keys they had created). The lookups of a member's
-- keys and of a user's events use the same indexes.
CREATE INDEX api_keys_created_by ON api_keys (created_by);
CREATE INDEX api_keys_created_by_key ON api_keys (created_by_key_id);
CREATE INDEX api_keys_revoked_by ON api_keys (revoked_by);
CREATE INDEX audit_events_actor ON audit_events (actor_user_id);
CREATE INDEX invitations_invited_by ON invitations (invited_by);
CREATE INDEX invitations_accepted_by ON invitations (accepted_by);
CREATE INDEX integrations_updated_by ON integrations (updated_by);
CREATE INDEX org_sso_updated_by ON org_sso (updated_by);
