//go:build linux

package loadtest

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// pinProcess restricts every thread of this process to cpus. Threads the
// runtime starts later are cloned from these and keep the set.
func pinProcess(cpus []int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	// Twice: a thread started while the first pass ran is caught by the
	// second.
	for range 2 {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil {
				return fmt.Errorf("pin to CPUs %v: %w", cpus, err)
			}
		}
	}
	return nil
}

// Pinnable reports whether the client can have a core of its own: it
// needs at least two.
func Pinnable() bool {
	var set unix.CPUSet
	return unix.SchedGetaffinity(0, &set) == nil && set.Count() >= 2
}

// splitCPUs gives the client the first CPU this process may run on and
// the server the rest.
func splitCPUs() (client, server []int) {
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) != nil {
		return nil, nil
	}
	for c := range 1024 {
		if set.IsSet(c) {
			if client == nil {
				client = []int{c}
			} else {
				server = append(server, c)
			}
		}
	}
	return client, server
}
