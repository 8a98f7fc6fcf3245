package web_test

import (
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
)

func TestAPIReferencePage(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
	path := "/orgs/" + orgID + "/api-reference"
	doc := app.API(t, "GET", "/api/v1/openapi.json", "", "")
	wantAPI(t, doc, 200, "", "")

	t.Run("InTheNavigation", func(t *testing.T) {
		// Every member finds it from any page of the organization.
		for _, page := range []string{"/orgs/" + orgID, "/orgs/" + orgID + "/bots", "/orgs/" + orgID + "/settings"} {
			link := c.Get(page).Doc.Find(`nav a:contains("API Reference")`)
			if link.Length() != 1 || link.AttrOr("href", "") != path {
				t.Fatalf("%s: %d API Reference links, href %q", page, link.Length(), link.AttrOr("href", ""))
			}
		}
		if cur := c.Get(path).Doc.Find(`ul.nav a[aria-current=page]`).Text(); strings.TrimSpace(cur) != "API Reference" {
			t.Fatalf("current nav item = %q", cur)
		}
	})

	t.Run("OK", func(t *testing.T) {
		p := c.Get(path)
		assertStatus(t, p, http.StatusOK)
		if got := p.Doc.Find("title").Text(); got != "API Reference · Org A · Keygate" {
			t.Fatalf("title = %q", got)
		}
		if got := p.Text("[data-testid=api-base-url]"); got != app.URL {
			t.Fatalf("base URL = %q, want %q", got, app.URL)
		}
		var want []string
		for path, item := range doc.JSON["paths"].(map[string]any) {
			for method := range item.(map[string]any) {
				if method != "parameters" {
					want = append(want, strings.ToUpper(method)+" "+path)
				}
			}
		}
		var got []string
		p.Doc.Find("[data-testid=api-operation]").Each(func(_ int, s *goquerySelection) {
			got = append(got, s.AttrOr("data-method", "")+" "+s.AttrOr("data-path", ""))
		})
		sort.Strings(want)
		sort.Strings(got)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("operations on the page:\n%s\nin the document:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})

	t.Run("CreateBotExamples", func(t *testing.T) {
		op := c.Get(path).Doc.Find(`[data-testid=api-operation][data-method="POST"][data-path="/api/v1/bots"]`)
		if op.Length() != 1 {
			t.Fatal("no POST /api/v1/bots on the page")
		}
		if got := strings.TrimSpace(op.Find("[data-testid=api-scope]").Text()); got != "write scope" {
			t.Errorf("scope = %q", got)
		}
		body := `{"meeting_url": "https://zoom.us/j/123456789", "bot_name": "My Bot"}`
		for _, tc := range []struct {
			lang string
			want []string
		}{
			{"curl", []string{"curl -X POST " + app.URL + "/api/v1/bots", "-H 'Authorization: Token YOUR_API_KEY'",
				"-H 'Content-Type: application/json'", "-d '" + body + "'"}},
			{"python", []string{"import requests", "requests.post(", `"` + app.URL + `/api/v1/bots"`,
				`headers={"Authorization": "Token YOUR_API_KEY"}`, "json=" + body}},
			{"javascript", []string{`fetch("` + app.URL + `/api/v1/bots"`, `method: "POST"`,
				`"Authorization": "Token YOUR_API_KEY"`, "body: JSON.stringify(" + body + ")"}},
		} {
			ex := op.Find("[data-testid=example-" + tc.lang + "]")
			text := ex.Text()
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("%s example lacks %q:\n%s", tc.lang, w, text)
				}
			}
			if copyText, _ := ex.Parent().Find("[data-copy-text]").Attr("data-copy-text"); copyText != text {
				t.Errorf("%s copy button copies %q", tc.lang, copyText)
			}
		}
		fields := map[string]bool{}
		op.Find("[data-testid=api-field]").Each(func(_ int, s *goquerySelection) {
			fields[s.AttrOr("data-name", "")] = s.Find(".badge").Length() > 0
		})
		if !fields["meeting_url"] || !fields["bot_name"] || fields["join_at"] {
			t.Errorf("body fields (name: required) = %v", fields)
		}
	})

	t.Run("PathParametersAndNoKey", func(t *testing.T) {
		p := c.Get(path)
		del := p.Doc.Find(`[data-testid=api-operation][data-method="DELETE"][data-path="/api/v1/bots/{id}"]`)
		curl := del.Find("[data-testid=example-curl]").Text()
		if !strings.HasPrefix(curl, "curl -X DELETE "+app.URL+"/api/v1/bots/bot_") || strings.Contains(curl, "{id}") {
			t.Errorf("delete curl = %q", curl)
		}
		if py := del.Find("[data-testid=example-python]").Text(); !strings.Contains(py, "print(response.status_code)") {
			t.Errorf("delete python = %q", py)
		}
		spec := p.Doc.Find(`[data-testid=api-operation][data-path="/api/v1/openapi.json"]`)
		if curl := spec.Find("[data-testid=example-curl]").Text(); curl != "curl "+app.URL+"/api/v1/openapi.json" {
			t.Errorf("openapi.json curl = %q", curl)
		}
	})

	t.Run("MemberMayRead", func(t *testing.T) {
		m := MustAddMember(t, app, orgID, "Mia", "mia@example.com", keygate.RoleMember)
		assertStatus(t, m.Get(path), http.StatusOK)
	})

	t.Run("ErrNotMember", func(t *testing.T) {
		other := app.NewClient(t)
		other.MustSignup("Bob", "bob@example.com", "Org B")
		assertStatus(t, other.Get(path), http.StatusNotFound)
	})

	t.Run("ErrLoggedOut", func(t *testing.T) {
		p := app.NewClient(t).Get(path)
		assertStatus(t, p, http.StatusSeeOther)
		if loc := p.Header.Get("Location"); !strings.HasPrefix(loc, "/login") {
			t.Fatalf("Location = %q", loc)
		}
	})
}
