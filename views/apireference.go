package views

import "strings"

// APIReference is the API Reference page: the OpenAPI document as people
// read it, with examples to copy.
type APIReference struct {
	BaseURL    string
	SpecURL    string // the OpenAPI document itself
	Intro      []Paragraph
	Operations []APIOperation
	// CertNote says why the examples trust a certificate file; "" when
	// they need not.
	CertNote string
}

// Paragraph is a run of text with inline code and emphasis.
type Paragraph []Inline

// Inline is a piece of a paragraph.
type Inline struct {
	Text   string
	Code   bool
	Strong bool
}

// APIOperation is one method of one API path.
type APIOperation struct {
	ID          string // the anchor, from the operationId
	Method      string
	Path        string
	Summary     string
	Description []Paragraph
	// Scope is the scope the operation needs: read, write or admin; ""
	// means any valid key.
	Scope string
	// NoKey is set when the operation needs no API key at all.
	NoKey  bool
	Params []APIField
	Fields []APIField // of the JSON request body
	// BodyRequired tells whether the request body must be sent.
	BodyRequired bool
	Curl         string
	Python       string
	JavaScript   string
}

// ScopeLabel says what key the operation needs.
func (o APIOperation) ScopeLabel() string {
	switch {
	case o.NoKey:
		return "No key needed"
	case o.Scope == "":
		return "Any valid key"
	}
	return o.Scope + " scope"
}

// ScopeClass is the badge class of the operation's scope.
func (o APIOperation) ScopeClass() string {
	if o.Scope == "write" || o.Scope == "admin" {
		return "scope-" + o.Scope
	}
	return ""
}

// MethodClass is the class of the operation's method badge.
func (o APIOperation) MethodClass() string { return "api-method-" + strings.ToLower(o.Method) }

// APIField is a parameter or a request body field.
type APIField struct {
	Name        string
	In          string // path, query or header; "" for body fields
	Type        string // like "string | null (date-time)"
	Constraints string // like "1-100 characters"
	Required    bool
	Description Paragraph
}
