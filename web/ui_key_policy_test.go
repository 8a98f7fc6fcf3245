package web_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/mailer"
	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/web"
)

const policyLifetimeMsg = "Your organization's key policy allows keys to live at most 30 days."

// policyForm is the key policy form with every field.
func policyForm(maxDays, unused, leak string, note bool) url.Values {
	v := url.Values{"max_lifetime_days": {maxDays}, "revoke_unused_days": {unused}, "leak_policy": {leak}}
	if note {
		v.Set("note_required", "on")
	}
	return v
}

// setKeyPolicy saves the key policy through its page.
func (f *leakFixture) setKeyPolicy(tb testing.TB, form url.Values) {
	tb.Helper()
	p := f.owner.Post("/orgs/"+f.orgID+"/settings/key-policy", form)
	assertStatus(tb, p, http.StatusSeeOther)
}

func TestKeyPolicyPage(t *testing.T) {
	t.Parallel()
	f := mustLeakFixture(t)
	page := "/orgs/" + f.orgID + "/settings/key-policy"
	p := f.owner.Get("/orgs/" + f.orgID + "/settings")
	assertStatus(t, p, http.StatusOK)
	if got := p.Doc.Find(`nav[aria-label="Organization settings"] a:contains("Key policy")`).AttrOr("href", ""); got != page {
		t.Fatalf("settings nav links Key policy to %q, want %q", got, page)
	}
	p = f.owner.Get(page)
	assertStatus(t, p, http.StatusOK)
	for sel, want := range map[string]string{
		"label[for=f-max_lifetime_days]":   "Maximum lifetime",
		"label[for=f-note_required]":       "Require a note",
		"label[for=f-revoke_unused_days]":  "Revoke keys unused for",
		"[data-testid=leak-policy] legend": "When a key is exposed",
	} {
		if got := p.Text(sel); got != want {
			t.Errorf("%s = %q, want %q", sel, got, want)
		}
	}
	if got := p.Doc.Find("#f-max_lifetime_days option").Map(func(_ int, s *goquery.Selection) string { return strings.TrimSpace(s.Text()) }); strings.Join(got, ",") != "No limit,30 days,90 days,180 days,365 days" {
		t.Errorf("lifetime choices = %v", got)
	}
	if _, ok := p.Doc.Find("#f-leak_policy-notify").Attr("checked"); !ok {
		t.Error("Notify only is not the default")
	}

	t.Run("OK", func(t *testing.T) {
		f.setKeyPolicy(t, policyForm("90", "60", "read_only", true))
		p := f.owner.Get(page)
		if got := p.Doc.Find("#f-max_lifetime_days option[selected]").AttrOr("value", ""); got != "90" {
			t.Errorf("saved lifetime = %q, want 90", got)
		}
		if got := p.Doc.Find("#f-revoke_unused_days option[selected]").AttrOr("value", ""); got != "60" {
			t.Errorf("saved unused days = %q, want 60", got)
		}
		if _, ok := p.Doc.Find("#f-note_required").Attr("checked"); !ok {
			t.Error("Require a note is not checked")
		}
		if _, ok := p.Doc.Find("#f-leak_policy-read_only").Attr("checked"); !ok {
			t.Error("read-only is not checked")
		}
		if got := p.Text("[role=status], .flash"); !strings.Contains(got, "Key policy saved.") {
			t.Errorf("flash = %q", got)
		}
		events := f.app.orgAuditEvents(t, f.user, f.orgID, keygate.AuditOrganizationKeyPolicy)
		if len(events) != 1 || events[0].TargetName != "maximum lifetime 90 days, note required, unused keys revoked after 60 days, exposed keys: make the key read-only" {
			t.Fatalf("audit events = %+v", events)
		}
		log := f.owner.Get("/orgs/" + f.orgID + "/audit-log")
		if !strings.Contains(log.Doc.Find("main").Text(), "key policy changed by Ada") {
			t.Error("the audit log does not say who changed the key policy")
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		p := f.owner.Post(page, policyForm("45", "7", "shred", true))
		assertStatus(t, p, http.StatusBadRequest)
		for field, want := range map[string]string{
			"max_lifetime_days":  "Choose a maximum lifetime from the list.",
			"revoke_unused_days": "Choose after how long unused keys are revoked from the list.",
			"leak_policy":        "Choose what happens to an exposed key.",
		} {
			if got := fieldError(p, field); got != want {
				t.Errorf("%s error = %q, want %q", field, got, want)
			}
		}
		if _, ok := p.Doc.Find("#f-note_required").Attr("checked"); !ok {
			t.Error("the checkbox was not kept")
		}
	})
	t.Run("OldLeakRoute", func(t *testing.T) {
		p := f.owner.Post("/orgs/"+f.orgID+"/settings/leak-policy", url.Values{"leak_policy": {"revoke"}})
		assertStatus(t, p, http.StatusSeeOther)
		if got := p.Header.Get("Location"); !strings.HasPrefix(got, page) {
			t.Errorf("redirect to %q, want the key policy page", got)
		}
		if _, ok := f.owner.Get(page).Doc.Find("#f-leak_policy-revoke").Attr("checked"); !ok {
			t.Error("the leak policy was not saved")
		}
	})
	t.Run("ErrForbidden", func(t *testing.T) {
		mia := MustAddMember(t, f.app, f.orgID, "Mia Member", "mia@example.com", keygate.RoleMember)
		p := mia.Get(page)
		assertStatus(t, p, http.StatusForbidden)
		if !strings.Contains(p.Doc.Find("main").Text(), "You need the Admin role to change the key policy") {
			t.Errorf("403 page says %q", p.Doc.Find("main").Text())
		}
		assertStatus(t, mia.Post(page, policyForm("0", "0", "notify", false)), http.StatusForbidden)
	})
}

func TestKeyPolicyEnforced(t *testing.T) {
	t.Parallel()
	t.Run("DashboardCreateRefused", func(t *testing.T) {
		t.Parallel()
		f := mustLeakFixture(t)
		f.setKeyPolicy(t, policyForm("30", "0", "notify", false))
		list := f.owner.Get("/orgs/" + f.orgID + "/api-keys")
		var choices []string
		list.Doc.Find("#f-expiration option").Each(func(_ int, s *goquery.Selection) { choices = append(choices, s.AttrOr("value", "")) })
		if got, want := strings.Join(choices, ","), "7,30,custom"; got != want {
			t.Errorf("expiration choices = %s, want %s", got, want)
		}
		if got := list.Text("[data-testid=key-policy-hint]"); got != policyLifetimeMsg {
			t.Errorf("policy hint = %q", got)
		}
		form := keyForm("Forever", "production", []string{"read"}, "none")
		form.Set("note", "kept note")
		p := f.owner.Post("/orgs/"+f.orgID+"/api-keys", form)
		assertStatus(t, p, http.StatusBadRequest)
		if got := fieldError(p, "expiration"); got != policyLifetimeMsg {
			t.Fatalf("expiration error = %q, want %q", got, policyLifetimeMsg)
		}
		if got := p.Doc.Find("#f-name").AttrOr("value", ""); got != "Forever" {
			t.Errorf("name kept = %q", got)
		}
		if got := p.Text("#f-note"); got != "kept note" {
			t.Errorf("note kept = %q", got)
		}
		assertStatus(t, f.owner.Post("/orgs/"+f.orgID+"/api-keys", keyForm("Month", "production", []string{"read"}, "30")), http.StatusOK)
	})
	t.Run("APICreateRefused", func(t *testing.T) {
		t.Parallel()
		f := mustLeakFixture(t)
		f.setKeyPolicy(t, policyForm("30", "0", "notify", true))
		admin, _ := f.app.MustKey(t, f.user, f.orgID, keygate.APIKeyCreate{Name: "Admin", Note: "for the test",
			Scopes: []keygate.Scope{keygate.ScopeAdmin}, ExpiresAt: ptrTime(time.Now().Add(24 * time.Hour))})
		r := f.app.API(t, "POST", "/api/v1/keys", "Bearer "+admin, `{"name":"Forever","scopes":["read"],"expires_at":null}`)
		wantAPI(t, r, http.StatusBadRequest, "", "invalid")
		// Field messages are lists under the fields' names, as for any
		// other invalid input.
		var body map[string]json.RawMessage
		if err := json.Unmarshal([]byte(r.Raw), &body); err != nil {
			t.Fatal(err)
		}
		for field, want := range map[string]string{"expires_at": policyLifetimeMsg, "note": keygate.MsgKeyNoteRequired} {
			if got, _ := json.Marshal([]string{want}); string(body[field]) != string(got) {
				t.Errorf("%s = %s, want %s", field, body[field], got)
			}
		}
		// Omitted, expires_at takes the policy's maximum when it is
		// shorter than the default lifetime.
		r = f.app.API(t, "POST", "/api/v1/keys", "Bearer "+admin, `{"name":"Default","scopes":["read"],"note":"why"}`)
		wantAPI(t, r, http.StatusCreated, "", "")
		var k struct {
			ExpiresAt time.Time `json:"expires_at"`
		}
		_ = json.Unmarshal([]byte(r.Raw), &k)
		if d := time.Until(k.ExpiresAt); d > 30*24*time.Hour || d < 29*24*time.Hour {
			t.Errorf("default expiry in %v, want 30 days", d)
		}
	})
	t.Run("NoteRequired", func(t *testing.T) {
		t.Parallel()
		f := mustLeakFixture(t)
		f.setKeyPolicy(t, policyForm("0", "0", "notify", true))
		list := f.owner.Get("/orgs/" + f.orgID + "/api-keys")
		if _, ok := list.Doc.Find("#f-note").Attr("required"); !ok {
			t.Error("the note is not marked required")
		}
		p := f.owner.Post("/orgs/"+f.orgID+"/api-keys", keyForm("No note", "production", []string{"read"}, "30"))
		assertStatus(t, p, http.StatusBadRequest)
		if got := fieldError(p, "note"); got != keygate.MsgKeyNoteRequired {
			t.Fatalf("note error = %q", got)
		}
		edit := url.Values{"name": {"Deploy"}, "environment": {"production"}, "note": {""}}
		p = f.owner.Post("/orgs/"+f.orgID+"/api-keys/"+f.key.PublicID, edit)
		assertStatus(t, p, http.StatusBadRequest)
		if got := fieldError(p, "note"); got != keygate.MsgKeyNoteRequired {
			t.Fatalf("edit note error = %q", got)
		}
		if _, ok := p.Doc.Find("#f-note").Attr("required"); !ok {
			t.Error("the key page's note is not marked required")
		}
	})
	t.Run("RollCapsExpiry", func(t *testing.T) {
		t.Parallel()
		f := mustLeakFixture(t)
		f.setKeyPolicy(t, policyForm("30", "0", "notify", false))
		p := f.owner.Post("/orgs/"+f.orgID+"/api-keys/"+f.key.PublicID+"/roll", url.Values{"grace": {"0"}, "form_token": {"roll-1"}})
		assertStatus(t, p, http.StatusOK)
		keys, _, err := f.app.Keys.FindAPIKeys(keygate.NewContextWithUser(context.Background(), f.user), keygate.APIKeyFilter{OrgPublicID: f.orgID})
		if err != nil || len(keys) != 1 || keys[0].RolledFrom != f.key.PublicID {
			t.Fatalf("keys = %v, %v; want the rolled key", keys, err)
		}
		if e := keys[0].ExpiresAt; e == nil || time.Until(*e) > 30*24*time.Hour {
			t.Errorf("rolled key expires %v, want within 30 days", e)
		}
	})
}

func ptrTime(t time.Time) *time.Time { return &t }

func TestKeyPolicyExposedOverPlainHTTP(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ policy, wantScopes string }{{"read_only", "read"}, {"revoke", "revoked"}} {
		t.Run(tt.policy, func(t *testing.T) {
			t.Parallel()
			f := mustLeakFixture(t)
			f.setKeyPolicy(t, policyForm("0", "0", tt.policy, false))
			plain := httptest.NewServer(f.app.Web.PlainHandler())
			defer plain.Close()
			req, _ := http.NewRequest("GET", plain.URL+"//api/v1/me", nil)
			req.Header.Set("Authorization", "Token "+f.secret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			k, err := f.app.Keys.FindAPIKeyByID(keygate.NewContextWithUser(context.Background(), f.user), f.orgID, f.key.PublicID)
			if err != nil || k.ExposedAt == nil {
				t.Fatalf("key = %+v, %v; want exposed", k, err)
			}
			got := k.Scopes.String()
			if k.RevokedAt != nil {
				got = "revoked"
			}
			if got != tt.wantScopes {
				t.Fatalf("after exposure the key is %s, want %s", got, tt.wantScopes)
			}
		})
	}
}

func TestKeyPolicyHygiene(t *testing.T) {
	t.Parallel()
	f := mustLeakFixture(t)
	f.setKeyPolicy(t, policyForm("90", "0", "notify", true))
	// Saving the policy changed no key.
	if k, _ := f.app.Keys.FindAPIKeyByID(keygate.NewContextWithUser(context.Background(), f.user), f.orgID, f.key.PublicID); k.ExpiresAt != nil {
		t.Fatal("saving the policy set an expiry")
	}
	p := f.owner.Get("/orgs/" + f.orgID)
	assertStatus(t, p, http.StatusOK)
	g := p.Doc.Find("[data-testid=hygiene-key-policy]")
	if got := strings.TrimSpace(g.Find("h3").Text()); !strings.HasPrefix(got, "Breaks the key policy") {
		t.Fatalf("group heading = %q", got)
	}
	if got := g.Find("[data-testid=hygiene-detail]").First().Text(); !strings.Contains(got, "No expiry") || !strings.Contains(got, "no note") {
		t.Errorf("detail = %q", got)
	}
	var fix string
	g.Find("a.button").Each(func(_ int, s *goquery.Selection) {
		if strings.TrimSpace(s.Text()) == "Set expiry to 90 days" {
			fix = s.AttrOr("href", "")
		}
	})
	if fix == "" {
		t.Fatal("no Set expiry to 90 days action")
	}
	confirm := f.owner.Get(fix)
	assertStatus(t, confirm, http.StatusOK)
	action := confirm.Doc.Find("main form[method=post]").AttrOr("action", "")
	if action == "" {
		t.Fatal("no confirmation form")
	}
	done := f.owner.Post(action, url.Values{})
	assertStatus(t, done, http.StatusSeeOther)
	k, _ := f.app.Keys.FindAPIKeyByID(keygate.NewContextWithUser(context.Background(), f.user), f.orgID, f.key.PublicID)
	if k.ExpiresAt == nil || time.Until(*k.ExpiresAt) > 90*24*time.Hour {
		t.Fatalf("key expires %v, want within 90 days", k.ExpiresAt)
	}
	p = f.owner.Get("/orgs/" + f.orgID)
	g = p.Doc.Find("[data-testid=hygiene-key-policy]")
	if got := g.Find("[data-testid=hygiene-detail]").First().Text(); strings.Contains(got, "expiry") {
		t.Errorf("after the fix, detail = %q", got)
	}
	if got := g.Find("a.button").First(); strings.TrimSpace(got.Text()) != "Add a note" || got.AttrOr("href", "") != "/orgs/"+f.orgID+"/api-keys/"+f.key.PublicID+"#f-note" {
		t.Errorf("note action = %q → %q", got.Text(), got.AttrOr("href", ""))
	}
}

func TestKeyPolicyUnusedKeysJob(t *testing.T) {
	t.Parallel()
	f := mustLeakFixture(t)
	f.setKeyPolicy(t, policyForm("0", "30", "notify", false))
	usedSecret, used := f.app.MustKey(t, f.user, f.orgID, keygate.APIKeyCreate{Name: "Used", Scopes: []keygate.Scope{keygate.ScopeRead}})
	m, _ := mailer.New(f.sink.URL(), "keygate@keygate.test")
	job := web.KeyPolicyJob(sqlstore.NewKeyPolicyService(f.app.DB), m, "https://keygate.example", slog.New(slog.NewTextHandler(io.Discard, nil)))
	run := func() {
		t.Helper()
		if err := job(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	f.app.Clock.Advance(22 * 24 * time.Hour)
	wantAPI(t, f.app.API(t, "GET", "/api/v1/me", "Bearer "+usedSecret, ""), http.StatusOK, "", "")
	f.app.Usage.Flush(context.Background())
	f.app.Clock.Advance(24*time.Hour + time.Minute)
	run()
	msgs := f.sink.Messages()
	if len(msgs) != 1 || msgs[0].To != "ada@example.com" {
		t.Fatalf("emails = %+v, want one to ada@example.com", msgs)
	}
	for _, want := range []string{"Deploy", f.key.Hint, "https://keygate.example/orgs/" + f.orgID + "/api-keys/" + f.key.PublicID, "30 days"} {
		if !strings.Contains(msgs[0].Data, want) {
			t.Errorf("email lacks %q: %s", want, msgs[0].Data)
		}
	}
	run()
	if got := len(f.sink.Messages()); got != 1 {
		t.Fatalf("%d emails after a second run, want 1", got)
	}
	f.app.Clock.Advance(7 * 24 * time.Hour)
	run()
	ctx := keygate.NewContextWithUser(context.Background(), f.user)
	if k, _ := f.app.Keys.FindAPIKeyByID(ctx, f.orgID, f.key.PublicID); k.RevokedAt == nil {
		t.Fatal("the unused key was not revoked")
	}
	if k, _ := f.app.Keys.FindAPIKeyByID(ctx, f.orgID, used.PublicID); k.RevokedAt != nil {
		t.Fatal("the used key was revoked")
	}
	events := f.app.orgAuditEvents(t, f.user, f.orgID, keygate.AuditAPIKeyRevoke)
	if len(events) != 1 || events[0].ActorName != keygate.KeyPolicyActor {
		t.Fatalf("revoke events = %+v", events)
	}
	if got := len(f.sink.Messages()); got != 1 {
		t.Errorf("%d emails, want 1", got)
	}
}
