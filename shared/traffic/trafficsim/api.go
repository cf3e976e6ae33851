package trafficsim

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// op is one operation of the simulated estate: the APIM API and operation ids, how
// large its answers are and how long it takes.
type op struct {
	api, id, method string
	tmpl            string // the APIM URL template, for people reading incidents
	host            string
	median, sigma   float64 // response bytes: heavy-tailed lognormal
	req             float64 // median request bytes (headers and body)
	ms              float64 // median latency in milliseconds
	ok              int     // status of a success
}

func (o *op) respBytes(r *rand.Rand) int64 {
	if o.median == 0 {
		return 0
	}
	return int64(max(1, heavy(r, o.median, o.sigma)))
}

func (o *op) reqBytes(r *rand.Rand) int64 { return int64(max(60, lognormal(r, o.req, 0.25))) }

// latency is whole milliseconds (what APIM logs), longer for large answers.
func (o *op) latency(r *rand.Rand, bytes int64) time.Duration {
	ms := lognormal(r, o.ms, 0.5) + float64(bytes)/20_000 // about 20 MB/s from the back end
	return time.Duration(max(1, int64(ms))) * time.Millisecond
}

// site is the estate of one scenario: an API on api.<org>.example, a website on www
// and a WordPress section, with the choices that vary per seed (endpoint spellings,
// id styles, the usual size of an export).
type site struct {
	org                        string
	apiHost, wwwHost, blogHost string
	blogPrefix                 string // "/blog" when WordPress lives under the website, "" on its own host
	loginPath                  string // the JSON login
	refreshPath                string
	tokenPath                  string // the OAuth token endpoint
	mobileOAuth                bool   // the mobile app logs in and refreshes at tokenPath
	productSlugs               bool   // website product pages are slugs (else numeric ids)
	uuidCustomers              bool   // customer ids are UUIDs (else numbers)
	pageSize                   int    // rows of the SPA's product list
	perRow                     int    // 1 when the SPA fetches each row of the list on its own, 0 when the list carries them
	exportMedian               float64
	bulkMedian                 float64
	products                   []int
	slugs                      []string
	categories                 []string
	posts                      []string // WordPress post paths, without the prefix
	reports                    []int

	listProducts, getProduct, productReviews, recommendations, categoriesOp, search *op
	listOrders, getOrder, orderItems, createOrder, updateOrder                      *op
	me, getCustomer, listCustomers                                                  *op
	exportReport, bulkExport, invoicePDF                                            *op
	login, refresh, token, logout                                                   *op
	health, status                                                                  *op
	listInventory, putInventory, postEvents                                         *op
	page, static, download, robots                                                  *op
	blogGet, blogPost                                                               *op
}

var orgs = []string{"contoso", "fabrikam", "northwind", "tailspin", "woodgrove", "wingtip", "litware", "adatum"}

func newSite(r *rand.Rand) *site {
	s := &site{org: pick(r, orgs)}
	s.apiHost = "api." + s.org + ".example"
	s.wwwHost = "www." + s.org + ".example"
	if chance(r, 0.5) {
		s.blogHost, s.blogPrefix = s.wwwHost, "/blog"
	} else {
		s.blogHost = "blog." + s.org + ".example"
	}
	s.loginPath = pick(r, []string{"/api/v1/auth/login", "/api/v1/auth/login", "/api/auth/login", "/api/v1/login"})
	s.refreshPath = "/api/v1/auth/refresh"
	s.tokenPath = pick(r, []string{"/oauth2/token", "/oauth2/v2.0/token", "/connect/token"})
	s.mobileOAuth = chance(r, 0.5)
	s.productSlugs = chance(r, 0.6)
	s.uuidCustomers = chance(r, 0.4)
	s.pageSize = pick(r, []int{12, 20, 24, 25})
	if chance(r, 0.7) {
		s.perRow = 1
	}
	s.exportMedian = logUniform(r, 30_000, 100_000)
	s.bulkMedian = logUniform(r, 1.5e6, 6e6)

	seen := map[int]bool{}
	slugSeen := map[string]bool{}
	for len(s.products) < between(r, 2000, 8000) {
		id := between(r, 10_000, 99_999)
		if seen[id] {
			continue
		}
		slug := pick(r, adjectives) + "-" + pick(r, nouns) + "-" + strconv.Itoa(between(r, 2, 999))
		if slugSeen[slug] {
			continue
		}
		seen[id], slugSeen[slug] = true, true
		s.products = append(s.products, id)
		s.slugs = append(s.slugs, slug)
	}
	s.categories = append([]string(nil), nouns[:between(r, 12, len(nouns))]...)
	for range between(r, 60, 200) {
		s.posts = append(s.posts, fmt.Sprintf("/%d/%02d/%s-%s/", between(r, 2019, 2026), between(r, 1, 12),
			pick(r, adjectives), pick(r, nouns)))
	}
	for range between(r, 20, 300) {
		s.reports = append(s.reports, between(r, 1, 9999))
	}

	api := func(name, id, method, tmpl string, median, sigma, req, ms float64, ok int) *op {
		return &op{api: name, id: id, method: method, tmpl: tmpl, host: s.apiHost, median: median, sigma: sigma, req: req, ms: ms, ok: ok}
	}
	s.listProducts = api("catalog", "list-products", "GET", "/api/v1/products", 9000, 0.35, 700, 45, 200)
	s.getProduct = api("catalog", "get-product", "GET", "/api/v1/products/{id}", 2200, 0.35, 650, 25, 200)
	s.productReviews = api("catalog", "list-product-reviews", "GET", "/api/v1/products/{id}/reviews", 3500, 0.6, 650, 35, 200)
	s.recommendations = api("catalog", "get-recommendations", "GET", "/api/v1/products/{id}/recommendations", 2800, 0.3, 650, 60, 200)
	s.categoriesOp = api("catalog", "list-categories", "GET", "/api/v1/categories", 3100, 0.05, 600, 15, 200)
	s.search = api("catalog", "search", "GET", "/api/v1/search", 7000, 0.5, 700, 90, 200)
	s.listOrders = api("orders", "list-orders", "GET", "/api/v1/orders", 6000, 0.5, 900, 70, 200)
	s.getOrder = api("orders", "get-order", "GET", "/api/v1/orders/{id}", 1800, 0.4, 900, 30, 200)
	s.orderItems = api("orders", "list-order-items", "GET", "/api/v1/orders/{id}/items", 2500, 0.5, 900, 35, 200)
	s.createOrder = api("orders", "create-order", "POST", "/api/v1/orders", 900, 0.2, 1800, 180, 201)
	s.updateOrder = api("orders", "update-order", "PATCH", "/api/v1/orders/{id}", 1000, 0.2, 1200, 90, 200)
	s.me = api("customers", "get-me", "GET", "/api/v1/me", 750, 0.15, 900, 12, 200)
	s.getCustomer = api("customers", "get-customer", "GET", "/api/v1/customers/{id}", 1300, 0.3, 900, 20, 200)
	s.listCustomers = api("customers", "list-customers", "GET", "/api/v1/customers", 12_000, 0.3, 900, 80, 200)
	s.exportReport = api("reports", "export-report", "GET", "/api/v1/reports/{id}/export", s.exportMedian, 0.5, 900, 600, 200)
	s.bulkExport = api("reports", "export-orders", "GET", "/api/v1/exports/orders", s.bulkMedian, 0.25, 900, 3000, 200)
	s.invoicePDF = api("reports", "get-invoice-pdf", "GET", "/api/v1/invoices/{id}/pdf", 60_000, 0.3, 900, 250, 200)
	s.login = api("identity", "login", "POST", s.loginPath, 1400, 0.1, 450, 150, 200)
	s.refresh = api("identity", "refresh", "POST", s.refreshPath, 1300, 0.1, 1300, 40, 200)
	s.token = api("identity", "token", "POST", s.tokenPath, 1500, 0.1, 600, 60, 200)
	s.logout = api("identity", "logout", "POST", "/api/v1/auth/logout", 0, 0, 900, 10, 204)
	s.health = api("platform", "health", "GET", "/health", 60, 0.05, 200, 3, 200)
	s.status = api("platform", "status", "GET", "/api/v1/status", 420, 0.05, 250, 8, 200)
	s.listInventory = api("inventory", "list-inventory", "GET", "/api/v1/inventory", 15_000, 0.4, 800, 90, 200)
	s.putInventory = api("inventory", "put-inventory", "PUT", "/api/v1/inventory/{id}", 400, 0.1, 350, 40, 200)
	s.postEvents = api("inventory", "post-events", "POST", "/api/v1/webhooks/events", 60, 0.1, 2000, 30, 202)
	// The website and the WordPress section sit behind wildcard operations.
	s.page = &op{api: "website", id: "get", method: "GET", host: s.wwwHost, median: 38_000, sigma: 0.45, req: 550, ms: 60, ok: 200}
	s.static = &op{api: "website", id: "get", method: "GET", host: s.wwwHost, median: 18_000, sigma: 1.0, req: 500, ms: 5, ok: 200}
	s.download = &op{api: "website", id: "get", method: "GET", host: s.wwwHost, median: 30 << 20, sigma: 0.2, req: 500, ms: 400, ok: 200}
	s.robots = &op{api: "website", id: "get", method: "GET", host: s.wwwHost, median: 700, sigma: 0.01, req: 300, ms: 2, ok: 200}
	s.blogGet = &op{api: "blog", id: "get", method: "GET", host: s.blogHost, median: 45_000, sigma: 0.4, req: 600, ms: 180, ok: 200}
	s.blogPost = &op{api: "blog", id: "post", method: "POST", host: s.blogHost, median: 300, sigma: 0.8, req: 900, ms: 250, ok: 200}
	return s
}

// Paths of the API, as clients spell them.
func (s *site) productPath(id int) string { return "/api/v1/products/" + strconv.Itoa(id) }
func (s *site) orderPath(id int) string   { return "/api/v1/orders/" + strconv.Itoa(id) }
func (s *site) customerPath(r *rand.Rand) string {
	if s.uuidCustomers {
		return "/api/v1/customers/" + uuid(r)
	}
	return "/api/v1/customers/" + strconv.Itoa(between(r, 100_000, 999_999))
}

// productPage is the website's page of product i of the catalogue.
func (s *site) productPage(i int) string {
	if s.productSlugs {
		return "/products/" + s.slugs[i]
	}
	return "/products/" + strconv.Itoa(s.products[i])
}

// Words for slugs, search terms, probe paths.
var (
	adjectives = []string{"blue", "red", "classic", "urban", "trail", "light", "compact", "wireless", "organic",
		"vintage", "smart", "heavy-duty", "waterproof", "slim", "deluxe", "eco", "pro", "mini", "bamboo", "steel"}
	nouns = []string{"jacket", "backpack", "lamp", "kettle", "headphones", "sneakers", "desk", "chair", "tent",
		"bottle", "watch", "charger", "blender", "camera", "keyboard", "mug", "scarf", "helmet", "drone", "speaker",
		"rug", "pan", "knife", "towel", "pillow"}
	firstNames = []string{"anna", "ben", "carla", "david", "elena", "farid", "grace", "hugo", "ines", "jonas",
		"kim", "leila", "marco", "nadia", "oscar", "priya", "quentin", "rosa", "sami", "tara", "ugo", "vera",
		"wei", "xavier", "yuki", "zoe", "amir", "bea", "chen", "dario", "emma", "felix", "gita", "hana", "ivan",
		"julia", "karl", "lucia", "mateo", "nora"}
	lastNames = []string{"smith", "garcia", "muller", "rossi", "dubois", "kowalski", "tanaka", "silva", "nguyen",
		"jensen", "haddad", "okafor", "novak", "peters", "costa", "ivanova", "larsen", "moreau", "sato", "weber",
		"khan", "ortiz", "berg", "fischer", "romano", "lopez", "singh", "kim", "bauer", "meyer"}
	mailDomains = []string{"mail.example", "inbox.example", "post.example", "webmail.example", "example.net"}
)

// people hands out distinct person-like identities.
type people struct{ seen map[string]bool }

func (p *people) next(r *rand.Rand, domain string) string {
	for i := 0; ; i++ {
		name := pick(r, firstNames) + "." + pick(r, lastNames)
		if i > 3 || chance(r, 0.5) {
			name += strconv.Itoa(between(r, 1, 999))
		}
		id := name + "@" + domain
		if !p.seen[id] {
			p.seen[id] = true
			return id
		}
	}
}
