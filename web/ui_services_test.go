package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
)

// TestServiceFilters: calls checked for other services are told apart on
// the Overview and in the API logs, whose Service filters list the
// services used and keep the calls of the one chosen.
func TestServiceFilters(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
	ada := app.MustUser(t, "ada@example.com")
	secret, key := app.MustKey(t, ada, orgID, keygate.APIKeyCreate{Name: "Billing", Scopes: []keygate.Scope{keygate.ScopeRead}})

	// Before any other service: no filter to offer.
	wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token "+secret, ""), http.StatusOK, "", "")
	if err := app.Usage.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := c.Get("/orgs/" + orgID)
	assertStatus(t, p, http.StatusOK)
	if p.Doc.Find("#overview-service").Length() != 0 {
		t.Error("the overview offers a Service filter with only Keygate's API used")
	}

	for range 3 {
		wantAPI(t, forward(t, app, "?service=billing", "GET", "/invoices", "Token "+secret), http.StatusOK, "", "")
	}
	wantAPI(t, forward(t, app, "?service=billing", "POST", "/invoices", "Token "+secret), http.StatusForbidden, "", "insufficient_scope")
	wantAPI(t, forward(t, app, "?service=reports", "GET", "/export", "Token "+secret), http.StatusOK, "", "")
	if err := app.Usage.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	t.Run("Overview", func(t *testing.T) {
		p := c.Get("/orgs/" + orgID)
		assertStatus(t, p, http.StatusOK)
		var opts []string
		p.Doc.Find("#overview-service option").Each(func(_ int, o *goquerySelection) { opts = append(opts, o.Text()) })
		if got := strings.Join(opts, ","); got != "All services,billing,Keygate API,reports" {
			t.Fatalf("Service options = %s", got)
		}
		if got := statValue(p, "Requests today"); got != "6" {
			t.Errorf("all services: requests today = %s, want 6", got)
		}
		p = c.Get("/orgs/" + orgID + "?service=billing&days=7")
		assertStatus(t, p, http.StatusOK)
		if got := statValue(p, "Requests today"); got != "4" {
			t.Errorf("billing: requests today = %s, want 4", got)
		}
		if got := statValue(p, "Error rate"); got != "25.0%" {
			t.Errorf("billing: error rate = %s, want 25.0%%", got)
		}
		if statValue(p, "Latency p50") != "" {
			t.Error("a service's overview shows a latency it does not have")
		}
		if v, _ := p.Doc.Find("#overview-service option[selected]").Attr("value"); v != "billing" {
			t.Errorf("selected service = %q", v)
		}
		if href, _ := p.Doc.Find("nav[aria-label='Chart range'] a").First().Attr("href"); !strings.Contains(href, "service=billing") {
			t.Errorf("range link %q drops the service", href)
		}
		p = c.Get("/orgs/" + orgID + "?service=_keygate")
		if got := statValue(p, "Requests today"); got != "1" {
			t.Errorf("Keygate API: requests today = %s, want 1", got)
		}
	})
	t.Run("KeyPage", func(t *testing.T) {
		p := c.Get("/orgs/" + orgID + "/api-keys/" + key.PublicID)
		assertStatus(t, p, http.StatusOK)
		var got []string
		p.Doc.Find("[data-testid=key-services] tbody tr").Each(func(_ int, tr *goquerySelection) {
			got = append(got, tr.Find("td").First().Text()+" "+tr.Find("td").Last().Text())
		})
		if strings.Join(got, ", ") != "billing 4, Keygate API 1, reports 1" {
			t.Errorf("calls by service = %q", got)
		}
	})
	t.Run("Logs", func(t *testing.T) {
		p := c.Get("/orgs/" + orgID + "/logs?service=billing")
		assertStatus(t, p, http.StatusOK)
		rows := p.Doc.Find("[data-testid=log-row]")
		if rows.Length() != 4 {
			t.Fatalf("billing's log rows = %d, want 4", rows.Length())
		}
		if got := strings.TrimSpace(rows.First().Find("[data-testid=log-service]").Text()); got != "billing" {
			t.Errorf("row service = %q", got)
		}
		if got := normText(rows.First().Find(".log-request")); !strings.Contains(got, "POST /invoices") {
			t.Errorf("newest row = %q, want the forwarded POST /invoices", got)
		}
		p = c.Get("/orgs/" + orgID + "/logs?service=_keygate")
		if rows := p.Doc.Find("[data-testid=log-row]"); rows.Length() != 1 || rows.Find("[data-testid=log-service]").Length() != 0 {
			t.Errorf("Keygate API's log rows = %d", rows.Length())
		}
		csv := c.Get("/orgs/" + orgID + "/logs.csv?service=reports")
		if lines := strings.Split(strings.TrimSpace(csv.Body), "\n"); len(lines) != 2 || !strings.HasSuffix(lines[1], ",reports") {
			t.Errorf("reports' CSV = %q", csv.Body)
		}
	})
}

// statValue is the value of the stat tile labelled label, "" if none.
func statValue(p *Page, label string) string {
	var v string
	p.Doc.Find("[data-testid=stat]").Each(func(_ int, s *goquerySelection) {
		if strings.TrimSpace(s.Find("dt").Text()) == label {
			v = strings.TrimSpace(s.Find(".stat-value").Text())
		}
	})
	return v
}
