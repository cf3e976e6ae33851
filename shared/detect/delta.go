package detect

import (
	"math"
	"slices"
	"strings"
	"time"
)

// Bounds on what one window of one key may hold, whatever the traffic. They keep a
// state under 48 KiB encoded (README.md, "Memory") and are checked again on decode.
const (
	maxOps         = 8  // operations tracked per window (rate spike, exfiltration)
	maxTmpls       = 8  // templates tracked per window (enumeration)
	maxSamples     = 3  // sample requests per window
	ringSize       = 32 // batches remembered per key (idempotence)
	maxAPILen      = 128
	maxMethodLen   = 16
	maxTemplateLen = 256
	maxTmplLen     = maxTemplateLen + 1 + maxParamLen // "template?param"
	maxOpKeyLen    = maxAPILen + 1 + maxMethodLen + 1 + maxTemplateLen
	maxPathLen     = 256
	maxUALen       = 256
	maxClientLen   = 64
	maxKeyLen      = 256 // identity key values (longer ones end in a hash)
	maxWindowSecs  = int64(maxWindow / time.Second)
)

// A window keeps samples only once it is worth explaining: an error, an auth failure
// or a login, this many requests, or this many response bytes. An idle client costs
// no sample strings.
const (
	sampleFromRequests = 5
	sampleFromBytes    = 1 << 20
)

// counts are the additive counters of a window.
type counts struct {
	req      uint32 // requests
	err      uint32 // probing errors (Probing.Statuses, static resources left out)
	authFail uint32 // BruteForce.AuthStatuses
	login    uint32 // POSTs to BruteForce.LoginPaths
	bytes    uint64 // response bytes
}

func (c *counts) add(o counts) {
	c.req = addU32(c.req, o.req)
	c.err = addU32(c.err, o.err)
	c.authFail = addU32(c.authFail, o.authFail)
	c.login = addU32(c.login, o.login)
	c.bytes = addU64(c.bytes, o.bytes)
}

// minus is c without o (the anonymous part of a shared key), never below zero.
func (c counts) minus(o counts) counts {
	return counts{req: subU32(c.req, o.req), err: subU32(c.err, o.err), authFail: subU32(c.authFail, o.authFail),
		login: subU32(c.login, o.login), bytes: subU64(c.bytes, o.bytes)}
}

// opTally is a key's traffic to one operation in one window.
type opTally struct {
	key     string // the operation's key value: API + " " + Method + " " + Template
	req     uint32
	idReq   uint32 // of which carried a narrower identity
	bytes   uint64
	idBytes uint64
}

// tmplTally is the distinct object ids a key asked for in one template.
type tmplTally struct {
	api   string
	tmpl  string // the template, or "template?param" for ids in a query parameter
	idReq uint32 // requests to it that carried a narrower identity
	ids   distinct
	// How the ids were chosen: walk counts requests whose numeric id is within two of
	// the previous one's (in arrival order), fails the requests answered 4xx (429
	// aside), req every request; last is the previous numeric id plus one (0: none).
	walk, fails, req uint32
	last             uint64
}

// note adds one request for an id to t: num is its numeric value plus one (0: not a
// number), failed whether it was answered 4xx.
func (t *tmplTally) note(num uint64, failed bool) {
	t.req = addU32(t.req, 1)
	if failed {
		t.fails = addU32(t.fails, 1)
	}
	if num == 0 {
		return
	}
	if t.last != 0 && num != t.last && max(num, t.last)-min(num, t.last) <= 2 {
		t.walk = addU32(t.walk, 1)
	}
	t.last = num
}

// mergeWalk adds o's choice counts to t (o came after t).
func (t *tmplTally) mergeWalk(o *tmplTally) {
	t.walk, t.fails, t.req = addU32(t.walk, o.walk), addU32(t.fails, o.fails), addU32(t.req, o.req)
	if o.last != 0 {
		t.last = o.last
	}
}

// apiTally counts requests to an API that has its own flood limit.
type apiTally struct {
	api   string
	req   uint32
	idReq uint32
}

// sample is one request kept as evidence.
type sample struct {
	t      int64 // Unix nanoseconds
	method string
	path   string
	ua     string
	client string // the address, for identity keys
	status uint16
	rank   uint8 // 3 auth failure or login, 2 probing error, 1 carries an object id, 0 other
	owned  bool  // the strings are the sample's own (a State's), not a batch's records'
}

// own gives the sample strings of its own, clipped.
func (s *sample) own() {
	if s.owned {
		return
	}
	s.method = ownMethod(s.method)
	// One allocation for the three: they live and go together.
	path, ua, client := clip(s.path, maxPathLen), clip(s.ua, maxUALen), clip(s.client, maxClientLen)
	var b strings.Builder
	b.Grow(len(path) + len(ua) + len(client))
	b.WriteString(path)
	b.WriteString(ua)
	b.WriteString(client)
	all := b.String()
	s.path, s.ua, s.client = all[:len(path)], all[len(path):len(path)+len(ua)], all[len(path)+len(ua):]
	s.owned = true
}

// ownFrom is own, reusing the strings of the owned samples in kept that are equal to
// this one's (the same client, user agent or endpoint in another sample of the window),
// so a sample that repeats them allocates less or nothing.
func (s *sample) ownFrom(kept []sample) {
	if s.owned {
		return
	}
	path, ua, client := clip(s.path, maxPathLen), clip(s.ua, maxUALen), clip(s.client, maxClientLen)
	var havePath, haveUA, haveClient bool
	for i := range kept {
		k := &kept[i]
		if !k.owned {
			continue
		}
		if !havePath && k.path == path {
			path, havePath = k.path, true
		}
		if !haveUA && k.ua == ua {
			ua, haveUA = k.ua, true
		}
		if !haveClient && k.client == client {
			client, haveClient = k.client, true
		}
	}
	if !havePath && !haveUA && !haveClient {
		s.own()
		return
	}
	s.method = ownMethod(s.method)
	n := 0
	if !havePath {
		n += len(path)
	}
	if !haveUA {
		n += len(ua)
	}
	if !haveClient {
		n += len(client)
	}
	var b strings.Builder
	b.Grow(n)
	if !havePath {
		b.WriteString(path)
	}
	if !haveUA {
		b.WriteString(ua)
	}
	if !haveClient {
		b.WriteString(client)
	}
	all, at := b.String(), 0
	take := func(v string) string {
		c := all[at : at+len(v)]
		at += len(v)
		return c
	}
	if !havePath {
		path = take(path)
	}
	if !haveUA {
		ua = take(ua)
	}
	if !haveClient {
		client = take(client)
	}
	s.path, s.ua, s.client = path, ua, client
	s.owned = true
}

// ownMethod is a copy of method of its own, clipped: a constant for the usual ones.
func ownMethod(m string) string {
	switch m {
	case "GET":
		return "GET"
	case "POST":
		return "POST"
	case "PUT":
		return "PUT"
	case "DELETE":
		return "DELETE"
	case "PATCH":
		return "PATCH"
	case "HEAD":
		return "HEAD"
	case "OPTIONS":
		return "OPTIONS"
	}
	return strings.Clone(clip(m, maxMethodLen))
}

// loginTally is a window's login attempts (counts.login) by answer.
type loginTally struct {
	fail     uint32 // answered with a failure status (BruteForce.AuthStatuses, LoginFailureStatuses)
	ok       uint32 // answered 2xx: a success, unless the endpoint turns out to redirect on success
	okRedir  uint32 // answered 2xx by an endpoint configured to redirect on success: a failure there
	redirect uint32 // answered 3xx
	idFail   uint32 // of fail, those that carried a narrower identity
	idOK     uint32 // of ok, likewise
}

func (l *loginTally) add(o loginTally) {
	l.fail, l.ok, l.okRedir = addU32(l.fail, o.fail), addU32(l.ok, o.ok), addU32(l.okRedir, o.okRedir)
	l.redirect = addU32(l.redirect, o.redirect)
	l.idFail, l.idOK = addU32(l.idFail, o.idFail), addU32(l.idOK, o.idOK)
}

// burstTally finds cache-busting: requests from one client (one user agent) to one
// path, each with a query string unlike the one before, within one bucket of
// Flood.BurstSpan or two consecutive ones. Buckets are aligned to the epoch, like
// windows; a burst split by a bucket boundary counts whole, as the current bucket
// plus the one just before on the same path.
type burstTally struct {
	bucket int64  // the current bucket: Unix seconds / span
	path   uint64 // hash of the path and user agent the bucket counts
	lastQ  uint64 // hash of the last query counted
	n      uint16 // queries counted in the current bucket
	prev   uint16 // queries counted in the bucket just before, on the same path
	max    uint16 // most counted in any bucket, or two consecutive ones, of the window
}

// note counts one request with a query.
func (b *burstTally) note(bucket int64, path, q uint64) {
	if bucket != b.bucket || path != b.path || b.n == 0 {
		if bucket < b.bucket && b.n > 0 {
			return // out of order, behind the current bucket: too late to count
		}
		var prev uint16
		if bucket == b.bucket+1 && path == b.path {
			prev = b.n
		}
		*b = burstTally{bucket: bucket, path: path, prev: prev, max: b.max}
	}
	if q != b.lastQ || b.n == 0 {
		if b.n < math.MaxUint16 {
			b.n++
		}
		b.lastQ = q
	}
	b.max = max(b.max, sumU16(b.n, b.prev))
}

func sumU16(a, b uint16) uint16 { return uint16(min(uint32(a)+uint32(b), math.MaxUint16)) }

// merge adds o, a later delta's tally (or an out-of-order one, which only its
// maximum counts for).
func (b *burstTally) merge(o *burstTally) {
	switch {
	case o.n == 0 && o.max == 0:
	case b.n == 0 && b.max == 0:
		*b = *o
	case o.bucket == b.bucket && o.path == b.path:
		b.n = sumU16(b.n, o.n)
		b.prev = max(b.prev, o.prev)
		b.lastQ = o.lastQ
		b.max = max(b.max, o.max, sumU16(b.n, b.prev))
	case o.bucket > b.bucket:
		m := max(b.max, o.max)
		prev := o.prev
		if o.bucket == b.bucket+1 && o.path == b.path {
			prev = max(prev, b.n)
		}
		*b = *o
		b.prev = prev
		b.max = max(m, sumU16(b.n, b.prev))
	default:
		b.max = max(b.max, o.max)
	}
}

// trivial reports whether the tally says nothing worth keeping (no bucket ever held
// two queries).
func (b *burstTally) trivial() bool { return b.max <= 1 }

// extra is what only some windows need, allocated on first use.
//
// Operation keys (the population) use ok and failing for their login answers: the
// clients answered 2xx, and the clients answered with a redirect (okClients and
// redirectClients say so), from which an endpoint's way of telling success is learnt.
type extra struct {
	id        counts   // the part of counts that carried a narrower identity
	paths     distinct // distinct probing-error endpoints (template when known, else path)
	ok        distinct // narrower identities (user ids, else subscription ids) with a successful request
	failing   distinct // narrower identities with an auth failure or a failed login
	clients   distinct // operation keys: distinct client addresses
	apis      []apiTally
	samples   []sample
	lg        loginTally
	burst     burstTally
	errUAs    distinct   // user agents of requests answered with a probing error
	malformed uint32     // requests that were not HTTP (traffic.Record.Malformed)
	marks     *markTally // probe markers (nil: none)
	agents    agentTally // address keys: the busiest user agents
}

// okClients is, for an operation key, the clients whose login was answered 2xx.
func (x *extra) okClients() *distinct { return &x.ok }

// redirectClients is, for an operation key, the clients whose login was answered 3xx.
func (x *extra) redirectClients() *distinct { return &x.failing }

func (x *extra) empty() bool {
	return x.countsEmpty() && len(x.samples) == 0
}

// countsEmpty is empty but for the samples.
func (x *extra) countsEmpty() bool {
	return x.id == (counts{}) && x.paths.empty() && x.ok.empty() && x.failing.empty() &&
		x.clients.empty() && len(x.apis) == 0 && x.lg == (loginTally{}) && x.burst.trivial() && x.errUAs.empty() &&
		x.malformed == 0 && x.marks.empty() && x.agents.trivial()
}

// Delta is one batch's contribution to one key in one window: counters that add,
// bounded distinct-count sketches that union, capped samples. The totals a State keeps
// for a window are themselves a Delta, the merge of every delta applied to it.
//
// A delta carries the window geometry it was aggregated with (size and allowed
// lateness), so State.Apply needs no configuration.
type Delta struct {
	start    int64  // window start, Unix seconds, a multiple of size
	age      uint16 // newest record, seconds after start
	size     uint16 // window size, seconds (at most an hour)
	lateness uint16 // allowed lateness, seconds (at most size)
	pop      bool   // an operation (population) key
	n        counts
	ops      []opTally
	tmpls    []tmplTally // object ids per template (enumeration)
	x        *extra
}

// last is the newest record's time, Unix seconds.
func (d *Delta) last() int64 { return d.start + int64(d.age) }

// seen moves the newest record time to sec when later (and inside the window).
func (d *Delta) seen(sec int64) {
	if a := sec - d.start; a > int64(d.age) && a < int64(d.size) {
		d.age = uint16(a)
	}
}

// Window returns the window the delta belongs to.
func (d *Delta) Window() (start, end time.Time) {
	return time.Unix(d.start, 0).UTC(), time.Unix(d.start+int64(d.size), 0).UTC()
}

// Requests is the number of requests the delta counts.
func (d *Delta) Requests() int { return int(d.n.req) }

// Merge adds o to d. It reports false, changing nothing, when o belongs to another
// window, window size or kind of key.
func (d *Delta) Merge(o *Delta) bool {
	if o == nil || d.start != o.start || d.size != o.size || d.pop != o.pop {
		return false
	}
	d.merge(o)
	return true
}

func (d *Delta) merge(o *Delta) { d.mergeSampling(o, true) }

// mergeTidy is merge then tidy, for a State's window: samples that tidy would drop
// (the merged window is not worth sampling) are neither merged nor kept.
func (d *Delta) mergeTidy(o *Delta) {
	d.mergeSampling(o, false)
	d.tidy()
}

// mergeSampling is merge; with always false, samples are merged only when the merged
// window keeps them (tidy), else dropped.
func (d *Delta) mergeSampling(o *Delta, always bool) {
	d.n.add(o.n)
	d.age = max(d.age, o.age)
	d.lateness = max(d.lateness, o.lateness)
	for i := range o.ops {
		d.addOp(o.ops[i])
	}
	for i := range o.tmpls {
		d.addTmpl(&o.tmpls[i])
	}
	if o.x == nil {
		return
	}
	keep := always || (!d.pop && d.worthSampling())
	if d.x == nil && !keep && o.x.countsEmpty() {
		return // only samples, and they would be dropped: no extra to allocate
	}
	x := d.ext()
	x.mergeCounts(o.x)
	switch {
	case keep:
		if len(o.x.samples) > 0 {
			x.samples = mergeSamples(x.samples, o.x.samples)
		}
	default:
		x.samples = nil
	}
}

func (d *Delta) ext() *extra {
	if d.x == nil {
		d.x = &extra{}
	}
	return d.x
}

// addOp adds t; when maxOps operations are tracked already, t replaces the smallest
// one if it is larger (the large ones are what rate spike and exfiltration judge).
func (d *Delta) addOp(t opTally) {
	for i := range d.ops {
		if d.ops[i].key == t.key {
			o := &d.ops[i]
			o.req, o.idReq = addU32(o.req, t.req), addU32(o.idReq, t.idReq)
			o.bytes, o.idBytes = addU64(o.bytes, t.bytes), addU64(o.idBytes, t.idBytes)
			return
		}
	}
	if len(d.ops) < maxOps {
		if d.ops == nil {
			d.ops = make([]opTally, 0, 2)
		}
		d.ops = append(d.ops, t)
		return
	}
	least := 0
	for i := 1; i < len(d.ops); i++ {
		if opLess(d.ops[i], d.ops[least]) {
			least = i
		}
	}
	if opLess(d.ops[least], t) {
		d.ops[least] = t
	}
}

func opLess(a, b opTally) bool {
	if a.bytes != b.bytes {
		return a.bytes < b.bytes
	}
	if a.req != b.req {
		return a.req < b.req
	}
	return a.key > b.key
}

// identities is the number of distinct narrower identities, and of those that failed
// (auth failure or login attempt) without any success in the window.
func (x *extra) identities() (all, failedOnly int, estimated bool) {
	all, failedOnly, estimated = compareSketches(&x.failing, &x.ok)
	return all, failedOnly, estimated
}

func (x *extra) merge(o *extra) {
	x.mergeCounts(o)
	if len(o.samples) > 0 {
		x.samples = mergeSamples(x.samples, o.samples)
	}
}

// mergeCounts is merge without the samples.
func (x *extra) mergeCounts(o *extra) {
	x.id.add(o.id)
	x.paths.merge(&o.paths)
	x.ok.merge(&o.ok)
	x.failing.merge(&o.failing)
	x.clients.merge(&o.clients)
	x.lg.add(o.lg)
	x.burst.merge(&o.burst)
	x.errUAs.merge(&o.errUAs)
	x.malformed = addU32(x.malformed, o.malformed)
	x.agents.merge(&o.agents)
	if !o.marks.empty() {
		if x.marks == nil {
			x.marks = &markTally{}
		}
		x.marks.merge(o.marks)
	}
	for _, a := range o.apis {
		x.addAPI(a)
	}
}

// addTmpl unions t into d; when maxTmpls templates are tracked already, t replaces the
// one with the fewest ids if it has more.
func (d *Delta) addTmpl(t *tmplTally) {
	for i := range d.tmpls {
		if d.tmpls[i].tmpl == t.tmpl && d.tmpls[i].api == t.api {
			d.tmpls[i].ids.merge(&t.ids)
			d.tmpls[i].idReq = addU32(d.tmpls[i].idReq, t.idReq)
			d.tmpls[i].mergeWalk(t)
			return
		}
	}
	c := tmplTally{api: t.api, tmpl: t.tmpl, idReq: t.idReq, ids: t.ids.cloneRoom(), walk: t.walk, fails: t.fails, req: t.req, last: t.last}
	if len(d.tmpls) < maxTmpls {
		if d.tmpls == nil {
			d.tmpls = make([]tmplTally, 0, 2)
		}
		d.tmpls = append(d.tmpls, c)
		return
	}
	least := 0
	for i := 1; i < len(d.tmpls); i++ {
		if d.tmpls[i].ids.count() < d.tmpls[least].ids.count() {
			least = i
		}
	}
	if d.tmpls[least].ids.count() < c.ids.count() {
		d.tmpls[least] = c
	}
}

func (x *extra) addAPI(a apiTally) {
	for i := range x.apis {
		if x.apis[i].api == a.api {
			x.apis[i].req = addU32(x.apis[i].req, a.req)
			x.apis[i].idReq = addU32(x.apis[i].idReq, a.idReq)
			return
		}
	}
	if len(x.apis) < maxPerAPI {
		x.apis = append(x.apis, a)
	}
}

// sampleBetter orders samples: the most telling first, then the earliest, then by
// path, so any merge order keeps the same three.
func sampleBetter(a, b *sample) bool {
	if a.rank != b.rank {
		return a.rank > b.rank
	}
	if a.t != b.t {
		return a.t < b.t
	}
	if a.path != b.path {
		return a.path < b.path
	}
	if a.method != b.method {
		return a.method < b.method
	}
	if a.status != b.status {
		return a.status < b.status
	}
	if a.ua != b.ua {
		return a.ua < b.ua
	}
	return a.client < b.client
}

// mergeSamples keeps the best maxSamples of a and b, in a's room when it has some,
// sorted best first: any merge order keeps the same samples in the same order.
func mergeSamples(a, b []sample) []sample {
	// While a is full, a sample no better than a's worst changes nothing (what offer
	// would find after looking for the worst again): one comparison each.
	worst := -1
	for i := range b {
		if len(a) == maxSamples {
			if worst < 0 {
				worst = 0
				for j := 1; j < len(a); j++ {
					if sampleBetter(&a[worst], &a[j]) {
						worst = j
					}
				}
			}
			if !sampleBetter(&b[i], &a[worst]) {
				continue
			}
			worst = -1
		}
		a = offer(a, &b[i])
	}
	// Insertion sort: at most maxSamples, usually in order already. sampleBetter is a
	// strict total order on distinct samples (offer keeps no duplicates), so any sort
	// gives the same order.
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && sampleBetter(&a[j], &a[j-1]); j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
	return a
}

// offer adds s to the best-maxSamples list a unless it holds s already or s is worse
// than all of them.
func offer(a []sample, s *sample) []sample {
	if len(a) == maxSamples {
		// Full: s gets in only by displacing the worst, so only when better than it
		// (and then only when it is not one of the others already).
		worst := 0
		for i := 1; i < len(a); i++ {
			if sampleBetter(&a[worst], &a[i]) {
				worst = i
			}
		}
		if !sampleBetter(s, &a[worst]) {
			return a
		}
		for i := range a {
			if sameSample(&a[i], s) {
				return a
			}
		}
		a[worst] = *s
		return a
	}
	for i := range a {
		if sameSample(&a[i], s) {
			return a
		}
	}
	if len(a) < maxSamples {
		if cap(a) < maxSamples {
			a = append(make([]sample, 0, maxSamples), a...)
		}
		return append(a, *s)
	}
	worst := 0
	for i := 1; i < len(a); i++ {
		if sampleBetter(&a[worst], &a[i]) {
			worst = i
		}
	}
	if sampleBetter(s, &a[worst]) {
		a[worst] = *s
	}
	return a
}

func sameSample(a, b *sample) bool {
	return a.t == b.t && a.method == b.method && a.path == b.path && a.ua == b.ua && a.client == b.client &&
		a.status == b.status && a.rank == b.rank
}

// offerSample keeps s if it is among the best maxSamples.
func (x *extra) offerSample(s *sample) {
	x.samples = offer(x.samples, s)
}

// worthSampling reports whether a state keeps samples for d.
func (d *Delta) worthSampling() bool {
	return d.n.err > 0 || d.n.authFail > 0 || d.n.login > 0 || d.n.req >= sampleFromRequests || d.n.bytes >= sampleFromBytes
}

// tidy readies a window for a State: samples of an unremarkable window dropped, kept
// samples given strings of their own (never the records'), an empty extra dropped.
func (d *Delta) tidy() {
	if d.x == nil {
		return
	}
	if d.pop || !d.worthSampling() {
		d.x.samples = nil
	}
	for i := range d.x.samples {
		d.x.samples[i].ownFrom(d.x.samples)
	}
	if d.x.burst.trivial() {
		d.x.burst = burstTally{}
	}
	if d.x.empty() {
		d.x = nil
	}
}

// clone is a deep copy: a state never shares memory with a delta, so a delta can be
// applied again (an optimistic-concurrency retry) unchanged.
func (d *Delta) clone() Delta { return d.cloneSampling(true) }

// cloneTidy is clone then tidy, for a State's window: samples that tidy would drop are
// not copied.
func (d *Delta) cloneTidy() Delta {
	c := d.cloneSampling(d.worthSampling() && !d.pop)
	c.tidy()
	return c
}

// cloneSampling is clone, leaving out the samples unless samples is true.
func (d *Delta) cloneSampling(samples bool) Delta {
	c := *d
	// With some room: a state's window usually grows by an operation, a template or
	// a sample or two after its first delta.
	c.ops = cloneRoom(d.ops, 2, maxOps)
	c.tmpls = cloneRoom(d.tmpls, 1, maxTmpls)
	for i := range c.tmpls {
		c.tmpls[i].ids = c.tmpls[i].ids.clone()
	}
	c.x = nil
	if d.x != nil && (samples || !d.x.countsEmpty()) {
		x := *d.x
		x.paths, x.ok, x.failing, x.clients = d.x.paths.clone(), d.x.ok.clone(), d.x.failing.clone(), d.x.clients.clone()
		x.errUAs = d.x.errUAs.clone()
		x.marks = d.x.marks.clone()
		x.apis = slices.Clone(d.x.apis)
		x.samples = nil
		if samples {
			x.samples = cloneRoom(d.x.samples, maxSamples, maxSamples)
		}
		c.x = &x
	}
	return c
}

func addU32(a, b uint32) uint32 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxUint32
}

func addU64(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxUint64
}

func subU32(a, b uint32) uint32 {
	if b > a {
		return 0
	}
	return a - b
}

func subU64(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// cloneRoom is a copy of v (nil when empty) with room for up to room more elements,
// within a capacity of at most limit.
func cloneRoom[T any](v []T, room, limit int) []T {
	if len(v) == 0 {
		return nil
	}
	return append(make([]T, 0, max(len(v), min(len(v)+room, limit))), v...)
}
