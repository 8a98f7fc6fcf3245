-- Meeting bots, conversations and their transcripts, served by the JSON API.
--
-- bots and conversations use AUTOINCREMENT: the API pages through them with
-- the row id as cursor, and a plain INTEGER PRIMARY KEY may hand the id of a
-- deleted newest row to the next insert, which would move a client's cursor
-- onto a different row. (PostgreSQL sequences never reuse ids either.)

CREATE TABLE bots (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	public_id       TEXT    NOT NULL UNIQUE,
	organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	meeting_url     TEXT    NOT NULL,
	bot_name        TEXT    NOT NULL,
	-- Stored state. A scheduled bot whose join_at has passed reads as joining.
	state           TEXT    NOT NULL CHECK (state IN ('scheduled', 'joining', 'ended')),
	join_at         INTEGER,
	ended_at        INTEGER,
	metadata        TEXT,             -- a JSON object of at most 4 KiB
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL
);
CREATE INDEX bots_org ON bots (organization_id, id);

CREATE TABLE conversations (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	public_id       TEXT    NOT NULL UNIQUE,
	organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	title           TEXT    NOT NULL,
	bot_id          INTEGER REFERENCES bots (id) ON DELETE SET NULL,
	started_at      INTEGER,
	ended_at        INTEGER,
	participants    TEXT    NOT NULL DEFAULT '[]', -- a JSON array of names
	created_at      INTEGER NOT NULL
);
CREATE INDEX conversations_org ON conversations (organization_id, id);
CREATE INDEX conversations_org_started ON conversations (organization_id, started_at);
-- Deleting a bot sets bot_id to NULL here; without an index that is a scan.
CREATE INDEX conversations_bot ON conversations (bot_id);

CREATE TABLE transcript_segments (
	conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
	position        INTEGER NOT NULL, -- 0-based order within the conversation
	speaker         TEXT    NOT NULL,
	text            TEXT    NOT NULL,
	start_ms        INTEGER NOT NULL,
	end_ms          INTEGER NOT NULL,
	PRIMARY KEY (conversation_id, position)
);
