package sqlstore_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

// auditFixture is an orgFixture whose organization's log holds, oldest
// first: its creation by the Owner, a rename by the Owner, a rename by the
// Admin and the Member's login, each a minute apart and from its own
// address.
type auditFixture struct {
	*orgFixture
	audit *sqlstore.AuditService
	info  map[string]keygate.RequestInfo // by who acted
}

func mustAuditFixture(tb testing.TB) *auditFixture {
	tb.Helper()
	f := &auditFixture{orgFixture: mustOrgFixture(tb), info: map[string]keygate.RequestInfo{
		"owner":  {IP: "203.0.113.1", UserAgent: "OwnerBrowser/1.0", RequestID: "r1"},
		"admin":  {IP: "2001:db8::2", UserAgent: "AdminBrowser/2.0", RequestID: "r2"},
		"member": {IP: "203.0.113.3", UserAgent: "MemberBrowser/3.0", RequestID: "r3"},
	}}
	f.audit = sqlstore.NewAuditService(f.db)
	rename := func(a actor, who, name string) {
		f.clock.Advance(time.Minute)
		ctx := keygate.NewContextWithRequestInfo(f.ctx(a), f.info[who])
		if _, err := f.orgs.UpdateOrganization(ctx, f.org.PublicID, keygate.OrganizationUpdate{Name: &name}); err != nil {
			tb.Fatal(err)
		}
	}
	rename(asOwner, "owner", "Acme 2")
	rename(asAdmin, "admin", "Acme 3")
	f.clock.Advance(time.Minute)
	if _, err := f.users.Authenticate(keygate.NewContextWithRequestInfo(context.Background(), f.info["member"]),
		"member@example.com", testPassword); err != nil {
		tb.Fatal(err)
	}
	return f
}

// auditSummary is what the tests compare of an event.
type auditSummary struct {
	Action, Actor, IP, UserAgent string
	Minute                       int // minutes after accountTestStart
}

func summarize(events []*keygate.AuditEvent) []auditSummary {
	var out []auditSummary
	for _, ev := range events {
		out = append(out, auditSummary{ev.Action, ev.ActorName, ev.IP, ev.UserAgent, int(ev.CreatedAt.Sub(accountTestStart) / time.Minute)})
	}
	return out
}

func TestAuditService_FindAuditEvents(t *testing.T) {
	t.Parallel()
	f := mustAuditFixture(t)
	var (
		login       = auditSummary{keygate.AuditLogin, "Mia Member", "203.0.113.3", "MemberBrowser/3.0", 3}
		adminRename = auditSummary{keygate.AuditOrganizationUpdate, "Adam Admin", "2001:db8::2", "AdminBrowser/2.0", 2}
		ownerRename = auditSummary{keygate.AuditOrganizationUpdate, "Olivia Owner", "203.0.113.1", "OwnerBrowser/1.0", 1}
		create      = auditSummary{keygate.AuditOrganizationCreate, "Olivia Owner", "", "", 0}
	)
	tests := []struct {
		name      string
		as        actor
		filter    keygate.AuditFilter // OrganizationID "" for the fixture's org
		want      []auditSummary
		wantTotal int
		wantCode  string
		wantMsg   string
	}{
		{"OK/Owner", asOwner, keygate.AuditFilter{}, []auditSummary{login, adminRename, ownerRename, create}, 4, "", ""},
		{"OK/Admin", asAdmin, keygate.AuditFilter{}, []auditSummary{login, adminRename, ownerRename, create}, 4, "", ""},
		{"OK/FilterAction", asAdmin, keygate.AuditFilter{Action: keygate.AuditOrganizationUpdate}, []auditSummary{adminRename, ownerRename}, 2, "", ""},
		{"OK/FilterActionNone", asOwner, keygate.AuditFilter{Action: keygate.AuditLogout}, nil, 0, "", ""},
		{"OK/Page", asOwner, keygate.AuditFilter{Limit: 2, Offset: 1}, []auditSummary{adminRename, ownerRename}, 4, "", ""},
		{"OK/PageBeyondEnd", asOwner, keygate.AuditFilter{Limit: 2, Offset: 10}, nil, 4, "", ""},
		{"ErrForbidden/Member", asMember, keygate.AuditFilter{}, nil, 0, keygate.EFORBIDDEN, "You need the Admin role to view the audit log."},
		{"ErrNotFound/Outsider", asOutsider, keygate.AuditFilter{}, nil, 0, keygate.ENOTFOUND, msgOrgNotFound},
		{"ErrNotFound/UnknownID", asOwner, keygate.AuditFilter{OrgPublicID: unknownOrgID}, nil, 0, keygate.ENOTFOUND, msgOrgNotFound},
		{"ErrUnauthorized", nobody, keygate.AuditFilter{}, nil, 0, keygate.EUNAUTHORIZED, msgLoggedIn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			filter := tt.filter
			if filter.OrgPublicID == "" {
				filter.OrgPublicID = f.org.PublicID
			}
			events, total, err := f.audit.FindAuditEvents(f.ctx(tt.as), filter)
			if tt.wantCode != "" {
				assertError(t, err, tt.wantCode, tt.wantMsg)
				if events != nil || total != 0 {
					t.Fatalf("events=%v total=%d, want none", events, total)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := summarize(events); !slices.Equal(got, tt.want) {
				t.Fatalf("events=%+v\nwant %+v", got, tt.want)
			}
			if total != tt.wantTotal {
				t.Fatalf("total=%d, want %d", total, tt.wantTotal)
			}
			for i, ev := range events {
				if ev.OrganizationID != f.org.ID {
					t.Errorf("event %d OrganizationID=%d, want %d", i, ev.OrganizationID, f.org.ID)
				}
				if i > 0 && ev.ID >= events[i-1].ID {
					t.Errorf("event %d id=%d not below the previous %d: not newest first", i, ev.ID, events[i-1].ID)
				}
			}
		})
	}

	t.Run("OK/FilterActor", func(t *testing.T) {
		events, total, err := f.audit.FindAuditEvents(f.ctx(asOwner), keygate.AuditFilter{OrgPublicID: f.org.PublicID, ActorID: f.admin.PublicID})
		if err != nil {
			t.Fatal(err)
		}
		if got := summarize(events); total != 1 || !slices.Equal(got, []auditSummary{adminRename}) {
			t.Fatalf("events=%+v total=%d, want the Admin's rename", got, total)
		}
		if events[0].ActorUserID != f.admin.ID {
			t.Fatalf("ActorUserID=%d, want %d", events[0].ActorUserID, f.admin.ID)
		}
	})

	t.Run("OK/OtherOrganizationsSeparate", func(t *testing.T) {
		// The outsider's log has its own creation only; the member's login
		// went to the member's organizations, not theirs.
		events, total, err := f.audit.FindAuditEvents(f.ctx(asOutsider), keygate.AuditFilter{OrgPublicID: f.outsiderOrg.PublicID})
		if err != nil {
			t.Fatal(err)
		}
		if total != 1 || len(events) != 1 || events[0].Action != keygate.AuditOrganizationCreate {
			t.Fatalf("events=%+v total=%d, want Globex's creation only", summarize(events), total)
		}
	})
}

func TestAuditService_RequestInfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		userAgent string
		want      string
	}{
		{"OK", "Mozilla/5.0 (X11; Linux x86_64)", "Mozilla/5.0 (X11; Linux x86_64)"},
		{"OK/Truncated", strings.Repeat("a", 600), strings.Repeat("a", 512)},
		// 300 two-byte runes: cut at 512 bytes, on a rune boundary.
		{"OK/TruncatedOnRune", strings.Repeat("é", 300), strings.Repeat("é", 256)},
		{"OK/TruncatedMidRune", "a" + strings.Repeat("é", 300), "a" + strings.Repeat("é", 255)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustOrgFixture(t)
			ctx := keygate.NewContextWithRequestInfo(f.ctx(asAdmin), keygate.RequestInfo{IP: "192.0.2.44", UserAgent: tt.userAgent})
			if _, err := f.orgs.UpdateOrganization(ctx, f.org.PublicID, keygate.OrganizationUpdate{}); err != nil {
				t.Fatal(err)
			}
			events, _, err := sqlstore.NewAuditService(f.db).FindAuditEvents(f.ctx(asOwner), keygate.AuditFilter{
				OrgPublicID: f.org.PublicID, Action: keygate.AuditOrganizationUpdate,
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != 1 {
				t.Fatalf("events=%d, want 1", len(events))
			}
			ev := events[0]
			if ev.IP != "192.0.2.44" {
				t.Errorf("IP=%q, want 192.0.2.44", ev.IP)
			}
			if ev.UserAgent != tt.want {
				t.Errorf("UserAgent=%q (%d bytes), want %d bytes", ev.UserAgent, len(ev.UserAgent), len(tt.want))
			}
			if !utf8.ValidString(ev.UserAgent) || len(ev.UserAgent) > 512 {
				t.Errorf("UserAgent is %d bytes, valid UTF-8 %v", len(ev.UserAgent), utf8.ValidString(ev.UserAgent))
			}
			if ev.ActorUserID != f.admin.ID || ev.ActorName != "Adam Admin" {
				t.Errorf("actor=%d %q, want the Admin", ev.ActorUserID, ev.ActorName)
			}
		})
	}
}
