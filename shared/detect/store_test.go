package detect

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/vocab"
)

func update(t *testing.T, s *MemoryStore, ip string, at time.Time) {
	t.Helper()
	k := Key{vocab.KeyIP, ip}
	d := deltaOf(t, nil, k, burst(ip, 1, at, 0, nil))[0]
	if _, err := s.Update(context.Background(), []Key{k}, func(_ Key, st *State) { st.Apply(at.String(), d) }); err != nil {
		t.Fatal(err)
	}
}

func TestMemoryStoreEvictsIdleKeysOnEventTime(t *testing.T) {
	s := NewMemoryStore(100, time.Hour)
	update(t, s, "198.51.100.1", t0)
	update(t, s, "198.51.100.2", t0.Add(30*time.Minute))
	if s.Len() != 2 {
		t.Fatalf("%d keys", s.Len())
	}
	// Event time moves on two hours (whatever the wall clock says): .1 is idle for over
	// an hour, .2 for 90 minutes: both go; .3 stays.
	update(t, s, "198.51.100.3", t0.Add(2*time.Hour))
	if s.Len() != 1 || s.Get(Key{vocab.KeyIP, "198.51.100.3"}) == nil || s.Evicted() != 2 {
		t.Fatalf("%d keys, %d evicted", s.Len(), s.Evicted())
	}
}

func TestMemoryStoreEvictsLeastRecentlyUpdatedWhenFull(t *testing.T) {
	s := NewMemoryStore(3, 0)
	for i := 1; i <= 3; i++ {
		update(t, s, fmt.Sprintf("198.51.100.%d", i), t0.Add(time.Duration(i)*time.Second))
	}
	update(t, s, "198.51.100.1", t0.Add(10*time.Second)) // .1 is now the most recent
	update(t, s, "198.51.100.4", t0.Add(11*time.Second)) // full: .2 goes
	if s.Len() != 3 || s.Get(Key{vocab.KeyIP, "198.51.100.2"}) != nil || s.Get(Key{vocab.KeyIP, "198.51.100.1"}) == nil {
		t.Fatalf("%d keys; .2 present %v", s.Len(), s.Get(Key{vocab.KeyIP, "198.51.100.2"}) != nil)
	}
	// A batch of more keys than the bound keeps the bound.
	var keys []Key
	for i := range 10 {
		keys = append(keys, Key{vocab.KeyIP, fmt.Sprint("198.51.101.", i)})
	}
	d := deltaOf(t, nil, Key{vocab.KeyIP, "198.51.100.9"}, burst("198.51.100.9", 1, t0.Add(time.Minute), 0, nil))[0]
	got, err := s.Update(context.Background(), keys, func(_ Key, st *State) { st.Apply("x", d) })
	if err != nil || len(got) != 10 || s.Len() != 3 {
		t.Fatalf("%v: %d returned, %d kept", err, len(got), s.Len())
	}
}

// Beyond the hot set, states are kept encoded; they come back whole when updated
// again, and eviction still goes least recently updated first.
func TestMemoryStoreKeepsColdStatesEncoded(t *testing.T) {
	s := newMemoryStore(4, time.Hour, 2)
	for i := 1; i <= 4; i++ {
		update(t, s, fmt.Sprintf("198.51.100.%d", i), t0.Add(time.Duration(i)*time.Second))
	}
	if s.nHot != 2 || s.m[Key{vocab.KeyIP, "198.51.100.1"}].state != nil || s.m[Key{vocab.KeyIP, "198.51.100.1"}].packed == "" {
		t.Fatalf("%d hot; .1 not encoded", s.nHot)
	}
	// .1 is updated again: decoded, counted on top of what it had.
	update(t, s, "198.51.100.1", t0.Add(10*time.Second))
	if got := s.Get(Key{vocab.KeyIP, "198.51.100.1"}); got == nil || got.Requests() != 2 {
		t.Fatalf("a cold state came back as %v", got)
	}
	if got := s.Get(Key{vocab.KeyIP, "198.51.100.2"}); got == nil || got.Requests() != 1 {
		t.Fatalf("Get of a cold state: %v", got)
	}
	// Full: .2 (cold, least recent) goes first, then .3.
	update(t, s, "198.51.100.5", t0.Add(11*time.Second))
	update(t, s, "198.51.100.6", t0.Add(12*time.Second))
	for ip, want := range map[string]bool{"1": true, "2": false, "3": false, "4": true, "5": true, "6": true} {
		if (s.Get(Key{vocab.KeyIP, "198.51.100." + ip}) != nil) != want {
			t.Errorf(".%s present: %v", ip, !want)
		}
	}
	// Idle eviction reaches cold entries on event time.
	update(t, s, "198.51.100.7", t0.Add(3*time.Hour))
	if s.Len() != 1 {
		t.Fatalf("%d keys after 3 idle hours", s.Len())
	}
}
