package detect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/apiguard/apiguard/shared/detect/probe"
)

// stateVersion is the first byte of every encoded State. A decoder rejects versions it
// does not know; the store then starts that key afresh.
const stateVersion = 2

// oldestVersion is the oldest encoding this build still reads: a version 1 state has
// none of the fields added since, which decode as zero.
const oldestVersion = 1

// MaxStateBytes bounds MarshalBinary's output: every part of a state is capped (see
// the constants in delta.go), and TestStateSizeBound encodes the largest state the
// decoder accepts to prove the bound.
const MaxStateBytes = 48 << 10

// Flags of the encoded state.
const (
	flagPop  = 1 << 0
	flagPrev = 1 << 1
	flagRun  = 1 << 2 // version 2
)

// MarshalBinary encodes the state compactly (varints; sketches delta-encoded),
// version byte first.
//
// Layout (version 2): version, flags, window size, lateness, late count, baseline (n,
// then, when n > 0, four float32), batch ring (count, head, 8 bytes each), the runs
// when flagRun (window start, count, then per operation its key, four float32 and the
// baseline's window count),
// then the current window
// and, when flagPrev, the previous one. A window: start, newest time, counts,
// operations, templates, then a presence byte and the optional part (identified
// counts, four sketches, per-API counts, samples, then the version 2 fields: the login
// answers, the user agents of errors, the malformed requests, the burst tally, the probe
// markers: count+1 or 0, then 8-byte key, weight and class each, and the requests
// carrying any). An empty state is the version byte,
// flags 0 and size 0.
func (s *State) MarshalBinary() ([]byte, error) {
	return s.appendBinary(make([]byte, 0, 64), nil)
}

// appendBinary appends MarshalBinary's encoding of s to b; with a dictionary, the
// operation keys, API names and templates are written as references to it instead
// (a MemoryStore's own encoding of cold states, never MarshalBinary's).
func (s *State) appendBinary(b []byte, dict *strDict) ([]byte, error) {
	e := encoder{b: b, d: dict}
	start := len(b)
	e.b = append(e.b, stateVersion)
	if s.Empty() {
		e.b = append(e.b, 0, 0)
		return e.b, nil
	}
	var flags byte
	if s.cur.pop {
		flags |= flagPop
	}
	if s.prev != nil {
		flags |= flagPrev
	}
	if s.run != nil {
		flags |= flagRun
	}
	e.b = append(e.b, flags)
	e.u(uint64(s.cur.size))
	e.u(uint64(s.cur.lateness))
	e.u(uint64(s.late))
	e.u(uint64(s.base.n))
	if s.base.n > 0 {
		e.f(s.base.mean)
		e.f(s.base.vr)
		e.f(s.base.bmean)
		e.f(s.base.bvr)
	}
	e.u(uint64(len(s.ring)))
	e.u(uint64(s.rhead))
	for _, id := range s.ring {
		e.b = binary.LittleEndian.AppendUint64(e.b, id)
	}
	if r := s.run; r != nil {
		e.i(r.at)
		e.u(uint64(len(r.ops)))
		for _, o := range r.ops {
			e.ds(o.key)
			e.f(o.req)
			e.f(o.bytes)
			e.f(o.windows)
			e.f(o.own)
			e.u(uint64(o.ownN))
		}
	}
	e.window(&s.cur)
	if s.prev != nil {
		e.window(s.prev)
	}
	if len(e.b)-start >= MaxStateBytes {
		return nil, fmt.Errorf("state encodes to %d bytes, over the %d-byte bound", len(e.b)-start, MaxStateBytes)
	}
	return e.b, nil
}

type encoder struct {
	b []byte
	d *strDict
}

// strDict interns the strings a MemoryStore's cold states share (operation keys, API
// names, templates): at most maxDict of them, the first ones seen; others are written
// out. Not safe for concurrent use.
type strDict struct {
	idx  map[string]uint32
	strs []string
}

const maxDict = 1 << 12

// ds writes v as s does, or, with a dictionary, as a reference to it (index<<1|1) or
// a literal (length<<1, then the bytes).
func (e *encoder) ds(v string) {
	if e.d == nil {
		e.s(v)
		return
	}
	i, ok := e.d.idx[v]
	if !ok && len(e.d.strs) < maxDict {
		if e.d.idx == nil {
			e.d.idx = map[string]uint32{}
		}
		i, ok = uint32(len(e.d.strs)), true
		e.d.idx[v] = i
		e.d.strs = append(e.d.strs, v)
	}
	if ok {
		e.u(uint64(i)<<1 | 1)
		return
	}
	e.u(uint64(len(v)) << 1)
	e.b = append(e.b, v...)
}

func (e *encoder) u(v uint64)  { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) i(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) f(v float32) { e.b = binary.LittleEndian.AppendUint32(e.b, math.Float32bits(v)) }
func (e *encoder) s(v string)  { e.u(uint64(len(v))); e.b = append(e.b, v...) }

func (e *encoder) counts(c counts) {
	e.u(uint64(c.req))
	e.u(uint64(c.err))
	e.u(uint64(c.authFail))
	e.u(uint64(c.login))
	e.u(c.bytes)
}

func (e *encoder) sketch(d *distinct) {
	n := uint64(len(d.h)) << 1
	if d.sat {
		n |= 1
	}
	e.u(n)
	var prev uint64
	for i, h := range d.h {
		if i == 0 {
			e.u(h)
		} else {
			e.u(h - prev)
		}
		prev = h
	}
}

func (e *encoder) window(w *Delta) {
	e.i(w.start)
	e.i(int64(w.age))
	e.counts(w.n)
	e.u(uint64(len(w.ops)))
	for _, o := range w.ops {
		e.ds(o.key)
		e.u(uint64(o.req))
		e.u(uint64(o.idReq))
		e.u(o.bytes)
		e.u(o.idBytes)
	}
	e.u(uint64(len(w.tmpls)))
	for i := range w.tmpls {
		t := &w.tmpls[i]
		e.ds(t.api)
		e.ds(t.tmpl)
		e.u(uint64(t.idReq))
		e.sketch(&t.ids)
		e.u(uint64(t.walk)) // version 2: how the ids were chosen
		e.u(uint64(t.fails))
		e.u(uint64(t.req))
		e.u(t.last)
	}
	if w.x == nil {
		e.b = append(e.b, 0)
		return
	}
	e.b = append(e.b, 1)
	x := w.x
	e.counts(x.id)
	e.sketch(&x.paths)
	e.sketch(&x.ok)
	e.sketch(&x.failing)
	e.sketch(&x.clients)
	e.u(uint64(len(x.apis)))
	for _, a := range x.apis {
		e.ds(a.api)
		e.u(uint64(a.req))
		e.u(uint64(a.idReq))
	}
	e.u(uint64(len(x.samples)))
	for _, sm := range x.samples {
		e.i(sm.t)
		e.s(sm.method)
		e.s(sm.path)
		e.s(sm.ua)
		e.s(sm.client)
		e.u(uint64(sm.status))
		e.b = append(e.b, sm.rank)
	}
	// Version 2.
	e.u(uint64(x.lg.fail))
	e.u(uint64(x.lg.ok))
	e.u(uint64(x.lg.okRedir))
	e.u(uint64(x.lg.redirect))
	e.u(uint64(x.lg.idFail))
	e.u(uint64(x.lg.idOK))
	e.sketch(&x.errUAs)
	e.u(uint64(x.malformed))
	if b := &x.burst; b.trivial() {
		e.b = append(e.b, 0)
	} else {
		e.b = append(e.b, 1)
		e.i(b.bucket)
		e.b = binary.LittleEndian.AppendUint64(e.b, b.path)
		e.b = binary.LittleEndian.AppendUint64(e.b, b.lastQ)
		e.u(uint64(b.n))
		e.u(uint64(b.prev))
		e.u(uint64(b.max))
	}
	if a := &x.agents; a.trivial() {
		e.u(0)
	} else {
		e.u(uint64(a.total))
		for i := range a.h {
			e.b = binary.LittleEndian.AppendUint32(e.b, a.h[i])
			e.u(uint64(a.n[i]))
		}
	}
	if t := x.marks; t.empty() {
		e.u(0)
	} else {
		e.u(uint64(len(t.m)) + 1)
		for _, m := range t.m {
			e.b = binary.LittleEndian.AppendUint64(e.b, m.key)
			e.b = append(e.b, m.weight, byte(m.class))
		}
		e.u(uint64(t.reqs))
	}
}

// errState is wrapped by every decoding error.
var errState = errors.New("not a detector state")

// UnmarshalBinary decodes a state written by MarshalBinary. It rejects anything else
// (truncated, trailing bytes, unknown version, a bound or an invariant broken) with an
// error wrapping errState, and leaves s unchanged then. It never panics.
func (s *State) UnmarshalBinary(b []byte) error {
	return s.unmarshal(b, nil)
}

// unmarshal is UnmarshalBinary of appendBinary's encoding with dict.
func (s *State) unmarshal(b []byte, dict *strDict) error {
	d := decoder{b: b, dict: dict}
	st, err := d.state()
	if err != nil {
		return err
	}
	*s = *st
	return nil
}

type decoder struct {
	b       []byte
	err     error
	dict    *strDict
	version byte
}

// ds reads what encoder.ds wrote.
func (d *decoder) ds(limit int, what string) string {
	if d.dict == nil {
		return d.s(limit, what)
	}
	n := d.u()
	if d.err != nil {
		return ""
	}
	if n&1 == 1 {
		if n>>1 >= uint64(len(d.dict.strs)) || len(d.dict.strs[n>>1]) > limit {
			d.fail("bad %s reference", what)
			return ""
		}
		return d.dict.strs[n>>1]
	}
	n >>= 1
	if n > uint64(limit) {
		d.fail("%s %d over its bound %d", what, n, limit)
		return ""
	}
	if uint64(len(d.b)) < n {
		d.fail("truncated %s", what)
		return ""
	}
	v := string(d.b[:n])
	d.b = d.b[n:]
	return v
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{errState}, args...)...)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) u() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("truncated or overlong varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) i() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("truncated or overlong varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// bounded reads an unsigned varint of at most limit.
func (d *decoder) bounded(limit uint64, what string) uint64 {
	v := d.u()
	if v > limit {
		d.fail("%s %d over its bound %d", what, v, limit)
		return 0
	}
	return v
}

func (d *decoder) u32(what string) uint32 { return uint32(d.bounded(math.MaxUint32, what)) }

// u32le reads 4 little-endian bytes.
func (d *decoder) u32le() uint32 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 4 {
		d.fail("truncated")
		return 0
	}
	v := binary.LittleEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

// u64 reads 8 little-endian bytes.
func (d *decoder) u64() uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.fail("truncated")
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) f(what string) float32 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 4 {
		d.fail("truncated")
		return 0
	}
	v := math.Float32frombits(binary.LittleEndian.Uint32(d.b))
	d.b = d.b[4:]
	if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || v < 0 {
		d.fail("%s is %v", what, v)
		return 0
	}
	return v
}

func (d *decoder) s(limit int, what string) string {
	n := d.bounded(uint64(limit), what)
	if d.err != nil {
		return ""
	}
	if uint64(len(d.b)) < n {
		d.fail("truncated %s", what)
		return ""
	}
	v := string(d.b[:n])
	d.b = d.b[n:]
	return v
}

func (d *decoder) counts() counts {
	return counts{req: d.u32("requests"), err: d.u32("errors"), authFail: d.u32("auth failures"),
		login: d.u32("logins"), bytes: d.u()}
}

func (d *decoder) sketch(what string) distinct {
	n := d.bounded(sketchK<<1|1, what)
	var k distinct
	k.sat = n&1 == 1
	n >>= 1
	if d.err != nil || n == 0 {
		if k.sat {
			d.fail("%s saturated but empty", what)
		}
		return distinct{}
	}
	k.h = make([]uint64, 0, n)
	var prev uint64
	for i := uint64(0); i < n && d.err == nil; i++ {
		v := d.u()
		if i > 0 {
			if v == 0 || prev+v < prev {
				d.fail("%s not strictly ascending", what)
				break
			}
			v += prev
		}
		k.h = append(k.h, v)
		prev = v
	}
	if d.err == nil && !k.valid() {
		d.fail("%s breaks the sketch invariants", what)
	}
	return k
}

func (d *decoder) window(size int64, pop bool) *Delta {
	w := &Delta{size: uint16(size), pop: pop}
	w.start = d.i()
	age := d.i()
	if d.err != nil {
		return nil
	}
	if w.start%size != 0 || w.start > math.MaxInt64/2 || w.start < math.MinInt64/2 {
		d.fail("window start %d not aligned to %d", w.start, size)
		return nil
	}
	if age < 0 || age >= size {
		d.fail("newest time outside its window")
		return nil
	}
	w.age = uint16(age)
	w.n = d.counts()
	if d.err == nil && w.n.req == 0 {
		d.fail("window without requests")
	}
	nops := d.bounded(maxOps, "operations")
	for i := uint64(0); i < nops && d.err == nil; i++ {
		w.ops = append(w.ops, opTally{key: d.ds(maxOpKeyLen, "operation key"), req: d.u32("requests"),
			idReq: d.u32("requests"), bytes: d.u(), idBytes: d.u()})
	}
	nt := d.bounded(maxTmpls, "templates")
	for i := uint64(0); i < nt && d.err == nil; i++ {
		t := tmplTally{api: d.ds(maxAPILen, "api"), tmpl: d.ds(maxTmplLen, "template"),
			idReq: d.u32("requests"), ids: d.sketch("ids")}
		if d.version >= 2 {
			t.walk, t.fails, t.req, t.last = d.u32("walk"), d.u32("failed id requests"), d.u32("id requests"), d.u()
			if d.err == nil && (t.walk > t.req || t.fails > t.req) {
				d.fail("id walk %d or failures %d over %d requests", t.walk, t.fails, t.req)
			}
		}
		w.tmpls = append(w.tmpls, t)
	}
	switch d.byte() {
	case 0:
	case 1:
		x := &extra{}
		x.id = d.counts()
		x.paths = d.sketch("paths")
		x.ok = d.sketch("identities")
		x.failing = d.sketch("failing identities")
		x.clients = d.sketch("clients")
		na := d.bounded(maxPerAPI, "apis")
		for i := uint64(0); i < na && d.err == nil; i++ {
			x.apis = append(x.apis, apiTally{api: d.ds(maxAPILen, "api"), req: d.u32("requests"), idReq: d.u32("requests")})
		}
		ns := d.bounded(maxSamples, "samples")
		for i := uint64(0); i < ns && d.err == nil; i++ {
			sm := sample{t: d.i(), method: d.s(maxMethodLen, "method"), path: d.s(maxPathLen, "path"),
				ua: d.s(maxUALen, "user agent"), client: d.s(maxClientLen, "client"), owned: true}
			sm.status = uint16(d.bounded(999, "status"))
			sm.rank = d.byte()
			if sm.rank > 3 {
				d.fail("sample rank %d", sm.rank)
			}
			x.samples = append(x.samples, sm)
		}
		if d.version >= 2 {
			x.lg = loginTally{fail: d.u32("failed logins"), ok: d.u32("logins answered 2xx"),
				okRedir: d.u32("logins answered 2xx"), redirect: d.u32("logins redirected"), idFail: d.u32("failed logins"), idOK: d.u32("logins answered 2xx")}
			if d.err == nil && (x.lg.idFail > x.lg.fail || x.lg.idOK > x.lg.ok) {
				d.fail("identified logins over all logins")
			}
			x.errUAs = d.sketch("user agents")
			x.malformed = d.u32("malformed requests")
			switch d.byte() {
			case 0:
			case 1:
				b := &x.burst
				b.bucket = d.i()
				b.path, b.lastQ = d.u64(), d.u64()
				b.n, b.prev = uint16(d.bounded(math.MaxUint16, "burst")), uint16(d.bounded(math.MaxUint16, "burst"))
				b.max = uint16(d.bounded(math.MaxUint16, "burst"))
				if d.err == nil && (sumU16(b.n, b.prev) > b.max || b.max < 2) {
					d.fail("burst counts %d+%d of %d", b.n, b.prev, b.max)
				}
			default:
				d.fail("bad burst presence byte")
			}
			if total := d.u32("user agent requests"); total > 0 {
				a := &x.agents
				a.total = total
				for i := range a.h {
					a.h[i], a.n[i] = d.u32le(), d.u32("user agent count")
				}
				if d.err == nil && sumCounts(a) > a.total {
					d.fail("user agent counts over their total %d", a.total)
				}
			}
			if n := d.bounded(maxMarks+1, "probe markers"); n > 0 {
				t := &markTally{m: make([]mark, 0, n-1)}
				for range n - 1 {
					m := mark{key: d.u64(), weight: d.byte(), class: probe.Class(d.byte())}
					if d.err == nil && (m.class.Name() == "unknown" || m.class == probe.ClassNone) {
						d.fail("probe marker class %d", m.class)
					}
					t.m = append(t.m, m)
				}
				t.reqs = d.u32("requests with probe markers")
				x.marks = t
			}
		}
		w.x = x
	default:
		d.fail("bad presence byte")
	}
	if d.err != nil {
		return nil
	}
	return w
}

func (d *decoder) state() (*State, error) {
	switch v := d.byte(); {
	case d.err != nil:
		return nil, d.err
	case v < oldestVersion || v > stateVersion:
		return nil, fmt.Errorf("%w: version %d (this build reads %d to %d)", errState, v, oldestVersion, stateVersion)
	default:
		d.version = v
	}
	flags := d.byte()
	size := int64(d.bounded(uint64(maxWindowSecs), "window size"))
	if d.err != nil {
		return nil, d.err
	}
	if size == 0 {
		if flags != 0 || len(d.b) != 0 {
			return nil, fmt.Errorf("%w: empty state with data", errState)
		}
		return &State{}, nil
	}
	known := byte(flagPop | flagPrev)
	if d.version >= 2 {
		known |= flagRun
	}
	if flags&^known != 0 {
		return nil, fmt.Errorf("%w: unknown flags %#x", errState, flags)
	}
	pop := flags&flagPop != 0
	s := &State{}
	lateness := d.bounded(uint64(size), "lateness")
	s.late = d.u32("late")
	s.base.n = d.u32("baseline windows")
	if s.base.n > 0 {
		s.base.mean, s.base.vr = d.f("baseline mean"), d.f("baseline variance")
		s.base.bmean, s.base.bvr = d.f("baseline bytes mean"), d.f("baseline bytes variance")
	}
	nring := d.bounded(ringSize, "batch ring")
	head := d.bounded(ringSize-1, "batch ring head")
	if d.err == nil && (head > 0 && nring < ringSize) {
		d.fail("batch ring head %d in a ring of %d", head, nring)
	}
	if d.err == nil && uint64(len(d.b)) < nring*8 {
		d.fail("truncated batch ring")
	}
	if d.err != nil {
		return nil, d.err
	}
	s.rhead = uint8(head)
	if nring > 0 {
		s.ring = make([]uint64, nring)
		for i := range s.ring {
			s.ring[i] = binary.LittleEndian.Uint64(d.b[8*i:])
		}
		d.b = d.b[8*nring:]
	}
	if flags&flagRun != 0 {
		r := &runTally{at: d.i()}
		n := d.bounded(maxRunOps, "runs")
		if d.err == nil && (n == 0 || pop) {
			d.fail("a run with no operation, or on an operation key")
		}
		for i := uint64(0); i < n && d.err == nil; i++ {
			r.ops = append(r.ops, runOp{key: d.ds(maxOpKeyLen, "run operation"), req: d.f("run responses"),
				bytes: d.f("run bytes"), windows: d.f("run windows"), own: d.f("run baseline"), ownN: d.u32("run baseline windows")})
		}
		if d.err != nil {
			return nil, d.err
		}
		s.run = r
	}
	cur := d.window(size, pop)
	if d.err != nil {
		return nil, d.err
	}
	s.cur = *cur
	if flags&flagPrev != 0 {
		p := d.window(size, pop)
		if d.err != nil {
			return nil, d.err
		}
		if p.start != cur.start-size {
			return nil, fmt.Errorf("%w: previous window does not precede the current one", errState)
		}
		if p.last() > cur.last() {
			return nil, fmt.Errorf("%w: previous window newer than the current one", errState)
		}
		s.prev = p
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errState, len(d.b))
	}
	if s.run != nil && s.run.at >= cur.start+size {
		return nil, fmt.Errorf("%w: a run newer than the current window", errState)
	}
	s.cur.lateness = uint16(lateness)
	if s.prev != nil {
		s.prev.lateness = uint16(lateness)
	}
	return s, nil
}
