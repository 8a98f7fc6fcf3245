//go:build race

package main_test

// With the race detector on, the binary under test is built with it too,
// so a data race in the server fails TestServeBinary by its exit code.
func init() { raceEnabled = true }
