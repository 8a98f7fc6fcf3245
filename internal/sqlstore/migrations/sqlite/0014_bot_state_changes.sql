-- Each bot's state history, shown on its dashboard page. Every write that
-- changes a bot's stored state adds a row in the same transaction: create,
-- update, leave, and a scheduled bot's move to joining once its join_at has
-- passed (stored, with join_at as its time, by the next write to the bot).

CREATE TABLE bot_state_changes (
	id         INTEGER PRIMARY KEY,
	bot_id     INTEGER NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
	state      TEXT    NOT NULL CHECK (state IN ('scheduled', 'joining', 'ended')),
	changed_at INTEGER NOT NULL
);
CREATE INDEX bot_state_changes_bot ON bot_state_changes (bot_id, changed_at);

-- Bots made before this table: their current stored state, once. An ended
-- bot ended at ended_at; any other bot has been in its state since it was
-- created, as far as anything recorded says.
INSERT INTO bot_state_changes (bot_id, state, changed_at)
SELECT id, state, CASE WHEN state = 'ended' THEN COALESCE(ended_at, updated_at) ELSE created_at END
FROM bots ORDER BY id;
