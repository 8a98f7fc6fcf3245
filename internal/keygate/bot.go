package keygate

import (
	"context"
	"encoding/json"
	"time"
)

// Bot states.
const (
	BotScheduled = "scheduled" // join_at in the future
	BotJoining   = "joining"   // created without join_at
	BotEnded     = "ended"     // left the meeting
)

// BotStates lists the states a filter may name.
var BotStates = []string{BotScheduled, BotJoining, BotEnded}

// Bot is a meeting bot an application sent to a meeting.
type Bot struct {
	ID             int64
	PublicID       string // bot_...
	OrganizationID int64
	MeetingURL     string
	BotName        string
	State          string
	JoinAt         *time.Time
	EndedAt        *time.Time
	Metadata       json.RawMessage // a JSON object, at most 4 KiB; nil when unset
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// BotCreate is what creating a bot takes. The API validates shapes; the
// service validates values.
type BotCreate struct {
	MeetingURL string
	BotName    string
	JoinAt     *time.Time
	Metadata   json.RawMessage
}

// BotUpdate lists what may change on a bot.
type BotUpdate struct {
	BotName  *string
	JoinAt   *time.Time
	Metadata json.RawMessage
}

// Page asks for one page of a list in cursor order (newest first). Cursor
// is opaque to clients: the id of the last row seen.
type Page struct {
	// After returns rows older than this row id; 0 starts at the newest.
	After int64
	// Before returns rows newer than this row id (walking back).
	Before int64
	Limit  int
}

// BotFilter narrows a listing of bots.
type BotFilter struct {
	State string
	// CreatedAfter keeps bots created at or after it; CreatedBefore keeps
	// bots created before it. Nil leaves that end open.
	CreatedAfter  *time.Time
	CreatedBefore *time.Time
	Page          Page
}

// BotStateChange is one change of a bot's state, in its state history.
type BotStateChange struct {
	State string
	At    time.Time
}

// Audit actions on bots and conversations, by the dashboard or the API.
const (
	AuditBotLeave           = "bot.leave"
	AuditBotDelete          = "bot.delete"
	AuditConversationDelete = "conversation.delete"
)

// Limits of bot fields.
const (
	BotNameMax     = 100
	MetadataMaxLen = 4096
)

// BotService manages an organization's bots. Calls act for the API key's
// organization in the context (OrganizationIDFromContext); another
// organization's bot is ENOTFOUND.
type BotService interface {
	// CreateBot validates and stores a bot. Returns EINVALID with fields.
	CreateBot(ctx context.Context, in *BotCreate) (*Bot, error)
	// FindBots lists bots newest first; hasMore says whether older rows exist.
	FindBots(ctx context.Context, f BotFilter) (bots []*Bot, hasMore bool, err error)
	// FindBotByID returns one bot. Returns ENOTFOUND.
	FindBotByID(ctx context.Context, id string) (*Bot, error)
	// FindBotStateChanges returns a bot's state history, oldest first,
	// including a scheduled bot's move to joining once its join_at passed.
	// Returns ENOTFOUND.
	FindBotStateChanges(ctx context.Context, id string) ([]BotStateChange, error)
	// UpdateBot changes a bot. Returns ENOTFOUND, EINVALID.
	UpdateBot(ctx context.Context, id string, upd *BotUpdate) (*Bot, error)
	// DeleteBot deletes a bot and records AuditBotDelete. Returns ENOTFOUND.
	DeleteBot(ctx context.Context, id string) error
	// LeaveBot makes a bot leave its meeting: its state becomes ended, and
	// AuditBotLeave is recorded. Returns ENOTFOUND, ECONFLICT if it
	// already ended.
	LeaveBot(ctx context.Context, id string) (*Bot, error)
}

// Conversation is a recorded conversation with its transcript.
type Conversation struct {
	ID             int64
	PublicID       string // conv_...
	OrganizationID int64
	Title          string
	BotID          string // bot_..., "" when none
	BotName        string // the bot's name, "" when none; output only
	StartedAt      *time.Time
	EndedAt        *time.Time
	Participants   []string
	Transcript     []TranscriptSegment
	CreatedAt      time.Time
}

// TranscriptSegment is one stretch of speech.
type TranscriptSegment struct {
	Speaker string `json:"speaker"`
	Text    string `json:"text"`
	StartMS int64  `json:"start_ms"`
	EndMS   int64  `json:"end_ms"`
}

// ConversationFilter narrows a listing of conversations.
type ConversationFilter struct {
	BotID         string
	StartedAfter  *time.Time
	StartedBefore *time.Time
	Page          Page
}

// ConversationService manages an organization's conversations, acting for
// the organization in the context like BotService.
type ConversationService interface {
	// CreateConversation validates and stores a conversation. Returns
	// EINVALID with fields (an unknown bot_id is a field error).
	CreateConversation(ctx context.Context, c *Conversation) (*Conversation, error)
	// FindConversations lists conversations newest first.
	FindConversations(ctx context.Context, f ConversationFilter) ([]*Conversation, bool, error)
	// FindConversationByID returns one conversation. Returns ENOTFOUND.
	FindConversationByID(ctx context.Context, id string) (*Conversation, error)
	// DeleteConversation deletes one and records AuditConversationDelete.
	// Returns ENOTFOUND.
	DeleteConversation(ctx context.Context, id string) error
}

// Analytics sums up an organization's use of the API over a range.
type Analytics struct {
	From, To          time.Time
	BotsByState       map[string]int
	Conversations     int
	TranscriptMinutes float64
	RequestsPerDay    []DailyRequests
}

// DailyRequests counts one day's API requests by status class.
type DailyRequests struct {
	Day       string `json:"day"` // YYYY-MM-DD, UTC
	Status2xx int    `json:"2xx"`
	Status4xx int    `json:"4xx"`
	Status5xx int    `json:"5xx"`
	Status429 int    `json:"429"`
	Total     int    `json:"total"`
}
