package ratelimit_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/ratelimit"
)

func TestParseLimit(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		in   string
		want ratelimit.Limit
	}{
		{"1000/h", ratelimit.Limit{Count: 1000, Period: time.Hour}},
		{"60/m", ratelimit.Limit{Count: 60, Period: time.Minute}},
		{"10/s", ratelimit.Limit{Count: 10, Period: time.Second}},
		{"5000/d", ratelimit.Limit{Count: 5000, Period: day}},
		{"1000/hour", ratelimit.Limit{Count: 1000, Period: time.Hour}},
		{"60/minute", ratelimit.Limit{Count: 60, Period: time.Minute}},
		{"1/second", ratelimit.Limit{Count: 1, Period: time.Second}},
		{"2/days", ratelimit.Limit{Count: 2, Period: day}},
		{"30/min", ratelimit.Limit{Count: 30, Period: time.Minute}},
		{" 100 / Hours ", ratelimit.Limit{Count: 100, Period: time.Hour}},
		{"10/30s", ratelimit.Limit{Count: 10, Period: 30 * time.Second}},
		{"10/1h", ratelimit.Limit{Count: 10, Period: time.Hour}},
		{"007/s", ratelimit.Limit{Count: 7, Period: time.Second}},
	} {
		got, err := ratelimit.ParseLimit(tc.in)
		if err != nil {
			t.Errorf("ParseLimit(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseLimit(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestParseLimitInvalid(t *testing.T) {
	for _, tc := range []struct {
		in, reason string
	}{
		{"", "COUNT/PERIOD"},
		{"abc", "COUNT/PERIOD"},
		{"1000", "COUNT/PERIOD"},
		{"0/h", "positive integer"},
		{"-1/h", "positive integer"},
		{"+5/h", "positive integer"},
		{"1.5/h", "positive integer"},
		{"/h", "positive integer"},
		{"abc/h", "positive integer"},
		{"99999999999999999999/h", "too large"},
		{"10/x", `unknown period "x"`},
		{"10/", "unknown period"},
		{"10/h/x", "unknown period"},
		{"10/0s", "period must be positive"},
		{"10/-1h", "period must be positive"},
		{"2000000000/s", "one request per nanosecond"},
	} {
		l, err := ratelimit.ParseLimit(tc.in)
		if err == nil {
			t.Errorf("ParseLimit(%q) = %+v, want error", tc.in, l)
			continue
		}
		if !errors.Is(err, ratelimit.ErrInvalidLimit) {
			t.Errorf("ParseLimit(%q) error %v does not wrap ErrInvalidLimit", tc.in, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.reason) || !strings.Contains(msg, `"`+tc.in+`"`) {
			t.Errorf("ParseLimit(%q) error = %q, want it to quote the input and mention %q", tc.in, msg, tc.reason)
		}
	}
}

func TestLimitString(t *testing.T) {
	for _, tc := range []struct {
		l    ratelimit.Limit
		want string
	}{
		{ratelimit.Limit{Count: 1000, Period: time.Hour}, "1000/h"},
		{ratelimit.Limit{Count: 60, Period: time.Minute}, "60/m"},
		{ratelimit.Limit{Count: 10, Period: time.Second}, "10/s"},
		{ratelimit.Limit{Count: 5000, Period: 24 * time.Hour}, "5000/d"},
		{ratelimit.Limit{Count: 10, Period: 30 * time.Second}, "10/30s"},
		{ratelimit.Limit{Count: 3, Period: 90 * time.Minute}, "3/1h30m0s"},
	} {
		if got := tc.l.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.l, got, tc.want)
		}
		back, err := ratelimit.ParseLimit(tc.l.String())
		if err != nil || back != tc.l {
			t.Errorf("ParseLimit(%q) = %+v, %v; want %+v", tc.l.String(), back, err, tc.l)
		}
	}
}

func TestLimitValidate(t *testing.T) {
	if err := (ratelimit.Limit{Count: 1000, Period: time.Hour}).Validate(); err != nil {
		t.Errorf("Validate(1000/h) = %v", err)
	}
	for _, l := range []ratelimit.Limit{
		{},
		{Count: 0, Period: time.Hour},
		{Count: -1, Period: time.Hour},
		{Count: 10, Period: 0},
		{Count: 10, Period: -time.Hour},
		{Count: 10, Period: 5},
	} {
		if err := l.Validate(); !errors.Is(err, ratelimit.ErrInvalidLimit) {
			t.Errorf("%+v.Validate() = %v, want ErrInvalidLimit", l, err)
		}
	}
}
