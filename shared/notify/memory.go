package notify

import (
	"maps"
	"slices"
	"sync"
)

// Memory records the events it is given, in order: the notifier of tests and of the
// offline commands. It is safe for concurrent use; the zero value is ready.
type Memory struct {
	mu     sync.Mutex
	events []Event
}

// Notify records events.
func (m *Memory) Notify(events ...Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ev := range events {
		ev.Links = maps.Clone(ev.Links)
		m.events = append(m.events, ev)
	}
}

// Events returns what was recorded so far.
func (m *Memory) Events() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.events)
}
