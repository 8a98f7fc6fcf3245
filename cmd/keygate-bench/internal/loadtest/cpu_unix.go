//go:build unix

package loadtest

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time, user and system, the process has used.
// Unlike wall-clock throughput it hardly moves when other programs load
// the machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
