-- Reminders of a key's expiry and what people are told of, in the
-- dashboard's bell and by email.
--
-- expiry_notified_for is the expires_at the key's reminders were sent for
-- (a new expiry starts them again); expiry_notified says which were: 1 the
-- 14-day reminder, 2 the 3-day one, 4 the key.expired event, 8 the end of
-- a rolled key's grace period.
ALTER TABLE api_keys ADD COLUMN expiry_notified_for INTEGER;
ALTER TABLE api_keys ADD COLUMN expiry_notified INTEGER NOT NULL DEFAULT 0;
-- Keys that expired before reminders existed are not reminded of it now.
UPDATE api_keys SET expiry_notified_for = expires_at, expiry_notified = 15
	WHERE expires_at IS NOT NULL AND expires_at <= CAST(strftime('%s', 'now') AS INTEGER) * 1000;

CREATE TABLE notifications (
	id              INTEGER PRIMARY KEY,
	public_id       TEXT    NOT NULL UNIQUE,
	user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	api_key_id      INTEGER REFERENCES api_keys (id) ON DELETE CASCADE,
	kind            TEXT    NOT NULL,
	title           TEXT    NOT NULL,
	link            TEXT    NOT NULL,
	created_at      INTEGER NOT NULL,
	read_at         INTEGER
);
CREATE INDEX notifications_user ON notifications (user_id, id);
CREATE INDEX notifications_unread ON notifications (user_id, read_at);
CREATE INDEX notifications_org ON notifications (organization_id);
CREATE INDEX notifications_key ON notifications (api_key_id);

-- The notification kinds a person does not want by email, comma-separated.
ALTER TABLE users ADD COLUMN notification_emails_off TEXT NOT NULL DEFAULT '';
