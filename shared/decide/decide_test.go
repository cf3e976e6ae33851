package decide

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/alert"
	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/vocab"
)

// memHistory is the in-memory history, noting the look-back bounds asked for; the
// Table Storage one is tested against Azurite in shared/respond.
type memHistory struct {
	*MemoryHistory
	queried []time.Time
}

func newMem() *memHistory { return &memHistory{MemoryHistory: NewMemoryHistory()} }

func (m *memHistory) Offences(ctx context.Context, target string, since time.Time, exclude string) (int, error) {
	m.queried = append(m.queried, since)
	return m.MemoryHistory.Offences(ctx, target, since, exclude)
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func cfg(t *testing.T, settings map[string]string) *config.Config {
	t.Helper()
	c, err := config.Load(func(k string) (string, bool) { v, ok := settings[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func incident(id, typ string, sev vocab.Severity, ips ...string) *alert.Incident {
	inc := &alert.Incident{ID: id, AlertType: typ, Severity: sev}
	for _, ip := range ips {
		inc.Addresses = append(inc.Addresses, alert.Address{IP: netip.MustParseAddr(ip), Source: "entity"})
	}
	return inc
}

func decideOne(t *testing.T, e *Engine, inc *alert.Incident) Decision {
	t.Helper()
	ds, err := e.Decide(context.Background(), inc)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 {
		t.Fatalf("got %d decisions, want 1: %+v", len(ds), ds)
	}
	return ds[0]
}

func within(d, base time.Duration, jitter float64) bool {
	lo, hi := time.Duration(float64(base)*(1-jitter)), time.Duration(float64(base)*(1+jitter))
	return d >= lo-time.Second && d <= hi+time.Second
}

func TestSuspiciousIPIsBlockedAtTheEdge(t *testing.T) {
	c := &clock{t0}
	e := New(cfg(t, nil), newMem(), c.now)
	d := decideOne(t, e, incident("inc-1", "API_AccessFromSuspiciousIP", vocab.SeverityHigh, "45.153.160.140"))
	if d.Action != vocab.BlockWAF || d.Address != "45.153.160.140" || d.Mode != "dryrun" {
		t.Fatalf("decision %+v", d)
	}
	dur := time.Duration(d.Seconds) * time.Second
	if !within(dur, 24*time.Hour, 0.1) {
		t.Errorf("duration %v not within 24h ± 10%%", dur)
	}
	if !d.Expires.Equal(t0.Add(dur)) || d.Duration != dur.String() {
		t.Errorf("expires %v duration %q for %v", d.Expires, d.Duration, dur)
	}
	if !strings.Contains(d.Reason, "API_AccessFromSuspiciousIP") || !strings.Contains(d.Reason, "block_waf") {
		t.Errorf("reason %q does not explain", d.Reason)
	}
	// Same incident, same answer: the jitter is deterministic.
	if again := decideOne(t, New(cfg(t, nil), newMem(), c.now), incident("inc-1", "API_AccessFromSuspiciousIP", vocab.SeverityHigh, "45.153.160.140")); again.Seconds != d.Seconds {
		t.Errorf("same incident decided %d then %d seconds", d.Seconds, again.Seconds)
	}
}

func TestProtectedAddressesAreSkipped(t *testing.T) {
	e := New(cfg(t, map[string]string{"APIGUARD_ALLOW_CIDRS": "45.153.160.0/24"}), newMem(), (&clock{t0}).now)
	cases := map[string]string{
		"10.1.2.3":        "private range",
		"172.20.0.9":      "private range",
		"192.168.1.1":     "private range",
		"127.0.0.1":       "loopback",
		"100.64.1.1":      "carrier-grade NAT",
		"169.254.169.254": "link-local",
		"168.63.129.16":   "Azure platform",
		"224.0.0.251":     "multicast",
		"255.255.255.255": "reserved",
		"0.0.0.0":         "this network",
		"192.0.2.1":       "documentation",
		"198.51.100.4":    "documentation",
		"203.0.113.7":     "documentation",
		"198.18.0.1":      "benchmarking",
		"::1":             "loopback",
		"fe80::1":         "link-local",
		"fd00::1":         "unique local",
		"2001:db8::1":     "documentation",
		"ff02::1":         "multicast",
		"45.153.160.140":  "allow-listed",
		"::ffff:10.0.0.1": "private range",
	}
	for ip, want := range cases {
		d := decideOne(t, e, incident("inc-"+ip, "API_AccessFromSuspiciousIP", vocab.SeverityHigh, ip))
		if d.Action != vocab.Skip || d.Intended != vocab.BlockWAF || !strings.Contains(d.Reason, want) {
			t.Errorf("%s: %s (intended %s), reason %q; want skip with %q", ip, d.Action, d.Intended, d.Reason, want)
		}
	}
	for _, ip := range []string{"8.8.8.8", "45.153.161.1", "2a01:111:f400::1"} {
		if d := decideOne(t, e, incident("inc-"+ip, "API_AccessFromSuspiciousIP", vocab.SeverityHigh, ip)); d.Action != vocab.BlockWAF {
			t.Errorf("%s: %s, want block_waf (%s)", ip, d.Action, d.Reason)
		}
	}
}

func TestRepeatOffendersEscalate(t *testing.T) {
	c := &clock{t0}
	h := newMem()
	e := New(cfg(t, nil), h, c.now)
	ip := "45.153.160.140"
	base := 4 * time.Hour // Medium
	for n := 0; n <= 6; n++ {
		d := decideOne(t, e, incident("inc-esc", "API_SprayInRequests", vocab.SeverityMedium, ip))
		want := base << n
		if want > 7*24*time.Hour {
			if time.Duration(d.Seconds)*time.Second != 7*24*time.Hour {
				t.Errorf("offences %d: %ds, want the 7d cap", n, d.Seconds)
			}
		} else if !within(time.Duration(d.Seconds)*time.Second, want, 0.1) {
			t.Errorf("offences %d: %ds, want %v ± 10%%", n, d.Seconds, want)
		}
		if d.Offences != n {
			t.Errorf("prior offences %d, want %d", d.Offences, n)
		}
		h.Add(ip, c.t)
		c.t = c.t.Add(time.Hour)
	}
	// The history is asked for offences inside the look-back window only.
	if last := h.queried[len(h.queried)-1]; !last.Equal(c.t.Add(-time.Hour).Add(-30 * 24 * time.Hour)) {
		t.Errorf("look-back start %v", last)
	}
}

func TestOffencesOutsideLookbackDoNotCount(t *testing.T) {
	c := &clock{t0}
	h := newMem()
	ip := "45.153.160.140"
	h.Add(ip, t0.Add(-31*24*time.Hour))
	h.Add(ip, t0.Add(-29*24*time.Hour))
	d := decideOne(t, New(cfg(t, nil), h, c.now), incident("inc-lb", "API_SprayInRequests", vocab.SeverityMedium, ip))
	if d.Offences != 1 {
		t.Errorf("prior offences %d, want 1 (one is older than 30d)", d.Offences)
	}
}

func TestThrottleThenBlock(t *testing.T) {
	h := newMem()
	e := New(cfg(t, nil), h, (&clock{t0}).now)
	ip := "45.153.160.140"
	if d := decideOne(t, e, incident("inc-a", "API_SpikeInAPITraffic", vocab.SeverityMedium, ip)); d.Action != vocab.Throttle {
		t.Fatalf("first spike: %s", d.Action)
	}
	h.Add(ip, t0.Add(-time.Hour))
	d := decideOne(t, e, incident("inc-b", "API_SpikeInAPITraffic", vocab.SeverityMedium, ip))
	if d.Action != vocab.BlockWAF || !strings.Contains(d.Reason, "repeat offender") {
		t.Fatalf("repeat spike: %s (%s)", d.Action, d.Reason)
	}
}

func TestHourlyCapDefersTheExcess(t *testing.T) {
	c := &clock{t0}
	h := newMem()
	e := New(cfg(t, map[string]string{"APIGUARD_MAX_NEW_BLOCKS_PER_HOUR": "2"}), h, c.now)
	ips := []string{"45.153.160.1", "45.153.160.2", "45.153.160.3"}
	var got []vocab.Action
	for i, ip := range ips {
		got = append(got, decideOne(t, e, incident("inc-cap"+ips[i], "API_AccessFromTorExitNode", vocab.SeverityMedium, ip)).Action)
	}
	if got[0] != vocab.BlockWAF || got[1] != vocab.BlockWAF || got[2] != vocab.Deferred {
		t.Fatalf("actions %v, want block, block, deferred", got)
	}
	d := decideOne(t, e, incident("inc-cap3b", "API_AccessFromTorExitNode", vocab.SeverityMedium, ips[2]))
	if d.Action != vocab.Deferred || d.Intended != vocab.BlockWAF || !strings.Contains(d.Reason, "cap of 2") || d.Seconds != 0 {
		t.Errorf("deferred decision %+v", d)
	}
	// A target already counted this hour is not counted twice.
	if a := decideOne(t, e, incident("inc-cap1b", "API_AccessFromTorExitNode", vocab.SeverityMedium, ips[0])).Action; a != vocab.BlockWAF {
		t.Errorf("re-decided target: %s", a)
	}
	// Throttles are not blocks: the cap does not apply.
	if a := decideOne(t, e, incident("inc-thr", "API_SpikeInAPITraffic", vocab.SeverityMedium, "45.153.160.9")).Action; a != vocab.Throttle {
		t.Errorf("throttle under cap: %s", a)
	}
	c.t = c.t.Add(time.Hour)
	if a := decideOne(t, e, incident("inc-cap3c", "API_AccessFromTorExitNode", vocab.SeverityMedium, ips[2])).Action; a != vocab.BlockWAF {
		t.Errorf("next hour: %s, want block_waf", a)
	}
}

// One incident takes at most its share of the hourly cap: the rest of its addresses
// are deferred with the share's reason and leave the hour to the next alert. A retry
// takes the same places again; protected addresses take none.
func TestIncidentShareOfTheHourlyCap(t *testing.T) {
	addrs := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("45.153.%d.%d", 100+i/200, 1+i%200))
		}
		return out
	}
	cases := []struct {
		name          string
		share, hourly string
		ips           []string
		blocked       int // block_waf decisions of the incident
		byShare       int // deferred for the incident's share
		byHour        int // deferred for the hourly cap
		skipped       int
		nextBlocked   bool // a later single-address incident in the same hour
	}{
		{"default share of the default cap", "", "", addrs(100), 20, 80, 0, 0, true},
		{"share above a small hourly cap", "20", "5", addrs(100), 5, 0, 95, 0, false},
		{"share of one", "1", "", addrs(3), 1, 2, 0, 0, true},
		{"under the share", "20", "", addrs(7), 7, 0, 0, 0, true},
		{"protected addresses take no place", "2", "", append([]string{"10.0.0.1", "192.168.1.1"}, addrs(3)...), 2, 1, 0, 2, true},
		{"share equal to the hour", "10", "10", addrs(30), 10, 20, 0, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			settings := map[string]string{}
			if c.share != "" {
				settings["APIGUARD_MAX_BLOCKS_PER_INCIDENT"] = c.share
			}
			if c.hourly != "" {
				settings["APIGUARD_MAX_NEW_BLOCKS_PER_HOUR"] = c.hourly
			}
			e := New(cfg(t, settings), newMem(), (&clock{t0}).now)
			inc := incident("inc-many", "API_AccessFromTorExitNode", vocab.SeverityMedium, c.ips...)
			first, err := e.Decide(t.Context(), inc)
			if err != nil {
				t.Fatal(err)
			}
			count := map[string]int{}
			for _, d := range first {
				switch {
				case d.Action == vocab.Deferred && strings.Contains(d.Reason, "APIGUARD_MAX_BLOCKS_PER_INCIDENT"):
					count["share"]++
				case d.Action == vocab.Deferred && strings.Contains(d.Reason, "APIGUARD_MAX_NEW_BLOCKS_PER_HOUR"):
					count["hour"]++
				default:
					count[string(d.Action)]++
				}
				if d.Action == vocab.Deferred && (d.Intended != vocab.BlockWAF || d.Seconds != 0 || !d.Expires.IsZero() || d.Mode != "") {
					t.Errorf("deferred decision carries enforcement: %+v", d)
				}
			}
			want := map[string]int{string(vocab.BlockWAF): c.blocked, "share": c.byShare, "hour": c.byHour, string(vocab.Skip): c.skipped}
			for k, v := range want {
				if count[k] != v {
					t.Errorf("%s: %d, want %d (all: %v)", k, count[k], v, count)
				}
			}
			// The blocks are the first addresses the alert names, in its order.
			for i, d := range first[c.skipped : c.skipped+c.blocked] {
				if d.Action != vocab.BlockWAF {
					t.Errorf("decision %d is %s, want the first addresses blocked", i+c.skipped, d.Action)
				}
			}
			again, err := e.Decide(t.Context(), inc)
			if err != nil {
				t.Fatal(err)
			}
			for i := range first {
				if again[i].Action != first[i].Action || again[i].Address != first[i].Address {
					t.Fatalf("retry decided %d differently: %s %s, first %s %s", i, again[i].Action, again[i].Address, first[i].Action, first[i].Address)
				}
			}
			next := decideOne(t, e, incident("inc-next", "API_AccessFromTorExitNode", vocab.SeverityMedium, "45.153.199.9"))
			if (next.Action == vocab.BlockWAF) != c.nextBlocked {
				t.Errorf("the next alert in the hour: %s (%s), want blocked=%v", next.Action, next.Reason, c.nextBlocked)
			}
		})
	}
}

func TestPlaybookDefaultsAndOverrides(t *testing.T) {
	now := (&clock{t0}).now
	ip := "45.153.160.140"
	e := New(cfg(t, nil), newMem(), now)
	d := decideOne(t, e, incident("inc-u", "API_SomethingNew", vocab.SeverityHigh, ip))
	if d.Action != vocab.Record || !strings.Contains(d.Reason, "not in the playbook") {
		t.Errorf("unknown type: %+v", d)
	}
	d = decideOne(t, e, incident("inc-p", "API_UnseenParam", vocab.SeverityMedium, ip))
	if d.Action != vocab.Record || !strings.Contains(d.Advice, "schema validation") {
		t.Errorf("unseen param: %+v", d)
	}
	e = New(cfg(t, map[string]string{
		"APIGUARD_PLAYBOOK":       "API_UnseenParam=block_apim",
		"APIGUARD_DEFAULT_ACTION": "throttle",
		"APIGUARD_MODE_OVERRIDES": "block_apim=enforce",
	}), newMem(), now)
	if d := decideOne(t, e, incident("inc-p2", "API_UnseenParam", vocab.SeverityMedium, ip)); d.Action != vocab.BlockAPIM || d.Mode != "enforce" {
		t.Errorf("override: %+v", d)
	}
	if d := decideOne(t, e, incident("inc-u2", "API_SomethingNew", vocab.SeverityMedium, ip)); d.Action != vocab.Throttle || d.Mode != "dryrun" {
		t.Errorf("default action: %+v", d)
	}
}

func TestEndpointAlerts(t *testing.T) {
	e := New(cfg(t, nil), newMem(), (&clock{t0}).now)
	api := "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim1/apis/orders"
	inc := incident("inc-pop", "API_PopulationSpikeInAPITraffic", vocab.SeverityMedium)
	inc.APIMResources = []string{api}
	d := decideOne(t, e, inc)
	if d.Action != vocab.Throttle || d.Target == nil || d.Target.Kind != "api" || d.Target.Value != api || d.Address != "" {
		t.Errorf("population spike: %+v", d)
	}
	inc.APIMResources = nil
	if d := decideOne(t, e, inc); d.Action != vocab.Record || !strings.Contains(d.Reason, "no API Management resource") {
		t.Errorf("without api: %+v", d)
	}
	if d := decideOne(t, e, incident("inc-none", "API_AccessFromSuspiciousIP", vocab.SeverityHigh)); d.Action != vocab.Record || !strings.Contains(d.Reason, "no attacker address") {
		t.Errorf("no address: %+v", d)
	}
}

func TestSeveralAddressesKeepOrder(t *testing.T) {
	e := New(cfg(t, nil), newMem(), (&clock{t0}).now)
	ds, err := e.Decide(context.Background(), incident("inc-m", "API_SprayInRequests", vocab.SeverityMedium, "45.153.160.140", "10.1.2.3", "2a01:111:f400::1"))
	if err != nil {
		t.Fatal(err)
	}
	want := []vocab.Action{vocab.BlockWAF, vocab.Skip, vocab.BlockWAF}
	for i, d := range ds {
		if d.Index != i || d.Action != want[i] {
			t.Errorf("decision %d: %+v, want %s", i, d, want[i])
		}
	}
}

// The jitter spreads expiries across incidents, within its bound.
func TestJitterSpreads(t *testing.T) {
	e := New(cfg(t, nil), newMem(), (&clock{t0}).now)
	seen := map[int64]bool{}
	for i := 0; i < 200; i++ {
		inc := incident("inc-j"+string(rune('a'+i%26))+strings.Repeat("x", i/26), "API_SprayInRequests", vocab.SeverityMedium, "45.153.160.140")
		d := decideOne(t, e, inc)
		if !within(time.Duration(d.Seconds)*time.Second, 4*time.Hour, 0.1) {
			t.Fatalf("duration %ds outside 4h ± 10%%", d.Seconds)
		}
		seen[d.Seconds] = true
	}
	if len(seen) < 100 {
		t.Errorf("only %d distinct durations over 200 incidents", len(seen))
	}
}

func TestGuardPrefixes(t *testing.T) {
	g := NewGuard([]netip.Prefix{netip.MustParsePrefix("45.153.160.0/24")})
	for p, want := range map[string]string{
		"10.0.0.0/8":          "private",
		"8.0.0.0/6":           "private", // contains 10/8
		"45.153.0.0/16":       "allow-listed",
		"45.153.160.7/32":     "allow-listed",
		"2001:db8::/48":       "documentation",
		"::ffff:10.0.0.0/104": "private",
	} {
		if got := g.WhyPrefix(netip.MustParsePrefix(p)); !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q", p, got, want)
		}
	}
	for _, p := range []string{"45.153.161.0/24", "8.8.8.0/24", "2a01:111::/32"} {
		if got := g.WhyPrefix(netip.MustParsePrefix(p)); got != "" {
			t.Errorf("%s refused: %s", p, got)
		}
	}
}

// Traffic findings: an identity is throttled, never blocked, even by a blocking play or
// a repeat offence; an address finding follows the play; low confidence only records.
func TestFindingsByIdentityAndConfidence(t *testing.T) {
	h := newMem()
	e := New(cfg(t, map[string]string{"APIGUARD_MODE": "enforce"}), h, (&clock{t0}).now)

	user := &alert.Incident{ID: "fnd-1", AlertType: "apiguard.enumeration", Severity: vocab.SeverityHigh, Confidence: 0.9,
		Identities: []alert.Identity{{Kind: "user", Value: "alice"}}}
	d := decideOne(t, e, user)
	if d.Action != vocab.Throttle || d.Target == nil || d.Target.Kind != "user" || d.Target.Value != "alice" || d.Address != "" {
		t.Fatalf("user finding: %+v", d)
	}
	h.Add("sub-1", t0.Add(-time.Hour))
	sub := &alert.Incident{ID: "fnd-2", AlertType: "apiguard.flood", Severity: vocab.SeverityMedium, Confidence: 0.8,
		Identities: []alert.Identity{{Kind: "subscription", Value: "sub-1"}}}
	if d := decideOne(t, e, sub); d.Action != vocab.Throttle || d.Offences != 1 {
		t.Fatalf("repeat flood of a subscription must stay a throttle: %+v", d)
	}

	ip := incident("fnd-3", "apiguard.probing", vocab.SeverityMedium, "45.153.160.140")
	ip.Confidence = 0.7
	if d := decideOne(t, e, ip); d.Action != vocab.BlockWAF {
		t.Fatalf("probing address: %+v", d)
	}
	low := incident("fnd-4", "apiguard.probing", vocab.SeverityLow, "45.153.160.141")
	low.Confidence = 0.3
	d = decideOne(t, e, low)
	if d.Action != vocab.Record || d.Intended != vocab.BlockWAF || !strings.Contains(d.Reason, "confidence") {
		t.Fatalf("low-confidence finding: %+v", d)
	}
	// A private address found by a detector is still never blocked.
	priv := incident("fnd-5", "apiguard.probing", vocab.SeverityHigh, "172.17.0.1")
	priv.Confidence = 0.9
	if d := decideOne(t, e, priv); d.Action != vocab.Skip {
		t.Fatalf("private address: %+v", d)
	}
}
