package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/keygate/keygate/views"
)

// handleAPIReference shows the API Reference page, built from the embedded
// OpenAPI document. Any member of the organization may read it.
func (s *Server) handleAPIReference(w http.ResponseWriter, r *http.Request) {
	ref, err := loadAPIReference()
	if err != nil {
		s.Error(w, r, fmt.Errorf("api reference: %w", err))
		return
	}
	vm := ref.view(s.publicBaseURL(r), s.selfSignedCert())
	s.render(w, r, http.StatusOK, views.APIReferencePage(s.layout(r, "API Reference", "api-reference"), vm))
}

// loadAPIReference parses the document once: it is embedded, so it cannot
// change while the server runs.
var loadAPIReference = sync.OnceValues(func() (*apiReference, error) {
	return parseAPIReference(openAPIDoc)
})

// apiReference is the document digested for the page; only the examples,
// which need the request's base URL, are left to build per request.
type apiReference struct {
	intro []views.Paragraph
	ops   []apiRefOp
}

type apiRefOp struct {
	views.APIOperation
	examplePath string          // the path with its parameters' examples filled in
	body        json.RawMessage // the request body's example, or nil
	noContent   bool            // the success response has no body
}

// view returns the page's view model for base, like
// https://keygate.example.com. A cacert (the self-signed certificate's
// file) makes every example trust it.
func (ref *apiReference) view(base, cacert string) views.APIReference {
	vm := views.APIReference{BaseURL: base, SpecURL: "/api/v1/openapi.json", Intro: ref.intro, CertNote: selfSignedNote(cacert)}
	for _, op := range ref.ops {
		o := op.APIOperation
		ex := apiExample{method: op.Method, url: base + op.examplePath, auth: !op.NoKey, body: op.body, noContent: op.noContent, cacert: cacert}
		o.Curl, o.Python, o.JavaScript = ex.curl(), ex.python(), ex.javaScript()
		vm.Operations = append(vm.Operations, o)
	}
	return vm
}

// The parts of an OpenAPI 3.1 document the page shows.
type (
	oaDoc struct {
		Info struct {
			Description string `json:"description"`
		} `json:"info"`
		Paths      json.RawMessage `json:"paths"`
		Components struct {
			Parameters map[string]oaParam  `json:"parameters"`
			Schemas    map[string]oaSchema `json:"schemas"`
		} `json:"components"`
	}
	oaOperation struct {
		OperationID string          `json:"operationId"`
		Summary     string          `json:"summary"`
		Description string          `json:"description"`
		Scope       *string         `json:"x-required-scope"`
		Security    json.RawMessage `json:"security"`
		Parameters  []oaParam       `json:"parameters"`
		RequestBody *struct {
			Required bool `json:"required"`
			Content  map[string]struct {
				Schema  oaSchema        `json:"schema"`
				Example json.RawMessage `json:"example"`
			} `json:"content"`
		} `json:"requestBody"`
		Responses map[string]struct {
			Content map[string]json.RawMessage `json:"content"`
		} `json:"responses"`
	}
	oaParam struct {
		Ref         string          `json:"$ref"`
		Name        string          `json:"name"`
		In          string          `json:"in"`
		Description string          `json:"description"`
		Required    bool            `json:"required"`
		Schema      oaSchema        `json:"schema"`
		Example     json.RawMessage `json:"example"`
	}
)

// parseAPIReference reads the document's operations in document order.
func parseAPIReference(raw []byte) (*apiReference, error) {
	var doc oaDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("parse openapi.json: %w", err)
	}
	ref := &apiReference{intro: paragraphs(doc.Info.Description)}
	paths, err := orderedObject(doc.Paths)
	if err != nil {
		return nil, fmt.Errorf("paths: %w", err)
	}
	for _, p := range paths {
		members, err := orderedObject(p.value)
		if err != nil {
			return nil, fmt.Errorf("path %s: %w", p.key, err)
		}
		var shared []oaParam
		for _, m := range members {
			if m.key == "parameters" {
				if err := json.Unmarshal(m.value, &shared); err != nil {
					return nil, fmt.Errorf("path %s: %w", p.key, err)
				}
			}
		}
		for _, m := range members {
			if m.key == "parameters" || strings.HasPrefix(m.key, "x-") {
				continue
			}
			var op oaOperation
			if err := json.Unmarshal(m.value, &op); err != nil {
				return nil, fmt.Errorf("%s %s: %w", m.key, p.key, err)
			}
			ref.ops = append(ref.ops, doc.operation(strings.ToUpper(m.key), p.key, shared, &op))
		}
	}
	return ref, nil
}

func (doc *oaDoc) operation(method, path string, shared []oaParam, op *oaOperation) apiRefOp {
	out := apiRefOp{examplePath: path}
	out.APIOperation = views.APIOperation{
		ID: op.OperationID, Method: method, Path: path, Summary: op.Summary,
		Description: paragraphs(op.Description), NoKey: string(op.Security) == "[]",
	}
	if op.Scope != nil {
		out.Scope = *op.Scope
	}
	for _, p := range append(append([]oaParam{}, shared...), op.Parameters...) {
		if name, ok := strings.CutPrefix(p.Ref, "#/components/parameters/"); ok {
			p = doc.Components.Parameters[name]
		}
		out.Params = append(out.Params, views.APIField{
			Name: p.Name, In: p.In, Type: p.Schema.typeLabel(), Constraints: p.Schema.constraints(),
			Required: p.Required, Description: inline(p.Description),
		})
		if p.In == "path" && len(p.Example) > 0 {
			var v string
			if json.Unmarshal(p.Example, &v) == nil {
				out.examplePath = strings.ReplaceAll(out.examplePath, "{"+p.Name+"}", v)
			}
		}
	}
	if rb := op.RequestBody; rb != nil {
		if media, ok := rb.Content["application/json"]; ok {
			out.BodyRequired, out.body = rb.Required, media.Example
			out.Fields = doc.fields(media.Schema, "")
		}
	}
	for status, resp := range op.Responses {
		if strings.HasPrefix(status, "2") {
			out.noContent = len(resp.Content) == 0
		}
	}
	return out
}

// member is one name and value of a JSON object.
type member struct {
	key   string
	value json.RawMessage
}

// orderedObject returns the members of a JSON object in their order, which
// a Go map would lose.
func orderedObject(raw json.RawMessage) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, member{key: tok.(string), value: v})
	}
	if _, err := dec.Token(); err != nil && err != io.EOF {
		return nil, err
	}
	return out, nil
}

// paragraphs splits Markdown-ish text on blank lines.
func paragraphs(s string) []views.Paragraph {
	var out []views.Paragraph
	for _, p := range strings.Split(s, "\n\n") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, inline(strings.ReplaceAll(p, "\n", " ")))
		}
	}
	return out
}

// inline reads `code` and **strong** spans; nothing else of Markdown is
// used in the document.
func inline(s string) views.Paragraph {
	var out views.Paragraph
	for s != "" {
		i := strings.IndexAny(s, "`*")
		if i < 0 {
			out = append(out, views.Inline{Text: s})
			break
		}
		mark := "`"
		if s[i] == '*' {
			if !strings.HasPrefix(s[i:], "**") {
				out = append(out, views.Inline{Text: s[:i+1]})
				s = s[i+1:]
				continue
			}
			mark = "**"
		}
		end := strings.Index(s[i+len(mark):], mark)
		if end < 0 {
			out = append(out, views.Inline{Text: s})
			break
		}
		if i > 0 {
			out = append(out, views.Inline{Text: s[:i]})
		}
		text := s[i+len(mark) : i+len(mark)+end]
		out = append(out, views.Inline{Text: text, Code: mark == "`", Strong: mark == "**"})
		s = s[i+len(mark)+end+len(mark):]
	}
	return out
}
