package web

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

type botJSON struct {
	ID         string          `json:"id"`
	MeetingURL string          `json:"meeting_url"`
	BotName    string          `json:"bot_name"`
	State      string          `json:"state"`
	JoinAt     *time.Time      `json:"join_at"`
	EndedAt    *time.Time      `json:"ended_at"`
	Metadata   json.RawMessage `json:"metadata"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
}

func toBotJSON(b *keygate.Bot) botJSON {
	md := b.Metadata
	if len(md) == 0 {
		md = json.RawMessage("null")
	}
	return botJSON{ID: b.PublicID, MeetingURL: b.MeetingURL, BotName: b.BotName, State: b.State,
		JoinAt: b.JoinAt, EndedAt: b.EndedAt, Metadata: md, CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt}
}

// appendJSON writes b as encoding/json would (see jsonAppender).
func (b botJSON) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, b.ID)
	dst = append(dst, `,"meeting_url":`...)
	dst = appendJSONString(dst, b.MeetingURL)
	dst = append(dst, `,"bot_name":`...)
	dst = appendJSONString(dst, b.BotName)
	dst = append(dst, `,"state":`...)
	dst = appendJSONString(dst, b.State)
	dst = append(dst, `,"join_at":`...)
	dst = appendJSONTime(dst, b.JoinAt)
	dst = append(dst, `,"ended_at":`...)
	dst = appendJSONTime(dst, b.EndedAt)
	dst = append(dst, `,"metadata":`...)
	dst = appendRawJSON(dst, b.Metadata)
	dst = append(dst, `,"created_at":`...)
	dst = appendJSONTime(dst, &b.CreatedAt)
	dst = append(dst, `,"updated_at":`...)
	dst = appendJSONTime(dst, &b.UpdatedAt)
	return append(dst, '}')
}

func (s *Server) apiCreateBot(w http.ResponseWriter, r *http.Request) {
	obj, ok := decodeObject(w, r)
	if !ok {
		return
	}
	fe := fieldErrors{}
	in := &keygate.BotCreate{}
	in.MeetingURL, _ = obj.str("meeting_url", fe)
	in.BotName, _ = obj.str("bot_name", fe)
	in.JoinAt, _ = obj.timeField("join_at", fe)
	in.Metadata, _ = obj.object("metadata", fe)
	if len(fe) > 0 {
		fe.writeWithChecks(w, in.Validate())
		return
	}
	bot, err := s.bots.CreateBot(r.Context(), in)
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	writeAppendedJSON(w, http.StatusCreated, toBotJSON(bot))
}

func (s *Server) apiListBots(w http.ResponseWriter, r *http.Request) {
	page, ok := parsePage(w, r)
	if !ok {
		return
	}
	bots, more, err := s.bots.FindBots(r.Context(), keygate.BotFilter{State: r.URL.Query().Get("state"), Page: page})
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	writeAppendedList(s, w, r, page, bots, more, func(b *keygate.Bot) int64 { return b.ID }, toBotJSON)
}

func (s *Server) apiGetBot(w http.ResponseWriter, r *http.Request) {
	bot, err := s.bots.FindBotByID(r.Context(), r.PathValue("id"))
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	writeAppendedJSON(w, http.StatusOK, toBotJSON(bot))
}

func (s *Server) apiUpdateBot(w http.ResponseWriter, r *http.Request) {
	obj, ok := decodeObject(w, r)
	if !ok {
		return
	}
	fe := fieldErrors{}
	upd := &keygate.BotUpdate{}
	if name, present := obj.str("bot_name", fe); present {
		upd.BotName = &name
	}
	upd.JoinAt, _ = obj.timeField("join_at", fe)
	upd.Metadata, _ = obj.object("metadata", fe)
	if _, present := obj["meeting_url"]; present {
		fe.add("meeting_url", "This field cannot be changed.")
	}
	if len(fe) > 0 {
		fe.writeWithChecks(w, upd.Validate())
		return
	}
	bot, err := s.bots.UpdateBot(r.Context(), r.PathValue("id"), upd)
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	writeAppendedJSON(w, http.StatusOK, toBotJSON(bot))
}

func (s *Server) apiDeleteBot(w http.ResponseWriter, r *http.Request) {
	if err := s.bots.DeleteBot(r.Context(), r.PathValue("id")); err != nil {
		s.apiErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiLeaveBot(w http.ResponseWriter, r *http.Request) {
	bot, err := s.bots.LeaveBot(r.Context(), r.PathValue("id"))
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	writeAppendedJSON(w, http.StatusOK, toBotJSON(bot))
}
