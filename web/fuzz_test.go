package web

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseAuthorization: the parser never panics, returns either a key or
// one of the documented errors, and a key it returns has no spaces.
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		"", "Token", "Bearer ", "Token kg_abc", "bearer kg_abc", "Basic dXNlcjpwYXNz", "Token a b",
		"TOKEN\tkg_x", "Token  kg_double_space", "Bearer kg_0123456789ABCDEFGHIJKLMNOPQRSTUV3E6O7i",
	} {
		f.Add(s)
	}
	known := map[string]bool{msgNotProvided: true, msgNoCredentials: true, msgSpaces: true, msgMissingScheme: true}
	f.Fuzz(func(t *testing.T, header string) {
		key, err := parseAuthorization(header)
		if err != nil {
			if key != "" || !known[err.detail] {
				t.Fatalf("parseAuthorization(%q) = %q, %+v", header, key, err)
			}
			return
		}
		if key == "" || strings.ContainsAny(key, " \t") {
			t.Fatalf("parseAuthorization(%q) returned key %q", header, key)
		}
		scheme, _, _ := strings.Cut(strings.TrimSpace(header), " ")
		if !strings.EqualFold(scheme, "token") && !strings.EqualFold(scheme, "bearer") {
			t.Fatalf("accepted scheme %q", scheme)
		}
	})
}

// FuzzDecodeBody: any request body either decodes to an object whose fields
// the typed readers handle without panicking, or yields a parse message.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{
		`{"meeting_url": "https://zoom.us/j/123456789", "bot_name": "My Bot"}`,
		`{"bot_name": 1, "join_at": "2026-01-01T00:00:00Z", "metadata": {"a": [1, {"b": null}]}}`,
		`[1,2,3]`, `null`, `"str"`, `{`, `{"a":1} {"b":2}`, ``, `{"transcript": [{"speaker": "A", "text": "hi", "start_ms": 0, "end_ms": 5}]}`,
		`{"scopes": ["read", "admin"], "expires_at": null, "grace_seconds": 3600}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		obj, msg := parseObject(body)
		if obj == nil {
			if msg == "" || !utf8.ValidString(msg) {
				t.Fatalf("no object and message %q", msg)
			}
			return
		}
		if msg != "" {
			t.Fatalf("object and message %q", msg)
		}
		fe := fieldErrors{}
		for name := range obj {
			obj.str(name, fe)
			obj.timeField(name, fe)
			obj.object(name, fe)
			obj.intField(name, fe)
			var list []string
			obj.decodeField(name, &list, "list", fe)
		}
		for name, msgs := range fe {
			if _, ok := obj[name]; !ok || len(msgs) == 0 {
				t.Fatalf("error for a field that was not sent: %q", name)
			}
		}
	})
}
