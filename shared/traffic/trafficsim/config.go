package trafficsim

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Mix weighs the kinds of ordinary clients among Config.Clients.
type Mix struct {
	Browser   float64 `json:"browser"`   // signed-in SPA users
	Anonymous float64 `json:"anonymous"` // SPA visitors who never sign in
	Mobile    float64 `json:"mobile"`    // mobile app users
	Machine   float64 `json:"machine"`   // service clients fetching OAuth tokens
}

// Config sizes a scenario. Every count is nominal: Generate varies it by up to ±Vary
// per seed, so seeds differ in population sizes as well as in who attacks when.
type Config struct {
	Start    time.Time     `json:"start"`    // first event time
	Duration time.Duration `json:"duration"` // 1h to 24h

	Clients      int `json:"clients"`      // ordinary clients, split by Mix
	Mix          Mix `json:"mix"`          //
	NATUsers     int `json:"nat_users"`    // signed-in users behind the corporate NAT (0: no NAT)
	ProxyUsers   int `json:"proxy_users"`  // anonymous users behind a forward proxy (0: none)
	Crawlers     int `json:"crawlers"`     // search engine crawlers (each from one to four addresses)
	Integrations int `json:"integrations"` // partner integrations
	Monitors     int `json:"monitors"`     // uptime monitors (each from one to three locations)
	BlogReaders  int `json:"blog_readers"` // readers of the WordPress section
	BlogAuthors  int `json:"blog_authors"` // its authors (0 with no readers: no WordPress section)
	Deploys      int `json:"deploys"`      // deploys that remove endpoints for some minutes
	Attackers    int `json:"attackers"`    // attackers per scenario
	// Attacks weighs the attacker classes drawn; a class absent or at 0 never
	// appears. Classes are drawn without replacement until every weighted class has
	// been drawn once.
	Attacks map[Class]float64 `json:"attacks"`
	// EdgeProxy is the probability that the scenario puts an Application Gateway in
	// front of the gateway: records then have the proxy as Peer and the client in
	// the forwarded chain (Scenario.Proxies).
	EdgeProxy float64 `json:"edge_proxy"`
	// Vary is the relative variation of the counts per seed (0.25: ±25%).
	Vary float64 `json:"vary"`
}

// DefaultConfig is two hours of a mid-sized API on a weekday morning: 1,500 ordinary
// clients, a corporate NAT of 300 users, two crawlers, three integrations, three
// monitors, a WordPress section, one deploy, and about seven attackers of every class.
func DefaultConfig() Config {
	attacks := map[Class]float64{}
	for _, c := range Classes() {
		attacks[c] = 1
	}
	return Config{
		Start:        time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC),
		Duration:     2 * time.Hour,
		Clients:      1500,
		Mix:          Mix{Browser: 0.40, Anonymous: 0.20, Mobile: 0.33, Machine: 0.07},
		NATUsers:     300,
		ProxyUsers:   40,
		Crawlers:     2,
		Integrations: 3,
		Monitors:     3,
		BlogReaders:  150,
		BlogAuthors:  3,
		Deploys:      1,
		Attackers:    7,
		Attacks:      attacks,
		EdgeProxy:    0.5,
		Vary:         0.25,
	}
}

// Validate names every invalid field at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("trafficsim: %s: %s", field, fmt.Sprintf(format, a...)))
	}
	if c.Start.IsZero() {
		bad("start", "not set")
	}
	if c.Duration < time.Hour || c.Duration > 24*time.Hour {
		bad("duration", "%v is not between 1h and 24h", c.Duration)
	}
	counts := []struct {
		name string
		n    int
	}{{"clients", c.Clients}, {"nat_users", c.NATUsers}, {"proxy_users", c.ProxyUsers}, {"crawlers", c.Crawlers},
		{"integrations", c.Integrations}, {"monitors", c.Monitors}, {"blog_readers", c.BlogReaders},
		{"blog_authors", c.BlogAuthors}, {"deploys", c.Deploys}, {"attackers", c.Attackers}}
	for _, n := range counts {
		if n.n < 0 || n.n > 1_000_000 {
			bad(n.name, "%d is not a count from 0 to 1,000,000", n.n)
		}
	}
	m := c.Mix
	if m.Browser < 0 || m.Anonymous < 0 || m.Mobile < 0 || m.Machine < 0 {
		bad("mix", "weights must not be negative")
	} else if c.Clients > 0 && m.Browser+m.Anonymous+m.Mobile+m.Machine == 0 {
		bad("mix", "all weights are 0 with %d clients", c.Clients)
	}
	weighted := 0
	for cl, w := range c.Attacks {
		if !slices.Contains(Classes(), cl) {
			bad("attacks", "unknown class %q", cl)
		}
		if w < 0 {
			bad("attacks", "weight of %s is negative", cl)
		}
		if w > 0 {
			weighted++
		}
	}
	if c.Attackers > 0 && weighted == 0 {
		bad("attacks", "no class has a weight, with %d attackers", c.Attackers)
	}
	if c.EdgeProxy < 0 || c.EdgeProxy > 1 {
		bad("edge_proxy", "%v is not a probability", c.EdgeProxy)
	}
	if c.Vary < 0 || c.Vary > 0.9 {
		bad("vary", "%v is not between 0 and 0.9", c.Vary)
	}
	return errors.Join(errs...)
}

func (c Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v from %s: %d clients, %d NAT users, %d proxy users, %d crawlers, %d integrations, %d monitors, blog %d/%d, %d deploys, %d attackers",
		c.Duration, c.Start.Format(time.RFC3339), c.Clients, c.NATUsers, c.ProxyUsers, c.Crawlers, c.Integrations,
		c.Monitors, c.BlogReaders, c.BlogAuthors, c.Deploys, c.Attackers)
	return b.String()
}
