package web

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

// keysPerPage is the API Keys list's page size.
const keysPerPage = 50

// newFormToken returns a random one-time token for a form that creates a
// key, so that submitting it twice creates one key.
func newFormToken() string { return rand.Text() }

func environmentOptions() []views.Option {
	out := make([]views.Option, len(keygate.Environments))
	for i, e := range keygate.Environments {
		out[i] = views.Option{Value: string(e), Label: e.Label()}
	}
	return out
}

var keyStateOptions = []views.Option{{Value: "active", Label: "Active"}, {Value: "expired", Label: "Expired"}, {Value: "revoked", Label: "Revoked"}}

// newKeyForm returns an empty create form: the default lifetime (the
// API's too), production, read.
func (s *Server) newKeyForm(ctx context.Context, org views.Org) views.KeyForm {
	f := views.KeyForm{
		Form:         views.Form{Values: map[string]string{"environment": string(keygate.EnvProduction)}},
		Token:        newFormToken(),
		Action:       org.URL("api-keys"),
		CancelURL:    org.URL("api-keys"),
		Scope:        string(keygate.ScopeRead),
		Expiration:   strconv.Itoa(keygate.DefaultKeyLifetimeDays),
		MinDate:      s.now().UTC().AddDate(0, 0, 1).Format(time.DateOnly),
		Environments: environmentOptions(),
		Expirations:  views.ExpirationOptions,
	}
	s.applyKeyPolicyToForm(ctx, org, &f)
	return f
}

// keyRow builds a list row for k.
func (s *Server) keyRow(org views.Org, k *keygate.APIKey, now time.Time) views.APIKeyRow {
	creator, full := keyCreator(k)
	row := views.APIKeyRow{
		ID: k.PublicID, Name: k.Name, Env: string(k.Environment), EnvLabel: k.Environment.Label(), Hint: k.Hint,
		CreatedBy: full, Creator: creator, Created: views.Time{At: k.CreatedAt, Now: now},
		LastUsedIP: k.LastUsedIP, State: string(k.State(now)), RevokedBy: nameOr(k.RevokedByName, "an API key or a deleted user"),
		URL:            org.URL("api-keys/" + k.PublicID),
		RollURL:        org.URL("api-keys/" + k.PublicID + "/roll"),
		RevokeURL:      org.URL("api-keys/" + k.PublicID + "/revoke"),
		RevokeQuestion: "Revoke “" + k.Name + "”? Applications using it will stop working immediately. This cannot be undone.",
		Exposed:        k.ExposedAt != nil,
		ExposedURL:     k.ExposedURL, ExposedSource: k.ExposedSource,
	}
	for _, sc := range k.Scopes {
		row.Scopes = append(row.Scopes, views.Option{Value: string(sc), Label: sc.Label()})
	}
	row.Permissions, row.AllowedIPs = k.Permissions, k.AllowedIPs
	if k.LastUsedAt != nil {
		row.LastUsed = views.Time{At: *k.LastUsedAt, Now: now}
		row.LastUsedAgent = k.LastUsedUserAgent
	}
	if k.RevokedAt != nil {
		row.Revoked = views.Time{At: *k.RevokedAt, Now: now}
	}
	row.Expiry, row.ExpirySoon = views.ExpiryText(k.ExpiresAt, now)
	return row
}

// keyCreator names who created k, in a few words for the list ("Ada",
// "via key “CI”") and in full ("Ada Lovelace", "API key “CI” (key_…)").
func keyCreator(k *keygate.APIKey) (short, full string) {
	full = nameOr(k.CreatedByLabel(), "Deleted user")
	if c := k.CreatedBy; c != nil && c.Type == keygate.CreatorKey {
		return "via key “" + c.Name + "”", full
	}
	if k.CreatedByID == 0 {
		return full, full
	}
	if first, _, ok := strings.Cut(full, " "); ok && first != "" {
		return first, full
	}
	return full, full
}

// linkRolledKeys fills in the keys each row was rolled from or replaced by,
// named: from the rows themselves, or looked up when not on the page.
func (s *Server) linkRolledKeys(ctx context.Context, org views.Org, rows []views.APIKeyRow, keys []*keygate.APIKey) {
	names := make(map[string]string, len(keys))
	for _, k := range keys {
		names[k.PublicID] = k.Name
	}
	link := func(id string) *views.KeyLink {
		if id == "" {
			return nil
		}
		name, ok := names[id]
		if !ok {
			name = id
			if k, err := s.apiKeys.FindAPIKeyByID(ctx, org.ID, id); err == nil {
				name = k.Name
			}
			names[id] = name
		}
		return &views.KeyLink{Name: name, URL: org.URL("api-keys/" + id)}
	}
	for i, k := range keys {
		rows[i].RolledFrom, rows[i].ReplacedBy = link(k.RolledFrom), link(k.RolledTo)
	}
}

func nameOr(name, fallback string) string {
	if name == "" {
		return fallback
	}
	return name
}

// keysPage builds the list page for the request's filters.
func (s *Server) keysPage(ctx context.Context, q url.Values, org views.Org) (views.APIKeysPage, error) {
	state := q.Get("state")
	if state != "expired" && state != "revoked" {
		state = "active"
	}
	env := keygate.Environment(q.Get("env"))
	if !env.Valid() {
		env = ""
	}
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 1)
	sortBy, asc, sorting := sortOf(org.URL("api-keys"), q, keySortColumns, "created")
	keys, total, err := s.apiKeys.FindAPIKeys(ctx, keygate.APIKeyFilter{
		OrgPublicID: org.ID, Query: q.Get("q"), Environment: env, State: keygate.KeyState(state),
		Sort: sortBy, Ascending: asc, Offset: (page - 1) * keysPerPage, Limit: keysPerPage,
	})
	if err != nil {
		return views.APIKeysPage{}, err
	}
	now := s.now()
	p := views.APIKeysPage{
		Query: q.Get("q"), Env: string(env), State: state, States: keyStateOptions, Sorting: sorting,
		Create: s.newKeyForm(ctx, org), NewURL: org.URL("api-keys/new"), ListURL: org.URL("api-keys"),
		Roll: views.RollForm{Token: newFormToken(), Grace: "1h"},
	}
	if err := s.addPermissionChoices(ctx, org, &p.Create, nil); err != nil {
		return views.APIKeysPage{}, err
	}
	if plan := keygate.Plan(org.Plan); plan.Valid() && !plan.IncludesAPI() {
		p.PlanNotice = "Your organization's plan (" + plan.Label() + ") does not include API access. " +
			"Keys you create will not work until a superuser moves the organization to Professional or Enterprise."
	}
	for _, k := range keys {
		p.Keys = append(p.Keys, s.keyRow(org, k, now))
	}
	s.linkRolledKeys(ctx, org, p.Keys, keys)
	if err := s.addLastAttempts(ctx, org, p.Keys, keys); err != nil {
		return views.APIKeysPage{}, err
	}
	p.Pagination = paginate(org.URL("api-keys"), q, page, total, keysPerPage)
	p.Pagination.Noun = "keys"
	return p, nil
}

// keySortColumns are the API Keys table's sortable columns.
var keySortColumns = []sortColumn{
	{key: "name", label: "Name", firstAsc: true, asc: "by name, A to Z", desc: "by name, Z to A"},
	{key: "created", label: "Created", asc: "oldest first", desc: "newest first"},
	{key: "last_used", label: "Last used", asc: "least recently used first", desc: "most recently used first"},
	{key: "expires", label: "Expiry", firstAsc: true, asc: "expiring soonest first", desc: "expiring last first"},
}

// paginate builds page links that keep the other query parameters.
func paginate(base string, q url.Values, page, total, per int) views.Pagination {
	pages := max((total+per-1)/per, 1)
	p := views.Pagination{Page: page, Pages: pages, Total: total}
	link := func(n int) string {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("page", strconv.Itoa(n))
		return base + "?" + v.Encode()
	}
	if page > 1 {
		p.PrevURL = link(page - 1)
	}
	if page < pages {
		p.NextURL = link(page + 1)
	}
	return p
}

func (s *Server) handleAPIKeys(w http.ResponseWriter, r *http.Request) {
	l := s.layout(r, "API Keys", "api-keys")
	p, err := s.keysPage(r.Context(), r.URL.Query(), *l.Org)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, views.APIKeysListPage(l, p))
}

func (s *Server) handleNewAPIKey(w http.ResponseWriter, r *http.Request) {
	l := s.layout(r, "Create API Key", "api-keys")
	f := s.newKeyForm(r.Context(), *l.Org)
	if err := s.addPermissionChoices(r.Context(), *l.Org, &f, nil); err != nil {
		s.Error(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, views.NewAPIKeyPage(l, f))
}

// parseKeyForm reads the create form. Expiration problems are reported
// with the service's validation errors, beside their fields.
func (s *Server) parseKeyForm(r *http.Request, org views.Org) (*keygate.APIKeyCreate, views.KeyForm, *keygate.ValidationErrors) {
	f := s.newKeyForm(r.Context(), org)
	f.Form = formOf(r, "name", "environment", "note", "expiration_date", "allowed_ips")
	f.Token = r.PostFormValue("form_token")
	f.Expiration = r.PostFormValue("expiration")
	f.Scope = ""
	in := &keygate.APIKeyCreate{
		Name: f.Form.Value("name"), Environment: keygate.Environment(f.Form.Value("environment")),
		Note: f.Form.Value("note"), FormToken: f.Token,
		Permissions: r.PostForm["permissions"], AllowedIPs: splitIPLines(f.Form.Value("allowed_ips")),
	}
	var v keygate.ValidationErrors
	if err := s.addPermissionChoices(r.Context(), org, &f, in.Permissions); err != nil {
		v.Add("permissions", "The organization's permissions could not be loaded. Try again.")
	}
	// One scope from the radio group; a list (as checkboxes once sent)
	// means the most powerful of them, as the service reads it.
	for _, sc := range r.PostForm["scopes"] {
		in.Scopes = append(in.Scopes, keygate.Scope(sc))
	}
	f.Scope = string(keygate.NewScopes(in.Scopes...).Top())
	now := s.now().UTC()
	switch f.Expiration {
	case "7", "30", "60", "90":
		days, _ := strconv.Atoi(f.Expiration)
		t := now.AddDate(0, 0, days)
		in.ExpiresAt = &t
	case "none":
	case "custom":
		day, err := time.Parse(time.DateOnly, f.Form.Value("expiration_date"))
		if err != nil {
			v.Add("expiration_date", "Enter a valid date.")
			break
		}
		// The key works until the end of that day, UTC.
		t := day.AddDate(0, 0, 1)
		if !t.After(now.Add(time.Hour)) {
			v.Add("expiration_date", "Choose a date after today.")
			break
		}
		in.ExpiresAt = &t
	default:
		v.Add("expiration", "Choose when the key expires.")
	}
	return in, f, &v
}

func (s *Server) handleCreateAPIKey(w http.ResponseWriter, r *http.Request) {
	// A key with the Admin scope needs a recent sign-in (ui_stepup.go).
	if s.stepUp(w, r, func() bool { return formGrantsAdmin(r) }) {
		return
	}
	l := s.layout(r, "API Keys", "api-keys")
	org := *l.Org
	in, f, v := s.parseKeyForm(r, org)
	var key *keygate.APIKey
	var secret string
	err := v.Err()
	if err == nil {
		key, secret, err = s.apiKeys.CreateAPIKey(r.Context(), org.ID, in)
	} else if verr := in.Validate(s.now()); verr != nil {
		// Show the service's field checks alongside the expiration's.
		for k, m := range verr.Fields {
			v.Add(k, m)
		}
		err = v.Err()
	}
	switch {
	case keygate.ErrorCode(err) == keygate.ECONFLICT:
		// The form was already used: a resubmission creates nothing.
		s.addFlash(w, r, "info", keygate.ErrorMessage(err))
		http.Redirect(w, r, org.URL("api-keys"), http.StatusSeeOther)
		return
	case keygate.ErrorCode(err) == keygate.EINVALID:
		f.Form = formWithError(f.Form, err)
		if r.PostFormValue("from") == "page" {
			s.render(w, r, http.StatusBadRequest, views.NewAPIKeyPage(s.layout(r, "Create API Key", "api-keys"), f))
			return
		}
		p, perr := s.keysPage(r.Context(), nil, org)
		if perr != nil {
			s.Error(w, r, perr)
			return
		}
		p.Create, p.OpenCreate = f, true
		s.render(w, r, http.StatusBadRequest, views.APIKeysListPage(l, p))
		return
	case err != nil:
		s.Error(w, r, err)
		return
	}
	s.renderCreatedKey(w, r, l, "API Key Created", key, secret, "")
}

// renderCreatedKey answers a create or roll with the list and the modal
// titled title ("API Key Created", "Key rolled") showing the new key. This
// response is the only one that ever carries the secret: nothing may store
// it.
func (s *Server) renderCreatedKey(w http.ResponseWriter, r *http.Request, l views.Layout, title string, key *keygate.APIKey, secret, oldNote string) {
	p, err := s.keysPage(r.Context(), nil, *l.Org)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	p.Created = &views.CreatedKey{
		Title: title, Name: key.Name, Secret: secret, ReturnURL: l.Org.URL("api-keys"), OldKeyNote: oldNote,
		Curl:     fmt.Sprintf(`curl%s -H "Authorization: Token %s" %s/api/v1/me`, curlCACert(s.selfSignedCert()), secret, s.publicBaseURL(r)),
		CertNote: selfSignedNote(s.selfSignedCert()),
	}
	s.render(w, r, http.StatusOK, views.APIKeysListPage(l, p))
}

// formGrantsAdmin reports whether a key form asks for the Admin scope.
func formGrantsAdmin(r *http.Request) bool {
	var scopes []keygate.Scope
	for _, sc := range r.PostForm["scopes"] {
		scopes = append(scopes, keygate.Scope(sc))
	}
	return keygate.NewScopes(scopes...).Has(keygate.ScopeAdmin)
}
