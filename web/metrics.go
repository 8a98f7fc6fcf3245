package web

import (
	"sync"
)

// Metrics counts what the API refuses, by reason.
type Metrics struct {
	mu           sync.Mutex
	authFailures map[string]uint64
	throttles    uint64
}

// NewMetrics returns empty counters.
func NewMetrics() *Metrics { return &Metrics{authFailures: map[string]uint64{}} }

func (m *Metrics) authFailure(reason string) {
	m.mu.Lock()
	m.authFailures[reason]++
	m.mu.Unlock()
}

func (m *Metrics) throttled() {
	m.mu.Lock()
	m.throttles++
	m.mu.Unlock()
}
