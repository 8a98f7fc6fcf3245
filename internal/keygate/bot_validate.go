package keygate

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Messages of the API's field checks (the wording of Django REST
// framework, which API clients already know).
const (
	MsgFieldRequired  = "This field is required."
	MsgInvalidURL     = "Enter a valid URL."
	MsgInvalidTime    = "Enter a valid date and time."
	MsgNotObject      = "Must be a JSON object."
	MsgMetadataSize   = "Must be at most 4 KiB."
	msgBotNameLong    = "Ensure this field has no more than 100 characters."
	msgMeetingURLLong = "Ensure this field has no more than 2048 characters."
)

// Limits of conversation fields.
const (
	MeetingURLMax       = 2048
	ConvTitleMax        = 200
	ConvParticipantsMax = 100
	ConvParticipantMax  = 200
	ConvSegmentsMax     = 10000
	ConvSpeakerMax      = 200
)

// Validate checks a bot to create, every field at once.
func (in *BotCreate) Validate() *ValidationErrors {
	var v ValidationErrors
	if msg := ValidateMeetingURL(strings.TrimSpace(in.MeetingURL)); msg != "" {
		v.Add("meeting_url", msg)
	}
	if msg := ValidateBotName(strings.TrimSpace(in.BotName)); msg != "" {
		v.Add("bot_name", msg)
	}
	if in.JoinAt != nil {
		if msg := ValidateAPITime(*in.JoinAt); msg != "" {
			v.Add("join_at", msg)
		}
	}
	if _, msg := NormalizeMetadata(in.Metadata); msg != "" {
		v.Add("metadata", msg)
	}
	return &v
}

// Validate checks a bot update, every field it sets at once.
func (upd *BotUpdate) Validate() *ValidationErrors {
	var v ValidationErrors
	if upd.BotName != nil {
		if msg := ValidateBotName(strings.TrimSpace(*upd.BotName)); msg != "" {
			v.Add("bot_name", msg)
		}
	}
	if upd.JoinAt != nil {
		if msg := ValidateAPITime(*upd.JoinAt); msg != "" {
			v.Add("join_at", msg)
		}
	}
	if len(upd.Metadata) > 0 {
		if _, msg := NormalizeMetadata(upd.Metadata); msg != "" {
			v.Add("metadata", msg)
		}
	}
	return &v
}

// ValidateMeetingURL returns a message for a bad (trimmed) meeting URL, or "".
func ValidateMeetingURL(s string) string {
	if s == "" {
		return MsgFieldRequired
	}
	if len(s) > MeetingURLMax {
		return msgMeetingURLLong
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" || u.Hostname() == "" {
		return MsgInvalidURL
	}
	return ""
}

// ValidateBotName returns a message for a bad (trimmed) bot name, or "".
func ValidateBotName(s string) string {
	switch {
	case s == "":
		return MsgFieldRequired
	case utf8.RuneCountInString(s) > BotNameMax:
		return msgBotNameLong
	}
	return UnsafeTextMessage(s)
}

// ValidateAPITime refuses a zero time and years outside 1970-9999, which
// no meeting has and which millisecond storage need not round-trip.
func ValidateAPITime(t time.Time) string {
	if y := t.UTC().Year(); t.IsZero() || y < 1970 || y > 9999 {
		return MsgInvalidTime
	}
	return ""
}

// NormalizeMetadata checks metadata and returns it compacted, the form it
// is stored and measured in. Empty input and a JSON null mean "no
// metadata" and return nil.
func NormalizeMetadata(raw json.RawMessage) (json.RawMessage, string) {
	trimmed := bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return nil, ""
	}
	if len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(trimmed) {
		return nil, MsgNotObject
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, trimmed); err != nil {
		return nil, MsgNotObject
	}
	if buf.Len() > MetadataMaxLen {
		return nil, MsgMetadataSize
	}
	return buf.Bytes(), ""
}

// NormalizeConversation checks every field of a conversation that needs
// no database, all at once, and returns a normalized copy: trimmed, with
// times at the milliseconds they are stored with.
func NormalizeConversation(in *Conversation) (*Conversation, *ValidationErrors) {
	var v ValidationErrors
	c := &Conversation{
		Title:     strings.TrimSpace(in.Title),
		BotID:     strings.TrimSpace(in.BotID),
		StartedAt: msTime(in.StartedAt),
		EndedAt:   msTime(in.EndedAt),
	}
	switch {
	case c.Title == "":
		v.Add("title", MsgFieldRequired)
	case utf8.RuneCountInString(c.Title) > ConvTitleMax:
		v.Add("title", "Ensure this field has no more than 200 characters.")
	}
	if c.StartedAt != nil && ValidateAPITime(*c.StartedAt) != "" {
		v.Add("started_at", MsgInvalidTime)
	}
	if c.EndedAt != nil && ValidateAPITime(*c.EndedAt) != "" {
		v.Add("ended_at", MsgInvalidTime)
	}
	if c.StartedAt != nil && c.EndedAt != nil && c.EndedAt.Before(*c.StartedAt) {
		v.Add("ended_at", "Must not be before started_at.")
	}
	var msg string
	if c.Participants, msg = normalizeParticipants(in.Participants); msg != "" {
		v.Add("participants", msg)
	}
	if c.Transcript, msg = normalizeTranscript(in.Transcript); msg != "" {
		v.Add("transcript", msg)
	}
	return c, &v
}

// msTime truncates a time to the milliseconds it is stored with, so that
// what a create returns equals what a later read returns.
func msTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := time.UnixMilli(t.UnixMilli()).UTC()
	return &u
}

// normalizeParticipants trims each name and returns the first problem.
// Indexes in messages count from 0, as in the JSON array.
func normalizeParticipants(in []string) ([]string, string) {
	if len(in) > ConvParticipantsMax {
		return nil, "Ensure this field has no more than 100 elements."
	}
	out := make([]string, len(in))
	for i, p := range in {
		out[i] = strings.TrimSpace(p)
		switch {
		case out[i] == "":
			return nil, "Participant " + strconv.Itoa(i) + ": this field is required."
		case utf8.RuneCountInString(out[i]) > ConvParticipantMax:
			return nil, "Participant " + strconv.Itoa(i) + ": ensure this field has no more than 200 characters."
		}
	}
	return out, ""
}

// normalizeTranscript trims each speaker and returns the first problem,
// naming the segment by its 0-based index in the JSON array.
func normalizeTranscript(in []TranscriptSegment) ([]TranscriptSegment, string) {
	if len(in) > ConvSegmentsMax {
		return nil, "Ensure this field has no more than 10000 segments."
	}
	out := make([]TranscriptSegment, len(in))
	for i, seg := range in {
		seg.Speaker = strings.TrimSpace(seg.Speaker)
		if msg := segmentProblem(seg); msg != "" {
			return nil, "Segment " + strconv.Itoa(i) + ": " + msg
		}
		out[i] = seg
	}
	return out, ""
}

func segmentProblem(seg TranscriptSegment) string {
	switch {
	case seg.Speaker == "":
		return "speaker is required."
	case utf8.RuneCountInString(seg.Speaker) > ConvSpeakerMax:
		return "speaker must have no more than 200 characters."
	case strings.TrimSpace(seg.Text) == "":
		return "text is required."
	case seg.StartMS < 0:
		return "start_ms must not be negative."
	case seg.EndMS < seg.StartMS:
		return "end_ms must not be before start_ms."
	}
	return ""
}

// MsgUnknownObject is the message beside a field naming an id that does
// not exist (in the caller's organization).
func MsgUnknownObject(id string) string { return "Object with id=" + id + " does not exist." }

// ValidateInvitation checks an invitation's email (normalized) and role,
// both at once.
func ValidateInvitation(email string, role Role) *ValidationErrors {
	var v ValidationErrors
	if msg := ValidateEmail(email); msg != "" {
		v.Add("email", msg)
	}
	if !role.Valid() {
		v.Add("role", "Choose a role.")
	}
	return &v
}
