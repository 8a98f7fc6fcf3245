package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/apikey"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/mailer"
)

const leakURL = "https://github.com/acme/app/blob/main/.env"

// leakFixture is an organization whose Owner signs in to the dashboard,
// with a write key, and a mail sink.
type leakFixture struct {
	app    *App
	sink   *mailer.Sink
	owner  *Client
	orgID  string
	user   *keygate.User
	secret string
	key    *keygate.APIKey
}

func mustLeakFixture(tb testing.TB) *leakFixture {
	tb.Helper()
	sink, err := mailer.NewSink()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { sink.Close() })
	m, _ := mailer.New(sink.URL(), "keygate@keygate.test")
	f := &leakFixture{app: MustOpenAppWithMailer(tb, m), sink: sink}
	f.owner = f.app.NewClient(tb)
	f.orgID = f.owner.MustSignup("Ada", "ada@example.com", "Acme")
	f.user = f.app.MustUser(tb, "ada@example.com")
	f.secret, f.key = f.app.MustKey(tb, f.user, f.orgID, keygate.APIKeyCreate{Name: "Deploy", Scopes: []keygate.Scope{keygate.ScopeWrite}})
	return f
}

// report posts body to the report endpoint, with no key.
func (f *leakFixture) report(tb testing.TB, body string) *APIResponse {
	tb.Helper()
	return f.app.API(tb, "POST", "/api/v1/keys/report-leak", "", body)
}

func (f *leakFixture) reportKey(tb testing.TB, key string) *APIResponse {
	tb.Helper()
	b, _ := json.Marshal(map[string]string{"key": key, "url": leakURL, "source": "a reader"})
	return f.report(tb, string(b))
}

// setPolicy chooses the leak policy through the settings form.
func (f *leakFixture) setPolicy(tb testing.TB, policy string) {
	tb.Helper()
	p := f.owner.Post("/orgs/"+f.orgID+"/settings/leak-policy", url.Values{"leak_policy": {policy}})
	assertStatus(tb, p, http.StatusSeeOther)
}

func TestReportLeak(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		f := mustLeakFixture(t)
		MustAddMember(t, f.app, f.orgID, "Al Admin", "al@example.com", keygate.RoleAdmin)
		MustAddMember(t, f.app, f.orgID, "Mia Member", "mia@example.com", keygate.RoleMember)
		r := f.reportKey(t, f.secret)
		wantAPI(t, r, http.StatusAccepted, "", "")
		if got, want := strings.TrimSpace(r.Raw), `{"received":1}`; got != want {
			t.Fatalf("body = %s, want %s", got, want)
		}
		p := f.owner.Get("/orgs/" + f.orgID + "/api-keys/" + f.key.PublicID)
		assertStatus(t, p, http.StatusOK)
		if got, want := p.Text("[data-testid=key-leak-reported]"), "Reported leaked at "+leakURL+" (a reader)"; !strings.Contains(strings.Join(strings.Fields(got), " "), want) {
			t.Fatalf("key page says %q, want %q", got, want)
		}
		events := f.app.orgAuditEvents(t, f.user, f.orgID, keygate.AuditAPIKeyLeakReported)
		if len(events) != 1 || events[0].TargetID != f.key.PublicID || events[0].ActorName != "Leak report (a reader)" {
			t.Fatalf("audit events = %+v", events)
		}
		msgs := f.sink.Messages()
		var to []string
		for _, m := range msgs {
			to = append(to, m.To)
		}
		if got, want := strings.Join(to, " "), "ada@example.com al@example.com"; got != want {
			t.Fatalf("emailed %q, want %q", got, want)
		}
		for _, want := range []string{f.key.Hint, leakURL, "/orgs/" + f.orgID + "/api-keys/" + f.key.PublicID, "The key still works."} {
			if !strings.Contains(msgs[0].Data, want) {
				t.Errorf("email lacks %q: %s", want, msgs[0].Data)
			}
		}
		if strings.Contains(msgs[0].Data, f.secret) {
			t.Error("email holds the key")
		}
		// The key still works under the default policy.
		wantAPI(t, f.app.API(t, "GET", "/api/v1/me", "Bearer "+f.secret, ""), http.StatusOK, "", "")

		// Reported again at the same URL: nobody is told twice.
		wantAPI(t, f.reportKey(t, f.secret), http.StatusAccepted, "", "")
		if got := len(f.sink.Messages()); got != 2 {
			t.Errorf("%d emails after a repeated report, want 2", got)
		}
	})
	t.Run("ReadOnly", func(t *testing.T) {
		t.Parallel()
		f := mustLeakFixture(t)
		f.setPolicy(t, "read_only")
		if events := f.app.orgAuditEvents(t, f.user, f.orgID, keygate.AuditOrganizationLeakPolicy); len(events) != 1 {
			t.Fatalf("policy audit events = %+v", events)
		}
		write := func() *APIResponse {
			return f.app.API(t, "POST", "/api/v1/bots", "Bearer "+f.secret, `{}`)
		}
		if r := write(); r.StatusCode == http.StatusForbidden {
			t.Fatalf("write refused before the report: %s", r.Raw)
		}
		wantAPI(t, f.reportKey(t, f.secret), http.StatusAccepted, "", "")
		wantAPI(t, write(), http.StatusForbidden, "", "insufficient_scope")
		wantAPI(t, f.app.API(t, "GET", "/api/v1/bots", "Bearer "+f.secret, ""), http.StatusOK, "", "")
		if events := f.app.orgAuditEvents(t, f.user, f.orgID, keygate.AuditAPIKeyMadeReadOnly); len(events) != 1 {
			t.Fatalf("read-only audit events = %+v", events)
		}
		if msgs := f.sink.Messages(); len(msgs) != 1 || !strings.Contains(msgs[0].Data, "made the key read-only") {
			t.Fatalf("emails = %+v", msgs)
		}
	})
	t.Run("Revoke", func(t *testing.T) {
		t.Parallel()
		f := mustLeakFixture(t)
		f.setPolicy(t, "revoke")
		wantAPI(t, f.app.API(t, "GET", "/api/v1/me", "Bearer "+f.secret, ""), http.StatusOK, "", "")
		wantAPI(t, f.reportKey(t, f.secret), http.StatusAccepted, "", "")
		wantAPI(t, f.app.API(t, "GET", "/api/v1/me", "Bearer "+f.secret, ""), http.StatusUnauthorized, "", "token_revoked")
		events := f.app.orgAuditEvents(t, f.user, f.orgID, keygate.AuditAPIKeyRevoke)
		if len(events) != 1 || events[0].TargetID != f.key.PublicID {
			t.Fatalf("revoke audit events = %+v", events)
		}
		if msgs := f.sink.Messages(); len(msgs) != 1 || !strings.Contains(msgs[0].Data, "leak policy revoked the key") {
			t.Fatalf("emails = %+v", msgs)
		}
	})
	t.Run("SameAnswerForAnyKey", func(t *testing.T) {
		t.Parallel()
		f := mustLeakFixture(t)
		// The real key with its last checksum character changed.
		last := byte('A')
		if f.secret[apikey.Len-1] == 'A' {
			last = 'B'
		}
		badChecksum := f.secret[:apikey.Len-1] + string(last)
		for name, key := range map[string]string{
			"real": f.secret, "unknown": apikey.MustGenerate().String(), "bad checksum": badChecksum, "not a key": "hello",
		} {
			r := f.reportKey(t, key)
			if r.StatusCode != http.StatusAccepted || strings.TrimSpace(r.Raw) != `{"received":1}` {
				t.Errorf("%s: %d %s, want 202 {\"received\":1}", name, r.StatusCode, r.Raw)
			}
		}
		if got := len(f.sink.Messages()); got != 1 {
			t.Errorf("%d emails, want 1 (the real key's)", got)
		}
	})
	t.Run("GitHubPayload", func(t *testing.T) {
		t.Parallel()
		f := mustLeakFixture(t)
		r := f.report(t, `[{"token":"`+f.secret+`","type":"keygate_api_key","url":"`+leakURL+`","source":"commit"},
			{"token":"kg_notakey","type":"keygate_api_key","url":"https://example.com","source":"content"}]`)
		wantAPI(t, r, http.StatusAccepted, "", "")
		if got, want := strings.TrimSpace(r.Raw), `{"received":2}`; got != want {
			t.Fatalf("body = %s, want %s", got, want)
		}
		p := f.owner.Get("/orgs/" + f.orgID + "/api-keys/" + f.key.PublicID)
		if got := p.Text("[data-testid=key-leak-reported]"); !strings.Contains(got, "(GitHub commit)") {
			t.Fatalf("key page says %q", got)
		}
	})
	t.Run("ErrBadBody", func(t *testing.T) {
		t.Parallel()
		f := mustLeakFixture(t)
		many := "[" + strings.Repeat(`{"token":"x"},`, 100) + `{"token":"x"}]`
		for _, tc := range []struct{ name, body, code string }{
			{"Malformed", `{"key":`, "parse_error"},
			{"WrongShape", `"kg_"`, "parse_error"},
			{"KeyNotString", `{"key":1}`, "parse_error"},
			{"KeyRequired", `{"url":"https://example.com"}`, "invalid"},
			{"TooMany", many, "invalid"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantAPI(t, f.report(t, tc.body), http.StatusBadRequest, "", tc.code)
			})
		}
	})
	t.Run("ErrRateLimited", func(t *testing.T) {
		t.Parallel()
		f := mustLeakFixture(t)
		for range 10 {
			wantAPI(t, f.reportKey(t, "kg_nothing"), http.StatusAccepted, "", "")
		}
		r := f.reportKey(t, f.secret)
		wantAPI(t, r, http.StatusTooManyRequests, "", "throttled")
		if r.Header.Get("Retry-After") == "" {
			t.Error("no Retry-After")
		}
		if len(f.sink.Messages()) != 0 {
			t.Error("a throttled report was acted on")
		}
	})
}

func TestLeakPolicySettings(t *testing.T) {
	t.Parallel()
	f := mustLeakFixture(t)
	// The choice lives on Settings > Key policy; its own route still saves it.
	settings := "/orgs/" + f.orgID + "/settings"
	page := settings + "/key-policy"
	p := f.owner.Get(page)
	assertStatus(t, p, http.StatusOK)
	if _, ok := p.Doc.Find("#f-leak_policy-notify").Attr("checked"); !ok {
		t.Fatal("the default policy is not checked")
	}
	if got := p.Text("[data-testid=leak-policy] legend"); got != "When a key is exposed" {
		t.Fatalf("legend = %q", got)
	}

	t.Run("OK", func(t *testing.T) {
		f.setPolicy(t, "revoke")
		p := f.owner.Get(page)
		if _, ok := p.Doc.Find("#f-leak_policy-revoke").Attr("checked"); !ok {
			t.Fatal("the saved policy is not checked")
		}
		if !strings.Contains(p.Text("[role=status], .flash"), "Leak policy saved") {
			t.Errorf("flash = %q", p.Text("[role=status], .flash"))
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		p := f.owner.Post(settings+"/leak-policy", url.Values{"leak_policy": {"shred"}})
		assertStatus(t, p, http.StatusBadRequest)
		if got := fieldError(p, "leak_policy"); got != "Choose what happens to a key reported leaked." {
			t.Fatalf("field error = %q", got)
		}
		if got := p.Doc.Find("fieldset[data-testid=leak-policy]").AttrOr("aria-describedby", ""); !strings.Contains(got, "f-leak_policy-error") {
			t.Errorf("the choices are not described by the error: %q", got)
		}
	})
	t.Run("ErrForbidden", func(t *testing.T) {
		mia := MustAddMember(t, f.app, f.orgID, "Mia Member", "mia@example.com", keygate.RoleMember)
		if f.owner.Get(page).Doc.Find("[data-testid=leak-policy]").Length() != 1 {
			t.Fatal("no leak policy choice for the Owner")
		}
		assertStatus(t, mia.Get(page), http.StatusForbidden)
		assertStatus(t, mia.Post(settings+"/leak-policy", url.Values{"leak_policy": {"notify"}}), http.StatusForbidden)
	})
}
