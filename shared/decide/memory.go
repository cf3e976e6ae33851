package decide

import (
	"context"
	"sync"
	"time"
)

// MemoryHistory is a History held in memory: for offline replay, where findings
// escalate within one run, and for tests. Safe for concurrent use.
type MemoryHistory struct {
	mu      sync.Mutex
	past    map[string][]time.Time         // offences by target
	buckets map[string]map[string]struct{} // cap reservations by bucket
}

// NewMemoryHistory returns an empty history.
func NewMemoryHistory() *MemoryHistory {
	return &MemoryHistory{past: map[string][]time.Time{}, buckets: map[string]map[string]struct{}{}}
}

// Add records an offence of target at t.
func (m *MemoryHistory) Add(target string, t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.past[target] = append(m.past[target], t)
}

// Offences counts the offences of target at or after since.
func (m *MemoryHistory) Offences(_ context.Context, target string, since time.Time, _ string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, t := range m.past[target] {
		if !t.Before(since) {
			n++
		}
	}
	return n, nil
}

// Reserve takes one of limit places in bucket for key; a key already holding one keeps it.
func (m *MemoryHistory) Reserve(_ context.Context, bucket, key string, limit int) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.buckets[bucket]
	if b == nil {
		b = map[string]struct{}{}
		m.buckets[bucket] = b
	}
	if _, ok := b[key]; ok {
		return true, nil
	}
	if len(b) >= limit {
		return false, nil
	}
	b[key] = struct{}{}
	return true, nil
}
