package trafficsim

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"time"
)

// Ordinary populations. Each is written from how such clients behave, not tuned to
// any detector: SPAs fetch one object per row of a list, apps log in when opened,
// tokens expire, deploys break endpoints, crawlers follow dead links.

// accessLifetime is how long an access token lives.
const accessLifetime = time.Hour

// token is a client's sign-in state.
type token struct {
	signedIn bool      // holds a refresh token (a session)
	expires  time.Time // its access token's expiry
}

// login POSTs credentials at t (mistyped now and then: 401, then a retry some
// seconds later) and returns when the client holds a token.
func (a *actor) login(t time.Time, o *op, path string) time.Time {
	for tries := 0; ; tries++ {
		r := a.req(t, o, path, "")
		if tries < 3 && chance(a.r, []float64{0.04, 0.25, 0.3}[tries]) {
			a.emit(a.fail(r, 401))
			t = t.Add(durBetween(a.r, 4*time.Second, 25*time.Second))
			continue
		}
		a.emit(r)
		return t.Add(r.Latency)
	}
}

// authed emits o at t for a signed-in client. An expired access token gets a 401
// first; the client refreshes it and retries (the odd 401 of an ordinary client).
func (a *actor) authed(t time.Time, tok *token, refresh *op, refreshPath string, o *op, path, query string) time.Time {
	if !t.Before(tok.expires) {
		a.emit(a.fail(a.req(t, o, path, query), 401))
		t = t.Add(durBetween(a.r, 20*time.Millisecond, 300*time.Millisecond))
		a.emit(a.req(t, refresh, refreshPath, ""))
		tok.expires = t.Add(accessLifetime)
		t = t.Add(durBetween(a.r, 30*time.Millisecond, 200*time.Millisecond))
	}
	a.call(t, o, path, query)
	return t
}

// spa is a single-page application session from t, of a signed-in user (tok set) or
// an anonymous visitor (tok nil). A list page is followed by one GET per row.
func (a *actor) spa(t time.Time, tok *token, orders []int) {
	s := a.b.site
	get := func(t time.Time, o *op, path, query string) time.Time {
		if tok == nil {
			a.call(t, o, path, query)
			return t
		}
		return a.authed(t, tok, s.refresh, s.refreshPath, o, path, query)
	}
	if tok != nil {
		if !tok.signedIn {
			t = a.login(t, s.login, s.loginPath)
			tok.signedIn, tok.expires = true, t.Add(accessLifetime)
		}
		t = get(t, s.me, "/api/v1/me", "")
	}
	t = get(t.Add(durBetween(a.r, 50*time.Millisecond, 400*time.Millisecond)), s.categoriesOp, "/api/v1/categories", "")
	weights := []float64{0.22, 0.28, 0.16, 0.05, 0.12, 0.08, 0.03, 0.012, 0.02}
	if tok == nil {
		weights = weights[:4]
	}
	for range 1 + min(poisson(a.r, 2), 20) {
		t = t.Add(logDur(a.r, 45*time.Second, 1.0, 10*time.Minute))
		if !t.Before(a.b.end) {
			return
		}
		switch weighted(a.r, weights) {
		case 0: // a product list, its rows, maybe the next pages
			first := a.r.IntN(len(s.products))
			sort := pick(a.r, []string{"popular", "price", "newest"})
			for page := 1; ; page++ {
				q := fmt.Sprintf("page=%d&pageSize=%d&sort=%s", page, s.pageSize, sort)
				t = get(t, s.listProducts, "/api/v1/products", q)
				for i := range between(a.r, s.pageSize*4/5, s.pageSize) * s.perRow {
					id := s.products[(first+(page-1)*s.pageSize+i)%len(s.products)]
					a.call(t.Add(time.Duration(between(a.r, 30, 60*(i+1)))*time.Millisecond), s.getProduct, s.productPath(id), "")
				}
				if !chance(a.r, 0.15) {
					break
				}
				t = t.Add(logDur(a.r, 20*time.Second, 0.8, 3*time.Minute))
			}
		case 1: // a product page: the product, its reviews, recommendations
			id := pick(a.r, s.products)
			t = get(t, s.getProduct, s.productPath(id), "")
			a.call(t.Add(40*time.Millisecond), s.productReviews, s.productPath(id)+"/reviews", "page=1")
			a.call(t.Add(70*time.Millisecond), s.recommendations, s.productPath(id)+"/recommendations", "")
		case 2:
			t = get(t, s.search, "/api/v1/search", "q="+pick(a.r, nouns)+"&page=1")
		case 3:
			t = get(t, s.listProducts, "/api/v1/products", "category="+pick(a.r, s.categories)+"&page=1&pageSize=25")
		case 4: // the order list and a line per order
			t = get(t, s.listOrders, "/api/v1/orders", "page=1&status="+pick(a.r, []string{"open", "all", "shipped"}))
			for i, id := range orders[:min(len(orders), between(a.r, 3, 20))] {
				a.call(t.Add(time.Duration(30+40*i)*time.Millisecond), s.getOrder, s.orderPath(id), "")
			}
		case 5:
			id := pick(a.r, orders)
			t = get(t, s.getOrder, s.orderPath(id), "")
			a.call(t.Add(50*time.Millisecond), s.orderItems, s.orderPath(id)+"/items", "")
		case 6:
			t = get(t, s.createOrder, "/api/v1/orders", "")
		case 7: // a report export, at its usual size
			t = get(t, s.exportReport, "/api/v1/reports/"+strconv.Itoa(pick(a.r, s.reports))+"/export", "format=csv")
		case 8:
			t = get(t, s.invoicePDF, "/api/v1/invoices/"+strconv.Itoa(pick(a.r, orders))+"/pdf", "")
		}
	}
	if tok != nil && chance(a.r, 0.1) {
		a.call(t.Add(logDur(a.r, 10*time.Second, 1, time.Minute)), s.logout, "/api/v1/auth/logout", "")
		tok.signedIn = false
	}
}

// sessions draws the start times of n sessions over the scenario (some already
// under way when it starts).
func (a *actor) sessions(n int) []time.Time {
	ts := make([]time.Time, n)
	for i := range ts {
		ts[i] = anyTime(a.r, a.b.start.Add(-10*time.Minute), a.b.end)
	}
	slices.SortFunc(ts, time.Time.Compare)
	return ts
}

// initialToken: most users hold a session from earlier, its access token expiring
// some time in the first hour.
func (a *actor) initialToken(p float64) *token {
	tok := &token{}
	if chance(a.r, p) {
		tok.signedIn = true
		tok.expires = a.b.start.Add(durBetween(a.r, -10*time.Minute, accessLifetime))
	}
	return tok
}

func (a *actor) orderIDs() []int {
	ids := make([]int, between(a.r, 3, 40))
	for i := range ids {
		ids[i] = between(a.r, 1_000_000, 9_999_999)
	}
	return ids
}

// clientCount is Clients varied for the seed, split by the mix.
func (b *builder) mixCount(w float64) int {
	m := b.cfg.Mix
	total := m.Browser + m.Anonymous + m.Mobile + m.Machine
	if total == 0 || w == 0 {
		return 0
	}
	return b.vary(int(float64(b.cfg.Clients)*w/total + 0.5))
}

// browsers: signed-in SPA users (the portal's subscription, their own user) and
// anonymous visitors of the catalogue (an open product: no subscription).
func (b *builder) browsers() {
	for i := range b.mixCount(b.cfg.Mix.Browser) {
		a := b.actor(PopBrowser, "browser", i)
		a.addr, a.ua, a.sub = b.addrs.client(), browserUA(a.r), b.portalSub
		a.user = b.names.next(a.r, pick(a.r, mailDomains))
		tok, orders := a.initialToken(0.6), a.orderIDs()
		for _, t := range a.sessions(1 + poisson(a.r, b.scale(logUniform(a.r, 0.2, 3)))) {
			a.spa(t, tok, orders)
		}
	}
	for i := range b.mixCount(b.cfg.Mix.Anonymous) {
		a := b.actor(PopAnonymous, "anonymous", i)
		a.addr, a.ua = b.addrs.client(), browserUA(a.r)
		for _, t := range a.sessions(1 + poisson(a.r, b.scale(0.5))) {
			a.spa(t, nil, nil)
		}
	}
}

// mobiles: app users. The app logs in (or refreshes at the token endpoint) when
// opened with an expired session, and a few app versions log in on every opening.
// Some users share a carrier's NAT address.
func (b *builder) mobiles() {
	n := b.mixCount(b.cfg.Mix.Mobile)
	s := b.site
	app := pick(b.r, []string{"ShopApp", "Go" + s.org, s.org + "-mobile"})
	var carriers []netip.Addr
	for range max(1, n/60) {
		carriers = append(carriers, b.addrs.client())
	}
	loginOp, loginPath, refreshOp, refreshPath := s.login, s.loginPath, s.refresh, s.refreshPath
	if s.mobileOAuth {
		loginOp, loginPath, refreshOp, refreshPath = s.token, s.tokenPath, s.token, s.tokenPath
	}
	for i := range n {
		a := b.actor(PopMobile, "mobile", i)
		a.ua, a.sub = mobileAppUA(a.r, app), b.mobileSub
		a.user = b.names.next(a.r, pick(a.r, mailDomains))
		a.addr = b.addrs.client()
		if chance(a.r, 0.2) {
			a.addr = pick(a.r, carriers)
			b.addBenign(ipKey(a.addr), PopCarrier)
		}
		eager := chance(a.r, 0.08) // logs in on every opening
		opens := 1 + poisson(a.r, b.scale(logUniform(a.r, 1, 10)))
		if eager {
			opens = 1 + poisson(a.r, b.scale(logUniform(a.r, 10, 30)))
		}
		tok, orders := a.initialToken(0.85), a.orderIDs()
		var t time.Time
		for k, open := range a.sessions(opens) {
			// An eager app is used in bursts: opened again a few minutes later.
			if eager && k > 0 && chance(a.r, 0.6) {
				open = t.Add(durBetween(a.r, time.Minute, 6*time.Minute))
			}
			t = open
			if eager || !tok.signedIn {
				t = a.login(t, loginOp, loginPath)
				tok.signedIn, tok.expires = true, t.Add(accessLifetime)
			}
			for range between(a.r, 2, 15) {
				t = t.Add(logDur(a.r, 4*time.Second, 1.0, time.Minute))
				o, path, query := a.mobileCall(orders)
				t = a.authed(t, tok, refreshOp, refreshPath, o, path, query)
			}
		}
	}
}

func (a *actor) mobileCall(orders []int) (*op, string, string) {
	s := a.b.site
	switch a.r.IntN(8) {
	case 0:
		return s.me, "/api/v1/me", ""
	case 1, 2:
		return s.listProducts, "/api/v1/products", "page=1&pageSize=50&category=" + pick(a.r, s.categories)
	case 3:
		return s.getProduct, s.productPath(pick(a.r, s.products)), ""
	case 4:
		return s.recommendations, s.productPath(pick(a.r, s.products)) + "/recommendations", ""
	case 5:
		return s.listOrders, "/api/v1/orders", "page=1"
	case 6:
		return s.getOrder, s.orderPath(pick(a.r, orders)), ""
	default:
		return s.search, "/api/v1/search", "q=" + pick(a.r, nouns)
	}
}

// machine is a service client: its own subscription, an OAuth token every few
// minutes (a few cache it for a minute only), and a steady trickle of calls.
type machine struct {
	a      *actor
	per5m  float64 // calls per five minutes
	period time.Duration
}

func (m *machine) callAt(t time.Time) {
	a, s := m.a, m.a.b.site
	switch a.r.IntN(4) {
	case 0:
		a.call(t, s.listInventory, "/api/v1/inventory", "page="+strconv.Itoa(between(a.r, 1, 20)))
	case 1:
		a.call(t, s.putInventory, "/api/v1/inventory/"+strconv.Itoa(pick(a.r, s.products)), "")
	case 2:
		a.call(t, s.postEvents, "/api/v1/webhooks/events", "")
	default:
		a.call(t, s.listOrders, "/api/v1/orders", "status=new&page=1")
	}
}

func (b *builder) machineClients() {
	s := b.site
	for i := range b.mixCount(b.cfg.Mix.Machine) {
		a := b.actor(PopMachine, "machine", i)
		a.addr, a.ua, a.sub, a.user = b.addrs.client(), pick(a.r, machineUAs), hexID(a.r, 32), uuid(a.r)
		m := &machine{a: a, per5m: logUniform(a.r, 5, 80), period: durBetween(a.r, 4*time.Minute, 15*time.Minute)}
		if chance(a.r, 0.12) {
			m.period = durBetween(a.r, 45*time.Second, 2*time.Minute)
		}
		b.machines = append(b.machines, m)
		// A rotated secret the client has not picked up yet: its token requests fail
		// for a minute or two.
		var badFrom, badTo time.Time
		if chance(a.r, 0.03) {
			badFrom = anyTime(a.r, b.start, b.end)
			badTo = badFrom.Add(durBetween(a.r, time.Minute, 3*time.Minute))
		}
		next := b.start.Add(-durBetween(a.r, 0, m.period))
		gap := 5 * time.Minute / time.Duration(m.per5m)
		for t := next; t.Before(b.end); t = t.Add(expDur(a.r, gap)) {
			for !t.Before(next) {
				r := a.req(next, s.token, s.tokenPath, "")
				if !next.Before(badFrom) && next.Before(badTo) {
					a.emit(a.fail(r, 401))
					next = next.Add(durBetween(a.r, 10*time.Second, 30*time.Second))
					continue
				}
				a.emit(r)
				next = next.Add(m.period)
			}
			m.callAt(t)
		}
	}
}

// office is the corporate NAT: hundreds of signed-in users (team subscriptions,
// their own user ids) behind one or two addresses.
type office struct {
	egress []netip.Addr
	users  []*actor
}

func (b *builder) corporateNAT() {
	n := b.vary(b.cfg.NATUsers)
	if n == 0 {
		return
	}
	r := newRand(b.seed, "office", 0)
	o := &office{egress: []netip.Addr{b.addrs.client()}}
	if chance(r, 0.3) {
		o.egress = append(o.egress, b.addrs.client())
	}
	b.nat = o
	domain := "corp." + b.site.org + ".example"
	teams := make([]string, max(1, n/40))
	for i := range teams {
		teams[i] = hexID(r, 32)
	}
	chrome := between(r, 124, 134) // a managed fleet is on one or two versions
	toks := make([]*token, n)
	orders := make([][]int, n)
	for i := range n {
		a := b.actor(PopCorporateNAT, "office", i)
		a.addr, a.sub = pick(a.r, o.egress), pick(a.r, teams)
		a.user, a.ua = b.names.next(a.r, domain), officeUA(a.r, chrome-a.r.IntN(2))
		o.users = append(o.users, a)
		toks[i], orders[i] = a.initialToken(0.8), a.orderIDs()
		for _, t := range a.sessions(1 + poisson(a.r, b.scale(logUniform(a.r, 0.5, 4)))) {
			if chance(a.r, 0.05) { // browsing the public catalogue without signing in
				anon := *a
				anon.sub, anon.user = "", ""
				anon.spa(t, nil, nil)
				continue
			}
			a.spa(t, toks[i], orders[i])
			if chance(a.r, 0.2) { // back-office work: looking customers up, a page at a time
				at := t.Add(logDur(a.r, time.Minute, 1, 10*time.Minute))
				for page := range between(a.r, 1, 3) {
					a.call(at.Add(time.Duration(page)*durBetween(a.r, 5*time.Second, 40*time.Second)), b.site.listCustomers,
						"/api/v1/customers", fmt.Sprintf("page=%d&pageSize=25", page+1))
				}
			}
		}
	}
	// A wave of expired tokens: the office's sessions were all opened at the start
	// of the shift, so many expire within minutes; each user gets a 401, refreshes
	// and goes on.
	at := anyTime(r, b.start.Add(15*time.Minute), b.end.Add(-15*time.Minute))
	k := min(n, between(r, 20, 60))
	for _, i := range r.Perm(n)[:k] {
		a := o.users[i]
		t := at.Add(durBetween(a.r, 0, 3*time.Minute))
		toks[i].signedIn, toks[i].expires = true, t
		a.spa(t, toks[i], orders[i])
	}
	b.incidents = append(b.incidents, Incident{Kind: "token_expiry_wave", Start: at, End: at.Add(3 * time.Minute),
		Detail: fmt.Sprintf("%d users behind the corporate NAT get a 401 on an expired token, refresh and go on", k)})
}

// forwardProxy: anonymous visitors behind one untrusted proxy (a school, a hotel),
// which adds their private address to X-Forwarded-For; the gateway sees the proxy.
func (b *builder) forwardProxy() {
	n := b.vary(b.cfg.ProxyUsers)
	if n == 0 {
		return
	}
	proxy := b.addrs.client()
	for i := range n {
		a := b.actor(PopForwardProxy, "forward-proxy", i)
		a.addr, a.ua = proxy, browserUA(a.r)
		a.fwd = fmt.Sprintf("10.20.%d.%d", between(a.r, 0, 255), between(a.r, 1, 254))
		for _, t := range a.sessions(1 + poisson(a.r, b.scale(1))) {
			a.spa(t, nil, nil)
		}
	}
}

type crawlerKind struct {
	name     string
	ua       []string
	prefix   string // the operator's published range, "" for the pool
	addrs    int    // most addresses it crawls from
	interval time.Duration
}

var crawlerKinds = []crawlerKind{
	{"Googlebot", []string{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		"Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.204 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"},
		"66.249.64.0/20", 4, 3 * time.Second},
	{"bingbot", []string{"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"}, "40.77.167.0/24", 3, 6 * time.Second},
	{"AhrefsBot", []string{"Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)"}, "", 1, 2 * time.Second},
	{"YandexBot", []string{"Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)"}, "", 2, 8 * time.Second},
	{"Applebot", []string{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)"}, "", 2, 10 * time.Second},
}

// crawlers walk the website and the blog: robots.txt first and again now and then,
// the sitemaps, many distinct pages, dead links (404), conditional GETs (304), and
// one large download (the catalogue PDF).
func (b *builder) crawlers() {
	n := min(b.vary(b.cfg.Crawlers), len(crawlerKinds))
	if n == 0 {
		return
	}
	s := b.site
	r := newRand(b.seed, "crawlers", 0)
	kinds := append([]crawlerKind(nil), crawlerKinds[1:]...)
	r.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	kinds = append([]crawlerKind{crawlerKinds[0]}, kinds...)[:n]
	for ci, k := range kinds {
		cr := newRand(b.seed, "crawler", ci)
		var addrs []netip.Addr
		for range between(cr, 1, k.addrs) {
			if k.prefix != "" {
				addrs = append(addrs, b.addrs.in(netip.MustParsePrefix(k.prefix)))
			} else {
				addrs = append(addrs, b.addrs.client())
			}
		}
		dead := make([]string, between(cr, 20, 80))
		for i := range dead {
			dead[i] = pick(cr, []string{"/products/", "/promo/", "/c/", "/old/"}) + pick(cr, adjectives) + "-" +
				pick(cr, nouns) + "-" + strconv.Itoa(between(cr, 1, 2020))
		}
		download := anyTime(cr, b.start, b.end)
		for ai, addr := range addrs {
			a := b.actor(PopCrawler, "crawler-"+k.name, ai)
			a.addr, a.ua = addr, k.ua[0]
			interval := time.Duration(float64(k.interval) * logUniform(a.r, 0.7, 2))
			page := func(t time.Time, o *op, host, path string) {
				r := a.req(t, o, path, "")
				r.Host = host
				r.UserAgent = pick(a.r, k.ua)
				if chance(a.r, 0.1) { // If-Modified-Since: not modified
					r.Status, r.ResponseBytes = 304, 0
				}
				a.emit(r)
			}
			robots := b.start.Add(-durBetween(a.r, 0, 30*time.Minute))
			for t := b.start.Add(durBetween(a.r, 0, interval)); t.Before(b.end); t = t.Add(expDur(a.r, interval)) {
				if !t.Before(robots) {
					page(t, s.robots, s.wwwHost, "/robots.txt")
					robots = t.Add(durBetween(a.r, 20*time.Minute, 60*time.Minute))
					continue
				}
				if ai == 0 && !download.IsZero() && !t.Before(download) {
					page(t, s.download, s.wwwHost, "/downloads/"+s.org+"-catalogue-2026.pdf")
					download = time.Time{}
					continue
				}
				switch weighted(a.r, []float64{0.50, 0.10, 0.14, 0.02, 0.06, 0.05, 0.03, 0.04}) {
				case 0:
					page(t, s.page, s.wwwHost, s.productPage(a.r.IntN(len(s.products))))
				case 1:
					page(t, s.page, s.wwwHost, "/c/"+pick(a.r, s.categories))
				case 2:
					page(t, s.blogGet, s.blogHost, s.blogPrefix+pick(a.r, s.posts))
				case 3:
					page(t, s.page, s.wwwHost, "/")
				case 4:
					page(t, s.static, s.wwwHost, "/static/"+pick(a.r, []string{"js/app.4f1c9e.js", "css/site.8a2b77.css",
						"img/logo.svg", "js/vendor.19d0aa.js", "img/hero.webp"}))
				case 5: // a dead link
					r := a.fail(a.req(t, s.page, pick(a.r, dead), ""), 404)
					r.Host, r.ResponseBytes = s.wwwHost, int64(between(a.r, 9000, 14000))
					a.emit(r)
				case 6: // an old URL, redirected
					r := a.req(t, s.page, "/product.php", "id="+strconv.Itoa(pick(a.r, s.products)))
					r.Host, r.Status, r.ResponseBytes = s.wwwHost, 301, 0
					a.emit(r)
				default:
					page(t, s.robots, s.wwwHost, pick(a.r, []string{"/sitemap.xml", "/sitemap-products-1.xml",
						"/sitemap-products-2.xml", "/sitemap-blog.xml"}))
				}
			}
		}
	}
}

// integrations: partners syncing orders and stock at a steady heavy rate with their
// own subscription, pulling a bulk export every so often at its usual size.
func (b *builder) integrations() {
	s := b.site
	for i := range b.vary(b.cfg.Integrations) {
		a := b.actor(PopIntegration, "integration", i)
		a.addr, a.ua, a.sub, a.user = b.addrs.client(), pick(a.r, machineUAs), hexID(a.r, 32), uuid(a.r)
		gap := 5 * time.Minute / time.Duration(logUniform(a.r, 300, 1500))
		detail := uniform(a.r, 0, 0.3)
		bulk := logUniform(a.r, 0.7, 1.4)
		nextToken := b.start.Add(-durBetween(a.r, 0, 55*time.Minute))
		nextExport := b.start.Add(durBetween(a.r, 0, 30*time.Minute))
		exportEvery := durBetween(a.r, 15*time.Minute, 45*time.Minute)
		for t := b.start.Add(durBetween(a.r, 0, gap)); t.Before(b.end); t = t.Add(time.Duration(float64(gap) * uniform(a.r, 0.7, 1.3))) {
			switch {
			case !t.Before(nextToken):
				a.call(t, s.token, s.tokenPath, "")
				nextToken = t.Add(55 * time.Minute)
			case !t.Before(nextExport):
				r := a.req(t, s.bulkExport, "/api/v1/exports/orders", "since="+t.Add(-exportEvery).Format("2006-01-02T15:04:05Z")+"&format=ndjson")
				r.ResponseBytes = int64(float64(r.ResponseBytes) * bulk)
				a.emit(r)
				nextExport = t.Add(exportEvery)
			case chance(a.r, detail):
				a.call(t, s.getOrder, s.orderPath(between(a.r, 1_000_000, 9_999_999)), "")
			case chance(a.r, 0.35):
				a.call(t, s.putInventory, "/api/v1/inventory/"+strconv.Itoa(pick(a.r, s.products)), "")
			default:
				a.call(t, s.listOrders, "/api/v1/orders", "updatedSince="+t.Add(-10*time.Minute).Format("2006-01-02T15:04:05Z")+
					"&page="+strconv.Itoa(between(a.r, 1, 8)))
			}
		}
	}
}

type monitorKind struct {
	name      string
	ua        string
	method    string
	path      string
	www       bool
	every     time.Duration
	locations int
}

var monitorKinds = []monitorKind{
	{"edge health probe", "Edge Health Probe", "HEAD", "/health", false, 30 * time.Second, 3},
	{"UptimeRobot", "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)", "GET", "/api/v1/status", false, time.Minute, 1},
	{"Pingdom", "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)", "GET", "/", true, time.Minute, 2},
	{"Application Insights", "Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; Trident/5.0; AppInsights)", "GET", "/health", false, 5 * time.Minute, 5},
	{"kube probe", "kube-probe/1.30", "GET", "/health", false, 30 * time.Second, 2},
}

// monitors probe a health endpoint every 30 s, a minute or five, from a few locations.
func (b *builder) monitors() {
	s := b.site
	n := min(b.vary(b.cfg.Monitors), len(monitorKinds))
	kinds := append([]monitorKind(nil), monitorKinds...)
	r := newRand(b.seed, "monitors", 0)
	r.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	for _, k := range kinds[:n] {
		for li := range between(r, 1, k.locations) {
			a := b.actor(PopMonitor, "monitor-"+k.name, li)
			a.addr, a.ua = b.addrs.client(), k.ua
			o, host := s.health, s.apiHost
			switch {
			case k.www:
				o, host = s.page, s.wwwHost
			case k.path == "/api/v1/status":
				o = s.status
			}
			for t := b.start.Add(durBetween(a.r, 0, k.every)); t.Before(b.end); t = t.Add(k.every + durBetween(a.r, -time.Second, time.Second)) {
				rec := a.req(t, o, k.path, "")
				rec.Method, rec.Host = k.method, host
				if k.method == "HEAD" {
					rec.ResponseBytes = 0
				}
				a.emit(rec)
			}
		}
	}
}

// blog is the WordPress section: readers, authors (a login answered 302 on success
// and 200 on a failure, then the editor's heartbeat every 15 to 60 seconds), and a
// service calling xmlrpc.php every few minutes.
func (b *builder) blog() {
	readers, authors := b.vary(b.cfg.BlogReaders), b.vary(b.cfg.BlogAuthors)
	if readers+authors == 0 {
		return
	}
	s := b.site
	p := s.blogPrefix
	for i := range readers {
		a := b.actor(PopBlogReader, "blog-reader", i)
		a.addr, a.ua = b.addrs.client(), browserUA(a.r)
		for _, t := range a.sessions(1 + poisson(a.r, b.scale(0.5))) {
			for range between(a.r, 1, 5) {
				path := p + pick(a.r, s.posts)
				switch a.r.IntN(8) {
				case 0:
					path = p + "/"
				case 1:
					path = p + "/feed/"
				}
				a.call(t, s.blogGet, path, "")
				t = t.Add(logDur(a.r, 40*time.Second, 1, 10*time.Minute))
			}
		}
	}
	for i := range authors {
		a := b.actor(PopBlogAuthor, "blog-author", i)
		a.addr, a.ua = b.addrs.client(), browserUA(a.r)
		if b.nat != nil && chance(a.r, 0.5) { // writing from the office
			a.addr, a.ua = pick(a.r, b.nat.egress), officeUA(a.r, 130)
		}
		for _, t := range a.sessions(1 + poisson(a.r, b.scale(0.7))) {
			a.call(t, s.blogGet, p+"/wp-login.php", "")
			for t = t.Add(durBetween(a.r, 5*time.Second, 20*time.Second)); chance(a.r, 0.1); t = t.Add(durBetween(a.r, 5*time.Second, 20*time.Second)) {
				r := a.req(t, s.blogPost, p+"/wp-login.php", "")
				r.ResponseBytes = int64(between(a.r, 5200, 5600)) // the form again, with an error
				a.emit(r)
			}
			r := a.req(t, s.blogPost, p+"/wp-login.php", "")
			r.Status, r.ResponseBytes = 302, 0
			a.emit(r)
			a.call(t.Add(time.Second), s.blogGet, p+"/wp-admin/", "")
			post := between(a.r, 10, 2000)
			a.call(t.Add(8*time.Second), s.blogGet, p+"/wp-admin/post.php", "post="+strconv.Itoa(post)+"&action=edit")
			beat := durBetween(a.r, 15*time.Second, 60*time.Second)
			until := t.Add(durBetween(a.r, 10*time.Minute, 60*time.Minute))
			for t = t.Add(beat); t.Before(until); t = t.Add(beat + durBetween(a.r, 0, time.Second)) {
				a.call(t, s.blogPost, p+"/wp-admin/admin-ajax.php", "")
				if chance(a.r, 0.15) {
					a.call(t.Add(200*time.Millisecond), s.blogPost, p+"/wp-json/wp/v2/posts/"+strconv.Itoa(post)+"/autosaves", "")
				}
			}
		}
	}
	if authors > 0 {
		a := b.actor(PopBlogService, "blog-service", 0)
		a.addr, a.ua = b.addrs.in(netip.MustParsePrefix("192.0.80.0/20")), "Jetpack by WordPress.com"
		every := durBetween(a.r, 2*time.Minute, 10*time.Minute)
		for t := b.start.Add(durBetween(a.r, 0, every)); t.Before(b.end); t = t.Add(expDur(a.r, every)) {
			a.call(t, s.blogPost, p+"/xmlrpc.php", "for=jetpack")
		}
	}
}
