//go:build !linux

package loadtest

import "errors"

func pinProcess([]int) error { return errors.New("pinning to CPUs needs Linux") }

func Pinnable() bool { return false }

func splitCPUs() (client, server []int) { return nil, nil }
