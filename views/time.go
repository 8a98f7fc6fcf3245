package views

import (
	"fmt"
	"time"
)

// Time is a moment with the clock reading it is shown against, so relative
// times ("5 minutes ago") are testable.
type Time struct {
	At  time.Time
	Now time.Time
}

// Absolute is the moment in UTC, for the hover title.
func (t Time) Absolute() string {
	if t.At.IsZero() {
		return ""
	}
	return t.At.UTC().Format("2006-01-02 15:04:05 UTC")
}

// ISO is the moment for the datetime attribute.
func (t Time) ISO() string { return t.At.UTC().Format(time.RFC3339) }

// Relative says how long ago (or how far ahead) the moment is.
func (t Time) Relative() string {
	if t.At.IsZero() {
		return "Never"
	}
	d := t.Now.Sub(t.At)
	if d < 0 {
		return "in " + humanDuration(-d)
	}
	if d < time.Minute {
		return "just now"
	}
	return humanDuration(d) + " ago"
}

// humanDuration rounds d down to its largest unit: "5 minutes", "1 hour".
func humanDuration(d time.Duration) string {
	unit := func(n int, name string) string {
		if n == 1 {
			return fmt.Sprintf("1 %s", name)
		}
		return fmt.Sprintf("%d %ss", n, name)
	}
	switch {
	case d < time.Minute:
		return unit(max(int(d/time.Second), 1), "second")
	case d < time.Hour:
		return unit(int(d/time.Minute), "minute")
	case d < 24*time.Hour:
		return unit(int(d/time.Hour), "hour")
	case d < 30*24*time.Hour:
		return unit(int(d/(24*time.Hour)), "day")
	case d < 365*24*time.Hour:
		return unit(int(d/(30*24*time.Hour)), "month")
	}
	return unit(int(d/(365*24*time.Hour)), "year")
}
