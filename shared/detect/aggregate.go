package detect

import (
	"cmp"
	"encoding/hex"
	"net/netip"
	"slices"
	"strings"

	"github.com/apiguard/apiguard/shared/traffic"
	"github.com/apiguard/apiguard/shared/vocab"
)

// Aggregate groups a batch into deltas per key and window. It is pure: the same records
// and configuration always give the same deltas.
//
// Keys: every record counts for its address (Record.Client, else Record.Peer; records
// with neither are skipped), for its subscription and its user when they are set, and
// for its operation (API + " " + Method + " " + Template, when a template is known),
// which feeds the population baselines. Each key's deltas are in window order. Records
// without a time are skipped (the decoders set them aside).
//
// A delta's samples may still point into the records' strings: keep the records while
// you keep the deltas. A State never does (Apply copies what it keeps).
func Aggregate(cfg *Config, recs []traffic.Record) map[Key][]*Delta {
	a := newAggregator(cfg, len(recs))
	for i := range recs {
		a.add(&recs[i])
	}
	return a.result()
}

// A login attempt's answer.
const (
	loginFailed   = 1
	loginOK       = 2
	loginRedirect = 3
)

type winKey struct {
	s     string
	start int64
}

type addrWin struct {
	a     netip.Addr
	start int64
}

type opName struct{ api, method, tmpl string }

type idHit struct {
	tmpl string
	h    uint64
	num  uint64 // a numeric id plus one, 0 for other ids
}

type aggregator struct {
	c      *compiled
	ips    map[addrWin]*Delta
	subs   map[winKey]*Delta
	users  map[winKey]*Delta
	ops    map[winKey]*Delta
	opKey  map[opName]string
	strs   map[string]string
	ids    []idHit
	buf    []byte
	low    []byte
	mk     []mark               // the current record's probe markers
	agents map[string]agentInfo // what is known of each user agent seen

	// Slabs: a batch's deltas, extras and their first small slices come from a few
	// large allocations. States never alias them (everything a State keeps is copied
	// in Apply), so they live as long as the batch's deltas.
	deltas  slab[Delta]
	extras  slab[extra]
	opSlab  slab[opTally]
	smpSlab slab[sample]
	hSlab   slab[uint64]
	tSlab   slab[tmplTally]

	// The engine's sorted result, kept for the next batch (see reset).
	names map[netip.Addr]string
	items []keyItem
	ptrs  []*Delta
	kds   []keyDeltas
}

const slabN = 256

// maxCached bounds each string cache an engine's aggregator keeps between batches.
const maxCached = 1 << 16

func newAggregator(cfg *Config, n int) *aggregator {
	return newAggregatorC(compile(cfg), n)
}

func newAggregatorC(c *compiled, n int) *aggregator {
	return &aggregator{
		c:     c,
		ips:   make(map[addrWin]*Delta, n/2+1),
		subs:  map[winKey]*Delta{},
		users: map[winKey]*Delta{},
		ops:   map[winKey]*Delta{},
		opKey: map[opName]string{},
		strs:  map[string]string{},
		buf:   make([]byte, 0, maxTmplLen+1),
		low:   make([]byte, 0, maxParamLen),
	}
}

func (a *aggregator) newDelta(pop bool, start int64) *Delta {
	d := &a.deltas.carve(1)[:1][0]
	*d = Delta{start: start, size: uint16(a.c.size), lateness: uint16(a.c.lateness), pop: pop}
	if !pop {
		d.ops = a.opSlab.carve(2)
	}
	return d
}

func (a *aggregator) ext(d *Delta) *extra {
	if d.x == nil {
		d.x = &a.extras.carve(1)[:1][0]
		*d.x = extra{}
		if !d.pop {
			d.x.samples = a.smpSlab.carve(maxSamples)
		}
	}
	return d.x
}

// hashes gives an empty sketch room for its first values from the slab.
func (a *aggregator) hashes(d *distinct) *distinct {
	if d.h == nil {
		d.h = a.hSlab.carve(4)
	}
	return d
}

// slab hands out small slices cut from a few large allocations. A batch's deltas and
// their first slices come from slabs: states never alias them (everything a State
// keeps is copied in Apply). reset makes the chunks reusable by the next batch.
type slab[T any] struct {
	free   []T   // what is left of the current chunk
	chunks [][]T // every chunk, chunks[:next] in use
	next   int
}

// carve cuts an empty slice of capacity n (refilled when short); appending past n
// reallocates, never touching the neighbours.
func (s *slab[T]) carve(n int) []T {
	if len(s.free) < n {
		if s.next < len(s.chunks) && len(s.chunks[s.next]) >= n {
			s.free = s.chunks[s.next]
		} else {
			s.free = make([]T, slabN*n)
			s.chunks = slices.Insert(s.chunks, s.next, s.free)
		}
		s.next++
	}
	x := s.free[:0:n]
	s.free = s.free[n:]
	return x
}

// reset zeroes the chunks in use (dropping what they point to) for reuse.
func (s *slab[T]) reset() {
	for _, c := range s.chunks[:s.next] {
		clear(c)
	}
	s.free, s.next = nil, 0
}

// intern returns a private copy of s shared by the whole batch: states never pin the
// decoder's buffers, and a million keys share one copy of each template.
func (a *aggregator) intern(s string) string {
	if v, ok := a.strs[s]; ok {
		return v
	}
	c := strings.Clone(s)
	a.strs[c] = c
	return c
}

func (a *aggregator) internBytes(b []byte) string {
	if v, ok := a.strs[string(b)]; ok {
		return v
	}
	c := string(b)
	a.strs[c] = c
	return c
}

// rec is what a record contributes, worked out once for all its keys.
type rec struct {
	r        *traffic.Record
	start    int64
	sec      int64
	err      bool
	authFail bool
	login    bool
	pathHash uint64
	opKey    string
	api      string // interned, for templates
	perAPI   string // the record's API when it has a flood override
	rank     uint8
	ok       bool   // a success: status under 400, not a failed login
	outcome  uint8  // a login attempt's answer: loginFailed, loginOK (2xx), loginRedirect (3xx), else 0
	redirOK  bool   // a 2xx from an endpoint configured to redirect on success
	bucket   int64  // the burst bucket (Flood.BurstSpan) of a request with a query
	pathUA   uint64 // hash of its path and user agent
	qHash    uint64 // hash of its query (0: none)
	uaHash   uint64 // hash of the user agent of a probing error
	client   string // the address as text, made when a sample of an identity key needs it
	marks    []mark // probe markers, distinct
	uaH      uint32 // hash of the user agent
}

func (a *aggregator) add(r *traffic.Record) {
	if r.Time.IsZero() {
		return
	}
	c := a.c
	sec := r.Time.Unix()
	x := rec{r: r, sec: sec, start: floorDiv(sec, c.size) * c.size}
	static := c.isStatic(r.Path, a.low)
	// A request that was not HTTP is a probe whatever it was answered.
	x.err = (c.probe.has(r.Status) || r.Malformed) && !static
	x.login = strings.EqualFold(r.Method, "POST") && c.isLogin(r.Path, r.Template, a.low)
	x.authFail = c.auth.has(r.Status) && !x.login
	if x.login {
		switch {
		case c.loginFail.has(r.Status):
			x.outcome = loginFailed
		case r.Status >= 200 && r.Status < 300:
			x.outcome = loginOK
		case r.Status >= 300 && r.Status < 400:
			x.outcome = loginRedirect
		}
	}
	if x.err {
		// Distinct endpoints, not objects: 404s on ten deleted items of one operation are
		// one endpoint (enumeration judges ids). A catch-all template hides nothing.
		if r.Template != "" && strings.IndexByte(r.Template, '*') < 0 {
			x.pathHash = hashString(seedPath, r.Template)
		} else {
			x.pathHash = hashString(seedPath, r.Path)
		}
	}
	// A login answered 2xx where success is a redirect is a failure there: never a success.
	x.redirOK = x.outcome == loginOK && (c.isRedirectLogin(r.Path) || c.isRedirectLogin(r.Template))
	x.ok = r.Status < 400 && x.outcome != loginFailed && !x.redirOK
	if r.Query != "" && !static {
		x.bucket = floorDiv(sec, c.burstSpan)
		x.pathUA = hashString(hashString(seedPath, r.Path), r.UserAgent)
		x.qHash = hashString(seedID, r.Query) | 1
	}
	if x.err {
		x.uaHash = hashString(seedIdent, r.UserAgent)
	}
	x.marks = a.marks(r.Path, r.Query, r.UserAgent)
	x.uaH = a.agent(r.UserAgent).h
	api := clip(r.API, maxAPILen)
	if r.Template != "" {
		on := opName{api, clip(r.Method, maxMethodLen), clip(r.Template, maxTemplateLen)}
		k, ok := a.opKey[on]
		if !ok {
			k = on.api + " " + on.method + " " + on.tmpl
			a.opKey[on] = k
		}
		x.opKey = k
	}
	if _, ok := c.perAPI[r.API]; ok && r.API != "" {
		x.perAPI = a.intern(r.API)
	}
	a.ids = a.ids[:0]
	if !static {
		a.objectIDs(r)
	}
	if len(a.ids) > 0 {
		x.api = a.intern(api)
	}
	switch {
	case x.authFail || x.login:
		x.rank = 3
	case x.err:
		x.rank = 2
	case len(a.ids) > 0:
		x.rank = 1
	}

	// The narrower identity an address (or a subscription) carries: the user when
	// known, else the subscription.
	var userH, subH uint64
	if r.User != "" {
		userH = hashString(seedIdent, r.User)
	}
	if r.Subscription != "" {
		subH = hashString(seedIdent+1, r.Subscription)
	}
	addr := r.Client
	if !addr.IsValid() {
		addr = r.Peer
	}
	if addr.IsValid() {
		addr = addr.Unmap()
		k := addrWin{addr, x.start}
		d := a.ips[k]
		if d == nil {
			d = a.newDelta(false, x.start)
			a.ips[k] = d
		}
		nh := userH
		if nh == 0 {
			nh = subH
		}
		a.count(d, &x, nh, r.User != "" || r.Subscription != "", false)
	}
	if r.Subscription != "" {
		a.count(a.identity(a.subs, r.Subscription, x.start), &x, userH, r.User != "", true)
	}
	if r.User != "" {
		a.count(a.identity(a.users, r.User, x.start), &x, 0, false, true)
	}
	if x.opKey != "" {
		k := winKey{x.opKey, x.start}
		d := a.ops[k]
		if d == nil {
			d = a.newDelta(true, x.start)
			a.ops[k] = d
		}
		d.n.req = addU32(d.n.req, 1)
		d.n.bytes = addU64(d.n.bytes, uint64(max(r.ResponseBytes, 0)))
		d.seen(sec)
		if addr.IsValid() {
			b := addr.As16()
			ch := hashBytes(seedClient, b[:])
			xt := a.ext(d)
			a.hashes(&xt.clients).add(ch)
			// How the endpoint answers a success is learnt from who got what.
			switch x.outcome {
			case loginOK:
				a.hashes(xt.okClients()).add(ch)
			case loginRedirect:
				a.hashes(xt.redirectClients()).add(ch)
			}
		}
	}
}

func (a *aggregator) identity(m map[winKey]*Delta, v string, start int64) *Delta {
	k := winKey{v, start}
	d := m[k]
	if d == nil {
		d = a.newDelta(false, start)
		m[winKey{a.intern(v), start}] = d
	}
	return d
}

// clientText is the record's client address as text, from the names cache shared
// with the ip keys (addresses to their String).
func (a *aggregator) clientText(x *rec) string {
	if x.client == "" {
		addr := x.r.Client
		if !addr.IsValid() {
			addr = x.r.Peer
		}
		if addr.IsValid() {
			addr = addr.Unmap()
			if a.names == nil {
				a.names = map[netip.Addr]string{}
			}
			name, ok := a.names[addr]
			if !ok {
				name = addr.String()
				a.names[addr] = name
			}
			x.client = clip(name, maxClientLen)
		}
	}
	return x.client
}

// count adds record x to delta d. nh is the narrower identity's hash (valid when
// hasN); withClient adds the address to samples (identity keys).
func (a *aggregator) count(d *Delta, x *rec, nh uint64, hasN bool, withClient bool) {
	r := x.r
	bytes := uint64(max(r.ResponseBytes, 0))
	one := counts{req: 1, bytes: bytes}
	if x.err {
		one.err = 1
	}
	if x.authFail {
		one.authFail = 1
	}
	if x.login {
		one.login = 1
	}
	d.n.add(one)
	failedLogin := x.outcome == loginFailed
	d.seen(x.sec)
	if x.opKey != "" {
		t := opTally{key: x.opKey, req: 1, bytes: bytes}
		if hasN {
			t.idReq, t.idBytes = 1, bytes
		}
		d.addOp(t)
	}
	xt := a.ext(d)
	if hasN {
		xt.id.add(one)
		if x.authFail || failedLogin {
			a.hashes(&xt.failing).add(nh)
		} else if x.ok {
			a.hashes(&xt.ok).add(nh)
		}
	}
	switch x.outcome {
	case loginFailed:
		l := loginTally{fail: 1}
		if hasN {
			l.idFail = 1
		}
		xt.lg.add(l)
	case loginOK:
		l := loginTally{ok: 1}
		switch {
		case x.redirOK:
			l = loginTally{okRedir: 1}
		case hasN:
			l.idOK = 1
		}
		xt.lg.add(l)
	case loginRedirect:
		xt.lg.add(loginTally{redirect: 1})
	}
	if x.err {
		a.hashes(&xt.paths).add(x.pathHash)
		a.hashes(&xt.errUAs).add(x.uaHash)
	}
	if r.Malformed {
		xt.malformed = addU32(xt.malformed, 1)
	}
	if !withClient { // an address: its user agents
		xt.agents.add(x.uaH, 1)
	}
	if len(x.marks) > 0 {
		if xt.marks == nil {
			xt.marks = &markTally{}
		}
		xt.marks.add(x.marks)
		xt.marks.reqs = addU32(xt.marks.reqs, 1)
	}
	if x.qHash != 0 {
		xt.burst.note(x.bucket, x.pathUA, x.qHash)
	}
	for _, id := range a.ids {
		a.addID(d, x.api, id, hasN, r.Status >= 400 && r.Status < 500 && r.Status != 429)
	}
	if x.perAPI != "" {
		t := apiTally{api: x.perAPI, req: 1}
		if hasN {
			t.idReq = 1
		}
		xt.addAPI(t)
	}
	a.offer(xt, x, withClient)
}

// addID records one object id in a template, keeping at most maxTmpls templates (a new
// one displaces the template with the fewest ids only when it has more).
func (a *aggregator) addID(x *Delta, api string, id idHit, hasN, failed bool) {
	var idReq uint32
	if hasN {
		idReq = 1
	}
	for i := range x.tmpls {
		t := &x.tmpls[i]
		if t.tmpl == id.tmpl && t.api == api {
			t.ids.add(id.h)
			t.idReq = addU32(t.idReq, idReq)
			t.note(id.num, failed)
			return
		}
	}
	t := tmplTally{api: api, tmpl: id.tmpl, idReq: idReq}
	t.note(id.num, failed)
	a.hashes(&t.ids).add(id.h)
	if len(x.tmpls) < maxTmpls {
		if x.tmpls == nil {
			x.tmpls = a.tSlab.carve(2)
		}
		x.tmpls = append(x.tmpls, t)
		return
	}
	x.addTmpl(&t)
}

// offer considers x's record as a sample of xt.
func (a *aggregator) offer(xt *extra, x *rec, withClient bool) {
	r := x.r
	s := sample{t: r.Time.UnixNano(), method: r.Method, path: r.Path, ua: r.UserAgent,
		status: uint16(min(max(r.Status, 0), 999)), rank: x.rank}
	if len(xt.samples) == maxSamples {
		// Cheap rejection: records mostly come in time order, so a sample of no higher
		// rank than every kept one rarely displaces any.
		better := false
		for i := range xt.samples {
			if sampleBetter(&s, &xt.samples[i]) {
				better = true
				break
			}
		}
		if !better {
			return
		}
	}
	if withClient {
		s.client = a.clientText(x)
	}
	// The strings still point into the record: a State copies the samples it keeps
	// (Delta.tidy), so a delta's samples are only as long-lived as the batch.
	xt.offerSample(&s)
}

// objectIDs fills a.ids with the record's object ids: the path ids of its template, and
// query values that look like ids, keyed "template?param".
func (a *aggregator) objectIDs(r *traffic.Record) {
	tmpl := r.Template
	if i := strings.IndexByte(tmpl, '?'); i >= 0 {
		tmpl = tmpl[:i]
	}
	if tmpl == "" {
		tmpl = r.Path
	}
	tmpl = clip(tmpl, maxTemplateLen)
	if r.Template != "" {
		if h, num, ok := pathIDs(r.Path, r.Template); ok {
			a.ids = append(a.ids, idHit{tmpl: a.intern(tmpl), h: h, num: num})
		}
	}
	q := r.Query
	for q != "" {
		var part string
		if i := strings.IndexByte(q, '&'); i >= 0 {
			part, q = q[:i], q[i+1:]
		} else {
			part, q = q, ""
		}
		name, value, ok := strings.Cut(part, "=")
		if !ok || name == "" || value == "" || len(name) > maxParamLen {
			continue
		}
		low := lower(a.low, name)
		if has(a.c.ignore, low) || !looksLikeID(value) {
			continue
		}
		a.buf = append(append(append(a.buf[:0], tmpl...), '?'), low...)
		a.ids = append(a.ids, idHit{tmpl: a.internBytes(a.buf), h: hashString(seedID, value), num: numericID(value)})
		if len(a.ids) >= maxTmpls {
			return
		}
	}
}

func (a *aggregator) result() map[Key][]*Delta {
	n := len(a.ips) + len(a.subs) + len(a.users) + len(a.ops)
	out := make(map[Key][]*Delta, n)
	// One backing array: most keys have a single window, so each gets a one-element
	// slice of it; a key with a second window appends into a slice of its own.
	ptrs := make([]*Delta, 0, n)
	add := func(k Key, d *Delta) {
		if ds, ok := out[k]; ok {
			out[k] = append(ds, d)
			return
		}
		ptrs = append(ptrs, d)
		out[k] = ptrs[len(ptrs)-1 : len(ptrs) : len(ptrs)]
	}
	names := make(map[netip.Addr]string, len(a.ips))
	for k, d := range a.ips {
		name, ok := names[k.a]
		if !ok {
			name = k.a.String()
			names[k.a] = name
		}
		add(Key{vocab.KeyIP, name}, d)
	}
	for k, d := range a.subs {
		add(Key{vocab.KeySubscription, keyValue(k.s)}, d)
	}
	for k, d := range a.users {
		add(Key{vocab.KeyUser, keyValue(k.s)}, d)
	}
	for k, d := range a.ops {
		add(Key{vocab.KeyOp, k.s}, d)
	}
	for _, ds := range out {
		if len(ds) > 1 {
			slices.SortFunc(ds, func(x, y *Delta) int { return cmp.Compare(x.start, y.start) })
		}
	}
	return out
}

// keyValue bounds an identity key: a longer value keeps its first bytes and ends in a
// hash of the whole, so distinct long ids stay distinct.
func keyValue(v string) string {
	if len(v) <= maxKeyLen {
		return v
	}
	var h [8]byte
	x := hashString(seedIdent, v)
	for i := range h {
		h[i] = byte(x >> (8 * i))
	}
	return clip(v, maxKeyLen-17) + "~" + hex.EncodeToString(h[:])
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// keyItem is one (key value, window) delta of a kind of key, for sorting. pfx is
// the first 8 bytes of v, big-endian, zero-padded: when two prefixes differ they order
// the values as strings.Compare does, so most comparisons need neither string.
type keyItem struct {
	pfx uint64
	v   string
	d   *Delta
}

func newKeyItem(v string, d *Delta) keyItem {
	var p uint64
	n := min(len(v), 8)
	for i := 0; i < n; i++ {
		p |= uint64(v[i]) << (56 - 8*i)
	}
	return keyItem{pfx: p, v: v, d: d}
}

// keyDeltas is one key's deltas, in window order.
type keyDeltas struct {
	k  Key
	ds []*Delta
}

// sorted is the result as the engine uses it: keys in compareKeys order (the types sort
// ip, op, subscription, user), each with its deltas in window order. It lives in the
// aggregator's buffers until reset.
func (a *aggregator) sorted() []keyDeltas {
	n := len(a.ips) + len(a.subs) + len(a.users) + len(a.ops)
	if cap(a.ptrs) < n {
		a.ptrs = make([]*Delta, 0, n)
	}
	if a.names == nil {
		a.names = make(map[netip.Addr]string, len(a.ips))
	}
	a.items, a.ptrs, a.kds = a.items[:0], a.ptrs[:0], a.kds[:0]
	for k, d := range a.ips {
		name, ok := a.names[k.a]
		if !ok {
			name = k.a.String()
			a.names[k.a] = name
		}
		a.items = append(a.items, newKeyItem(name, d))
	}
	a.group(vocab.KeyIP)
	for k, d := range a.ops {
		a.items = append(a.items, newKeyItem(k.s, d))
	}
	a.group(vocab.KeyOp)
	for k, d := range a.subs {
		a.items = append(a.items, newKeyItem(keyValue(k.s), d))
	}
	a.group(vocab.KeySubscription)
	for k, d := range a.users {
		a.items = append(a.items, newKeyItem(keyValue(k.s), d))
	}
	a.group(vocab.KeyUser)
	return a.kds
}

// group sorts a.items (all of key type t) into a.kds and empties a.items.
func (a *aggregator) group(t vocab.KeyType) {
	items := a.items
	slices.SortFunc(items, func(x, y keyItem) int {
		if x.pfx != y.pfx {
			return cmp.Compare(x.pfx, y.pfx)
		}
		if c := strings.Compare(x.v, y.v); c != 0 {
			return c
		}
		return cmp.Compare(x.d.start, y.d.start)
	})
	for i := 0; i < len(items); {
		from := len(a.ptrs)
		a.ptrs = append(a.ptrs, items[i].d)
		j := i + 1
		for ; j < len(items) && items[j].v == items[i].v; j++ {
			a.ptrs = append(a.ptrs, items[j].d)
		}
		a.kds = append(a.kds, keyDeltas{Key{t, items[i].v}, a.ptrs[from:len(a.ptrs):len(a.ptrs)]})
		i = j
	}
	a.items = items[:0]
}

// reset readies a for another batch, keeping its maps and buffers.
func (a *aggregator) reset() {
	clear(a.ips)
	clear(a.subs)
	clear(a.users)
	clear(a.ops)
	// The string caches outlive the batch (up to a bound): the next batch then makes no
	// new copy of a name seen before, and its keys and operations are the very strings
	// the states hold already, which compare without reading them.
	if len(a.opKey) > maxCached {
		clear(a.opKey)
	}
	if len(a.strs) > maxCached {
		clear(a.strs)
	}
	if len(a.names) > maxCached {
		clear(a.names)
	}
	a.ids = a.ids[:0]
	a.deltas.reset()
	a.extras.reset()
	a.opSlab.reset()
	a.smpSlab.reset()
	a.hSlab.reset()
	a.tSlab.reset()
	clear(a.items[:cap(a.items)])
	clear(a.ptrs[:cap(a.ptrs)])
	clear(a.kds[:cap(a.kds)])
	a.items, a.ptrs, a.kds = a.items[:0], a.ptrs[:0], a.kds[:0]
}
