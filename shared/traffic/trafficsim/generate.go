package trafficsim

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apiguard/apiguard/shared/traffic"
	"github.com/apiguard/apiguard/shared/vocab"
)

// Generate builds the scenario of one seed: the same seed gives the same records and
// labels; another seed gives other population sizes, rates, attackers and times. It
// panics on an invalid Config (check Config.Validate first for one read from a user).
func Generate(cfg Config, seed uint64) *Scenario {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	b := newBuilder(cfg, seed)
	b.deploys()
	b.browsers()
	b.mobiles()
	b.machineClients()
	b.corporateNAT()
	b.forwardProxy()
	b.crawlers()
	b.integrations()
	b.monitors()
	b.blog()
	b.plantAttackers()
	return b.finish()
}

// builder collects the records of every actor of one scenario.
type builder struct {
	cfg        Config
	seed       uint64
	r          *rand.Rand // scenario-wide choices
	start, end time.Time
	site       *site
	edge       []netip.Addr // Application Gateway instances, when one is in front
	trust      traffic.Trust
	addrs      addrPool
	names      people

	recs   []traffic.Record
	origin []int32

	benign    map[Key]Population
	attackers []Attacker
	victims   []map[Key]bool
	incidents []Incident
	removals  []removal

	// What attackers borrow: known machine clients, the office.
	portalSub, mobileSub string
	machines             []*machine
	nat                  *office
	keys                 []Key // scratch
}

func newBuilder(cfg Config, seed uint64) *builder {
	r := newRand(seed, "scenario", 0)
	b := &builder{
		cfg: cfg, seed: seed, r: r,
		start: cfg.Start.UTC(), end: cfg.Start.UTC().Add(cfg.Duration),
		site:   newSite(newRand(seed, "site", 0)),
		addrs:  addrPool{r: newRand(seed, "addresses", 0), used: map[netip.Addr]bool{}},
		names:  people{seen: map[string]bool{}},
		benign: map[Key]Population{},
	}
	if chance(r, cfg.EdgeProxy) {
		b.edge = []netip.Addr{netip.MustParseAddr("10.0.1.4"), netip.MustParseAddr("10.0.1.5")}
		b.trust.Proxies = []netip.Prefix{netip.MustParsePrefix("10.0.1.0/24")}
	}
	b.portalSub, b.mobileSub = hexID(r, 32), hexID(r, 32)
	// About 400 records per nominal client over two hours, all populations together.
	b.recs = make([]traffic.Record, 0, 200*(cfg.Clients+cfg.NATUsers)*int(cfg.Duration/time.Hour)+1024)
	return b
}

// vary is a count of the config, varied for this seed.
func (b *builder) vary(n int) int { return varied(b.r, n, b.cfg.Vary) }

// scale turns a per-two-hours expectation into one for the scenario's duration.
func (b *builder) scale(perTwoHours float64) float64 {
	return perTwoHours * float64(b.cfg.Duration) / float64(2*time.Hour)
}

// anyTime is a uniform time in [from, to).
func anyTime(r *rand.Rand, from, to time.Time) time.Time {
	return from.Add(durBetween(r, 0, to.Sub(from)))
}

// actor is one client: where it connects from, who it says it is.
type actor struct {
	b    *builder
	r    *rand.Rand
	pop  Population // ordinary: its population; attacker: the population of keys it borrows
	atk  int32      // the attacker's index, -1 when ordinary
	addr netip.Addr // the address the gateway attributes it to
	// fwd is what arrives in X-Forwarded-For before any proxy of the estate: a
	// forward proxy's entry for the user behind it, or an attacker's forgery.
	fwd       string
	ua        string
	sub, user string
	direct    bool // reaches the logging component directly even with an edge proxy in front
}

func (b *builder) actor(pop Population, stream string, i int) *actor {
	return &actor{b: b, r: newRand(b.seed, stream, i), pop: pop, atk: -1}
}

// req is a success of o at t, sized and timed, with the actor's identity.
func (a *actor) req(t time.Time, o *op, path, query string) traffic.Record {
	resp := o.respBytes(a.r)
	return traffic.Record{
		Time: t, Method: o.method, Path: path, Query: query, API: o.api, Operation: o.id, Status: o.ok,
		RequestBytes: o.reqBytes(a.r), ResponseBytes: resp, Latency: o.latency(a.r, resp),
		Subscription: a.sub, User: a.user, Host: o.host,
	}
}

// fail turns r into an error answer of the given status.
func (a *actor) fail(r traffic.Record, status int) traffic.Record {
	r.Status = status
	r.ResponseBytes = int64(between(a.r, 90, 260))
	r.Latency = time.Duration(between(a.r, 2, 40)) * time.Millisecond
	return r
}

// call emits o at t as an ordinary client sees it: mostly the success, now and then
// a server error or a stale id.
func (a *actor) call(t time.Time, o *op, path, query string) {
	r := a.req(t, o, path, query)
	switch x := a.r.IntN(1000); {
	case x < 3:
		r = a.fail(r, pick(a.r, []int{500, 502, 503, 504}))
	case x < 12 && strings.Contains(o.tmpl, "{id}"):
		r = a.fail(r, 404)
	case x < 14 && o.method != "GET":
		r = a.fail(r, 400)
	}
	a.emit(r)
}

// emit places a record in the scenario: attribution through the estate's proxies,
// the template, a deploy's removed endpoints, and the labels.
func (a *actor) emit(r traffic.Record) {
	b := a.b
	r.Time = r.Time.Truncate(time.Millisecond)
	if r.Time.Before(b.start) || !r.Time.Before(b.end) {
		return
	}
	if a.atk >= 0 {
		at := &b.attackers[a.atk]
		if r.Time.Before(at.Start) || !r.Time.Before(at.End) {
			return
		}
		at.Records++
	}
	if r.UserAgent == "" {
		r.UserAgent = a.ua
	}
	if !r.Malformed {
		r.Template = traffic.Templatize(r.Path)
		if r.Host == "" {
			r.Host = b.site.apiHost
		}
	}
	chain := a.fwd
	if len(b.edge) > 0 && !a.direct {
		// An Application Gateway appends the address and port it saw.
		r.Peer = b.edge[a.r.IntN(len(b.edge))]
		port := strconv.Itoa(between(a.r, 1024, 65535))
		hop := a.addr.String() + ":" + port
		if a.addr.Is6() {
			hop = "[" + a.addr.String() + "]:" + port
		}
		if chain != "" {
			chain += ", "
		}
		r.Forwarded = chain + hop
	} else {
		r.Peer, r.Forwarded = a.addr, chain
	}
	var note string
	if r.Client, note = b.trust.Attribute(r.Peer, r.Forwarded); r.Client != a.addr || note != "" {
		panic(fmt.Sprintf("trafficsim: %v via %v %q attributes to %v (%s)", a.addr, r.Peer, r.Forwarded, r.Client, note))
	}
	for i := range b.removals {
		if rm := &b.removals[i]; r.API == rm.op.api && r.Operation == rm.op.id && r.Method == rm.op.method &&
			!r.Time.Before(rm.from) && r.Time.Before(rm.to) && r.Status < 400 {
			r.Status, r.ResponseBytes = 404, int64(between(a.r, 120, 180))
		}
	}
	b.keys = appendKeys(b.keys[:0], &r)
	for _, k := range b.keys {
		if a.atk >= 0 && (slices.Contains(b.attackers[a.atk].Keys, k) || b.victims[a.atk][k]) {
			continue
		}
		if a.pop == "" {
			panic(fmt.Sprintf("trafficsim: attacker %d uses key %v it does not own", a.atk, k))
		}
		b.addBenign(k, a.pop)
	}
	b.recs = append(b.recs, r)
	b.origin = append(b.origin, a.atk)
}

func (b *builder) addBenign(k Key, p Population) {
	old, ok := b.benign[k]
	switch {
	case !ok:
		b.benign[k] = p
	case old == p:
	default:
		parts := strings.Split(string(old), "+")
		if !slices.Contains(parts, string(p)) {
			parts = append(parts, string(p))
			slices.Sort(parts)
			b.benign[k] = Population(strings.Join(parts, "+"))
		}
	}
}

// finish sorts the records by event time and settles the labels.
func (b *builder) finish() *Scenario {
	idx := make([]int32, len(b.recs))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortStableFunc(idx, func(i, j int32) int { return b.recs[i].Time.Compare(b.recs[j].Time) })
	s := &Scenario{
		Seed: b.seed, Config: b.cfg, Start: b.start, End: b.end,
		Records:   make([]traffic.Record, len(b.recs)),
		origin:    make([]int32, len(b.recs)),
		Attackers: b.attackers,
		Benign:    b.benign,
		Proxies:   b.trust.Proxies,
		Incidents: b.incidents,
	}
	for i, j := range idx {
		s.Records[i], s.origin[i] = b.recs[j], b.origin[j]
	}
	// A known client's keys carry ordinary traffic too; they are the attacker's. A
	// victim's identity is a victim's, even when an ordinary user has it.
	for i := range s.Attackers {
		at := &s.Attackers[i]
		for _, k := range at.Keys {
			delete(s.Benign, k)
		}
		for k := range b.victims[i] {
			delete(s.Benign, k)
			at.Victims = append(at.Victims, k)
		}
		slices.SortFunc(at.Victims, compareKeys)
	}
	slices.SortStableFunc(s.Incidents, func(x, y Incident) int { return x.Start.Compare(y.Start) })
	return s
}

func compareKeys(x, y Key) int {
	if c := strings.Compare(string(x.Type), string(y.Type)); c != 0 {
		return c
	}
	return strings.Compare(x.Value, y.Value)
}

func ipKey(a netip.Addr) Key { return Key{vocab.KeyIP, a.String()} }

// addrPool hands out distinct client addresses: IPv4 from the benchmarking range
// 198.18.0.0/15 and IPv6 from the documentation prefix, so that no real address
// appears; crawlers get addresses in their operators' published ranges.
type addrPool struct {
	r    *rand.Rand
	used map[netip.Addr]bool
}

var (
	clientV4 = netip.MustParsePrefix("198.18.0.0/15")
	clientV6 = netip.MustParsePrefix("2001:db8::/32")
)

// client returns a fresh address, IPv6 one time in seven.
func (p *addrPool) client() netip.Addr {
	if p.r.IntN(7) == 0 {
		return p.in(clientV6)
	}
	return p.in(clientV4)
}

func (p *addrPool) in(prefix netip.Prefix) netip.Addr {
	base := prefix.Addr().AsSlice()
	for {
		a := make([]byte, len(base))
		copy(a, base)
		for i := prefix.Bits(); i < len(a)*8; i++ {
			if p.r.IntN(2) == 1 {
				a[i/8] |= 0x80 >> (i % 8)
			}
		}
		addr, _ := netip.AddrFromSlice(a)
		if last := a[len(a)-1]; last == 0 || last == 255 && addr.Is4() || p.used[addr] {
			continue
		}
		p.used[addr] = true
		return addr
	}
}

// removal is an endpoint a deploy took away for a while: it answers 404.
type removal struct {
	op       *op
	from, to time.Time
}

// deploys remove one or two endpoints the clients still call, for 5 to 20 minutes:
// every client that calls them in that time gets 404s, some in bursts (a list page
// fetches one per row).
func (b *builder) deploys() {
	r := newRand(b.seed, "deploys", 0)
	s := b.site
	for range b.vary(b.cfg.Deploys) {
		from := anyTime(r, b.start.Add(10*time.Minute), b.end.Add(-25*time.Minute))
		to := from.Add(durBetween(r, 5*time.Minute, 20*time.Minute))
		cands := []*op{s.recommendations, s.productReviews, s.orderItems, s.categoriesOp}
		r.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
		var names []string
		for _, o := range cands[:between(r, 1, 2)] {
			b.removals = append(b.removals, removal{o, from, to})
			names = append(names, o.method+" "+o.tmpl)
		}
		b.incidents = append(b.incidents, Incident{Kind: "deploy", Start: from, End: to,
			Detail: "a deploy removed " + strings.Join(names, " and ") + ": callers get 404 until it is rolled back"})
	}
}
