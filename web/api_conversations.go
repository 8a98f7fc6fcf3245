package web

import (
	"net/http"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

type conversationJSON struct {
	ID           string                      `json:"id"`
	Title        string                      `json:"title"`
	BotID        *string                     `json:"bot_id"`
	StartedAt    *time.Time                  `json:"started_at"`
	EndedAt      *time.Time                  `json:"ended_at"`
	Participants []string                    `json:"participants"`
	Transcript   []keygate.TranscriptSegment `json:"transcript,omitempty"`
	CreatedAt    time.Time                   `json:"created_at"`
}

func toConversationJSON(c *keygate.Conversation) conversationJSON {
	out := conversationJSON{ID: c.PublicID, Title: c.Title, StartedAt: c.StartedAt, EndedAt: c.EndedAt,
		Participants: c.Participants, Transcript: c.Transcript, CreatedAt: c.CreatedAt}
	if c.BotID != "" {
		id := c.BotID
		out.BotID = &id
	}
	if out.Participants == nil {
		out.Participants = []string{}
	}
	return out
}

func (s *Server) apiCreateConversation(w http.ResponseWriter, r *http.Request) {
	obj, ok := decodeObject(w, r)
	if !ok {
		return
	}
	fe := fieldErrors{}
	c := &keygate.Conversation{}
	c.Title, _ = obj.str("title", fe)
	c.BotID, _ = obj.str("bot_id", fe)
	c.StartedAt, _ = obj.timeField("started_at", fe)
	c.EndedAt, _ = obj.timeField("ended_at", fe)
	obj.decodeField("participants", &c.Participants, "Expected a list of names.", fe)
	obj.decodeField("transcript", &c.Transcript, "Expected a list of segments: {speaker, text, start_ms, end_ms}.", fe)
	if len(fe) > 0 {
		norm, checks := keygate.NormalizeConversation(c)
		// The bot is the one check that needs the database: a read.
		if _, bad := fe["bot_id"]; !bad && norm.BotID != "" {
			if _, err := s.bots.FindBotByID(r.Context(), norm.BotID); keygate.ErrorCode(err) == keygate.ENOTFOUND {
				checks.Add("bot_id", keygate.MsgUnknownObject(norm.BotID))
			} else if err != nil {
				s.apiErr(w, r, err)
				return
			}
		}
		fe.writeWithChecks(w, checks)
		return
	}
	out, err := s.conversations.CreateConversation(r.Context(), c)
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toConversationJSON(out))
}

func (s *Server) apiListConversations(w http.ResponseWriter, r *http.Request) {
	page, ok := parsePage(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	fe := fieldErrors{}
	f := keygate.ConversationFilter{BotID: q.Get("bot_id"), Page: page}
	f.StartedAfter = queryTime(q.Get("started_after"), "started_after", fe)
	f.StartedBefore = queryTime(q.Get("started_before"), "started_before", fe)
	if len(fe) > 0 {
		fe.write(w)
		return
	}
	convs, more, err := s.conversations.FindConversations(r.Context(), f)
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	writeList(s, w, r, page, convs, more, func(c *keygate.Conversation) int64 { return c.ID }, toConversationJSON)
}

// queryTime parses an optional RFC 3339 time or YYYY-MM-DD date parameter.
func queryTime(v, name string, fe fieldErrors) *time.Time {
	if v == "" {
		return nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly} {
		if t, err := time.Parse(layout, v); err == nil {
			t = t.UTC()
			return &t
		}
	}
	fe.add(name, "Datetime has wrong format. Use RFC 3339, like 2026-01-31T09:30:00Z, or a date, like 2026-01-31.")
	return nil
}

// isDate reports whether a time parameter was given as a bare YYYY-MM-DD.
func isDate(v string) bool {
	_, err := time.Parse(time.DateOnly, v)
	return err == nil
}

func (s *Server) apiGetConversation(w http.ResponseWriter, r *http.Request) {
	c, err := s.conversations.FindConversationByID(r.Context(), r.PathValue("id"))
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toConversationJSON(c))
}

func (s *Server) apiDeleteConversation(w http.ResponseWriter, r *http.Request) {
	if err := s.conversations.DeleteConversation(r.Context(), r.PathValue("id")); err != nil {
		s.apiErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
