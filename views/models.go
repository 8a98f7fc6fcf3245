// Package views renders Keygate's HTML with templ components. Components take
// view-model structs built by the web handlers; they know no database and no
// rules.
package views

import (
	"strconv"
	"strings"
)

// Layout is what every page's frame needs.
type Layout struct {
	Title     string
	User      *User // nil when nobody is logged in
	Orgs      []Org
	Org       *Org // the organization in view, if any
	Active    string
	Flashes   []Flash
	RequestID string
	// SSO lists the single sign-on buttons of the login and signup pages.
	SSO []SSOButton
	// OrgSSOURL, when set, is the "Sign in with SSO" link of the login
	// page: organization single sign-on by work email.
	OrgSSOURL string
	// Bell is the top bar's notifications; nil hides it.
	Bell *Bell
}

// User is the person logged in.
type User struct {
	Name        string
	Email       string
	IsSuperuser bool
}

// Initials returns up to two letters for the avatar.
func (u User) Initials() string {
	var out []rune
	for _, w := range strings.Fields(u.Name) {
		for _, r := range w {
			out = append(out, r)
			break
		}
		if len(out) == 2 {
			break
		}
	}
	if len(out) == 0 {
		return "?"
	}
	return strings.ToUpper(string(out))
}

// Org is an organization as the sidebar shows it.
type Org struct {
	ID      string
	Name    string
	Role    string // Owner, Admin, Member
	IsAdmin bool   // Admin or Owner
	IsOwner bool
	Plan    string // free, professional, enterprise
}

// URL returns the path of a page of the organization; "" is its overview.
func (o Org) URL(page string) string {
	if page == "" {
		return "/orgs/" + o.ID
	}
	return "/orgs/" + o.ID + "/" + page
}

// Flash is a one-time message shown after a redirect.
type Flash struct {
	Kind    string // success, error, info
	Message string
}

// Form carries a form's submitted values and its errors, by field name.
type Form struct {
	Values map[string]string
	Errors map[string]string
	// Error is a message for the whole form.
	Error string
}

// Value returns the submitted value of a field.
func (f Form) Value(name string) string { return f.Values[name] }

// Err returns the error message of a field.
func (f Form) Err(name string) string { return f.Errors[name] }

// HasErrors reports whether the form has any error.
func (f Form) HasErrors() bool { return f.Error != "" || len(f.Errors) > 0 }

// Input describes one labelled input.
type Input struct {
	Name         string
	Label        string
	Type         string
	Value        string
	Error        string
	Hint         string
	Autocomplete string
	Required     bool
	MaxLength    int
	Autofocus    bool
}

// ID is the input's element id.
func (i Input) ID() string { return "f-" + i.Name }

// InputFor builds an Input for a field of f.
func InputFor(f Form, name, label, typ string) Input {
	in := Input{Name: name, Label: label, Type: typ, Error: f.Err(name)}
	if typ != "password" {
		in.Value = f.Value(name)
	}
	return in
}

func itoa(n int) string { return strconv.Itoa(n) }
