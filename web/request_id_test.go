package web_test

import (
	"testing"
	"time"

	"github.com/keygate/keygate/internal/usage"
)

// TestRequestIDsGrowWithTime: every response's X-Request-Id is 16
// lowercase hex digits whose high 32 bits are the Unix second it was
// made in, and each is greater than the one before, so the request log's
// index of them grows at its end.
func TestRequestIDsGrowWithTime(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	var last usage.RequestID
	for i := 0; i < 20; i++ {
		before := time.Now().Unix()
		s := c.Get("/login").Header.Get("X-Request-Id")
		after := time.Now().Unix()
		id, ok := usage.ParseRequestID(s)
		if !ok || id.String() != s {
			t.Fatalf("X-Request-Id %q is not 16 lowercase hex digits", s)
		}
		if sec := int64(id >> 32); sec < before || sec > after {
			t.Fatalf("X-Request-Id %q carries second %d, made between %d and %d", s, sec, before, after)
		}
		if id <= last {
			t.Fatalf("X-Request-Id %q after %q", s, last)
		}
		last = id
	}
}
