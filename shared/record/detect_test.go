package record

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/detect"
	"github.com/apiguard/apiguard/shared/detect/detecttest"
	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/traffic"
	"github.com/apiguard/apiguard/shared/vocab"
)

// The Table Storage store passes the same conformance suite as the in-memory one:
// counts add up across batches and concurrent updaters, a batch applied twice counts
// once, every key comes back.
// It does with its cache (the default), without, and as two instances taking turns
// over the same tables, each with its cache.
func TestDetectStatesConformance(t *testing.T) {
	for _, c := range []struct {
		name string
		new  func(*Store) detect.Store
	}{
		{"cache", func(s *Store) detect.Store { return s.DetectStates() }},
		{"no cache", func(s *Store) detect.Store { return s.DetectStatesWith(DetectOptions{CacheBytes: -1}) }},
		{"two instances", func(s *Store) detect.Store {
			return &alternating{d: [2]*DetectStates{s.DetectStates(), s.DetectStates()}}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			detecttest.TestStore(t, func(t *testing.T) detect.Store { return c.new(newStore(t)) })
		})
	}
}

// The triage reads apiguard's own last-seen time per operation from the detector state.
func TestOperationLastSeen(t *testing.T) {
	st := newStore(t).DetectStates()
	engine, err := detect.NewEngine(nil, st, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	recs := benchBatch(100, start)
	if _, err := engine.Process(t.Context(), "b1", recs); err != nil {
		t.Fatal(err)
	}
	seen, err := st.OperationLastSeen(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// benchBatch spreads 100 records over 4 APIs with one template: four operations.
	if len(seen) != 4 {
		t.Fatalf("last seen %v", seen)
	}
	last := recs[len(recs)-1].Time
	for op, at := range seen {
		if !strings.Contains(op, "/api/v1/orders/{id}") || at.Before(start) || at.After(last) {
			t.Errorf("%s last seen %s (batch %s..%s)", op, at, start, last)
		}
	}
}

// alternating is two instances (DetectStates over the same tables) taking turns: the
// contract holds across instances too, each with its own cache.
type alternating struct {
	d [2]*DetectStates
	n atomic.Uint32
}

func (a *alternating) Update(ctx context.Context, keys []detect.Key, fn func(detect.Key, *detect.State)) (map[detect.Key]*detect.State, error) {
	return a.d[a.n.Add(1)%2].Update(ctx, keys, fn)
}

// t0 is the event time of the deltas here.
var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// userDeltas are n requests of user k.Value in the 12:00 window.
func userDeltas(k detect.Key, n int) []*detect.Delta {
	cfg := detect.DefaultConfig()
	recs := make([]traffic.Record, n)
	for i := range recs {
		recs[i] = traffic.Record{Time: t0.Add(time.Duration(i) * time.Second), Client: netip.MustParseAddr("198.51.100.7"),
			Method: "GET", Path: "/items", Template: "/items", API: "cache", Status: 200, ResponseBytes: 100, User: k.Value}
	}
	return detect.Aggregate(&cfg, recs)[k]
}

// samePartition returns two user keys whose rows share a partition, so that they are
// written in one transaction.
func samePartition(t *testing.T) (detect.Key, detect.Key) {
	a := detect.Key{Type: vocab.KeyUser, Value: "cache-user-0"}
	pa, _ := detectKeys(a)
	for i := 1; i < 1000; i++ {
		b := detect.Key{Type: vocab.KeyUser, Value: fmt.Sprint("cache-user-", i)}
		if pb, _ := detectKeys(b); pb == pa {
			return a, b
		}
	}
	t.Fatal("no two keys share a partition")
	return a, a
}

// What an instance gets from its cache is what it would have read: step by step,
// with another instance writing and a row deleted under it, every state Update
// returns and every row stored is byte for byte the state the same batches give
// applied in the same order, and the cache saves exactly the reads it should.
func TestDetectCacheIsExact(t *testing.T) {
	st := newStore(t)
	ctx := testContext(t)
	a, b := st.DetectStates(), st.DetectStates() // two instances
	a.cache.trustAt = 0                          // the cached path whatever the estimate
	reader := st.DetectStatesWith(DetectOptions{CacheBytes: -1})
	k1, k2 := samePartition(t)
	k3 := detect.Key{Type: vocab.KeyUser, Value: "cache-user-other"}
	ref := map[detect.Key]*detect.State{k1: {}, k2: {}, k3: {}}
	update := func(d *DetectStates, batch string, keys ...detect.Key) map[detect.Key]*detect.State {
		t.Helper()
		ds := map[detect.Key][]*detect.Delta{}
		for _, k := range keys {
			ds[k] = userDeltas(k, 5)
			if batch != "" {
				for _, x := range ds[k] {
					ref[k].Apply(batch, x)
				}
			}
		}
		got, err := d.Update(ctx, keys, func(k detect.Key, s *detect.State) {
			if batch != "" {
				for _, x := range ds[k] {
					s.Apply(batch, x)
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	steps := []struct {
		name  string
		run   func() map[detect.Key]*detect.State // returns A's states
		reads uint64                              // rows A reads
		hits  uint64
		tx    uint64
		lost  DetectStats // Changed, Inserted, Vanished
	}{
		{"new keys are read and inserted", func() map[detect.Key]*detect.State { return update(a, "b1", k1, k2) },
			2, 0, 1, DetectStats{}},
		{"held keys are written without a read", func() map[detect.Key]*detect.State { return update(a, "b2", k1, k2) },
			0, 2, 1, DetectStats{}},
		{"a stale ETag loses, both rows are read again and applied again", func() map[detect.Key]*detect.State {
			update(b, "b3", k1)
			return update(a, "b4", k1, k2)
		}, 2, 2, 2, DetectStats{Changed: 1}},
		{"the row another writer changed is read first, and written apart", func() map[detect.Key]*detect.State { return update(a, "b5", k1, k2) },
			1, 1, 2, DetectStats{}},
		{"a redelivered batch is read, not written", func() map[detect.Key]*detect.State { return update(a, "b5", k1, k2) },
			2, 1, 0, DetectStats{}},
		{"a row deleted meanwhile is read again and starts afresh", func() map[detect.Key]*detect.State {
			pk, rk := detectKeys(k2)
			if _, err := st.detect.client.DeleteEntity(ctx, pk, rk, nil); err != nil {
				t.Fatal(err)
			}
			ref[k2] = new(detect.State)
			return update(a, "b6", k2)
		}, 1, 1, 2, DetectStats{Vanished: 1}},
		{"a no-op returns the row as stored, not the cached copy", func() map[detect.Key]*detect.State {
			update(a, "b7", k3) // read, inserted and cached
			update(b, "b8", k3) // moves on
			return update(a, "", k3)
		}, 2, 1, 1, DetectStats{}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			before := a.Stats()
			got := s.run()
			d := a.Stats().Sub(before)
			if d.RowsRead != s.reads || d.CacheHits != s.hits || d.Transactions != s.tx ||
				d.Changed != s.lost.Changed || d.Inserted != s.lost.Inserted || d.Vanished != s.lost.Vanished {
				t.Errorf("read %d rows, %d cache hits, %d transactions, lost %d/%d/%d (412/409/404); want %d, %d, %d, %d/%d/%d",
					d.RowsRead, d.CacheHits, d.Transactions, d.Changed, d.Inserted, d.Vanished,
					s.reads, s.hits, s.tx, s.lost.Changed, s.lost.Inserted, s.lost.Vanished)
			}
			stored, err := reader.Update(ctx, []detect.Key{k1, k2, k3}, func(detect.Key, *detect.State) {})
			if err != nil {
				t.Fatal(err)
			}
			for k, s := range got {
				want, _ := ref[k].MarshalBinary()
				for what, x := range map[string]*detect.State{"returned": s, "stored": stored[k]} {
					if b, _ := x.MarshalBinary(); !bytes.Equal(b, want) {
						t.Errorf("%s: %s state of %d requests differs from the reference's %d", k.Value, what, x.Requests(), ref[k].Requests())
					}
				}
			}
		})
	}
}

// A partition that keeps losing its race gives up after the bound with a transient
// error wrapping ErrConflict (the host redelivers the batch later); one that loses
// once goes through, and counts both writers' batches exactly.
func TestDetectConflictBound(t *testing.T) {
	const attempts = 4
	cases := []struct {
		name    string
		foreign int // times another instance writes the key while fn runs
		wantErr bool
	}{
		{"one lost race, then through", 1, false},
		{"another writer every time: gives up", 1000, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := newStore(t)
			ctx := testContext(t)
			a, b := st.DetectStates(), st.DetectStates()
			a.conflicts = backoff{attempts: attempts, base: time.Millisecond, max: 2 * time.Millisecond}
			k := detect.Key{Type: vocab.KeyUser, Value: "bound"}
			ds := userDeltas(k, 3)
			apply := func(batch string) func(detect.Key, *detect.State) {
				return func(_ detect.Key, s *detect.State) {
					for _, d := range ds {
						s.Apply(batch, d)
					}
				}
			}
			if _, err := a.Update(ctx, []detect.Key{k}, apply("b0")); err != nil {
				t.Fatal(err)
			}
			calls := 0
			_, err := a.Update(ctx, []detect.Key{k}, func(k detect.Key, s *detect.State) {
				if calls < c.foreign {
					if _, err := b.Update(ctx, []detect.Key{k}, apply(fmt.Sprint("foreign-", calls))); err != nil {
						t.Error(err)
					}
				}
				calls++
				apply("mine")(k, s)
			})
			lost := min(c.foreign, attempts)
			s := a.Stats()
			switch {
			case c.wantErr && (!errors.Is(err, ErrConflict) || fault.Of(err) != fault.Retry):
				t.Fatalf("Update = %v, want a transient ErrConflict", err)
			case !c.wantErr && err != nil:
				t.Fatal(err)
			case s.Changed != uint64(lost) || s.MaxLost != uint64(lost) || (s.GaveUp == 1) != c.wantErr:
				t.Fatalf("%d lost (at most %d in one Update), %d gave up; want %d lost", s.Changed, s.MaxLost, s.GaveUp, lost)
			}
			got, err := st.DetectStatesWith(DetectOptions{CacheBytes: -1}).Update(ctx, []detect.Key{k}, func(detect.Key, *detect.State) {})
			if err != nil {
				t.Fatal(err)
			}
			want := 3 * (1 + lost)
			if !c.wantErr {
				want += 3
			}
			if got[k].Requests() != want {
				t.Fatalf("%d requests stored, want %d", got[k].Requests(), want)
			}
		})
	}
}
