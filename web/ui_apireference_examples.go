package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/keygate/keygate/internal/tlsconf"
	"github.com/keygate/keygate/views"
)

// oaSchema is the part of a JSON Schema the API Reference page shows.
type oaSchema struct {
	Ref         string            `json:"$ref"`
	Type        json.RawMessage   `json:"type"`
	Format      string            `json:"format"`
	Enum        []json.RawMessage `json:"enum"`
	Default     json.RawMessage   `json:"default"`
	MinLength   *int              `json:"minLength"`
	MaxLength   *int              `json:"maxLength"`
	Minimum     *float64          `json:"minimum"`
	Maximum     *float64          `json:"maximum"`
	MinItems    *int              `json:"minItems"`
	MaxItems    *int              `json:"maxItems"`
	Items       *oaSchema         `json:"items"`
	AnyOf       []oaSchema        `json:"anyOf"`
	Properties  json.RawMessage   `json:"properties"`
	Required    []string          `json:"required"`
	Description string            `json:"description"`
}

// resolve follows a reference to a schema of the document's components.
func (doc *oaDoc) resolve(s oaSchema) oaSchema {
	for range 8 { // a bound, in case of a cycle
		name, ok := strings.CutPrefix(s.Ref, "#/components/schemas/")
		next, found := doc.Components.Schemas[name]
		if !ok || !found {
			break
		}
		s = next
	}
	return s
}

// fields lists the properties of an object schema; the properties of
// objects in arrays follow their array as name[].property.
func (doc *oaDoc) fields(s oaSchema, prefix string) []views.APIField {
	s = doc.resolve(s)
	props, err := orderedObject(s.Properties)
	if err != nil {
		return nil
	}
	var out []views.APIField
	for _, p := range props {
		var ps oaSchema
		if json.Unmarshal(p.value, &ps) != nil {
			continue
		}
		out = append(out, views.APIField{
			Name: prefix + p.key, Type: ps.typeLabel(), Constraints: ps.constraints(),
			Required: slices.Contains(s.Required, p.key), Description: inline(ps.Description),
		})
		if ps.Items != nil && ps.Items.Ref == "" && len(ps.Items.Properties) > 0 {
			out = append(out, doc.fields(*ps.Items, prefix+p.key+"[].")...)
		}
	}
	return out
}

// typeLabel describes a schema's type: "string | null (date-time)".
func (s oaSchema) typeLabel() string {
	if name, ok := strings.CutPrefix(s.Ref, "#/components/schemas/"); ok {
		return name
	}
	if len(s.AnyOf) > 0 {
		labels := make([]string, len(s.AnyOf))
		for i, a := range s.AnyOf {
			labels[i] = a.typeLabel()
		}
		return strings.Join(labels, " or ")
	}
	var types []string
	if json.Unmarshal(s.Type, &types) != nil {
		var t string
		if json.Unmarshal(s.Type, &t) == nil {
			types = []string{t}
		}
	}
	for i, t := range types {
		if t == "array" && s.Items != nil {
			types[i] = "array of " + s.Items.typeLabel()
		}
	}
	label := strings.Join(types, " | ")
	if label == "" {
		label = "any"
	}
	if s.Format != "" {
		label += " (" + s.Format + ")"
	}
	return label
}

// constraints describes a schema's limits: "1 to 100 characters".
func (s oaSchema) constraints() string {
	var parts []string
	if len(s.Enum) > 0 {
		vals := make([]string, len(s.Enum))
		for i, v := range s.Enum {
			vals[i] = plainJSON(v)
		}
		parts = append(parts, "one of "+strings.Join(vals, ", "))
	}
	if r := bounds(s.MinLength, s.MaxLength, "characters"); r != "" {
		parts = append(parts, r)
	}
	if r := bounds(s.MinItems, s.MaxItems, "items"); r != "" {
		parts = append(parts, r)
	}
	var lo, hi *int
	if s.Minimum != nil {
		lo = new(int(*s.Minimum))
	}
	if s.Maximum != nil {
		hi = new(int(*s.Maximum))
	}
	if r := bounds(lo, hi, ""); r != "" {
		parts = append(parts, r)
	}
	if len(s.Default) > 0 {
		parts = append(parts, "default "+plainJSON(s.Default))
	}
	if s.Items != nil && s.Items.Ref == "" && len(s.Items.Properties) == 0 {
		if c := s.Items.constraints(); c != "" {
			parts = append(parts, "each: "+c)
		}
	}
	return strings.Join(parts, "; ")
}

func bounds(lo, hi *int, unit string) string {
	var r string
	switch {
	case lo != nil && hi != nil:
		r = fmt.Sprintf("%d to %d", *lo, *hi)
	case hi != nil:
		r = fmt.Sprintf("at most %d", *hi)
	case lo != nil && *lo > 0:
		r = fmt.Sprintf("at least %d", *lo)
	default:
		return ""
	}
	return strings.TrimSpace(r + " " + unit)
}

// plainJSON shows a JSON value, strings without their quotes.
func plainJSON(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// apiExample is one operation called with a placeholder key.
type apiExample struct {
	method    string
	url       string
	auth      bool
	body      json.RawMessage
	noContent bool
	// cacert is the absolute path of a self-signed certificate the
	// example trusts explicitly, or "".
	cacert string
}

// selfSignedCert is the file of the server's certificate when it is
// self-signed, which examples must trust explicitly; "" otherwise (a
// certificate from files or ACME is trusted as it is).
func (s *Server) selfSignedCert() string {
	if s.cfg.TLSMode != tlsconf.ModeSelfSigned {
		return ""
	}
	return s.cfg.TLSCertFile
}

// selfSignedNote says why the examples name cacert; "" without one.
func selfSignedNote(cacert string) string {
	if cacert == "" {
		return ""
	}
	return "This instance uses a self-signed certificate: the examples trust it by its file, " + cacert + "."
}

// curlCACert is the curl option that trusts cacert, with its leading
// space; "" without one.
func curlCACert(cacert string) string {
	if cacert == "" {
		return ""
	}
	return " --cacert " + shellWord(cacert)
}

// exampleAuth is the Authorization header of every example.
const exampleAuth = "Token YOUR_API_KEY"

func (ex apiExample) curl() string {
	first := "curl" + curlCACert(ex.cacert)
	if ex.method != "GET" {
		first += " -X " + ex.method
	}
	lines := []string{first + " " + shellWord(ex.url)}
	if ex.auth {
		lines = append(lines, "-H "+shellWord("Authorization: "+exampleAuth))
	}
	if ex.body != nil {
		lines = append(lines, "-H "+shellWord("Content-Type: application/json"), "-d "+shellWord(oneLineJSON(ex.body, false)))
	}
	return strings.Join(lines, " \\\n  ")
}

func (ex apiExample) python() string {
	var b strings.Builder
	b.WriteString("import requests\n\n")
	fmt.Fprintf(&b, "response = requests.%s(\n    %s,\n", strings.ToLower(ex.method), quoteString(ex.url))
	if ex.auth {
		fmt.Fprintf(&b, "    headers={\"Authorization\": %s},\n", quoteString(exampleAuth))
	}
	if ex.body != nil {
		fmt.Fprintf(&b, "    json=%s,\n", oneLineJSON(ex.body, true))
	}
	if ex.cacert != "" {
		// Per request: requests ignores a session's verify when
		// REQUESTS_CA_BUNDLE is set.
		fmt.Fprintf(&b, "    verify=%s,\n", quoteString(ex.cacert))
	}
	b.WriteString("    timeout=30,\n)\nresponse.raise_for_status()\n")
	if ex.noContent {
		b.WriteString("print(response.status_code)")
	} else {
		b.WriteString("print(response.json())")
	}
	return b.String()
}

func (ex apiExample) javaScript() string {
	var opts, headers []string
	if ex.method != "GET" {
		opts = append(opts, "  method: "+quoteString(ex.method)+",")
	}
	if ex.auth {
		headers = append(headers, "    \"Authorization\": "+quoteString(exampleAuth)+",")
	}
	if ex.body != nil {
		headers = append(headers, "    \"Content-Type\": \"application/json\",")
	}
	if len(headers) > 0 {
		opts = append(opts, "  headers: {\n"+strings.Join(headers, "\n")+"\n  },")
	}
	if ex.body != nil {
		opts = append(opts, "  body: JSON.stringify("+oneLineJSON(ex.body, false)+"),")
	}
	var b strings.Builder
	if ex.cacert != "" {
		// fetch has no per-request option: Node reads extra trusted
		// certificates from the environment at start.
		b.WriteString("// Run with the instance's certificate trusted:\n// NODE_EXTRA_CA_CERTS=" + shellWord(ex.cacert) + " node app.js\n")
	}
	b.WriteString("const response = await fetch(" + quoteString(ex.url))
	if len(opts) > 0 {
		b.WriteString(", {\n" + strings.Join(opts, "\n") + "\n}")
	}
	b.WriteString(");\nif (!response.ok) throw new Error(`HTTP ${response.status}`);\n")
	if ex.noContent {
		b.WriteString("console.log(response.status);")
	} else {
		b.WriteString("console.log(await response.json());")
	}
	return b.String()
}

// quoteString writes s as a JSON string, which Python and JavaScript read
// the same way.
func quoteString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// shellWord quotes s for a POSIX shell unless it needs no quotes.
func shellWord(s string) string {
	safe := s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@%+=,~", r))
	}) < 0
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// oneLineJSON writes a JSON value on one line, in its order, with a space
// after each colon and comma, as people type it. For Python, true, false
// and null become True, False and None.
func oneLineJSON(raw json.RawMessage, python bool) string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var b strings.Builder
	type frame struct {
		object bool
		n      int
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		} else if err != nil {
			return string(raw)
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			b.WriteString(d.String())
			continue
		}
		if len(stack) > 0 {
			f := &stack[len(stack)-1]
			if f.object && f.n%2 == 1 {
				b.WriteString(": ")
			} else if f.n > 0 {
				b.WriteString(", ")
			}
			f.n++
		}
		switch v := tok.(type) {
		case json.Delim:
			b.WriteString(v.String())
			stack = append(stack, frame{object: v == '{'})
		case string:
			b.WriteString(quoteString(v))
		case json.Number:
			b.WriteString(v.String())
		case bool, nil:
			b.WriteString(literal(v, python))
		}
	}
	return b.String()
}

// literal writes true, false or null, in Python if asked.
func literal(v any, python bool) string {
	b, ok := v.(bool)
	switch {
	case !ok && python:
		return "None"
	case !ok:
		return "null"
	case python:
		return map[bool]string{true: "True", false: "False"}[b]
	}
	return strconv.FormatBool(b)
}
