package web

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// encoderJSON is what writeJSON writes for v.
func encoderJSON(t testing.TB, v any) []byte {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestAppendJSONMatchesEncoder: a bot and a list of bots written by
// jsonAppender are byte for byte what encoding/json's Encoder writes.
func TestAppendJSONMatchesEncoder(t *testing.T) {
	at := time.Date(2026, 12, 4, 8, 30, 1, 120_000_000, time.UTC)
	whole := at.Truncate(time.Second)
	zone := at.In(time.FixedZone("", -7*3600))
	strs := []string{"", "plain", `quote " and \ backslash`, "<script>&amp;</script>", "tab\tnew\nline\rcr\bbs\fff",
		"\x00\x01\x1f\x7f", "é ü 日本 🙂", "line\u2028sep\u2029para", "bad \xff\xfe utf8 \xe2\x82", "trailing \xc3"}
	metas := []json.RawMessage{json.RawMessage("null"), json.RawMessage(`{}`), json.RawMessage(`{"a":1,"b":[true,null,"x y"]}`),
		json.RawMessage(`{ "spaced" : [ 1 , 2 ] }`), json.RawMessage(`{"html":"<b>&</b>","sep":"` + "\u2028" + `"}`),
		json.RawMessage(`{"n":1.5e10,"u":"\u00e9"}`)}
	var bots []botJSON
	for i, s := range strs {
		b := botJSON{ID: "bot_" + s, MeetingURL: "https://meet.example.com/" + s, BotName: s, State: "joining",
			Metadata: metas[i%len(metas)], CreatedAt: at, UpdatedAt: whole}
		switch i % 3 {
		case 0:
			b.JoinAt = &zone
		case 1:
			b.JoinAt, b.EndedAt = &whole, &at
		}
		bots = append(bots, b)
		got := append(b.appendJSON(nil), '\n')
		if want := encoderJSON(t, b); !bytes.Equal(got, want) {
			t.Errorf("bot %d:\n got %s\nwant %s", i, got, want)
		}
	}
	next, prev := "https://keygate.example.com/api/v1/bots?cursor=YTo1&state=<x>", "https://keygate.example.com/api/v1/bots?limit=2"
	for _, tc := range []struct {
		next, prev *string
		rows       []botJSON
	}{{nil, nil, nil}, {nil, nil, []botJSON{}}, {&next, nil, bots[:1]}, {&next, &prev, bots}} {
		got := append(appendListJSON(nil, tc.next, tc.prev, tc.rows), '\n')
		results := any(tc.rows)
		if tc.rows == nil {
			results = []botJSON{} // writeList always has a slice
		}
		if want := encoderJSON(t, listBody{Next: tc.next, Previous: tc.prev, Results: results}); !bytes.Equal(got, want) {
			t.Errorf("list of %d:\n got %s\nwant %s", len(tc.rows), got, want)
		}
	}
}

// FuzzAppendJSONString: any string, valid UTF-8 or not, is written as the
// Encoder writes it.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a", "<>&", "\u2028\u2029", "\xff", "\"\\", "\x00\x1f", strings.Repeat("é", 3)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := append(appendJSONString(nil, s), '\n')
		if want := encoderJSON(t, s); !bytes.Equal(got, want) {
			t.Fatalf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	})
}

// FuzzAppendRawJSON: any metadata the Encoder can write comes out the
// same.
func FuzzAppendRawJSON(f *testing.F) {
	for _, s := range []string{"{}", `{"a":"<b>"}`, `{ "x" : [1, 2] }`, `{"s":"` + "\u2028" + `"}`, "[]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !json.Valid([]byte(s)) {
			return
		}
		got := append(appendRawJSON([]byte("x"), json.RawMessage(s)), '\n')
		if want := append([]byte("x"), encoderJSON(t, json.RawMessage(s))...); !bytes.Equal(got, want) {
			t.Fatalf("appendRawJSON(%q) = %s, want %s", s, got, want)
		}
	})
}
