// Package detecttest holds the conformance suite every detect.Store must pass: the
// in-memory store runs it in shared/detect, the Table Storage store against Azurite.
package detecttest

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/detect"
	"github.com/apiguard/apiguard/shared/traffic"
	"github.com/apiguard/apiguard/shared/vocab"
)

// TestStore runs the contract of detect.Store (see its doc comment) against stores
// made by newStore. Keys are unique per run, so a store shared between runs (one
// Azurite table) works.
func TestStore(t *testing.T, newStore func(t *testing.T) detect.Store) {
	run := fmt.Sprintf("conf-%d", time.Now().UnixNano())
	key := func(name string) detect.Key { return detect.Key{Type: vocab.KeyUser, Value: run + "-" + name} }
	ctx := context.Background()

	t.Run("absent keys start empty and are saved", func(t *testing.T) {
		st := newStore(t)
		a, b := key("absent-a"), key("absent-b")
		da, db := deltas(a, 3, 0, 0), deltas(b, 5, 0, 0)
		got, err := st.Update(ctx, []detect.Key{a, b}, func(k detect.Key, s *detect.State) {
			if !s.Empty() {
				t.Errorf("%s: a new key must start empty", k)
			}
			apply(s, "b1", map[detect.Key][]*detect.Delta{a: da, b: db}[k])
		})
		if err != nil {
			t.Fatal(err)
		}
		if got[a].Requests() != 3 || got[b].Requests() != 5 {
			t.Fatalf("returned %d and %d requests, want 3 and 5", got[a].Requests(), got[b].Requests())
		}
		got, err = st.Update(ctx, []detect.Key{a}, func(k detect.Key, s *detect.State) {
			if s.Requests() != 3 {
				t.Errorf("saved state has %d requests, want 3", s.Requests())
			}
			apply(s, "b2", deltas(a, 4, 0, 0))
		})
		if err != nil {
			t.Fatal(err)
		}
		if got[a].Requests() != 7 {
			t.Fatalf("after a second batch: %d requests, want 7", got[a].Requests())
		}
	})

	t.Run("returned states are copies", func(t *testing.T) {
		st := newStore(t)
		k := key("copies")
		got, err := st.Update(ctx, []detect.Key{k}, func(_ detect.Key, s *detect.State) { apply(s, "b1", deltas(k, 2, 0, 0)) })
		if err != nil {
			t.Fatal(err)
		}
		apply(got[k], "mine", deltas(k, 50, 0, 0))
		if _, err := st.Update(ctx, []detect.Key{k}, func(_ detect.Key, s *detect.State) {
			if s.Requests() != 2 {
				t.Errorf("changing a returned state changed the store: %d requests", s.Requests())
			}
		}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a key listed twice is updated once", func(t *testing.T) {
		st := newStore(t)
		k := key("twice")
		n := 0
		got, err := st.Update(ctx, []detect.Key{k, k}, func(_ detect.Key, s *detect.State) {
			n++
			apply(s, fmt.Sprint("call", n), deltas(k, 1, 0, 0)) // not idempotent across calls on purpose
		})
		if err != nil {
			t.Fatal(err)
		}
		if got[k].Requests() != 1 {
			t.Fatalf("%d requests after listing the key twice, want 1", got[k].Requests())
		}
	})

	t.Run("a redelivered batch is counted once", func(t *testing.T) {
		st := newStore(t)
		k := key("redelivered")
		d := deltas(k, 6, 0, 0)
		for range 3 {
			if _, err := st.Update(ctx, []detect.Key{k}, func(_ detect.Key, s *detect.State) { apply(s, "same", d) }); err != nil {
				t.Fatal(err)
			}
		}
		got, err := st.Update(ctx, []detect.Key{k}, func(detect.Key, *detect.State) {})
		if err != nil {
			t.Fatal(err)
		}
		if got[k].Requests() != 6 {
			t.Fatalf("%d requests, want 6", got[k].Requests())
		}
	})

	t.Run("concurrent updates lose nothing", func(t *testing.T) {
		st := newStore(t)
		shared := key("concurrent")
		const workers = 8
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				own := key(fmt.Sprint("concurrent-own-", w))
				ds := map[detect.Key][]*detect.Delta{shared: deltas(shared, 10, 0, 0), own: deltas(own, 1, 0, 0)}
				_, err := st.Update(ctx, []detect.Key{shared, own}, func(k detect.Key, s *detect.State) {
					apply(s, fmt.Sprint("worker", w), ds[k])
				})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got, err := st.Update(ctx, []detect.Key{shared}, func(detect.Key, *detect.State) {})
		if err != nil {
			t.Fatal(err)
		}
		if got[shared].Requests() != workers*10 {
			t.Fatalf("%d requests, want %d: an update was lost", got[shared].Requests(), workers*10)
		}
	})

	t.Run("a large state is saved whole", func(t *testing.T) {
		st := newStore(t)
		k := key("large")
		d := deltas(k, 400, 64, 200)
		got, err := st.Update(ctx, []detect.Key{k}, func(_ detect.Key, s *detect.State) { apply(s, "big", d) })
		if err != nil {
			t.Fatal(err)
		}
		var want detect.State
		apply(&want, "big", d)
		wb, _ := want.MarshalBinary()
		for _, s := range []*detect.State{got[k], reread(t, st, k)} {
			b, err := s.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, wb) {
				t.Fatalf("state of %d bytes came back as %d bytes, different", len(wb), len(b))
			}
		}
	})

	t.Run("a cancelled context fails", func(t *testing.T) {
		st := newStore(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := st.Update(cctx, []detect.Key{key("cancelled")}, func(detect.Key, *detect.State) {}); err == nil {
			t.Fatal("Update with a cancelled context succeeded")
		}
	})
}

func reread(t *testing.T, st detect.Store, k detect.Key) *detect.State {
	t.Helper()
	got, err := st.Update(context.Background(), []detect.Key{k}, func(detect.Key, *detect.State) {})
	if err != nil {
		t.Fatal(err)
	}
	return got[k]
}

func apply(s *detect.State, batch string, ds []*detect.Delta) {
	for _, d := range ds {
		s.Apply(batch, d)
	}
}

// t0 is the event time of every delta here: the suite never depends on the clock.
var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// deltas are n requests of user k.Value, errs of them 404s on distinct paths, ids of
// them on distinct object ids, all in the 12:00 window.
func deltas(k detect.Key, n, errs, ids int) []*detect.Delta {
	cfg := detect.DefaultConfig()
	recs := make([]traffic.Record, n)
	for i := range recs {
		r := traffic.Record{Time: t0.Add(time.Duration(i) * 500 * time.Millisecond), Client: netip.MustParseAddr("198.51.100.7"),
			Method: "GET", Path: "/items", Template: "/items", API: "conformance", Status: 200, ResponseBytes: 100,
			User: k.Value, UserAgent: "detecttest"}
		if i < errs {
			r.Status, r.Path = 404, fmt.Sprintf("/missing/%d", i)
		} else if i < errs+ids {
			r.Path, r.Template = fmt.Sprintf("/items/%d", i), "/items/{id}"
		}
		recs[i] = r
	}
	return detect.Aggregate(&cfg, recs)[k]
}
