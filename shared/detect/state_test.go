package detect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/apiguard/apiguard/shared/traffic"
	"github.com/apiguard/apiguard/shared/vocab"
)

func deltaOf(t testing.TB, cfg *Config, k Key, recs []traffic.Record) []*Delta {
	t.Helper()
	if cfg == nil {
		c := DefaultConfig()
		cfg = &c
	}
	ds := Aggregate(cfg, recs)[k]
	if len(ds) == 0 {
		t.Fatalf("no delta for %s", k)
	}
	return ds
}

var ipKey = Key{vocab.KeyIP, attacker}

func encode(t testing.TB, s *State) []byte {
	t.Helper()
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestApplyRollsWindowsAndLearnsBaselines(t *testing.T) {
	var s State
	for w := range 4 {
		d := deltaOf(t, nil, ipKey, burst(attacker, 10*(w+1), t0.Add(time.Duration(w)*5*time.Minute), time.Second, nil))[0]
		if !s.Apply(fmt.Sprint("b", w), d) {
			t.Fatalf("window %d not applied", w)
		}
	}
	// Windows 0, 1, 2 (10, 20, 30 requests) are folded; 3 is current, 2 previous.
	if s.base.n != 3 || math.Abs(float64(s.base.mean)-20) > 1e-4 || math.Abs(float64(s.base.vr)-200.0/3) > 1e-3 {
		t.Fatalf("baseline n=%d mean=%v var=%v, want 3, 20, 66.7", s.base.n, s.base.mean, s.base.vr)
	}
	if s.Requests() != 40 || s.prev == nil || s.prev.n.req != 30 {
		t.Fatalf("current %d, previous %+v", s.Requests(), s.prev)
	}
	if st, _ := s.Window(); !st.Equal(t0.Add(15 * time.Minute)) {
		t.Fatalf("window %v", st)
	}
	// A gap: the next delta is two windows on; there is no adjacent previous window.
	d := deltaOf(t, nil, ipKey, burst(attacker, 5, t0.Add(25*time.Minute), time.Second, nil))[0]
	s.Apply("gap", d)
	if s.prev != nil || s.base.n != 4 {
		t.Fatalf("after a gap: prev %v, baseline windows %d", s.prev, s.base.n)
	}
}

func TestApplyIsIdempotentPerBatchAndWindow(t *testing.T) {
	var s State
	ds := deltaOf(t, nil, ipKey, burst(attacker, 20, t0.Add(4*time.Minute), 6*time.Second, nil)) // spans 2 windows
	if len(ds) != 2 {
		t.Fatalf("want 2 deltas, got %d", len(ds))
	}
	for _, d := range ds {
		if !s.Apply("b1", d) {
			t.Fatal("first apply refused")
		}
	}
	for _, d := range ds {
		if s.Apply("b1", d) {
			t.Fatal("second apply of the same batch and window accepted")
		}
	}
	if s.Requests() != 10 || s.prev.n.req != 10 {
		t.Fatalf("counts %d/%d", s.prev.n.req, s.Requests())
	}
	// The ring remembers 32 pairs: the 33rd batch pushes the first out.
	d := ds[1]
	for i := range ringSize {
		s.Apply(fmt.Sprint("n", i), d)
	}
	if s.Apply("n31", d) || !s.Apply("b1", d) {
		t.Fatal("ring does not keep exactly the last 32 pairs")
	}
}

// Apply never keeps a reference to the delta: applying it again to a fresh state (an
// optimistic-concurrency retry) gives the same result.
func TestApplyDoesNotAliasTheDelta(t *testing.T) {
	recs := cat(burst(attacker, 30, t0, time.Second, status(404, "/x/%d")),
		burst(attacker, 10, t0, time.Second, func(i int, r *traffic.Record) {
			r.Path, r.Template, r.User = fmt.Sprintf("/shop/users/%d", i), "/users/{id}", fmt.Sprint("u", i)
		}))
	d := deltaOf(t, nil, ipKey, recs)[0]
	before := d.clone()
	var a, b State
	a.Apply("x", d)
	a.Apply("y", d) // merges into a's window: must not touch d
	if !reflect.DeepEqual(*d, before) {
		t.Fatal("Apply changed the delta")
	}
	b.Apply("x", d)
	b.Apply("y", d)
	if !bytes.Equal(encode(t, &a), encode(t, &b)) {
		t.Fatal("the same deltas gave different states")
	}
}

func TestWindowSizeChangeStartsAfresh(t *testing.T) {
	var s State
	s.Apply("a", deltaOf(t, nil, ipKey, burst(attacker, 10, t0, time.Second, nil))[0])
	cfg := DefaultConfig()
	cfg.Window, cfg.BruteForce.Span = Duration(time.Minute), Duration(2*time.Minute)
	s.Apply("b", deltaOf(t, &cfg, ipKey, burst(attacker, 3, t0.Add(time.Minute), time.Second, nil))[0])
	if s.Requests() != 3 || s.cur.size != 60 || s.base.n != 0 {
		t.Fatalf("after a window change: %d requests, size %d, baseline %d", s.Requests(), s.cur.size, s.base.n)
	}
}

func TestDeltaMerge(t *testing.T) {
	ds := deltaOf(t, nil, ipKey, burst(attacker, 20, t0.Add(4*time.Minute), 6*time.Second, nil))
	a, b := ds[0].clone(), ds[1].clone()
	if a.Merge(&b) {
		t.Fatal("merged deltas of different windows")
	}
	c := ds[0].clone()
	if !a.Merge(&c) || a.Requests() != 20 {
		t.Fatalf("merge: %d", a.Requests())
	}
	if st, end := a.Window(); !st.Equal(t0) || !end.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("window %v %v", st, end)
	}
}

// statesOf runs a scenario and returns its states, for codec tests and fuzz seeds.
func statesOf(t testing.TB, sc *scenario) map[Key]*State {
	store := NewMemoryStore(1_000_000, 0)
	e := testEngine(t, sc.config(), store)
	run(t, e, chunks(byTime(sc.recs()), 1000)...)
	out := map[Key]*State{}
	for k := range store.m {
		out[k] = store.Get(k)
	}
	return out
}

func TestMarshalRoundTrip(t *testing.T) {
	ctx := context.Background()
	for i := range scenarios {
		sc := &scenarios[i]
		for k, s := range statesOf(t, sc) {
			b := encode(t, s)
			if b[0] != stateVersion {
				t.Fatalf("version byte %d", b[0])
			}
			var d State
			if err := d.UnmarshalBinary(b); err != nil {
				t.Fatalf("%s %s: %v", sc.name, k, err)
			}
			if !bytes.Equal(encode(t, &d), b) {
				t.Fatalf("%s %s: re-encoding differs", sc.name, k)
			}
			if !reflect.DeepEqual(Evaluate(sc.config(), k, s, nil), Evaluate(sc.config(), k, &d, nil)) {
				t.Fatalf("%s %s: decoded state evaluates differently", sc.name, k)
			}
		}
	}
	var empty State
	b := encode(t, &empty)
	var d State
	if err := d.UnmarshalBinary(b); err != nil || !d.Empty() || len(b) != 3 {
		t.Fatalf("empty state: %v %x", err, b)
	}
	_ = ctx
}

// maxState is the largest state the decoder accepts: every bound reached, every string
// at its longest, every hash at its longest varint.
func maxState() *State {
	str := func(n int) string { return strings.Repeat("x", n) }
	sk := func(seed uint64) distinct {
		d := distinct{sat: true}
		for i := range sketchK {
			d.h = append(d.h, math.MaxUint64-uint64(sketchK-i)<<57+seed)
		}
		return d
	}
	win := func(start int64) Delta {
		w := Delta{start: start, age: 299, size: 300, lateness: 300,
			n: counts{math.MaxUint32, math.MaxUint32, math.MaxUint32, math.MaxUint32, math.MaxUint64}}
		for i := range maxOps {
			w.ops = append(w.ops, opTally{key: fmt.Sprint(i) + str(maxOpKeyLen-1), req: math.MaxUint32, idReq: math.MaxUint32, bytes: math.MaxUint64, idBytes: math.MaxUint64})
		}
		x := &extra{id: w.n, paths: sk(1), ok: sk(2), failing: sk(3), clients: sk(4)}
		for i := range maxTmpls {
			w.tmpls = append(w.tmpls, tmplTally{api: str(maxAPILen), tmpl: fmt.Sprint(i) + str(maxTmplLen-1), idReq: math.MaxUint32, ids: sk(uint64(i))})
		}
		for i := range maxPerAPI {
			x.apis = append(x.apis, apiTally{api: fmt.Sprintf("%02d", i) + str(maxAPILen-2), req: math.MaxUint32, idReq: math.MaxUint32})
		}
		for i := range maxSamples {
			x.samples = append(x.samples, sample{t: math.MinInt64 + int64(i), method: str(maxMethodLen), path: str(maxPathLen),
				ua: str(maxUALen), client: str(maxClientLen), status: 999, rank: 3})
		}
		w.x = x
		return w
	}
	s := &State{cur: win(math.MaxInt64/2 - math.MaxInt64/2%300), base: baseline{math.MaxUint32, math.MaxFloat32, math.MaxFloat32, math.MaxFloat32, math.MaxFloat32}, late: math.MaxUint32}
	p := win(s.cur.start - 300)
	s.prev = &p
	for i := range ringSize {
		s.ring = append(s.ring, math.MaxUint64-uint64(i))
	}
	s.rhead = ringSize - 1
	return s
}

// The encoded state stays under MaxStateBytes whatever the traffic: the largest state
// the decoder accepts encodes under it.
func TestStateSizeBound(t *testing.T) {
	s := maxState()
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("largest state: %d bytes encoded (bound %d)", len(b), MaxStateBytes)
	var d State
	if err := d.UnmarshalBinary(b); err != nil {
		t.Fatalf("the largest state does not decode: %v", err)
	}
	if !bytes.Equal(encode(t, &d), b) {
		t.Fatal("re-encoding differs")
	}
	// Traffic cannot grow a state past its bounds: 20,000 records of everything.
	var recs []traffic.Record
	long := strings.Repeat("é", 400)
	for i := range 20000 {
		r := req(attacker, t0.Add(time.Duration(i)*10*time.Millisecond))
		r.Status = []int{200, 401, 404}[i%3]
		r.Method = "POST" + long
		r.API = fmt.Sprint("api", i%40, long)
		r.Template = fmt.Sprintf("/t%d/{id}%s", i%50, long)
		r.Path = fmt.Sprintf("/t%d/%d%s", i%50, i, long)
		r.Query = fmt.Sprintf("author=%d&p%d=%x", i, i%9, uint64(i)*0x9e3779b97f4a7c15)
		r.User, r.Subscription, r.UserAgent = fmt.Sprint("u", i, long), fmt.Sprint("s", i), long
		r.ResponseBytes = 1 << 40
		recs = append(recs, r)
	}
	cfg := DefaultConfig()
	cfg.Flood.PerAPI = map[string]int{}
	for i := range maxPerAPI {
		cfg.Flood.PerAPI[fmt.Sprint("api", i, long)] = 10
	}
	var st State
	for i, b := range chunks(recs, 1000) {
		for _, d := range Aggregate(&cfg, b)[ipKey] {
			st.Apply(fmt.Sprint(i), d)
		}
	}
	enc := encode(t, &st)
	if len(enc) >= MaxStateBytes || st.cur.n.req == 0 {
		t.Fatalf("state of heavy traffic: %d bytes", len(enc))
	}
	t.Logf("state after 20,000 hostile records: %d bytes", len(enc))
}

func TestUnmarshalRejectsGarbage(t *testing.T) {
	good := encode(t, statesOf(t, &scenarios[0])[ipKey])
	cases := map[string][]byte{
		"nil":      nil,
		"version":  append([]byte{9}, good[1:]...),
		"trailing": append(append([]byte{}, good...), 0),
		"flags":    append([]byte{good[0], 0x80}, good[2:]...),
	}
	for i := range len(good) - 1 {
		cases[fmt.Sprint("prefix", i)] = good[:i]
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		b := make([]byte, rng.IntN(200))
		for j := range b {
			b[j] = byte(rng.UintN(256))
		}
		if len(b) > 0 {
			b[0] = stateVersion
		}
		cases[fmt.Sprint("random", i)] = b
	}
	for name, b := range cases {
		s := State{late: 7}
		err := s.UnmarshalBinary(b)
		if strings.HasPrefix(name, "random") {
			if err == nil {
				continue // random bytes may happen to decode: they must re-encode then
			}
		} else if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !errors.Is(err, errState) {
			t.Errorf("%s: error %v does not wrap errState", name, err)
		}
		if s.late != 7 {
			t.Errorf("%s: a failed decode changed the state", name)
		}
	}
}

// FuzzUnmarshalState: any input either fails with an error or decodes to a state that
// re-encodes canonically and can be applied to and evaluated without panicking.
func FuzzUnmarshalState(f *testing.F) {
	for i := range scenarios {
		for _, s := range statesOf(f, &scenarios[i]) {
			b, _ := s.MarshalBinary()
			f.Add(b)
		}
	}
	b, _ := maxState().MarshalBinary()
	f.Add(b)
	f.Add([]byte{stateVersion, 0, 0})
	cfg := DefaultConfig()
	cfg.Flood.PerAPI = map[string]int{"shop": 5}
	probe := Aggregate(&cfg, cat(burst(attacker, 30, t0, time.Second, status(401, "/login")), burst(attacker, 5, t0, time.Second, func(i int, r *traffic.Record) {
		r.User, r.Path, r.Template = fmt.Sprint(i), fmt.Sprint("/shop/users/", i), "/users/{id}"
	})))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s State
		if err := s.UnmarshalBinary(data); err != nil {
			if !errors.Is(err, errState) {
				t.Fatalf("error %v does not wrap errState", err)
			}
			return
		}
		b1, err := s.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded state does not encode: %v", err)
		}
		var s2 State
		if err := s2.UnmarshalBinary(b1); err != nil {
			t.Fatalf("re-encoded state does not decode: %v", err)
		}
		if b2, _ := s2.MarshalBinary(); !bytes.Equal(b1, b2) {
			t.Fatal("encoding is not canonical")
		}
		pop := map[Key]*State{}
		for _, k := range []Key{ipKey, {vocab.KeySubscription, "s"}, {vocab.KeyUser, "u"}} {
			Evaluate(&cfg, k, &s, pop)
		}
		for _, d := range probe[ipKey] {
			s.Apply("fuzz", d)
		}
		Evaluate(&cfg, ipKey, &s, pop)
		if _, err := s.MarshalBinary(); err != nil {
			t.Fatalf("after apply: %v", err)
		}
	})
}

// A State of an idle-ish client stays small in memory: the struct itself, its one
// operation and its batch ring.
func TestStateFootprint(t *testing.T) {
	// 168: the run pointer (exfiltration spread over windows) took the last word.
	if n := unsafe.Sizeof(State{}); n > 168 {
		t.Fatalf("State is %d bytes", n)
	}
	t.Logf("State %d bytes, Delta %d, extra %d, opTally %d", unsafe.Sizeof(State{}), unsafe.Sizeof(Delta{}), unsafe.Sizeof(extra{}), unsafe.Sizeof(opTally{}))
}
