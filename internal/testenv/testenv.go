// Package testenv holds what tests share about the machine they run on.
package testenv

import (
	"os"
	"testing"
)

// SkipUnlessCI skips the test for reason (a browser, axe-core or
// PostgreSQL missing), or fails it under CI=true, where the test command
// installs all of them and a skip would be a check that silently did not
// run.
func SkipUnlessCI(tb testing.TB, reason string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s (under CI=true this fails instead of skipping)", reason)
	}
	tb.Skip(reason)
}
