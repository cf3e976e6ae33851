package detect

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/traffic"
	"github.com/apiguard/apiguard/shared/vocab"
)

// t0 is a window boundary (12:00 UTC); every scenario runs on event time from it.
var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// req is the base request of generated traffic: a successful GET of one item.
func req(ip string, at time.Time) traffic.Record {
	return traffic.Record{
		Time: at, Client: netip.MustParseAddr(ip), Peer: netip.MustParseAddr(ip),
		Method: "GET", Path: "/shop/items", Template: "/items", API: "shop",
		Status: 200, ResponseBytes: 512, UserAgent: "Mozilla/5.0 (X11; Linux x86_64)",
	}
}

// burst makes n requests from ip starting at at, every apart, each shaped by fn.
func burst(ip string, n int, at time.Time, every time.Duration, fn func(i int, r *traffic.Record)) []traffic.Record {
	out := make([]traffic.Record, n)
	for i := range out {
		out[i] = req(ip, at.Add(time.Duration(i)*every))
		if fn != nil {
			fn(i, &out[i])
		}
	}
	return out
}

func cat(parts ...[]traffic.Record) []traffic.Record {
	var out []traffic.Record
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// byTime sorts records on event time, as a log would deliver them.
func byTime(recs []traffic.Record) []traffic.Record {
	slices.SortStableFunc(recs, func(a, b traffic.Record) int { return a.Time.Compare(b.Time) })
	return recs
}

// population is background traffic: clients 10.x.y.z (well, 198.18.x.y: benchmark
// range, never real) each sending per requests of the base kind in each of windows
// windows from start.
func population(clients, per, windows int, start time.Time, fn func(i int, r *traffic.Record)) []traffic.Record {
	var out []traffic.Record
	for w := range windows {
		for c := range clients {
			ip := fmt.Sprintf("198.18.%d.%d", c/250, c%250+1)
			at := start.Add(time.Duration(w)*5*time.Minute + time.Duration(c)*time.Second)
			out = append(out, burst(ip, per, at, 7*time.Second, fn)...)
		}
	}
	return out
}

func testEngine(t testing.TB, cfg *Config, store Store) *Engine {
	t.Helper()
	if store == nil {
		store = NewMemoryStore(1_000_000, 0)
	}
	if cfg == nil {
		cfg = testConfig()
	}
	e, err := NewEngine(cfg, store, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// run processes batches in order (ids b0, b1, ...) and returns every finding by id, the
// latest version of each.
func run(t testing.TB, e *Engine, batches ...[]traffic.Record) map[string]Finding {
	t.Helper()
	all := map[string]Finding{}
	for i, b := range batches {
		fs, err := e.Process(context.Background(), fmt.Sprintf("b%d", i), b)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			all[f.ID] = f
		}
	}
	return all
}

// chunks cuts recs into batches of n.
func chunks(recs []traffic.Record, n int) [][]traffic.Record {
	var out [][]traffic.Record
	for len(recs) > n {
		out = append(out, recs[:n])
		recs = recs[n:]
	}
	if len(recs) > 0 {
		out = append(out, recs)
	}
	return out
}

// want matches findings: an empty field matches anything.
type want struct {
	det string
	kt  vocab.KeyType
	key string
}

func (w want) String() string { return fmt.Sprintf("%s/%s/%s", w.det, w.kt, w.key) }

func (w want) match(f Finding) bool {
	return (w.det == "" || w.det == f.Detector) && (w.kt == "" || w.kt == f.KeyType) && (w.key == "" || w.key == f.Key)
}

func find(fs map[string]Finding, w want) []Finding {
	var out []Finding
	for _, f := range fs {
		if w.match(f) {
			out = append(out, f)
		}
	}
	sortFindings(out)
	return out
}

func describe(fs map[string]Finding) string {
	var lines []string
	for _, f := range fs {
		lines = append(lines, fmt.Sprintf("  %s %s %s [%s] %s", f.Detector, f.KeyType, f.Key, f.ID, f.Reason))
	}
	slices.Sort(lines)
	if len(lines) == 0 {
		return "  (none)"
	}
	return strings.Join(lines, "\n")
}

// testConfig is the defaults with the flood limit the engine tests were written
// around (100, the default before the generated scenarios moved it): what they test
// (batches, redelivery, lateness, event time, ids) does not depend on its value.
func testConfig() *Config {
	c := DefaultConfig()
	c.Flood.Limit = 100
	return &c
}
