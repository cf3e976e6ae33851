package detect

import (
	"bytes"
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/traffic"
	"github.com/apiguard/apiguard/shared/vocab"
)

// A flood split over three batches, processed by two engines (two function
// instances) sharing one store, is one flood: counts add across batches.
func TestFloodAcrossBatchesAndEngines(t *testing.T) {
	store := NewMemoryStore(1000, 0)
	a, b := testEngine(t, nil, store), testEngine(t, nil, store)
	recs := burst(attacker, 120, t0, 2*time.Second, nil)
	parts := [][]traffic.Record{recs[:40], recs[40:80], recs[80:]}
	got := map[string]Finding{}
	for i, e := range []*Engine{a, b, a} {
		fs, err := e.Process(context.Background(), []string{"p0", "p1", "p2"}[i], parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if i < 2 && len(fs) > 0 {
			t.Fatalf("batch %d: finding before the limit is passed: %s", i, fs[0].Reason)
		}
		for _, f := range fs {
			got[f.ID] = f
		}
	}
	fl := find(got, want{vocab.DetectorFlood, vocab.KeyIP, attacker})
	if len(fl) != 1 || fl[0].Evidence.Count != 120 {
		t.Fatalf("want one flood of 120, got:\n%s", describe(got))
	}
	// Each batch on its own is far under the limit: a per-file count (AWS's log parser)
	// would have missed it.
	for i, p := range parts {
		if fs := run(t, testEngine(t, nil, nil), p); len(fs) > 0 {
			t.Fatalf("part %d alone: %s", i, describe(fs))
		}
	}
}

// A redelivered batch (same id) changes no count, and returns the same findings.
func TestRedeliveredBatchIsNotCountedTwice(t *testing.T) {
	store := NewMemoryStore(1000, 0)
	e := testEngine(t, nil, store)
	ctx := context.Background()
	batch := burst(attacker, 60, t0, 2*time.Second, nil)
	first, err := e.Process(ctx, "msg-1", batch)
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.Process(ctx, "msg-1", batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 0 || len(again) != 0 {
		t.Fatalf("60 requests twice under one id must stay 60: %v %v", first, again)
	}
	if n := store.Get(Key{vocab.KeyIP, attacker}).Requests(); n != 60 {
		t.Fatalf("state counts %d requests, want 60", n)
	}
	// A new batch id does add.
	fs, err := e.Process(ctx, "msg-2", batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].Evidence.Count != 120 {
		t.Fatalf("second distinct batch: %v", fs)
	}
	// Redelivering msg-2 returns the finding again (at-least-once downstream) with the
	// same id and the same count.
	fs2, err := e.Process(ctx, "msg-2", batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs2) != 1 || fs2[0].ID != fs[0].ID || fs2[0].Evidence.Count != 120 {
		t.Fatalf("redelivered msg-2: %v", fs2)
	}
}

// Records arriving after their window closed are dropped and counted as late;
// records within the allowed lateness still count.
func TestLateRecords(t *testing.T) {
	cfg := *testConfig()
	cfg.AllowedLateness = Duration(time.Minute)
	store := NewMemoryStore(1000, 0)
	e := testEngine(t, &cfg, store)
	// 12:00-12:05: 60 requests. Then the key moves on to 12:05:30.
	run(t, e, burst(attacker, 60, t0, 2*time.Second, nil), burst(attacker, 1, t0.Add(5*time.Minute+30*time.Second), 0, nil))
	// 50 more for 12:00-12:05 arrive 30 s after it ended: within the minute allowed.
	fs, err := e.Process(context.Background(), "late-1", burst(attacker, 50, t0.Add(4*time.Minute), time.Second, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].Detector != vocab.DetectorFlood || !fs[0].WindowStart.Equal(t0) || fs[0].Evidence.Count != 110 {
		t.Fatalf("late records within the lateness must complete the 12:00 window's flood, got %v", fs)
	}
	// The key reaches 12:06:30: the 12:00 window (closing 12:05 + 1m) is closed.
	run(t, e, burst(attacker, 1, t0.Add(6*time.Minute+30*time.Second), 0, nil))
	fs, err = e.Process(context.Background(), "late-2", burst(attacker, 50, t0.Add(3*time.Minute), time.Second, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 0 {
		t.Fatalf("records for a closed window must not count: %v", fs)
	}
	s := store.Get(Key{vocab.KeyIP, attacker})
	if s.Late() != 1 || s.prev.n.req != 110 {
		t.Fatalf("late %d, previous window %d requests", s.Late(), s.prev.n.req)
	}
	// Records two windows back are late whatever the lateness.
	fs, _ = e.Process(context.Background(), "late-3", burst(attacker, 200, t0.Add(-5*time.Minute), time.Second, nil))
	if len(fs) != 0 || store.Get(Key{vocab.KeyIP, attacker}).Late() != 2 {
		t.Fatalf("old records: %v", fs)
	}
}

// Detection runs on event time: traffic from 2019 replayed today gives 2019 windows
// and the same findings as when it happened, whatever the order of batches within the
// lateness.
func TestEventTime(t *testing.T) {
	old := time.Date(2019, 3, 1, 9, 2, 0, 0, time.UTC)
	e := testEngine(t, nil, nil)
	got := run(t, e, burst(attacker, 150, old, time.Second, nil))
	fl := find(got, want{vocab.DetectorFlood, vocab.KeyIP, attacker})
	if len(fl) != 1 {
		t.Fatalf("no flood in 2019 traffic:\n%s", describe(got))
	}
	if want := time.Date(2019, 3, 1, 9, 0, 0, 0, time.UTC); !fl[0].WindowStart.Equal(want) || !fl[0].WindowEnd.Equal(want.Add(5*time.Minute)) {
		t.Fatalf("window %v..%v, want the 09:00 window of 2019", fl[0].WindowStart, fl[0].WindowEnd)
	}
	// 150 requests at one per second straddle 09:02:00-09:04:30: all in one window. The
	// same requests a second apart across 09:04:00 split 60/90: a flood only in the
	// second window, found with the same id by any replay.
	split := run(t, testEngine(t, nil, nil), burst(attacker, 150, old.Add(2*time.Minute), time.Second, nil))
	again := run(t, testEngine(t, nil, nil), chunks(burst(attacker, 150, old.Add(2*time.Minute), time.Second, nil), 7)...)
	if len(split) != 0 {
		t.Fatalf("60 + 90 across a window boundary is no flood: %s", describe(split))
	}
	if describe(split) != describe(again) {
		t.Fatalf("batching changed the result")
	}
}

// The package never reads the wall clock: every time it uses is an event time.
func TestNoWallClock(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == "time" {
				switch sel.Sel.Name {
				case "Now", "Since", "Until", "After", "Tick", "NewTimer", "NewTicker", "AfterFunc", "Sleep":
					t.Errorf("%s: time.%s: detection must run on event time only", fset.Position(sel.Pos()), sel.Sel.Name)
				}
			}
			return true
		})
	}
}

func TestProcessRejectsMissingBatchID(t *testing.T) {
	_, err := testEngine(t, nil, nil).Process(context.Background(), "", burst(attacker, 1, t0, 0, nil))
	if err == nil || fault.Of(err) != fault.Reject {
		t.Fatalf("want a rejection, got %v", err)
	}
}

type failingStore struct{ err error }

func (s failingStore) Update(context.Context, []Key, func(Key, *State)) (map[Key]*State, error) {
	return nil, s.err
}

func TestStoreErrorsKeepTheirDisposition(t *testing.T) {
	e := testEngine(t, nil, failingStore{fault.Transient(os.ErrDeadlineExceeded)})
	_, err := e.Process(context.Background(), "b", burst(attacker, 1, t0, 0, nil))
	if err == nil || fault.Of(err) != fault.Retry {
		t.Fatalf("want a transient error, got %v", err)
	}
}

func TestNewEngineValidates(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Flood.Limit = 0
	if _, err := NewEngine(&cfg, NewMemoryStore(1, 0), zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "flood.limit") {
		t.Fatalf("want a config error naming flood.limit, got %v", err)
	}
	if _, err := NewEngine(nil, nil, zerolog.Nop()); err == nil {
		t.Fatal("no store accepted")
	}
	if _, err := NewEngine(nil, NewMemoryStore(1, 0), zerolog.Nop()); err != nil {
		t.Fatalf("nil config must mean the defaults: %v", err)
	}
}

// A finding's id depends on detector, key and window only: the same flood seen by a
// later batch with more requests keeps its id, and a flood in the next window gets
// another.
func TestFindingIDsAreStable(t *testing.T) {
	e := testEngine(t, nil, nil)
	first := run(t, e, burst(attacker, 101, t0, time.Second, nil))
	ctx := context.Background()
	more, _ := e.Process(ctx, "more", burst(attacker, 50, t0.Add(2*time.Minute), time.Second, nil))
	next, _ := e.Process(ctx, "next", burst(attacker, 101, t0.Add(5*time.Minute), time.Second, nil))
	if len(first) != 1 || len(more) != 1 || len(next) != 1 {
		t.Fatalf("%v / %v / %v", first, more, next)
	}
	for id := range first {
		if more[0].ID != id || more[0].Evidence.Count != 151 {
			t.Fatalf("the same window's flood changed id or missed the new count: %v", more[0])
		}
		if next[0].ID == id {
			t.Fatal("the next window's flood has the same id")
		}
	}
	b, err := json.Marshal(more[0])
	if err != nil || !strings.Contains(string(b), `"key_type":"ip"`) || !strings.Contains(string(b), `"window_start":"2026-11-23T12:00:00Z"`) {
		t.Fatalf("json %s %v", b, err)
	}
}

// A brute force burst inside one window is reported by that window only, not again by
// the next window that still sees it as its previous one.
func TestBruteForceBurstReportedOnce(t *testing.T) {
	e := testEngine(t, nil, nil)
	got := run(t, e,
		burst(attacker, 6, t0.Add(time.Minute), 10*time.Second, status(401, "/shop/orders")),
		burst(attacker, 3, t0.Add(6*time.Minute), 10*time.Second, nil), // ordinary traffic in the next window
		burst(attacker, 2, t0.Add(7*time.Minute), 10*time.Second, status(401, "/shop/orders")))
	if fs := find(got, want{vocab.DetectorBruteForce, vocab.KeyIP, attacker}); len(fs) != 1 {
		t.Fatalf("want one brute force finding, got:\n%s", describe(got))
	}
	// But an attack that goes on into the next window is reported there too.
	got = run(t, testEngine(t, nil, nil),
		burst(attacker, 6, t0.Add(time.Minute), 10*time.Second, status(401, "/shop/orders")),
		burst(attacker, 5, t0.Add(6*time.Minute), 10*time.Second, status(401, "/shop/orders")))
	if fs := find(got, want{vocab.DetectorBruteForce, vocab.KeyIP, attacker}); len(fs) != 2 {
		t.Fatalf("want two brute force findings, got:\n%s", describe(got))
	}
}

func TestMinConfidence(t *testing.T) {
	cfg := *testConfig()
	cfg.MinConfidence = 0.7 // twice the limit and more
	e := testEngine(t, &cfg, nil)
	if got := run(t, e, burst(attacker, 150, t0, time.Second, nil)); len(got) != 0 {
		t.Fatalf("150 of 100 has confidence %v", describe(got))
	}
	if got := run(t, testEngine(t, &cfg, nil), burst(attacker, 250, t0, time.Second, nil)); len(got) != 1 {
		t.Fatalf("250 of 100: %s", describe(got))
	}
}

func TestDisabledDetectors(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Detectors = []string{vocab.DetectorProbing}
	got := run(t, testEngine(t, &cfg, nil), burst(attacker, 150, t0, time.Second, nil))
	if len(got) != 0 {
		t.Fatalf("flood is disabled: %s", describe(got))
	}
}

// Ten minutes of realistic mixed traffic (2000 clients, an office NAT, 0.3% expired
// tokens, 3% 404s): only the four planted attackers and the stolen subscription are
// flagged, each for what it does.
func TestMixedTrafficFlagsOnlyTheAttackers(t *testing.T) {
	batches := mixedTraffic(1, 64, 1000, t0)
	got := run(t, testEngine(t, nil, nil), batches...)
	// The same through a store that keeps all but 100 states encoded between batches.
	if cold := run(t, testEngine(t, nil, newMemoryStore(1_000_000, 0, 100)), batches...); !reflect.DeepEqual(got, cold) {
		t.Errorf("states kept encoded give other findings: %d vs %d", len(cold), len(got))
	}
	flagged := map[string]map[string]bool{}
	for _, f := range got {
		k := string(f.KeyType) + " " + f.Key
		if flagged[k] == nil {
			flagged[k] = map[string]bool{}
		}
		flagged[k][f.Detector] = true
	}
	wants := map[string][]string{
		"ip 198.51.100.66":        {vocab.DetectorFlood},
		"ip 198.51.100.77":        {vocab.DetectorFlood, vocab.DetectorProbing},
		"ip 198.51.100.88":        {vocab.DetectorFlood, vocab.DetectorEnumeration},
		"subscription sub-stolen": {vocab.DetectorFlood, vocab.DetectorEnumeration},
		"ip 198.51.100.99":        {vocab.DetectorFlood, vocab.DetectorBruteForce},
	}
	for k, dets := range flagged {
		if _, ok := wants[k]; !ok {
			t.Errorf("%s flagged (%v): a false positive", k, dets)
		}
	}
	for k, dets := range wants {
		for _, d := range dets {
			if !flagged[k][d] {
				t.Errorf("%s not flagged for %s", k, d)
			}
		}
	}
}

// Evaluate is pure: it changes neither the state nor the population, and gives the
// same findings every time.
func TestEvaluateIsPure(t *testing.T) {
	sc := scenarios[0]
	for i := range scenarios {
		if scenarios[i].name == "exfiltration/40MiB_over_200KiB" {
			sc = scenarios[i]
		}
	}
	states := statesOf(t, &sc)
	before := map[Key][]byte{}
	for k, s := range states {
		before[k] = encode(t, s)
	}
	first := Evaluate(sc.config(), ipKey, states[ipKey], states)
	second := Evaluate(sc.config(), ipKey, states[ipKey], states)
	if len(first) == 0 || !reflect.DeepEqual(first, second) {
		t.Fatalf("findings %v then %v", first, second)
	}
	for k, s := range states {
		if !bytes.Equal(before[k], encode(t, s)) {
			t.Fatalf("Evaluate changed the state of %s", k)
		}
	}
	if Evaluate(sc.config(), Key{vocab.KeyOp, "shop GET /items"}, states[Key{vocab.KeyOp, "shop GET /items"}], states) != nil {
		t.Fatal("operation keys have no findings")
	}
}
