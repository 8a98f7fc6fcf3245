package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

// msgBotsAdmin is the 403 of a Member who tries to change a bot.
const msgBotsAdmin = "You need the Admin role to manage bots"

// handleBots lists the organization's bots, filtered and paged as the API
// lists them.
func (s *Server) handleBots(w http.ResponseWriter, r *http.Request) {
	l := s.layout(r, "Bots", "bots")
	q := r.URL.Query()
	p := views.BotsPage{ListURL: l.Org.URL("bots"), Filter: queryForm(q, "state", "created_from", "created_to")}
	for _, st := range keygate.BotStates {
		p.States = append(p.States, views.Option{Value: st, Label: views.BotStateLabel(st)})
	}
	f := keygate.BotFilter{State: p.Filter.Value("state")}
	f.CreatedAfter, f.CreatedBefore = dateRange(&p.Filter, "created_from", "created_to", "Created from")
	page, err := cursorPage(q)
	f.Page = page
	var bots []*keygate.Bot
	var more bool
	if err == nil && !p.Filter.HasErrors() {
		bots, more, err = s.bots.FindBots(orgContext(r), f)
	}
	if err != nil && keygate.ErrorCode(err) != keygate.EINVALID {
		s.Error(w, r, err)
		return
	} else if err != nil || p.Filter.HasErrors() {
		p.Filter = withFilterError(p.Filter, err)
		s.render(w, r, http.StatusBadRequest, views.BotsListPage(l, p))
		return
	}
	for _, b := range bots {
		p.Rows = append(p.Rows, views.BotRow{ID: b.PublicID, Name: b.BotName, URL: l.Org.URL("bots/" + b.PublicID),
			MeetingURL: b.MeetingURL, State: b.State, JoinTime: s.viewTime(botJoinTime(b)), Created: s.viewTime(&b.CreatedAt)})
	}
	if len(bots) > 0 {
		p.Cursor = cursorLinks(p.ListURL, q, f.Page, len(bots), bots[0].ID, bots[len(bots)-1].ID, more)
	} else if p.None, err = s.noBots(r, p.Filter, f.Page); err != nil {
		s.Error(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, views.BotsListPage(l, p))
}

// noBots reports whether an empty page is empty because the organization
// has no bots at all, rather than because nothing matches.
func (s *Server) noBots(r *http.Request, f views.Form, page keygate.Page) (bool, error) {
	if !filtered(f) && page.After == 0 && page.Before == 0 {
		return true, nil
	}
	one, _, err := s.bots.FindBots(orgContext(r), keygate.BotFilter{Page: keygate.Page{Limit: 1}})
	return len(one) == 0, err
}

// botJoinTime is when a bot joins or joined its meeting: its join_at, or
// its creation for a bot sent at once (or to a join_at already past).
func botJoinTime(b *keygate.Bot) *time.Time {
	if b.JoinAt != nil && b.JoinAt.After(b.CreatedAt) {
		return b.JoinAt
	}
	return &b.CreatedAt
}

// handleBot shows one bot with its state history and conversations.
func (s *Server) handleBot(w http.ResponseWriter, r *http.Request) {
	ctx := orgContext(r)
	bot, err := s.bots.FindBotByID(ctx, r.PathValue("bot"))
	if err != nil {
		s.Error(w, r, notFoundAs(err, "Bot not found."))
		return
	}
	history, err := s.bots.FindBotStateChanges(ctx, bot.PublicID)
	if err != nil {
		s.Error(w, r, notFoundAs(err, "Bot not found."))
		return
	}
	convs, more, err := s.conversations.FindConversations(ctx, keygate.ConversationFilter{BotID: bot.PublicID, Page: keygate.Page{Limit: listPageSize}})
	if err != nil {
		s.Error(w, r, err)
		return
	}
	l := s.layout(r, bot.BotName, "bots")
	s.render(w, r, http.StatusOK, views.BotDetailPage(l, s.botDetail(l, bot, history, convs, more)))
}

// botDetail builds the view of a bot's page.
func (s *Server) botDetail(l views.Layout, b *keygate.Bot, history []keygate.BotStateChange, convs []*keygate.Conversation, more bool) views.BotDetail {
	url := l.Org.URL("bots/" + b.PublicID)
	d := views.BotDetail{
		ID: b.PublicID, Name: b.BotName, MeetingURL: b.MeetingURL, State: b.State,
		JoinTime: s.viewTime(botJoinTime(b)), LeaveTime: s.viewTime(b.EndedAt), Created: s.viewTime(&b.CreatedAt),
		Metadata:  indentJSON(b.Metadata),
		Crumbs:    []views.Crumb{{Label: "Bots", URL: l.Org.URL("bots")}, {Label: b.BotName}},
		CanManage: l.Org.IsAdmin, LeaveURL: url + "/leave", DeleteURL: url + "/delete",
	}
	for _, h := range history {
		d.History = append(d.History, views.BotStateRow{State: h.State, At: s.viewTime(&h.At)})
	}
	for _, c := range convs {
		d.Conversations = append(d.Conversations, s.conversationRow(*l.Org, c))
	}
	if more {
		d.AllConversationsURL = l.Org.URL("conversations") + "?bot_id=" + b.PublicID
	}
	return d
}

// indentJSON lays out a JSON object for reading; "" for none.
func indentJSON(raw json.RawMessage) string {
	var buf bytes.Buffer
	if len(raw) == 0 || json.Indent(&buf, raw, "", "  ") != nil {
		return string(raw)
	}
	return buf.String()
}

// loadBot finds the bot named in the path, as a confirm page needs it.
func (s *Server) loadBot(r *http.Request) (*keygate.Bot, error) {
	bot, err := s.bots.FindBotByID(orgContext(r), r.PathValue("bot"))
	return bot, notFoundAs(err, "Bot not found.")
}

// handleLeaveBotPage asks to confirm Leave meeting, without JavaScript.
func (s *Server) handleLeaveBotPage(w http.ResponseWriter, r *http.Request) {
	bot, err := s.loadBot(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	if bot.State == keygate.BotEnded {
		s.addFlash(w, r, "info", "The bot has already left the meeting.")
		http.Redirect(w, r, "/orgs/"+pageFrom(r).org.PublicID+"/bots/"+bot.PublicID, http.StatusSeeOther)
		return
	}
	s.confirmPage(w, r, "bots", "bots/"+bot.PublicID+"/leave", views.ConfirmDelete{Title: "Leave meeting",
		Question: views.LeaveBotQuestion(bot.BotName), Button: "Leave meeting"})
}

// confirmPage asks, without JavaScript, to confirm the action that posts
// to item/action (a path in the organization, like "bots/bot_…/leave");
// Cancel leads back to item. section is the navigation's active entry.
func (s *Server) confirmPage(w http.ResponseWriter, r *http.Request, section, itemAction string, c views.ConfirmDelete) {
	l := s.layout(r, c.Title, section)
	c.Action = l.Org.URL(itemAction)
	c.CancelURL = c.Action[:strings.LastIndex(c.Action, "/")]
	s.render(w, r, http.StatusOK, views.ConfirmDeletePage(l, c))
}

// handleLeaveBot makes a bot leave its meeting, as POST
// /api/v1/bots/{id}/leave does.
func (s *Server) handleLeaveBot(w http.ResponseWriter, r *http.Request) {
	bot, err := s.bots.LeaveBot(orgContext(r), r.PathValue("bot"))
	switch keygate.ErrorCode(err) {
	case "":
		s.addFlash(w, r, "success", "Bot “"+bot.BotName+"” left the meeting.")
	case keygate.ECONFLICT:
		s.addFlash(w, r, "info", keygate.ErrorMessage(err))
	default:
		s.Error(w, r, notFoundAs(err, "Bot not found."))
		return
	}
	http.Redirect(w, r, "/orgs/"+pageFrom(r).org.PublicID+"/bots/"+r.PathValue("bot"), http.StatusSeeOther)
}

// handleDeleteBotPage asks to confirm Delete, without JavaScript.
func (s *Server) handleDeleteBotPage(w http.ResponseWriter, r *http.Request) {
	bot, err := s.loadBot(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.confirmPage(w, r, "bots", "bots/"+bot.PublicID+"/delete", views.ConfirmDelete{Title: "Delete bot",
		Question: views.DeleteBotQuestion(bot.BotName), Button: "Delete"})
}

// handleDeleteBot deletes a bot, as DELETE /api/v1/bots/{id} does.
func (s *Server) handleDeleteBot(w http.ResponseWriter, r *http.Request) {
	bot, err := s.loadBot(r)
	if err == nil {
		err = notFoundAs(s.bots.DeleteBot(orgContext(r), bot.PublicID), "Bot not found.")
	}
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.addFlash(w, r, "success", "Bot “"+bot.BotName+"” deleted.")
	http.Redirect(w, r, "/orgs/"+pageFrom(r).org.PublicID+"/bots", http.StatusSeeOther)
}
