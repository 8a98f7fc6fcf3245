package ratelimit

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidLimit is wrapped by the errors of ParseLimit and Limit.Validate.
var ErrInvalidLimit = errors.New("ratelimit: invalid limit")

// maxPeriod bounds Limit.Period so that the GCRA arithmetic cannot overflow.
const maxPeriod = time.Duration(1 << 62)

// Limit is a request quota: Count requests per Period, e.g. 1000 per hour.
type Limit struct {
	Count  int
	Period time.Duration
}

// periodUnits maps the unit names accepted by ParseLimit to their periods.
var periodUnits = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hrs": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
}

// ParseLimit parses a limit written COUNT/PERIOD, where COUNT is a positive
// integer and PERIOD is a unit (s, m, h, d, or a word such as "second",
// "minute", "hour", "day", singular or plural) or a duration accepted by
// time.ParseDuration such as "30s". Examples: "1000/h", "60/m", "10/s",
// "5000/d", "1000/hour", "60/minute", "10/30s". Spaces around the parts and
// the case of the unit are ignored. ParseLimit(l.String()) returns l for every
// valid l.
func ParseLimit(s string) (Limit, error) {
	bad := func(reason string) (Limit, error) {
		return Limit{}, fmt.Errorf("%w %q: %s", ErrInvalidLimit, s, reason)
	}
	count, unit, ok := strings.Cut(s, "/")
	if !ok {
		return bad(`want COUNT/PERIOD, e.g. "1000/h" or "60/minute"`)
	}
	count = strings.TrimSpace(count)
	unit = strings.ToLower(strings.TrimSpace(unit))
	if count == "" || strings.Trim(count, "0123456789") != "" {
		return bad("count must be a positive integer")
	}
	n, err := strconv.Atoi(count)
	if err != nil {
		return bad("count is too large")
	}
	period, ok := periodUnits[unit]
	if !ok {
		d, err := time.ParseDuration(unit)
		if err != nil {
			return bad(fmt.Sprintf("unknown period %q; want s, m, h, d or a duration such as 30s", unit))
		}
		period = d
	}
	l := Limit{Count: n, Period: period}
	if reason := l.problem(); reason != "" {
		return bad(reason)
	}
	return l, nil
}

// String formats l as ParseLimit accepts it, e.g. "1000/h"; periods other
// than a second, minute, hour or day are written as durations, e.g. "10/30s".
func (l Limit) String() string {
	var unit string
	switch l.Period {
	case time.Second:
		unit = "s"
	case time.Minute:
		unit = "m"
	case time.Hour:
		unit = "h"
	case 24 * time.Hour:
		unit = "d"
	default:
		unit = l.Period.String()
	}
	return strconv.Itoa(l.Count) + "/" + unit
}

// Validate returns an error wrapping ErrInvalidLimit unless Count >= 1,
// Period > 0, the rate is at most one request per nanosecond and Period is
// below about 146 years. Limits returned by ParseLimit are always valid.
func (l Limit) Validate() error {
	if reason := l.problem(); reason != "" {
		return fmt.Errorf("%w %s: %s", ErrInvalidLimit, l, reason)
	}
	return nil
}

// problem describes what makes l invalid, or returns "" if it is valid.
func (l Limit) problem() string {
	switch {
	case l.Count < 1:
		return "count must be a positive integer"
	case l.Period <= 0:
		return "period must be positive"
	case l.Period > maxPeriod:
		return "period is too long"
	case int64(l.Count) > int64(l.Period):
		return "count exceeds one request per nanosecond"
	}
	return ""
}

// interval returns the GCRA emission interval t, Period/Count rounded up so
// that the sustained rate never exceeds the limit, and the burst tolerance
// tau = (Count-1)*t, which lets a full bucket absorb Count requests at once.
// It panics if l is invalid.
func (l Limit) interval() (t, tau time.Duration) {
	if reason := l.problem(); reason != "" {
		panic(fmt.Sprintf("ratelimit: invalid limit %s: %s", l, reason))
	}
	c := time.Duration(l.Count)
	t = (l.Period + c - 1) / c
	return t, t * (c - 1)
}
