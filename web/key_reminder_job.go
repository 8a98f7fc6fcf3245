package web

import (
	"context"
	"log/slog"
	"strings"

	"github.com/keygate/keygate/internal/keygate"
)

// KeyReminderSweeper writes what is due of the keys' reminders
// (internal/sqlstore's NotificationService).
type KeyReminderSweeper interface {
	SweepKeyReminders(ctx context.Context) (*keygate.KeyReminderSweep, error)
}

// KeyReminderJob is the background job of the keys' reminders (hourly,
// once across replicas): the store writes the key.expiring and
// key.expired events and the bell's notifications, and the job emails the
// reminders, through m when there is one, to those who want them. Links
// start with baseURL.
func KeyReminderJob(svc KeyReminderSweeper, m Mailer, baseURL string, logger *slog.Logger) func(context.Context) error {
	baseURL = strings.TrimSuffix(baseURL, "/")
	return func(ctx context.Context) error {
		sweep, err := svc.SweepKeyReminders(ctx)
		if err != nil {
			return err
		}
		if len(sweep.Reminders) > 0 || sweep.Expired > 0 {
			logger.Info("key reminders", "reminders", len(sweep.Reminders), "expired", sweep.Expired)
		}
		if m == nil {
			return nil
		}
		// A reminder is recorded before it is sent: a failed send is
		// logged, never repeated (the bell still shows it).
		for i := range sweep.Reminders {
			r := &sweep.Reminders[i]
			body := keyReminderMail(r, baseURL)
			for _, to := range r.Recipients {
				if err := m.Send(ctx, to, r.Title(), body); err != nil {
					logger.Error("send key reminder", "key", r.KeyPublicID, "error", err.Error())
				}
			}
		}
		return nil
	}
}

// keyReminderMail is the body of a reminder's email.
func keyReminderMail(r *keygate.KeyReminder, baseURL string) string {
	when := r.ExpiresAt.UTC().Format("Jan 2, 2006 at 15:04 UTC")
	var b strings.Builder
	if r.Kind == keygate.NotifyGraceEnding {
		b.WriteString("The API key “" + r.KeyName + "” (" + r.Hint + ") of " + r.OrgName + " was rolled, and the old key stops working on " + when + ".\n\n")
		b.WriteString("Anything still using the old key gets 401 token_expired from then on: give it the new key before then.\n\n")
	} else {
		b.WriteString("The API key “" + r.KeyName + "” (" + r.Hint + ") of " + r.OrgName + " expires on " + when + ".\n\n")
		b.WriteString("Anything still using it gets 401 token_expired from then on. Roll it now to get a new key with the same name, scopes and permissions, and put the new key where this one is used:\n\n")
	}
	b.WriteString(baseURL + r.KeyPath() + "\n\n")
	b.WriteString("You get this email because you created this key or are an Owner or Admin of " + r.OrgName + ". Choose which emails you get: " +
		baseURL + "/settings/notifications\n")
	return b.String()
}
