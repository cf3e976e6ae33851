package notify

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// The contract every Notifier keeps, run against each implementation: Notify returns
// at once, is safe from many goroutines, and each event reaches the other end once,
// in the order each caller sent them.
func TestNotifierContract(t *testing.T) {
	for name, start := range map[string]func(t *testing.T) (Notifier, func() []string){
		"Memory": func(t *testing.T) (Notifier, func() []string) {
			m := &Memory{}
			return m, func() []string {
				var ids []string
				for _, ev := range m.Events() {
					ids = append(ids, ev.ID)
				}
				return ids
			}
		},
		"Dispatcher": func(t *testing.T) (Notifier, func() []string) {
			rcv := newReceiver(t, nil)
			r := start(t, []Target{{Name: "ops", URL: rcv.URL, Kind: KindCloudEvents}})
			return r, func() []string {
				r.flush(t)
				var ids []string
				for _, q := range rcv.requests() {
					ids = append(ids, decodeCloudEvent(t, q).ID())
				}
				return ids
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			n, received := start(t)
			const callers, each = 4, 50
			var wg sync.WaitGroup
			began := time.Now()
			for c := range callers {
				wg.Go(func() {
					for i := range each {
						n.Notify(Event{ID: fmt.Sprintf("c%d-%03d", c, i), Type: TypeBlockCreated, Summary: "s"})
					}
				})
			}
			wg.Wait()
			if took := time.Since(began); took > time.Second {
				t.Errorf("Notify of %d events took %v", callers*each, took)
			}
			n.Notify() // nothing: a no-op
			ids := received()
			if len(ids) != callers*each {
				t.Fatalf("%d events received, want %d", len(ids), callers*each)
			}
			for c := range callers {
				var mine []string
				for _, id := range ids {
					if id[:3] == fmt.Sprintf("c%d-", c) {
						mine = append(mine, id)
					}
				}
				if len(mine) != each || !slices.IsSorted(mine) {
					t.Errorf("caller %d: %d events, in order %v", c, len(mine), slices.IsSorted(mine))
				}
			}
		})
	}
}

// Memory keeps what it was given, and its own copy of the links.
func TestMemoryKeepsACopy(t *testing.T) {
	var m Memory
	links := map[string]string{"incident": "https://a.example/1"}
	m.Notify(Event{ID: "a", Type: TypeBlockCreated, Links: links}, Event{ID: "b", Type: TypeBlockRemoved})
	links["incident"] = "changed"
	got := m.Events()
	if len(got) != 2 || got[0].ID != "a" || got[1].ID != "b" || got[0].Links["incident"] != "https://a.example/1" {
		t.Errorf("recorded %+v", got)
	}
	got[0].ID = "x"
	if m.Events()[0].ID != "a" {
		t.Error("Events returned the recorder's own slice")
	}
}
