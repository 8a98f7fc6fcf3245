package web

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

// bellItems is how many notifications the bell's menu lists.
const bellItems = 5

// bell is the top bar's notifications for the person of r, nil where
// there are none to show (no person, no notification service, or the
// store failed: a page is never refused for its bell).
func (s *Server) bell(r *http.Request) *views.Bell {
	if s.notifications == nil || pageFrom(r).user == nil {
		return nil
	}
	ctx := r.Context()
	unread, err := s.notifications.CountUnreadNotifications(ctx)
	if err != nil {
		return nil
	}
	b := &views.Bell{Unread: unread}
	list, _, err := s.notifications.FindNotifications(ctx, keygate.Page{Limit: bellItems})
	if err != nil {
		return nil
	}
	for _, n := range list {
		b.Items = append(b.Items, s.notificationItem(n))
	}
	return b
}

func (s *Server) notificationItem(n *keygate.Notification) views.NotificationItem {
	return views.NotificationItem{ID: n.PublicID, Title: n.Title, OrgName: n.OrgName,
		When: views.Time{At: n.CreatedAt, Now: s.now()}, Unread: n.ReadAt == nil}
}

// requireNotifications answers 404 where notifications are not kept.
func (s *Server) requireNotifications(next http.HandlerFunc) http.HandlerFunc {
	return s.requireUser(s.ifWired(s.notifications != nil, next))
}

// handleNotifications lists the person's notifications, newest first.
func (s *Server) handleNotifications(w http.ResponseWriter, r *http.Request) {
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	list, more, err := s.notifications.FindNotifications(r.Context(), keygate.Page{After: max(after, 0), Limit: 25})
	if err != nil {
		s.Error(w, r, err)
		return
	}
	l := s.layout(r, "Notifications", "")
	p := views.Notifications{}
	if l.Bell != nil {
		p.Unread = l.Bell.Unread
	}
	for _, n := range list {
		p.Items = append(p.Items, s.notificationItem(n))
	}
	if more {
		p.OlderURL = "/notifications?after=" + strconv.FormatInt(list[len(list)-1].ID, 10)
	}
	if after > 0 {
		p.NewerURL = "/notifications"
	}
	s.render(w, r, http.StatusOK, views.NotificationsPage(l, p))
}

// handleOpenNotification marks a notification read and goes where it
// leads.
func (s *Server) handleOpenNotification(w http.ResponseWriter, r *http.Request) {
	n, err := s.notifications.OpenNotification(r.Context(), r.PathValue("id"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	http.Redirect(w, r, n.Link, http.StatusSeeOther)
}

// handleReadAllNotifications marks every notification read.
func (s *Server) handleReadAllNotifications(w http.ResponseWriter, r *http.Request) {
	if err := s.notifications.MarkAllNotificationsRead(r.Context()); err != nil {
		s.Error(w, r, err)
		return
	}
	s.addFlash(w, r, "success", "All notifications marked as read.")
	http.Redirect(w, r, "/notifications", http.StatusSeeOther)
}

// handleNotificationSettings shows Settings > Notifications.
func (s *Server) handleNotificationSettings(w http.ResponseWriter, r *http.Request) {
	on, err := s.notifications.NotificationEmails(r.Context())
	if err != nil {
		s.Error(w, r, err)
		return
	}
	p := views.NotificationSettings{NoEmail: s.mailer == nil}
	for _, k := range keygate.NotificationKinds {
		p.Kinds = append(p.Kinds, views.NotificationChoice{Kind: k.Kind, Label: k.Label, Hint: k.Hint, Emailed: on[k.Kind]})
	}
	s.render(w, r, http.StatusOK, views.NotificationSettingsPage(s.layout(r, "Notifications", ""), p))
}

// handleSaveNotificationSettings saves which notifications are emailed:
// the checked ones.
func (s *Server) handleSaveNotificationSettings(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.Error(w, r, keygate.Errorf(keygate.EINVALID, "The form could not be read."))
		return
	}
	on := map[string]bool{}
	for _, k := range keygate.NotificationKinds {
		on[k.Kind] = slices.Contains(r.PostForm["email"], k.Kind)
	}
	if err := s.notifications.SetNotificationEmails(r.Context(), on); err != nil {
		s.Error(w, r, err)
		return
	}
	s.addFlash(w, r, "success", "Notification settings saved.")
	http.Redirect(w, r, "/settings/notifications", http.StatusSeeOther)
}
