package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

// msgConversationsAdmin is the 403 of a Member who tries to delete a
// conversation.
const msgConversationsAdmin = "You need the Admin role to manage conversations"

// botOptionsMax is how many of the newest bots the Bot filter offers.
const botOptionsMax = 100

// handleConversations lists the organization's conversations, filtered and
// paged as the API lists them.
func (s *Server) handleConversations(w http.ResponseWriter, r *http.Request) {
	l := s.layout(r, "Conversations", "conversations")
	q := r.URL.Query()
	p := views.ConversationsPage{ListURL: l.Org.URL("conversations"), Filter: queryForm(q, "started_from", "started_to", "bot_id")}
	f := keygate.ConversationFilter{BotID: p.Filter.Value("bot_id")}
	f.StartedAfter, f.StartedBefore = dateRange(&p.Filter, "started_from", "started_to", "Started from")
	var err error
	if p.Bots, err = s.botOptions(r, &p.Filter); err != nil {
		s.Error(w, r, err)
		return
	}
	page, err := cursorPage(q)
	f.Page = page
	var convs []*keygate.Conversation
	var more bool
	if err == nil && !p.Filter.HasErrors() {
		convs, more, err = s.conversations.FindConversations(orgContext(r), f)
	}
	if err != nil && keygate.ErrorCode(err) != keygate.EINVALID {
		s.Error(w, r, err)
		return
	} else if err != nil || p.Filter.HasErrors() {
		p.Filter = withFilterError(p.Filter, err)
		s.render(w, r, http.StatusBadRequest, views.ConversationsListPage(l, p))
		return
	}
	for _, c := range convs {
		p.Rows = append(p.Rows, s.conversationRow(*l.Org, c))
	}
	if len(convs) > 0 {
		p.Cursor = cursorLinks(p.ListURL, q, f.Page, len(convs), convs[0].ID, convs[len(convs)-1].ID, more)
	} else if p.None, err = s.noConversations(r, p.Filter, f.Page); err != nil {
		s.Error(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, views.ConversationsListPage(l, p))
}

// botOptions lists the newest bots for the Bot filter, and the bot the
// filter names if it is older. A bot the organization does not have is an
// error beside the filter.
func (s *Server) botOptions(r *http.Request, f *views.Form) ([]views.Option, error) {
	bots, _, err := s.bots.FindBots(orgContext(r), keygate.BotFilter{Page: keygate.Page{Limit: botOptionsMax}})
	if err != nil {
		return nil, err
	}
	chosen := f.Value("bot_id")
	var out []views.Option
	for _, b := range bots {
		out = append(out, views.Option{Value: b.PublicID, Label: b.BotName + " (" + b.PublicID + ")"})
		if b.PublicID == chosen {
			chosen = ""
		}
	}
	if chosen == "" {
		return out, nil
	}
	b, err := s.bots.FindBotByID(orgContext(r), chosen)
	switch keygate.ErrorCode(err) {
	case "":
		out = append(out, views.Option{Value: b.PublicID, Label: b.BotName + " (" + b.PublicID + ")"})
	case keygate.ENOTFOUND:
		f.Errors["bot_id"] = msgBadChoice
	default:
		return nil, err
	}
	return out, nil
}

// noConversations reports whether an empty page is empty because the
// organization has no conversations at all.
func (s *Server) noConversations(r *http.Request, f views.Form, page keygate.Page) (bool, error) {
	if !filtered(f) && page.After == 0 && page.Before == 0 {
		return true, nil
	}
	one, _, err := s.conversations.FindConversations(orgContext(r), keygate.ConversationFilter{Page: keygate.Page{Limit: 1}})
	return len(one) == 0, err
}

// conversationRow is a conversation as lists show it.
func (s *Server) conversationRow(org views.Org, c *keygate.Conversation) views.ConversationRow {
	row := views.ConversationRow{ID: c.PublicID, Title: c.Title, URL: org.URL("conversations/" + c.PublicID),
		BotName: c.BotName, Participants: participantsSummary(c.Participants),
		Started: s.viewTime(c.StartedAt), Duration: conversationDuration(c)}
	if c.BotID != "" {
		row.BotURL = org.URL("bots/" + c.BotID)
	}
	return row
}

// participantsSummary names up to three participants and counts the rest.
func participantsSummary(names []string) string {
	switch {
	case len(names) == 0:
		return "None recorded"
	case len(names) <= 3:
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:3], ", ") + " and " + strconv.Itoa(len(names)-3) + " more"
}

// conversationDuration is how long a conversation lasted, from its start
// and end, or "Unknown".
func conversationDuration(c *keygate.Conversation) string {
	if c.StartedAt == nil || c.EndedAt == nil {
		return "Unknown"
	}
	d := c.EndedAt.Sub(*c.StartedAt).Round(time.Second)
	h, m, sec := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	switch {
	case h > 0 && m > 0:
		return fmt.Sprintf("%d h %d min", h, m)
	case h > 0:
		return fmt.Sprintf("%d h", h)
	case m > 0 && sec > 0:
		return fmt.Sprintf("%d min %d s", m, sec)
	case m > 0:
		return fmt.Sprintf("%d min", m)
	}
	return fmt.Sprintf("%d s", sec)
}

// transcriptOffset is a time from the start of a recording: "01:05", or
// "1:02:05" past an hour.
func transcriptOffset(ms int64) string {
	sec := ms / 1000
	if sec >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", sec/3600, sec%3600/60, sec%60)
	}
	return fmt.Sprintf("%02d:%02d", sec/60, sec%60)
}

// handleConversation shows one conversation with its transcript.
func (s *Server) handleConversation(w http.ResponseWriter, r *http.Request) {
	c, err := s.loadConversation(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	l := s.layout(r, c.Title, "conversations")
	row := s.conversationRow(*l.Org, c)
	d := views.ConversationDetail{
		ID: c.PublicID, Title: c.Title, BotName: c.BotName, BotURL: row.BotURL, Participants: c.Participants,
		Started: row.Started, Ended: s.viewTime(c.EndedAt), Duration: row.Duration,
		Crumbs:    []views.Crumb{{Label: "Conversations", URL: l.Org.URL("conversations")}, {Label: c.Title}},
		CanManage: l.Org.IsAdmin, DeleteURL: row.URL + "/delete",
	}
	for _, seg := range c.Transcript {
		d.Transcript = append(d.Transcript, views.TranscriptRow{Speaker: seg.Speaker, Offset: transcriptOffset(seg.StartMS), Text: seg.Text})
	}
	s.render(w, r, http.StatusOK, views.ConversationDetailPage(l, d))
}

// loadConversation finds the conversation named in the path.
func (s *Server) loadConversation(r *http.Request) (*keygate.Conversation, error) {
	c, err := s.conversations.FindConversationByID(orgContext(r), r.PathValue("conv"))
	return c, notFoundAs(err, "Conversation not found.")
}

// handleDeleteConversationPage asks to confirm Delete, without JavaScript.
func (s *Server) handleDeleteConversationPage(w http.ResponseWriter, r *http.Request) {
	c, err := s.loadConversation(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.confirmPage(w, r, "conversations", "conversations/"+c.PublicID+"/delete", views.ConfirmDelete{Title: "Delete conversation",
		Question: views.DeleteConversationQuestion(c.Title), Button: "Delete"})
}

// handleDeleteConversation deletes a conversation, as DELETE
// /api/v1/conversations/{id} does.
func (s *Server) handleDeleteConversation(w http.ResponseWriter, r *http.Request) {
	c, err := s.loadConversation(r)
	if err == nil {
		err = notFoundAs(s.conversations.DeleteConversation(orgContext(r), c.PublicID), "Conversation not found.")
	}
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.addFlash(w, r, "success", "Conversation “"+c.Title+"” deleted.")
	http.Redirect(w, r, "/orgs/"+pageFrom(r).org.PublicID+"/conversations", http.StatusSeeOther)
}
