package trafficsim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apiguard/apiguard/shared/traffic"
	"github.com/apiguard/apiguard/shared/vocab"
)

// plantAttackers draws the scenario's attackers (classes without replacement, by
// weight), gives each a span at a random time, and generates what each does.
func (b *builder) plantAttackers() {
	r := newRand(b.seed, "attackers", 0)
	classes := b.drawClasses(r, b.vary(b.cfg.Attackers))
	type plan struct {
		class Class
		start time.Time
		dur   time.Duration
	}
	plans := make([]plan, 0, len(classes))
	for _, c := range classes {
		dur := b.attackLength(r, c)
		earliest := b.start.Add(2 * time.Minute)
		if c == RateSpike { // after six windows of history
			earliest = b.start.Add(45 * time.Minute)
		}
		latest := b.end.Add(-dur - time.Minute)
		if latest.Before(earliest) {
			latest = earliest
		}
		plans = append(plans, plan{c, anyTime(r, earliest, latest).Truncate(time.Millisecond), dur})
	}
	slices.SortStableFunc(plans, func(x, y plan) int { return x.start.Compare(y.start) })
	b.attackers = make([]Attacker, len(plans))
	b.victims = make([]map[Key]bool, len(plans))
	for i, p := range plans {
		b.attackers[i] = Attacker{Class: p.class, Start: p.start, End: p.start.Add(p.dur)}
		b.victims[i] = map[Key]bool{}
		a := &actor{b: b, r: newRand(b.seed, "attacker", i), atk: int32(i), addr: b.addrs.client()}
		a.ua = pick(a.r, toolUAs)
		if chance(a.r, 0.5) {
			a.ua = browserUA(a.r)
		}
		a.owns(ipKey(a.addr))
		if chance(a.r, 0.15) { // a forged X-Forwarded-For, which attribution ignores
			a.fwd = pick(a.r, []string{"127.0.0.1", "10.0.0.1", "192.168.1.1", b.addrs.client().String()})
		}
		at := &b.attackers[i]
		switch p.class {
		case Flood:
			b.flood(a, at)
		case RateSpike:
			b.rateSpike(a, at)
		case PathProbing:
			b.pathProbing(a, at)
		case PayloadProbing:
			b.payloadProbing(a, at)
		case BruteForceJSON:
			b.bruteForceJSON(a, at)
		case BruteForceWordPress:
			b.bruteForceWordPress(a, at)
		case BruteForceApp:
			b.bruteForceApp(a, at)
		case CredentialStuffing:
			b.credentialStuffing(a, at)
		case Enumeration:
			b.enumeration(a, at)
		case Exfiltration:
			b.exfiltration(a, at)
		case CacheBusting:
			b.cacheBusting(a, at)
		case UARotation:
			b.uaRotation(a, at)
		case Malformed:
			b.malformed(a, at)
		}
	}
}

// drawClasses draws n classes by weight, without replacement until every eligible
// class has been drawn, then again from the full bag.
func (b *builder) drawClasses(r *rand.Rand, n int) []Class {
	var eligible []Class
	var weights []float64
	for _, c := range Classes() {
		w := b.cfg.Attacks[c]
		switch {
		case w <= 0:
			continue
		case c == RateSpike && len(b.machines) == 0:
			continue
		case c == BruteForceWordPress && !b.hasBlog():
			continue
		}
		eligible, weights = append(eligible, c), append(weights, w)
	}
	if len(eligible) == 0 {
		return nil
	}
	var out []Class
	bag := slices.Clone(weights)
	for len(out) < n {
		if slices.Max(bag) <= 0 {
			bag = slices.Clone(weights)
		}
		i := weighted(r, bag)
		if bag[i] <= 0 {
			continue
		}
		out = append(out, eligible[i])
		bag[i] = 0
	}
	return out
}

func (b *builder) hasBlog() bool { return b.cfg.BlogReaders+b.cfg.BlogAuthors > 0 }

// attackLength is how long an attack of class c lasts.
func (b *builder) attackLength(r *rand.Rand, c Class) time.Duration {
	d := map[Class][2]time.Duration{
		Flood:               {3 * time.Minute, 20 * time.Minute},
		RateSpike:           {5 * time.Minute, 15 * time.Minute},
		PathProbing:         {time.Minute, 40 * time.Minute},
		PayloadProbing:      {5 * time.Second, 10 * time.Minute},
		BruteForceJSON:      {3 * time.Minute, 40 * time.Minute},
		BruteForceWordPress: {3 * time.Minute, 40 * time.Minute},
		BruteForceApp:       {3 * time.Minute, 30 * time.Minute},
		CredentialStuffing:  {5 * time.Minute, 45 * time.Minute},
		Enumeration:         {2 * time.Minute, 30 * time.Minute},
		Exfiltration:        {45 * time.Minute, 58 * time.Minute},
		CacheBusting:        {10 * time.Second, 20 * time.Minute},
		UARotation:          {2 * time.Minute, 20 * time.Minute},
		Malformed:           {time.Second, 20 * time.Minute},
	}[c]
	return min(durBetween(r, d[0], d[1]), b.cfg.Duration-5*time.Minute)
}

// owns adds keys the attacker should be flagged for.
func (a *actor) owns(ks ...Key) {
	at := &a.b.attackers[a.atk]
	for _, k := range ks {
		if !slices.Contains(at.Keys, k) {
			at.Keys = append(at.Keys, k)
		}
	}
}

func (a *actor) victim(k Key) { a.b.victims[a.atk][k] = true }

// disown takes the address off the attacker's keys (it attacks from the NAT).
func (a *actor) disown(k Key) {
	at := &a.b.attackers[a.atk]
	at.Keys = slices.DeleteFunc(at.Keys, func(x Key) bool { return x == k })
}

// insider makes the attacker one of the office's users: keyed by its user only; the
// NAT address and its team subscription stay ordinary. False when there is no NAT.
func (a *actor) insider() bool {
	b := a.b
	if b.nat == nil || len(b.nat.users) == 0 {
		return false
	}
	u := pick(a.r, b.nat.users)
	a.disown(ipKey(a.addr))
	a.addr, a.sub, a.user, a.ua, a.fwd, a.pop = u.addr, u.sub, u.user, u.ua, "", PopCorporateNAT
	a.owns(Key{vocab.KeyUser, a.user})
	b.attackers[a.atk].Known = true
	return true
}

// account makes the attacker a signed-in customer of the portal (its own account,
// or one it took over): keyed by its address and user; the portal's subscription is
// everyone's.
func (a *actor) account() {
	a.sub, a.user, a.pop = a.b.portalSub, a.b.names.next(a.r, pick(a.r, mailDomains)), PopBrowser
	a.owns(Key{vocab.KeyUser, a.user})
}

// stolenSubscription: the attacker calls with a subscription key it should not have.
func (a *actor) stolenSubscription() {
	a.sub = hexID(a.r, 32)
	a.owns(Key{vocab.KeySubscription, a.sub})
}

// raw is a request for a path that may match no operation.
func (a *actor) raw(t time.Time, method, host, path, query string, status int, bytes int64) traffic.Record {
	s := a.b.site
	r := traffic.Record{
		Time: t, Method: method, Path: path, Query: query, Status: status, ResponseBytes: bytes,
		RequestBytes: int64(between(a.r, 180, 700)), Latency: time.Duration(between(a.r, 2, 60)) * time.Millisecond,
		Host: host, Subscription: a.sub, User: a.user,
	}
	switch {
	case host == s.blogHost && (s.blogPrefix == "" || strings.HasPrefix(path, s.blogPrefix+"/")):
		r.API, r.Operation = "blog", strings.ToLower(method)
	case host == s.wwwHost:
		r.API, r.Operation = "website", strings.ToLower(method)
	default:
		if o := s.byPath(method, path); o != nil {
			r.API, r.Operation = o.api, o.id
		}
	}
	return r
}

// errorBytes is the size of an error page: small JSON on the API, a page on the website.
func (a *actor) errorBytes(host string) int64 {
	if host == a.b.site.apiHost {
		return int64(between(a.r, 90, 260))
	}
	return int64(between(a.r, 9000, 14000))
}

// spread returns n times over [from, to), sorted.
func spread(r *rand.Rand, n int, from, to time.Time) []time.Time {
	ts := make([]time.Time, n)
	for i := range ts {
		ts[i] = anyTime(r, from, to)
	}
	slices.SortFunc(ts, time.Time.Compare)
	return ts
}

// paced returns up to n times from start, gap apart on average, before end.
func paced(r *rand.Rand, n int, start, end time.Time, gap time.Duration) []time.Time {
	var ts []time.Time
	for t := start; t.Before(end) && len(ts) < n; t = t.Add(time.Duration(float64(gap) * uniform(r, 0.5, 1.5))) {
		ts = append(ts, t)
	}
	return ts
}

func (b *builder) flood(a *actor, at *Attacker) {
	s := b.site
	who := "anonymous"
	switch x := a.r.Float64(); {
	case x < 0.1 && a.insider():
		who = "an insider behind the corporate NAT"
	case x < 0.3:
		a.stolenSubscription()
		who = "with a stolen subscription key"
	}
	rps := logUniform(a.r, 1.5, 25)
	target := a.r.IntN(4)
	limit := 0
	if chance(a.r, 0.4) { // a rate-limit-by-key policy answers 429 beyond its allowance
		limit = between(a.r, 60, 300)
	}
	perMinute := map[time.Time]int{}
	n := 0
	for t := at.Start; t.Before(at.End); t = t.Add(expDur(a.r, time.Duration(float64(time.Second)/rps))) {
		var r traffic.Record
		switch target {
		case 0:
			r = a.req(t, s.listProducts, "/api/v1/products", "page="+strconv.Itoa(between(a.r, 1, 40))+"&pageSize=25")
		case 1:
			r = a.req(t, s.search, "/api/v1/search", "q="+pick(a.r, nouns)+"+"+pick(a.r, adjectives))
		case 2:
			r = a.req(t, s.page, "/", "")
		default:
			r = a.req(t, s.getProduct, s.productPath(pick(a.r, s.products)), "")
		}
		if limit > 0 {
			m := t.Truncate(time.Minute)
			if perMinute[m]++; perMinute[m] > limit {
				r = a.fail(r, 429)
			}
		}
		a.emit(r)
		n++
	}
	at.Note = fmt.Sprintf("%s, %.1f requests/s for %v (%d requests)", who, rps, at.End.Sub(at.Start).Round(time.Second), n)
	if limit > 0 {
		at.Note += fmt.Sprintf(", 429 beyond %d a minute", limit)
	}
}

// rateSpike: a known machine client suddenly calls tens of times its usual rate.
func (b *builder) rateSpike(a *actor, at *Attacker) {
	m := pick(a.r, b.machines)
	a.disown(ipKey(a.addr))
	a.addr, a.sub, a.user, a.ua, a.fwd = m.a.addr, m.a.sub, m.a.user, m.a.ua, ""
	a.owns(ipKey(a.addr), Key{vocab.KeySubscription, a.sub}, Key{vocab.KeyUser, a.user})
	at.Known = true
	mult := logUniform(a.r, 15, 50)
	rate := max(m.per5m*mult, 60)
	gap := time.Duration(float64(5*time.Minute) / rate)
	spike := &machine{a: a, per5m: rate, period: m.period}
	for t := at.Start; t.Before(at.End); t = t.Add(expDur(a.r, gap)) {
		spike.callAt(t)
	}
	at.Note = fmt.Sprintf("machine client usually at %.0f calls per 5 min goes to %.0f (×%.0f) for %v",
		m.per5m, rate, rate/m.per5m, at.End.Sub(at.Start).Round(time.Second))
}

func (b *builder) pathProbing(a *actor, at *Attacker) {
	s := b.site
	fast := chance(a.r, 0.7)
	n := between(a.r, 30, 150)
	gap := at.End.Sub(at.Start) / time.Duration(n)
	if fast {
		n = between(a.r, 40, 600)
		gap = min(time.Duration(float64(time.Second)/logUniform(a.r, 2, 30)), at.End.Sub(at.Start)/time.Duration(n))
	}
	if chance(a.r, 0.6) {
		a.ua = pick(a.r, dirScannerUAs)
	}
	host := pick(a.r, []string{s.apiHost, s.wwwHost})
	prefix := ""
	if host == s.apiHost && chance(a.r, 0.3) {
		prefix = "/api"
	}
	paths := probePaths(a.r, n, prefix)
	ts := paced(a.r, n, at.Start, at.End, gap)
	for i, t := range ts {
		st := probeStatus(a.r, paths[i])
		bytes := a.errorBytes(host)
		if st == 301 {
			bytes = 0
		}
		a.emit(a.raw(t, "GET", host, paths[i], "", st, bytes))
	}
	at.Note = fmt.Sprintf("%d distinct paths on %s, one every %v", len(ts), host, gap.Round(time.Millisecond))
}

func (b *builder) payloadProbing(a *actor, at *Attacker) {
	s := b.site
	if chance(a.r, 0.5) {
		a.ua = pick(a.r, scannerUAs)
	}
	n := between(a.r, 4, 15)
	host := pick(a.r, []string{s.apiHost, s.wwwHost})
	var kinds []string
	seen := map[string]bool{}
	for i, t := range spread(a.r, n, at.Start, at.End) {
		p := payloadProbe(a.r)
		for seen[p.method+p.path+p.query] {
			p = payloadProbe(a.r)
		}
		seen[p.method+p.path+p.query] = true
		bytes := a.errorBytes(host)
		if p.status == 200 {
			bytes = int64(between(a.r, 5000, 40000))
		}
		r := a.raw(t, p.method, host, p.path, p.query, p.status, bytes)
		if i == 0 && chance(a.r, 0.15) {
			r.UserAgent = log4shellUA
		}
		a.emit(r)
		kinds = append(kinds, p.path)
	}
	at.Note = fmt.Sprintf("%d scanner requests on %s: %s", n, host, strings.Join(kinds, " "))
}

// loginTargets are the accounts a password guesser tries.
func (a *actor) loginTargets() []string {
	all := []string{"admin", "admin@" + a.b.site.org + ".example", "administrator", "test", "support@" + a.b.site.org + ".example",
		a.b.names.next(a.r, pick(a.r, mailDomains))}
	a.r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	return all[:between(a.r, 1, 3)]
}

// guessGap is the pace of a password guesser: mostly fast, sometimes low and slow.
func (a *actor) guessGap(span time.Duration, n int) time.Duration {
	gap := time.Duration(logUniform(a.r, 0.3, 20) * float64(time.Second))
	if chance(a.r, 0.2) {
		gap = time.Duration(logUniform(a.r, 90, 240) * float64(time.Second))
	}
	return min(gap, span/time.Duration(n))
}

func (b *builder) bruteForceJSON(a *actor, at *Attacker) {
	s := b.site
	targets := a.loginTargets()
	for _, u := range targets {
		a.victim(Key{vocab.KeyUser, u})
	}
	n := between(a.r, 15, 400)
	gap := a.guessGap(at.End.Sub(at.Start), n)
	ts := paced(a.r, n, at.Start, at.End, gap)
	won := chance(a.r, 0.1)
	for i, t := range ts {
		r := a.req(t, s.login, s.loginPath, "")
		r.User = targets[i%len(targets)]
		if won && i == len(ts)-1 {
			a.emit(r)
			me := a.req(t.Add(time.Second), s.me, "/api/v1/me", "")
			me.User = r.User
			a.emit(me)
			continue
		}
		a.emit(a.fail(r, 401))
	}
	at.Note = fmt.Sprintf("%d POST %s (401) one every %v against %s", len(ts), s.loginPath, gap.Round(time.Millisecond), strings.Join(targets, ", "))
	if won {
		at.Note += ", the last one succeeds"
	}
}

func (b *builder) bruteForceWordPress(a *actor, at *Attacker) {
	s := b.site
	p := s.blogPrefix
	t := at.Start
	if chance(a.r, 0.3) {
		a.ua = "WPScan v3.8.25 (https://wpscan.com/wordpress-security-scanner)"
	}
	if chance(a.r, 0.5) {
		a.emit(a.raw(t, "GET", s.blogHost, p+"/wp-login.php", "", 200, int64(between(a.r, 4800, 5200))))
		t = t.Add(time.Second)
	}
	if chance(a.r, 0.3) { // a look at the first few authors
		for id := range between(a.r, 2, 5) {
			st, bytes := 301, int64(0)
			if id >= b.cfg.BlogAuthors {
				st, bytes = 404, int64(between(a.r, 9000, 14000))
			}
			a.emit(a.raw(t, "GET", s.blogHost, p+"/", "author="+strconv.Itoa(id+1), st, bytes))
			t = t.Add(durBetween(a.r, 100*time.Millisecond, time.Second))
		}
	}
	xmlrpc := chance(a.r, 0.3)
	path := p + "/wp-login.php"
	if xmlrpc {
		path = p + "/xmlrpc.php"
	}
	n := between(a.r, 10, 500)
	gap := a.guessGap(at.End.Sub(t), n)
	ts := paced(a.r, n, t, at.End, gap)
	won := chance(a.r, 0.05)
	for i, t := range ts {
		bytes := int64(between(a.r, 5200, 5600)) // the login form again, with an error
		if xmlrpc {
			bytes = int64(between(a.r, 400, 700)) // a fault response
		}
		r := a.raw(t, "POST", s.blogHost, path, "", 200, bytes)
		if won && i == len(ts)-1 && !xmlrpc {
			r.Status, r.ResponseBytes = 302, 0
		}
		a.emit(r)
	}
	at.Note = fmt.Sprintf("%d POST %s answered 200 (failure) one every %v", len(ts), path, gap.Round(time.Millisecond))
}

// appLogins are other applications' login endpoints and how they answer a failure.
var appLogins = []struct {
	api, op, path string
	status        int
	lo, hi        int // bytes
}{
	{"apps", "login", "/apps/login", 401, 80, 120},
	{"ghost", "session", "/ghost/api/admin/session", 422, 200, 260},
	{"legacy-auth", "token", "/oauth/token", 400, 60, 90}, // invalid_grant (RFC 6749 §5.2)
}

func (b *builder) bruteForceApp(a *actor, at *Attacker) {
	s := b.site
	e := pick(a.r, appLogins)
	targets := a.loginTargets()
	for _, u := range targets {
		a.victim(Key{vocab.KeyUser, u})
	}
	n := between(a.r, 20, 300)
	gap := a.guessGap(at.End.Sub(at.Start), n)
	ts := paced(a.r, n, at.Start, at.End, gap)
	for i, t := range ts {
		r := a.raw(t, "POST", s.apiHost, e.path, "", e.status, int64(between(a.r, e.lo, e.hi)))
		r.API, r.Operation, r.User = e.api, e.op, targets[i%len(targets)]
		a.emit(r)
	}
	at.Note = fmt.Sprintf("%d POST %s (%d) one every %v against %s", len(ts), e.path, e.status, gap.Round(time.Millisecond), strings.Join(targets, ", "))
}

func (b *builder) credentialStuffing(a *actor, at *Attacker) {
	s := b.site
	actors := []*actor{a}
	if chance(a.r, 0.4) {
		for range between(a.r, 1, 5) {
			c := *a
			c.addr = b.addrs.client()
			c.owns(ipKey(c.addr))
			actors = append(actors, &c)
		}
	}
	uas := make([]string, between(a.r, 3, 10))
	for i := range uas {
		uas[i] = browserUA(a.r)
	}
	n := between(a.r, 40, 600)
	var attempts []string
	for range n {
		id := b.names.next(a.r, pick(a.r, mailDomains))
		a.victim(Key{vocab.KeyUser, id})
		attempts = append(attempts, id)
		if chance(a.r, 0.2) {
			attempts = append(attempts, id)
		}
	}
	a.r.Shuffle(len(attempts), func(i, j int) { attempts[i], attempts[j] = attempts[j], attempts[i] })
	hits := between(a.r, 0, 2)
	for i, t := range spread(a.r, len(attempts), at.Start, at.End) {
		c := actors[i%len(actors)]
		r := c.req(t, s.login, s.loginPath, "")
		r.User, r.UserAgent = attempts[i], pick(a.r, uas)
		if i%97 == 13 && hits > 0 { // the odd valid pair from the list
			hits--
			c.emit(r)
			me := c.req(t.Add(800*time.Millisecond), s.me, "/api/v1/me", "")
			me.User, me.UserAgent = r.User, r.UserAgent
			c.emit(me)
			continue
		}
		c.emit(c.fail(r, 401))
	}
	at.Note = fmt.Sprintf("%d identities (%d attempts) on POST %s from %d address(es)", n, len(attempts), s.loginPath, len(actors))
}

func (b *builder) enumeration(a *actor, at *Attacker) {
	s := b.site
	span := at.End.Sub(at.Start)
	variant := weighted(a.r, []float64{0.45, 0.35, 0.2})
	if variant == 2 && !b.hasBlog() {
		variant = 1
	}
	switch variant {
	case 0: // IDOR: a signed-in user walks other customers' objects
		if !(chance(a.r, 0.3) && a.insider()) {
			a.account()
		}
		o, base := s.getOrder, between(a.r, 1_000_000, 9_000_000)
		path := func(id int) string { return s.orderPath(id) }
		switch {
		case a.r.IntN(3) == 0 && !s.uuidCustomers:
			o, base = s.getCustomer, between(a.r, 100_000, 900_000)
			path = func(id int) string { return "/api/v1/customers/" + strconv.Itoa(id) }
		case a.r.IntN(2) == 0:
			o = s.invoicePDF
			path = func(id int) string { return "/api/v1/invoices/" + strconv.Itoa(id) + "/pdf" }
		}
		n := between(a.r, 60, 2000)
		gap := min(time.Duration(float64(time.Second)/logUniform(a.r, 0.3, 10)), span/time.Duration(n))
		if chance(a.r, 0.2) {
			gap = durBetween(a.r, 4*time.Second, 10*time.Second)
		}
		vulnerable := chance(a.r, 0.3)
		ts := paced(a.r, n, at.Start, at.End, gap)
		for i, t := range ts {
			id := base + i
			if chance(a.r, 0.3) {
				id = base + a.r.IntN(5*n)
			}
			r := a.req(t, o, path(id), "")
			switch {
			case vulnerable && chance(a.r, 0.7):
			case chance(a.r, 0.35):
				r = a.fail(r, 404)
			case vulnerable:
				r = a.fail(r, 404)
			default:
				r = a.fail(r, 403)
			}
			a.emit(r)
		}
		at.Note = fmt.Sprintf("%d ids of %s %s as %s, one every %v", len(ts), o.method, o.tmpl, a.user, gap.Round(time.Millisecond))
		if vulnerable {
			at.Note += " (the API answers them: an IDOR)"
		}
	case 1: // scraping the catalogue by id
		known := map[int]bool{}
		for _, id := range s.products {
			known[id] = true
		}
		n := between(a.r, 60, 2000)
		gap := min(time.Duration(float64(time.Second)/logUniform(a.r, 0.5, 10)), span/time.Duration(n))
		base := between(a.r, 10_000, 50_000)
		ts := paced(a.r, n, at.Start, at.End, gap)
		for i, t := range ts {
			r := a.req(t, s.getProduct, s.productPath(base+i), "")
			if !known[base+i] {
				r = a.fail(r, 404)
			}
			a.emit(r)
		}
		at.Note = fmt.Sprintf("%d product ids from %d, one every %v", len(ts), base, gap.Round(time.Millisecond))
	default: // WordPress authors, as WPScan walks them
		if chance(a.r, 0.5) {
			a.ua = "WPScan v3.8.25 (https://wpscan.com/wordpress-security-scanner)"
		}
		n := between(a.r, 6, 40)
		ts := paced(a.r, n, at.Start, at.End, durBetween(a.r, 100*time.Millisecond, 3*time.Second))
		for i, t := range ts {
			st, bytes := 301, int64(0)
			if i >= b.cfg.BlogAuthors+2 {
				st, bytes = 404, int64(between(a.r, 9000, 14000))
			}
			a.emit(a.raw(t, "GET", s.blogHost, s.blogPrefix+"/", "author="+strconv.Itoa(i+1), st, bytes))
		}
		at.Note = fmt.Sprintf("WordPress ?author=1..%d", len(ts))
	}
}

// exfiltration: a few dozen exports, each tens of times the operation's usual size,
// spread over most of an hour, so that no 5-minute window reaches 10 MiB.
func (b *builder) exfiltration(a *actor, at *Attacker) {
	s := b.site
	who := "a taken-over customer account"
	if chance(a.r, 0.5) && a.insider() {
		who = "an insider behind the corporate NAT"
	} else if a.user == "" {
		a.account()
	}
	o, path, query := s.exportReport, "", "format=csv&rows=all"
	if chance(a.r, 0.25) {
		o, path, query = s.listCustomers, "/api/v1/customers", "pageSize=5000&page="
	}
	const windowCap = 9.5 * (1 << 20)
	n := between(a.r, 24, 48)
	span := at.End.Sub(at.Start)
	type export struct {
		t    time.Time
		size float64
	}
	exports := make([]export, n)
	perWindow := map[time.Time]float64{}
	for i := range exports {
		slot := span / time.Duration(n)
		t := at.Start.Add(slot*time.Duration(i) + durBetween(a.r, 0, slot))
		exports[i] = export{t, o.median * uniform(a.r, 20, 60)}
		perWindow[t.Truncate(5*time.Minute)] += exports[i].size
	}
	var sizes []float64
	for i, e := range exports {
		if sum := perWindow[e.t.Truncate(5*time.Minute)]; sum > windowCap {
			e.size *= windowCap / sum
		}
		if e.size < 15*o.median {
			continue
		}
		var r traffic.Record
		if o == s.listCustomers {
			r = a.req(e.t, o, path, query+strconv.Itoa(i+1))
		} else {
			r = a.req(e.t, o, "/api/v1/reports/"+strconv.Itoa(pick(a.r, s.reports))+"/export", query)
		}
		r.ResponseBytes = int64(e.size)
		r.Latency = o.latency(a.r, r.ResponseBytes)
		a.emit(r)
		sizes = append(sizes, e.size)
		// Between exports it looks around like anyone.
		if chance(a.r, 0.5) {
			a.call(e.t.Add(durBetween(a.r, 5*time.Second, 40*time.Second)), s.listOrders, "/api/v1/orders", "page=1")
		}
	}
	if len(sizes) == 0 {
		at.Note = who + ": no export fitted under the window cap"
		return
	}
	slices.Sort(sizes)
	at.Note = fmt.Sprintf("%s: %d exports of %s %s, %s to %s each (usual %s), over %v", who, len(sizes), o.method, o.tmpl,
		mib(sizes[0]), mib(sizes[len(sizes)-1]), mib(o.median), span.Round(time.Second))
}

func mib(v float64) string { return fmt.Sprintf("%.2f MiB", v/(1<<20)) }

func (b *builder) cacheBusting(a *actor, at *Attacker) {
	s := b.site
	var o *op
	var path, base string
	switch a.r.IntN(3) {
	case 0:
		o, path = s.page, "/"
	case 1:
		o, path, base = s.listProducts, "/api/v1/products", "page=1&pageSize=25&"
	default:
		o, path = s.getProduct, s.productPath(pick(a.r, s.products))
	}
	style := a.r.IntN(4)
	bursts := between(a.r, 1, 12)
	span := at.End.Sub(at.Start)
	gap := min(durBetween(a.r, 5*time.Second, 3*time.Minute), span/time.Duration(bursts))
	total, done := 0, 0
	for k, t := 0, at.Start; k < bursts; k, t = k+1, t.Add(gap) {
		// Only whole bursts: one cut by the end of the attack would be a handful.
		width := durBetween(a.r, time.Second, 2*time.Second)
		if t.Add(width).After(at.End) {
			break
		}
		n := between(a.r, 20, 80)
		done++
		for i := range n {
			ti := t.Add(width * time.Duration(i) / time.Duration(n))
			var q string
			switch style {
			case 0:
				q = "cb=" + strconv.FormatUint(a.r.Uint64()%1e10, 10)
			case 1:
				q = "_=" + strconv.FormatInt(ti.UnixMilli()+int64(i), 10)
			case 2:
				q = randomWord(a.r) + "=" + randomWord(a.r)
			default:
				q = "v=" + hexID(a.r, 8) + "&utm_source=" + randomWord(a.r)
			}
			r := a.req(ti, o, path, base+q)
			r.Latency += 150 * time.Millisecond // a cache miss goes to the origin
			a.emit(r)
			total++
		}
	}
	at.Note = fmt.Sprintf("%d bursts (%d requests) of distinct query strings on %s %s", done, total, o.method, path)
}

func randomWord(r *rand.Rand) string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, between(r, 4, 8))
	for i := range b {
		b[i] = letters[r.IntN(len(letters))]
	}
	return string(b)
}

// rotatingUA is a browser string with a full version number: nearly every draw differs.
func rotatingUA(r *rand.Rand) string {
	ua := browserUA(r)
	return strings.Replace(ua, ".0.0.0", fmt.Sprintf(".0.%d.%d", between(r, 1000, 7000), between(r, 0, 250)), 1)
}

func (b *builder) uaRotation(a *actor, at *Attacker) {
	s := b.site
	n := between(a.r, 50, 400)
	gap := at.End.Sub(at.Start) / time.Duration(n)
	ts := paced(a.r, n, at.Start, at.End, gap)
	bad := 0
	for _, t := range ts {
		var r traffic.Record
		switch x := a.r.IntN(10); {
		case x < 8:
			r = a.fail(a.req(t, s.createOrder, "/api/v1/orders", ""), 400)
			bad++
		case x < 9:
			r = a.fail(a.req(t, s.search, "/api/v1/search", "q=%00%ff%fe"), 400)
			bad++
		default:
			r = a.req(t, s.getProduct, s.productPath(pick(a.r, s.products)), "")
		}
		r.UserAgent = rotatingUA(a.r)
		a.emit(r)
	}
	at.Note = fmt.Sprintf("%d requests, %d answered 400, a new user agent on nearly each", len(ts), bad)
}

func (b *builder) malformed(a *actor, at *Attacker) {
	a.direct, a.ua, a.fwd = true, "", ""
	n := between(a.r, 3, 40)
	look := chance(a.r, 0.4) // then a look at the page, in the attack's last second
	last := at.End
	if look {
		last = at.End.Add(-time.Second)
	}
	for _, t := range spread(a.r, n, at.Start, last) {
		a.emit(traffic.Record{Time: t, Status: 400, ResponseBytes: 157, Malformed: true})
	}
	note := fmt.Sprintf("%d non-HTTP requests (TLS handshakes and other binary) answered 400", n)
	if look {
		a.ua = "Mozilla/5.0 zgrab/0.x"
		a.emit(a.raw(at.End.Add(-time.Second), "GET", b.site.wwwHost, "/", "", 200, int64(between(a.r, 30000, 45000))))
		note += ", then GET /"
	}
	at.Note = note
}

// byPath finds the operation of a fixed (template-free) path, for requests built by hand.
func (s *site) byPath(method, path string) *op {
	for _, o := range []*op{s.listProducts, s.categoriesOp, s.search, s.listOrders, s.createOrder, s.me,
		s.listCustomers, s.login, s.refresh, s.token, s.logout, s.health, s.status, s.listInventory, s.postEvents} {
		if o.tmpl == path && o.method == method {
			return o
		}
	}
	return nil
}
