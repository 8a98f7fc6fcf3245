package sqlstore_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/secretbox"
	"github.com/keygate/keygate/internal/sqlstore"
)

// integrationTables are the tables an integration write touches.
var integrationTables = []string{"integrations", "audit_events", "secret_key_check"}

// Long, recognisable secrets: finding one in the database files would mean
// it was stored in plaintext.
const (
	zoomSecret     = "ZOOM-CLIENT-SECRET-7f3a9c1e5b2d4f6a8c0e2b4d6f8a0c2e"
	deepgramSecret = "DEEPGRAM-API-KEY-0123456789abcdef0123456789abcdef"
	otherSecret    = "OTHER-SECRET-sk_live_51HfEXAMPLEexampleEXAMPLE42"
)

// mustBox returns a Box for a new random key.
func mustBox(tb testing.TB) *secretbox.Box {
	tb.Helper()
	b, err := secretbox.New(secretbox.GenerateKey())
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// mustSaveIntegration saves in as a and fails the test on error.
func mustSaveIntegration(tb testing.TB, s *sqlstore.IntegrationService, ctx context.Context, orgID string, in keygate.IntegrationSave) *keygate.Integration {
	tb.Helper()
	out, err := s.SaveIntegration(ctx, orgID, &in)
	if err != nil {
		tb.Fatalf("save %s: %v", in.Kind, err)
	}
	return out
}

// mustDecrypt returns an integration's plaintext secret.
func mustDecrypt(tb testing.TB, s *sqlstore.IntegrationService, orgID string, kind keygate.IntegrationKind, name string) string {
	tb.Helper()
	got, err := s.DecryptSecret(context.Background(), orgID, kind, name)
	if err != nil {
		tb.Fatalf("decrypt %s %q: %v", kind, name, err)
	}
	return got
}

// sealedSecrets returns every stored ciphertext by row id, and the key check.
func sealedSecrets(tb testing.TB, db *sqlstore.DB) (map[int64][]byte, []byte) {
	tb.Helper()
	rows, err := db.WriteConn().Query(`SELECT id, secret FROM integrations`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	out := map[int64][]byte{}
	for rows.Next() {
		var id int64
		var v []byte
		if err := rows.Scan(&id, &v); err != nil {
			tb.Fatal(err)
		}
		out[id] = v
	}
	var check []byte
	if err := db.WriteConn().QueryRow(`SELECT value FROM secret_key_check`).Scan(&check); err != nil {
		tb.Fatal(err)
	}
	return out, check
}

func keyCtx(org *keygate.Organization, scopes ...keygate.Scope) context.Context {
	return keygate.NewContextWithKey(context.Background(), &keygate.KeyActor{
		KeyID: 1, PublicID: "key_test", Name: "ci", OrganizationID: org.ID, OrgPublicID: org.PublicID, Scopes: keygate.NewScopes(scopes...),
	})
}

func TestIntegrationService_SaveIntegration(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		f := mustOrgFixture(t)
		s := sqlstore.NewIntegrationService(f.db, mustBox(t))
		tests := []struct {
			actor     actor
			in        keygate.IntegrationSave
			wantTitle string
			wantLast4 string
		}{
			{asOwner, keygate.IntegrationSave{Kind: keygate.IntegrationZoom, ClientID: " zoom-client-id ", Secret: zoomSecret + "\n"}, "Zoom OAuth app", "0c2e"},
			{asAdmin, keygate.IntegrationSave{Kind: keygate.IntegrationDeepgram, Secret: deepgramSecret}, "Deepgram API key", "cdef"},
			{asAdmin, keygate.IntegrationSave{Kind: keygate.IntegrationOther, Name: " Stripe ", Secret: otherSecret}, "Stripe", "LE42"},
		}
		for _, tt := range tests {
			got := mustSaveIntegration(t, s, f.ctx(tt.actor), f.org.PublicID, tt.in)
			if got.Title() != tt.wantTitle || got.SecretLast4 != tt.wantLast4 || got.MaskedSecret() != "••••••••"+tt.wantLast4 {
				t.Fatalf("saved %+v: title %q, masked %q", got, got.Title(), got.MaskedSecret())
			}
			if got.UpdatedByName != f.user(tt.actor).Name || !got.CreatedAt.Equal(accountTestStart) || !got.UpdatedAt.Equal(accountTestStart) {
				t.Fatalf("saved %+v", got)
			}
		}
		if got, want := mustDecrypt(t, s, f.org.PublicID, keygate.IntegrationZoom, ""), zoomSecret; got != want {
			t.Fatalf("zoom secret = %q, want %q (trimmed)", got, want)
		}
		if got, want := mustDecrypt(t, s, f.org.PublicID, keygate.IntegrationDeepgram, ""), deepgramSecret; got != want {
			t.Fatalf("deepgram secret = %q", got)
		}
		if got, want := mustDecrypt(t, s, f.org.PublicID, keygate.IntegrationOther, "Stripe"), otherSecret; got != want {
			t.Fatalf("other secret = %q", got)
		}
		list, err := s.FindIntegrations(f.ctx(asAdmin), f.org.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 3 || list[0].Kind != keygate.IntegrationZoom || list[0].ClientID != "zoom-client-id" ||
			list[1].Kind != keygate.IntegrationDeepgram || list[2].Name != "Stripe" {
			t.Fatalf("list = %+v %+v %+v", list[0], list[1], list[2])
		}
		if got := countAudit(t, f.db, f.org.ID, keygate.AuditIntegrationSave); got != 3 {
			t.Fatalf("integration.save events = %d, want 3", got)
		}
		var parts []string
		rows, err := f.db.WriteConn().Query(`SELECT target_type || ':' || target_id || ':' || target_name || ':' || actor_name FROM audit_events WHERE action = $1 ORDER BY id`,
			keygate.AuditIntegrationSave)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var p string
			rows.Scan(&p)
			parts = append(parts, p)
		}
		rows.Close()
		names := strings.Join(parts, ",")
		if got, want := names, "integration:zoom:Zoom OAuth app:Olivia Owner,integration:deepgram:Deepgram API key:Adam Admin,integration:other:Stripe:Adam Admin"; got != want {
			t.Fatalf("events = %q, want %q", got, want)
		}
		if got := countRows(t, f.db, "secret_key_check"); got != 1 {
			t.Fatalf("key checks = %d, want 1 (made at first use)", got)
		}
	})

	t.Run("OKReplace", func(t *testing.T) {
		f := mustOrgFixture(t)
		s := sqlstore.NewIntegrationService(f.db, mustBox(t))
		mustSaveIntegration(t, s, f.ctx(asOwner), f.org.PublicID, keygate.IntegrationSave{Kind: keygate.IntegrationZoom, ClientID: "old-id", Secret: "old-secret-old-secret"})
		f.clock.Advance(time.Hour)
		got := mustSaveIntegration(t, s, f.ctx(asAdmin), f.org.PublicID, keygate.IntegrationSave{Kind: keygate.IntegrationZoom, ClientID: "new-id", Secret: zoomSecret})
		if got.ClientID != "new-id" || got.SecretLast4 != "0c2e" || !got.CreatedAt.Equal(accountTestStart) || !got.UpdatedAt.Equal(accountTestStart.Add(time.Hour)) || got.UpdatedByName != "Adam Admin" {
			t.Fatalf("replaced = %+v", got)
		}
		if n := countRows(t, f.db, "integrations"); n != 1 {
			t.Fatalf("rows = %d, want 1", n)
		}
		if got := mustDecrypt(t, s, f.org.PublicID, keygate.IntegrationZoom, ""); got != zoomSecret {
			t.Fatalf("secret = %q", got)
		}
		if got := countAudit(t, f.db, f.org.ID, keygate.AuditIntegrationSave); got != 2 {
			t.Fatalf("events = %d, want 2", got)
		}
	})

	t.Run("OKSeveralOther", func(t *testing.T) {
		f := mustOrgFixture(t)
		s := sqlstore.NewIntegrationService(f.db, mustBox(t))
		for _, name := range []string{"Twilio", "OpenAI", "twilio"} {
			mustSaveIntegration(t, s, f.ctx(asOwner), f.org.PublicID, keygate.IntegrationSave{Kind: keygate.IntegrationOther, Name: name, Secret: "secret of " + name})
		}
		for _, name := range []string{"Twilio", "OpenAI", "twilio"} {
			if got := mustDecrypt(t, s, f.org.PublicID, keygate.IntegrationOther, name); got != "secret of "+name {
				t.Fatalf("%s: %q", name, got)
			}
		}
		if n := countRows(t, f.db, "integrations"); n != 3 {
			t.Fatalf("rows = %d", n)
		}
	})

	t.Run("OKShortSecretShowsNothing", func(t *testing.T) {
		f := mustOrgFixture(t)
		s := sqlstore.NewIntegrationService(f.db, mustBox(t))
		got := mustSaveIntegration(t, s, f.ctx(asOwner), f.org.PublicID, keygate.IntegrationSave{Kind: keygate.IntegrationDeepgram, Secret: "short-key"})
		if got.SecretLast4 != "" || got.MaskedSecret() != "••••••••" {
			t.Fatalf("short secret shown as %q", got.MaskedSecret())
		}
	})

	t.Run("OKAPIKeyWithAdminScope", func(t *testing.T) {
		f := mustOrgFixture(t)
		s := sqlstore.NewIntegrationService(f.db, mustBox(t))
		mustSaveIntegration(t, s, keyCtx(f.org, keygate.ScopeAdmin), f.org.PublicID, keygate.IntegrationSave{Kind: keygate.IntegrationDeepgram, Secret: deepgramSecret})
		list, err := s.FindIntegrations(keyCtx(f.org, keygate.ScopeAdmin), f.org.PublicID)
		if err != nil || len(list) != 1 || list[0].UpdatedByName != "" {
			t.Fatalf("list = %v, %v", list, err)
		}
		var actorName string
		f.db.WriteConn().QueryRow(`SELECT actor_name FROM audit_events WHERE action = $1`, keygate.AuditIntegrationSave).Scan(&actorName)
		if got, want := actorName, "API key “ci” (key_test)"; got != want {
			t.Fatalf("actor = %q, want %q", got, want)
		}
	})

	long := strings.Repeat("x", keygate.MaxIntegrationSecretBytes+1)
	errTests := []struct {
		name       string
		actor      actor
		ctx        context.Context // overrides actor when set
		in         keygate.IntegrationSave
		wantCode   string
		wantMsg    string
		wantFields map[string]string
	}{
		{name: "ErrZoomRequired", actor: asOwner, in: keygate.IntegrationSave{Kind: keygate.IntegrationZoom, ClientID: "  ", Secret: " \n"},
			wantFields: map[string]string{"client_id": "Client ID is required.", "client_secret": "Client Secret is required."}},
		{name: "ErrZoomClientIDTooLong", actor: asOwner, in: keygate.IntegrationSave{Kind: keygate.IntegrationZoom, ClientID: strings.Repeat("i", 256), Secret: zoomSecret},
			wantFields: map[string]string{"client_id": "Client ID must be at most 255 characters."}},
		{name: "ErrDeepgramRequired", actor: asOwner, in: keygate.IntegrationSave{Kind: keygate.IntegrationDeepgram},
			wantFields: map[string]string{"api_key": "API key is required."}},
		{name: "ErrOtherRequired", actor: asOwner, in: keygate.IntegrationSave{Kind: keygate.IntegrationOther},
			wantFields: map[string]string{"name": "Name is required.", "secret": "Secret is required."}},
		{name: "ErrOtherNameTooLong", actor: asOwner, in: keygate.IntegrationSave{Kind: keygate.IntegrationOther, Name: strings.Repeat("é", 101), Secret: otherSecret},
			wantFields: map[string]string{"name": "Name must be at most 100 characters."}},
		{name: "ErrSecretTooLong", actor: asOwner, in: keygate.IntegrationSave{Kind: keygate.IntegrationDeepgram, Secret: long},
			wantFields: map[string]string{"api_key": "API key must be at most 4096 bytes."}},
		{name: "ErrSecretTooLongMultibyte", actor: asOwner, in: keygate.IntegrationSave{Kind: keygate.IntegrationOther, Name: "n", Secret: strings.Repeat("€", 1366)},
			wantFields: map[string]string{"secret": "Secret must be at most 4096 bytes."}},
		{name: "ErrUnknownKind", actor: asOwner, in: keygate.IntegrationSave{Kind: "slack", Secret: otherSecret},
			wantCode: keygate.EINVALID, wantMsg: `Unknown integration "slack".`},
		{name: "ErrForbiddenMember", actor: asMember, in: keygate.IntegrationSave{Kind: keygate.IntegrationDeepgram, Secret: deepgramSecret},
			wantCode: keygate.EFORBIDDEN, wantMsg: "You need the Admin role to manage integrations"},
		{name: "ErrForbiddenKeyWithoutAdmin", in: keygate.IntegrationSave{Kind: keygate.IntegrationDeepgram, Secret: deepgramSecret},
			wantCode: keygate.EFORBIDDEN, wantMsg: "You need the Admin role to manage integrations"},
		{name: "ErrNotFoundOutsider", actor: asOutsider, in: keygate.IntegrationSave{Kind: keygate.IntegrationDeepgram, Secret: deepgramSecret},
			wantCode: keygate.ENOTFOUND, wantMsg: "Organization not found."},
		{name: "ErrUnauthorized", actor: nobody, in: keygate.IntegrationSave{Kind: keygate.IntegrationDeepgram, Secret: deepgramSecret},
			wantCode: keygate.EUNAUTHORIZED, wantMsg: "You must be logged in."},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustOrgFixture(t)
			s := sqlstore.NewIntegrationService(f.db, mustBox(t))
			ctx := f.ctx(tt.actor)
			if tt.name == "ErrForbiddenKeyWithoutAdmin" {
				ctx = keyCtx(f.org, keygate.ScopeRead, keygate.ScopeWrite)
			}
			before := tableCounts(t, f.db, integrationTables...)
			in := tt.in
			_, err := s.SaveIntegration(ctx, f.org.PublicID, &in)
			if tt.wantFields != nil {
				assertFields(t, err, tt.wantFields)
			} else {
				assertError(t, err, tt.wantCode, tt.wantMsg)
			}
			assertCounts(t, f.db, before)
		})
	}
}

func TestIntegrationService_DeleteIntegration(t *testing.T) {
	t.Parallel()
	f := mustOrgFixture(t)
	s := sqlstore.NewIntegrationService(f.db, mustBox(t))
	mustSaveIntegration(t, s, f.ctx(asOwner), f.org.PublicID, keygate.IntegrationSave{Kind: keygate.IntegrationZoom, ClientID: "id", Secret: zoomSecret})
	mustSaveIntegration(t, s, f.ctx(asOwner), f.org.PublicID, keygate.IntegrationSave{Kind: keygate.IntegrationOther, Name: "Twilio", Secret: otherSecret})
	mustSaveIntegration(t, s, f.ctx(asOutsider), f.outsiderOrg.PublicID, keygate.IntegrationSave{Kind: keygate.IntegrationZoom, ClientID: "id", Secret: zoomSecret})

	for _, tt := range []struct {
		name     string
		actor    actor
		kind     keygate.IntegrationKind
		iname    string
		wantCode string
		wantMsg  string
	}{
		{"ErrForbiddenMember", asMember, keygate.IntegrationZoom, "", keygate.EFORBIDDEN, "You need the Admin role to manage integrations"},
		{"ErrNotFoundOutsider", asOutsider, keygate.IntegrationZoom, "", keygate.ENOTFOUND, "Organization not found."},
		{"ErrNotFoundNone", asAdmin, keygate.IntegrationDeepgram, "", keygate.ENOTFOUND, "Integration not found."},
		{"ErrNotFoundOtherName", asAdmin, keygate.IntegrationOther, "Stripe", keygate.ENOTFOUND, "Integration not found."},
		{"ErrNotFoundOtherNoName", asAdmin, keygate.IntegrationOther, "", keygate.ENOTFOUND, "Integration not found."},
		{"ErrNotFoundNameOnZoom", asAdmin, keygate.IntegrationZoom, "Twilio", keygate.ENOTFOUND, "Integration not found."},
		{"ErrNotFoundKind", asAdmin, "slack", "", keygate.ENOTFOUND, "Integration not found."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := tableCounts(t, f.db, integrationTables...)
			_, err := s.DeleteIntegration(f.ctx(tt.actor), f.org.PublicID, tt.kind, tt.iname)
			assertError(t, err, tt.wantCode, tt.wantMsg)
			assertCounts(t, f.db, before)
		})
	}

	t.Run("OK", func(t *testing.T) {
		got, err := s.DeleteIntegration(f.ctx(asAdmin), f.org.PublicID, keygate.IntegrationZoom, "")
		if err != nil {
			t.Fatal(err)
		}
		if got.Title() != "Zoom OAuth app" {
			t.Fatalf("deleted %+v", got)
		}
		got, err = s.DeleteIntegration(f.ctx(asOwner), f.org.PublicID, keygate.IntegrationOther, "Twilio")
		if err != nil || got.Title() != "Twilio" {
			t.Fatalf("deleted %+v, %v", got, err)
		}
		if list, _ := s.FindIntegrations(f.ctx(asOwner), f.org.PublicID); len(list) != 0 {
			t.Fatalf("left %d", len(list))
		}
		// The other organization's Zoom app is untouched.
		if got := mustDecrypt(t, s, f.outsiderOrg.PublicID, keygate.IntegrationZoom, ""); got != zoomSecret {
			t.Fatalf("outsider's secret = %q", got)
		}
		if got := countAudit(t, f.db, f.org.ID, keygate.AuditIntegrationDelete); got != 2 {
			t.Fatalf("integration.delete events = %d, want 2", got)
		}
		_, err = s.DeleteIntegration(f.ctx(asOwner), f.org.PublicID, keygate.IntegrationZoom, "")
		assertError(t, err, keygate.ENOTFOUND, "Integration not found.")
	})
}

func TestIntegrationService_FindIntegrations(t *testing.T) {
	t.Parallel()
	f := mustOrgFixture(t)
	s := sqlstore.NewIntegrationService(f.db, mustBox(t))
	for _, tt := range []struct {
		name     string
		actor    actor
		wantCode string
	}{
		{"ErrForbiddenMember", asMember, keygate.EFORBIDDEN},
		{"ErrNotFoundOutsider", asOutsider, keygate.ENOTFOUND},
		{"ErrUnauthorized", nobody, keygate.EUNAUTHORIZED},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.FindIntegrations(f.ctx(tt.actor), f.org.PublicID)
			if got := keygate.ErrorCode(err); got != tt.wantCode {
				t.Fatalf("code = %q, want %q", got, tt.wantCode)
			}
		})
	}
	t.Run("OKEmpty", func(t *testing.T) {
		list, err := s.FindIntegrations(f.ctx(asAdmin), f.org.PublicID)
		if err != nil || len(list) != 0 {
			t.Fatalf("list = %v, %v", list, err)
		}
	})
	t.Run("OKOrganizationDeletedCascades", func(t *testing.T) {
		mustSaveIntegration(t, s, f.ctx(asOutsider), f.outsiderOrg.PublicID, keygate.IntegrationSave{Kind: keygate.IntegrationDeepgram, Secret: deepgramSecret})
		if err := f.orgs.DeleteOrganization(f.ctx(asOutsider), f.outsiderOrg.PublicID, f.outsiderOrg.Name); err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, f.db, "integrations"); n != 0 {
			t.Fatalf("rows = %d after the organization was deleted", n)
		}
	})
}

// TestIntegrationService_EncryptedAtRest reads the database's files, the
// WAL included, and finds no stored secret in them.
func TestIntegrationService_EncryptedAtRest(t *testing.T) {
	t.Parallel()
	skipOnPostgres(t) // SQLite\'s files and upgrades from its older formats
	f := mustOrgFixture(t)
	s := sqlstore.NewIntegrationService(f.db, mustBox(t))
	mustSaveIntegration(t, s, f.ctx(asOwner), f.org.PublicID, keygate.IntegrationSave{Kind: keygate.IntegrationZoom, ClientID: "zoom-client-id", Secret: zoomSecret})
	mustSaveIntegration(t, s, f.ctx(asOwner), f.org.PublicID, keygate.IntegrationSave{Kind: keygate.IntegrationDeepgram, Secret: deepgramSecret})
	mustSaveIntegration(t, s, f.ctx(asOwner), f.org.PublicID, keygate.IntegrationSave{Kind: keygate.IntegrationOther, Name: "Stripe", Secret: otherSecret})
	// A replaced secret must not linger either.
	mustSaveIntegration(t, s, f.ctx(asOwner), f.org.PublicID, keygate.IntegrationSave{Kind: keygate.IntegrationDeepgram, Secret: deepgramSecret + "-v2"})

	check := func(t *testing.T) {
		t.Helper()
		found, sawClientID := 0, false
		for _, suffix := range []string{"", "-wal"} {
			b, err := os.ReadFile(f.db.Path + suffix)
			if errors.Is(err, os.ErrNotExist) {
				continue
			} else if err != nil {
				t.Fatal(err)
			}
			found++
			// The client ID is stored as is: seeing it proves the scan
			// reads the rows.
			sawClientID = sawClientID || bytes.Contains(b, []byte("zoom-client-id"))
			for _, secret := range []string{zoomSecret, deepgramSecret, otherSecret} {
				// The whole secret, and its first half, which no hint holds.
				for _, part := range []string{secret, secret[:len(secret)/2]} {
					if bytes.Contains(b, []byte(part)) {
						t.Fatalf("%s holds %q in plaintext", f.db.Path+suffix, part)
					}
				}
			}
		}
		if found == 0 || !sawClientID {
			t.Fatalf("read %d files, client ID seen: %v", found, sawClientID)
		}
	}
	t.Run("OKLive", check)
	t.Run("OKAfterCheckpoint", func(t *testing.T) {
		if _, err := f.db.WriteConn().Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			t.Fatal(err)
		}
		check(t)
	})
}

// TestIntegrationService_BoundToRow moves ciphertexts between rows: none
// opens where it does not belong.
func TestIntegrationService_BoundToRow(t *testing.T) {
	t.Parallel()
	f := mustOrgFixture(t)
	s := sqlstore.NewIntegrationService(f.db, mustBox(t))
	mustSaveIntegration(t, s, f.ctx(asOwner), f.org.PublicID, keygate.IntegrationSave{Kind: keygate.IntegrationZoom, ClientID: "id", Secret: zoomSecret})
	mustSaveIntegration(t, s, f.ctx(asOwner), f.org.PublicID, keygate.IntegrationSave{Kind: keygate.IntegrationDeepgram, Secret: deepgramSecret})
	mustSaveIntegration(t, s, f.ctx(asOwner), f.org.PublicID, keygate.IntegrationSave{Kind: keygate.IntegrationOther, Name: "A", Secret: otherSecret})
	mustSaveIntegration(t, s, f.ctx(asOwner), f.org.PublicID, keygate.IntegrationSave{Kind: keygate.IntegrationOther, Name: "B", Secret: otherSecret + "B"})
	mustSaveIntegration(t, s, f.ctx(asOutsider), f.outsiderOrg.PublicID, keygate.IntegrationSave{Kind: keygate.IntegrationZoom, ClientID: "id", Secret: "outsider zoom secret"})

	copySecret := func(t *testing.T, fromOrg int64, fromKind, fromName string, toOrg int64, toKind, toName string) {
		t.Helper()
		if _, err := f.db.WriteConn().Exec(`UPDATE integrations SET secret = (SELECT secret FROM integrations WHERE organization_id = $1 AND kind = $2 AND name = $3)
			WHERE organization_id = $4 AND kind = $5 AND name = $6`, fromOrg, fromKind, fromName, toOrg, toKind, toName); err != nil {
			t.Fatal(err)
		}
	}
	wantFail := func(t *testing.T, org string, kind keygate.IntegrationKind, name string) {
		t.Helper()
		if _, err := s.DecryptSecret(context.Background(), org, kind, name); !errors.Is(err, sqlstore.ErrSecretKeyMismatch) || !errors.Is(err, secretbox.ErrOpen) {
			t.Fatalf("moved secret opened or failed otherwise: %v", err)
		}
	}
	t.Run("ErrOtherOrganization", func(t *testing.T) {
		copySecret(t, f.org.ID, "zoom", "", f.outsiderOrg.ID, "zoom", "")
		wantFail(t, f.outsiderOrg.PublicID, keygate.IntegrationZoom, "")
	})
	t.Run("ErrOtherKind", func(t *testing.T) {
		copySecret(t, f.org.ID, "zoom", "", f.org.ID, "deepgram", "")
		wantFail(t, f.org.PublicID, keygate.IntegrationDeepgram, "")
	})
	t.Run("ErrOtherName", func(t *testing.T) {
		copySecret(t, f.org.ID, "other", "A", f.org.ID, "other", "B")
		wantFail(t, f.org.PublicID, keygate.IntegrationOther, "B")
	})
	t.Run("OKUntouched", func(t *testing.T) {
		if got := mustDecrypt(t, s, f.org.PublicID, keygate.IntegrationZoom, ""); got != zoomSecret {
			t.Fatalf("zoom = %q", got)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := s.DecryptSecret(context.Background(), f.org.PublicID, keygate.IntegrationOther, "C")
		assertError(t, err, keygate.ENOTFOUND, "Integration not found.")
	})
}

func TestIntegrationService_CheckSecretKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := mustOrgFixture(t)
	key := secretbox.GenerateKey()
	box, _ := secretbox.New(key)
	s := sqlstore.NewIntegrationService(f.db, box)

	t.Run("OKFirstUse", func(t *testing.T) {
		if has, err := s.HasSecretKeyCheck(ctx); err != nil || has {
			t.Fatalf("fresh database has a key check: %v %v", has, err)
		}
		created, err := s.CheckSecretKey(ctx)
		if err != nil || !created {
			t.Fatalf("created=%v err=%v", created, err)
		}
		if has, _ := s.HasSecretKeyCheck(ctx); !has {
			t.Fatal("no key check after first use")
		}
		created, err = s.CheckSecretKey(ctx)
		if err != nil || created {
			t.Fatalf("second check: created=%v err=%v", created, err)
		}
	})
	mustSaveIntegration(t, s, f.ctx(asOwner), f.org.PublicID, keygate.IntegrationSave{Kind: keygate.IntegrationDeepgram, Secret: deepgramSecret})
	sealed, check := sealedSecrets(t, f.db)

	t.Run("OKSameKeyNewBox", func(t *testing.T) {
		same, _ := secretbox.New(bytes.Clone(key))
		if _, err := sqlstore.NewIntegrationService(f.db, same).CheckSecretKey(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrWrongKey", func(t *testing.T) {
		wrong := sqlstore.NewIntegrationService(f.db, mustBox(t))
		before := tableCounts(t, f.db, integrationTables...)
		if _, err := wrong.CheckSecretKey(ctx); !errors.Is(err, sqlstore.ErrSecretKeyMismatch) {
			t.Fatalf("err = %v, want ErrSecretKeyMismatch", err)
		}
		// A save with the wrong key is refused too, writing nothing.
		_, err := wrong.SaveIntegration(f.ctx(asOwner), f.org.PublicID, &keygate.IntegrationSave{Kind: keygate.IntegrationOther, Name: "x", Secret: otherSecret})
		if !errors.Is(err, sqlstore.ErrSecretKeyMismatch) || keygate.ErrorCode(err) != keygate.EINTERNAL {
			t.Fatalf("save with wrong key: %v", err)
		}
		assertCounts(t, f.db, before)
		gotSealed, gotCheck := sealedSecrets(t, f.db)
		if !bytes.Equal(gotCheck, check) || len(gotSealed) != len(sealed) {
			t.Fatal("a wrong key changed the database")
		}
		for id, v := range sealed {
			if !bytes.Equal(gotSealed[id], v) {
				t.Fatalf("row %d changed", id)
			}
		}
		if got := mustDecrypt(t, s, f.org.PublicID, keygate.IntegrationDeepgram, ""); got != deepgramSecret {
			t.Fatalf("secret = %q", got)
		}
	})
	t.Run("ErrWrongKeyCheckLost", func(t *testing.T) {
		// Without its check row, the database still refuses a key that
		// cannot open its credentials, rather than recording that key.
		if _, err := f.db.WriteConn().Exec(`DELETE FROM secret_key_check`); err != nil {
			t.Fatal(err)
		}
		if _, err := sqlstore.NewIntegrationService(f.db, mustBox(t)).CheckSecretKey(ctx); !errors.Is(err, sqlstore.ErrSecretKeyMismatch) {
			t.Fatalf("err = %v, want ErrSecretKeyMismatch", err)
		}
		if n := countRows(t, f.db, "secret_key_check"); n != 0 {
			t.Fatalf("key checks = %d, want 0", n)
		}
		if created, err := s.CheckSecretKey(ctx); err != nil || !created {
			t.Fatalf("right key: created=%v err=%v", created, err)
		}
	})
}

func TestIntegrationService_RotateSecretKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	setup := func(t *testing.T) (*orgFixture, *secretbox.Box) {
		f := mustOrgFixture(t)
		old := mustBox(t)
		s := sqlstore.NewIntegrationService(f.db, old)
		mustSaveIntegration(t, s, f.ctx(asOwner), f.org.PublicID, keygate.IntegrationSave{Kind: keygate.IntegrationZoom, ClientID: "id", Secret: zoomSecret})
		mustSaveIntegration(t, s, f.ctx(asOwner), f.org.PublicID, keygate.IntegrationSave{Kind: keygate.IntegrationOther, Name: "Stripe", Secret: otherSecret})
		mustSaveIntegration(t, s, f.ctx(asOutsider), f.outsiderOrg.PublicID, keygate.IntegrationSave{Kind: keygate.IntegrationDeepgram, Secret: deepgramSecret})
		return f, old
	}

	t.Run("OK", func(t *testing.T) {
		f, old := setup(t)
		next := mustBox(t)
		beforeSealed, beforeCheck := sealedSecrets(t, f.db)
		n, err := sqlstore.NewIntegrationService(f.db, old).RotateSecretKey(ctx, old, next)
		if err != nil || n != 3 {
			t.Fatalf("rotate: n=%d err=%v", n, err)
		}
		afterSealed, afterCheck := sealedSecrets(t, f.db)
		if bytes.Equal(beforeCheck, afterCheck) {
			t.Fatal("key check not re-encrypted")
		}
		for id, v := range beforeSealed {
			if bytes.Equal(afterSealed[id], v) {
				t.Fatalf("row %d not re-encrypted", id)
			}
		}
		oldSvc, newSvc := sqlstore.NewIntegrationService(f.db, old), sqlstore.NewIntegrationService(f.db, next)
		if _, err := oldSvc.CheckSecretKey(ctx); !errors.Is(err, sqlstore.ErrSecretKeyMismatch) {
			t.Fatalf("old key still passes the check: %v", err)
		}
		if _, err := oldSvc.DecryptSecret(ctx, f.org.PublicID, keygate.IntegrationZoom, ""); !errors.Is(err, secretbox.ErrOpen) {
			t.Fatalf("old key still opens: %v", err)
		}
		if _, err := newSvc.CheckSecretKey(ctx); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			org        string
			kind       keygate.IntegrationKind
			name, want string
		}{
			{f.org.PublicID, keygate.IntegrationZoom, "", zoomSecret},
			{f.org.PublicID, keygate.IntegrationOther, "Stripe", otherSecret},
			{f.outsiderOrg.PublicID, keygate.IntegrationDeepgram, "", deepgramSecret},
		} {
			if got := mustDecrypt(t, newSvc, tt.org, tt.kind, tt.name); got != tt.want {
				t.Fatalf("%s %s = %q", tt.kind, tt.name, got)
			}
		}
		// A server still holding the old key may no longer write.
		_, err = oldSvc.SaveIntegration(f.ctx(asOwner), f.org.PublicID, &keygate.IntegrationSave{Kind: keygate.IntegrationDeepgram, Secret: deepgramSecret})
		if !errors.Is(err, sqlstore.ErrSecretKeyMismatch) {
			t.Fatalf("save with the rotated-out key: %v", err)
		}
	})

	t.Run("OKEmpty", func(t *testing.T) {
		f := mustOrgFixture(t)
		old, next := mustBox(t), mustBox(t)
		n, err := sqlstore.NewIntegrationService(f.db, old).RotateSecretKey(ctx, old, next)
		if err != nil || n != 0 {
			t.Fatalf("n=%d err=%v", n, err)
		}
		if _, err := sqlstore.NewIntegrationService(f.db, next).CheckSecretKey(ctx); err != nil {
			t.Fatal(err)
		}
	})

	assertUnchanged := func(t *testing.T, f *orgFixture, sealed map[int64][]byte, check []byte) {
		t.Helper()
		gotSealed, gotCheck := sealedSecrets(t, f.db)
		if !bytes.Equal(gotCheck, check) {
			t.Fatal("key check changed")
		}
		for id, v := range sealed {
			if !bytes.Equal(gotSealed[id], v) {
				t.Fatalf("row %d changed", id)
			}
		}
	}

	t.Run("ErrWrongOldKey", func(t *testing.T) {
		f, _ := setup(t)
		sealed, check := sealedSecrets(t, f.db)
		wrong := mustBox(t)
		_, err := sqlstore.NewIntegrationService(f.db, wrong).RotateSecretKey(ctx, wrong, mustBox(t))
		if !errors.Is(err, sqlstore.ErrSecretKeyMismatch) {
			t.Fatalf("err = %v", err)
		}
		assertUnchanged(t, f, sealed, check)
	})

	t.Run("ErrOneValueDoesNotOpen", func(t *testing.T) {
		// One damaged value stops the whole rotation: the values before it
		// are not left under the new key.
		f, old := setup(t)
		if _, err := f.db.WriteConn().Exec(`UPDATE integrations SET secret = $1 WHERE id = (SELECT MAX(id) FROM integrations)`, []byte("damaged value that is long enough to parse")); err != nil {
			t.Fatal(err)
		}
		sealed, check := sealedSecrets(t, f.db)
		_, err := sqlstore.NewIntegrationService(f.db, old).RotateSecretKey(ctx, old, mustBox(t))
		if !errors.Is(err, sqlstore.ErrSecretKeyMismatch) {
			t.Fatalf("err = %v", err)
		}
		assertUnchanged(t, f, sealed, check)
		if got := mustDecrypt(t, sqlstore.NewIntegrationService(f.db, old), f.org.PublicID, keygate.IntegrationZoom, ""); got != zoomSecret {
			t.Fatalf("zoom = %q", got)
		}
	})
}
