package web

import (
	"context"
	"log/slog"
	"strings"

	"github.com/keygate/keygate/internal/keygate"
)

// KeyPolicyJob is the background job of the key policy (hourly, once
// across replicas): it revokes the keys left unused for longer than their
// organization allows, and emails the key's creator and the Owners and
// Admins, through m when there is one, once and 7 days before. Links start
// with baseURL. The time is the store's clock, which tests set.
func KeyPolicyJob(svc keygate.KeyPolicyService, m Mailer, baseURL string, logger *slog.Logger) func(context.Context) error {
	baseURL = strings.TrimSuffix(baseURL, "/")
	return func(ctx context.Context) error {
		sweep, err := svc.SweepUnusedKeys(ctx)
		if err != nil {
			return err
		}
		if sweep.Revoked > 0 {
			logger.Info("key policy revoked unused keys", "count", sweep.Revoked)
		}
		if m == nil {
			return nil
		}
		// The warning is recorded before it is sent: a failed send is
		// logged, never repeated.
		for _, w := range sweep.Warned {
			subject, body := unusedKeyMail(w, baseURL)
			for _, to := range w.Recipients {
				if err := m.Send(ctx, to, subject, body); err != nil {
					logger.Error("send unused key warning", "key", w.KeyPublicID, "error", err.Error())
				}
			}
		}
		return nil
	}
}

// unusedKeyMail is the warning of a key the key policy will revoke.
func unusedKeyMail(w keygate.UnusedKeyWarning, baseURL string) (subject, body string) {
	last := "has never been used"
	if w.LastUsedAt != nil {
		last = "was last used on " + w.LastUsedAt.UTC().Format("2006-01-02")
	}
	body = "The API key “" + w.KeyName + "” (" + w.Hint + ") of " + w.OrgName + " " + last + ".\n\n" +
		"Your organization's key policy revokes keys unused for " + keygate.DaysLabel(w.Days, "") + ": this key will be revoked on " +
		w.RevokeAt.UTC().Format("2006-01-02") + " unless it is used before then.\n\n" +
		"If something still needs it, use it; if nothing does, revoke it now:\n\n" +
		baseURL + "/orgs/" + w.OrgPublicID + "/api-keys/" + w.KeyPublicID + "\n"
	return w.Title(), body
}
