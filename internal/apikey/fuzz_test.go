package apikey_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/apikey"
)

// FuzzParse checks that Parse never panics, that what it accepts is a
// well-formed key, and that what it rejects comes with a known reason.
// More seeds are in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	valid := "kg_" + vectorRandom + "3E6O7i"
	for _, s := range []string{
		valid,
		"",
		"kg_",
		"kg_" + vectorRandom + "3E6O7j",
		replaceAt(valid, 5, "é"),
		strings.Repeat(valid, 100),
		" " + valid,
		"kg_" + vectorRandom + "zzzzzz",
	} {
		f.Add(s)
	}
	known := map[apikey.Reason]bool{
		apikey.ReasonEmpty:    true,
		apikey.ReasonPrefix:   true,
		apikey.ReasonLength:   true,
		apikey.ReasonCharset:  true,
		apikey.ReasonChecksum: true,
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := apikey.Parse(s)
		if err != nil {
			pe, ok := errors.AsType[*apikey.ParseError](err)
			if !ok {
				t.Fatalf("error %v is %T, want *ParseError", err, err)
			}
			if !known[pe.Reason] {
				t.Fatalf("unknown Reason %q", pe.Reason)
			}
			// Only kg_ strings can be secrets, and no message contains kg_
			// except the one for a missing prefix.
			if strings.HasPrefix(s, apikey.Prefix) && strings.Contains(err.Error(), s) {
				t.Fatalf("message %q contains the input", err.Error())
			}
			return
		}
		if got, want := len(s), apikey.Len; got != want {
			t.Fatalf("accepted %d bytes, want %d", got, want)
		}
		if !strings.HasPrefix(s, apikey.Prefix) {
			t.Fatalf("accepted %q without prefix", s)
		}
		if got, want := s[35:], apikey.Checksum(s[:35]); got != want {
			t.Fatalf("accepted checksum %q, want %q", got, want)
		}
		if got, want := k.String(), s; got != want {
			t.Fatalf("String() = %q, want %q", got, want)
		}
		k2, err := apikey.Parse(k.String())
		if err != nil || k2 != k {
			t.Fatalf("Parse(k.String()) = %q, %v; want the same key", k2.String(), err)
		}
	})
}
