package triage

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// spec is one API of a test inventory, by the signals it should show.
type spec struct {
	name                 string
	ext, auth, sens, idl bool
}

// inventoryOf builds one service (network None, 200 days of apiguard evidence) holding
// the specs' APIs. External and sensitive are Defender's observations, authentication the
// API's subscription setting; an idle API has had no traffic in the 200 days and Defender
// agrees, so it is external by the network mode.
func inventoryOf(specs ...spec) Inventory {
	inv := authCase{}.inventory()
	inv.WatchingSince = collected.Add(-200 * day)
	svc := &inv.Services[0]
	tmpl := svc.APIs[0]
	svc.APIs = nil
	for _, s := range specs {
		api := tmpl
		api.ID = strings.TrimSuffix(tmpl.ID, "orders") + s.name
		api.Name = s.name
		api.SubscriptionRequired = s.auth
		api.Operations = slices.Clone(tmpl.Operations)
		if s.sens {
			api.Tags = []string{"pii"}
		}
		switch {
		case s.idl:
			api.Defender = &Collection{Endpoints: 2, Inactive: 2}
		case s.ext:
			api.LastSeen = collected.Add(-day)
			api.Defender = &Collection{Endpoints: 2, External: 1}
		default:
			api.LastSeen = collected.Add(-day)
			api.Defender = &Collection{Endpoints: 2}
		}
		svc.APIs = append(svc.APIs, api)
	}
	return inv
}

var pii = Options{SensitiveTags: []string{"pii"}}

// TestRules: the risk table, one case per rule and per combination that names two.
func TestRules(t *testing.T) {
	cases := []struct {
		spec     spec
		priority Priority
		rules    []string
		reason   string
	}{
		{spec{ext: true}, P0, []string{RuleExternalUnauthenticated},
			"P0 (this week): internet traffic seen by Defender, calls without a key reach operations that validate no token or certificate and no sensitive data seen by Defender."},
		{spec{ext: true, sens: true}, P0, []string{RuleExternalUnauthenticated, RuleExternalSensitive},
			"P0 (this week): internet traffic seen by Defender, calls without a key reach operations that validate no token or certificate and tagged pii."},
		{spec{ext: true, auth: true, sens: true}, P0, []string{RuleExternalSensitive, RuleExternalAuthenticated},
			"P0 (this week): internet traffic seen by Defender, a subscription key is required and tagged pii."},
		{spec{ext: true, auth: true}, P1, []string{RuleExternalAuthenticated},
			"P1 (this month): internet traffic seen by Defender, a subscription key is required and no sensitive data seen by Defender."},
		{spec{sens: true}, P2, []string{RuleInternalSensitive},
			"P2 (this quarter): no internet traffic seen by Defender and tagged pii."},
		{spec{auth: true}, P3, []string{RuleInternalNonSensitive},
			"P3 (monitor only): no internet traffic seen by Defender and no sensitive data seen by Defender."},
		{spec{}, P3, []string{RuleInternalNonSensitive}, "P3 (monitor only): "},
		{spec{idl: true, sens: true}, Decommission, []string{RuleInactive, RuleExternalUnauthenticated, RuleExternalSensitive},
			"Decommission: no traffic for 200 days, which Defender confirms for its 30 days."},
		{spec{idl: true, auth: true}, Decommission, []string{RuleInactive, RuleExternalAuthenticated}, "Decommission: "},
	}
	for _, c := range cases {
		c.spec.name = "api"
		t.Run(fmt.Sprintf("%+v", c.spec), func(t *testing.T) {
			r := classifyOne(t, inventoryOf(c.spec), pii)
			if r.Priority != c.priority || !slices.Equal(r.Rules, c.rules) {
				t.Errorf("%s %v, want %s %v", r.Priority, r.Rules, c.priority, c.rules)
			}
			if !strings.HasPrefix(r.Reason, c.reason) || !strings.HasSuffix(r.Reason, ".") || strings.Count(r.Reason, ". ") > 0 {
				t.Errorf("reason %q, want one sentence starting %q", r.Reason, c.reason)
			}
			if got := signalNames(r); !slices.Equal(got, []string{SignalExternal, SignalAuthenticated, SignalSensitive, SignalInactive}) {
				t.Errorf("signals %v", got)
			}
			for _, s := range r.Signals {
				if s.Source == "" {
					t.Errorf("signal %s has no source", s.Name)
				}
			}
		})
	}
}

func signalNames(r Ranked) []string {
	var names []string
	for _, s := range r.Signals {
		names = append(names, s.Name)
	}
	return names
}

// TestCautious: what nothing can tell ranks on the cautious side and says so.
func TestCautious(t *testing.T) {
	r := classifyOne(t, one(func(_ *Inventory, svc *Service, api *API) {
		svc.Network = ""
		api.SubscriptionRequired = false
		api.Policy = pol(unread)
	}), Options{})
	if r.Priority != P0 || !slices.Equal(r.Rules, []string{RuleExternalUnauthenticated}) {
		t.Errorf("unknown exposure and authentication: %s %v, want P0 external+unauthenticated", r.Priority, r.Rules)
	}
	for _, want := range []string{"exposure unknown (taken as external)", "authentication unknown (taken as unauthenticated)"} {
		if !strings.Contains(r.Reason, want) {
			t.Errorf("reason %q does not say %q", r.Reason, want)
		}
	}
}

func names(c Classification) []string {
	var n []string
	for _, r := range c.APIs {
		n = append(n, r.Name)
	}
	return n
}

func TestOrder(t *testing.T) {
	inv := inventoryOf(
		spec{name: "zeta", ext: true},                          // P0
		spec{name: "beta", ext: true},                          // P0
		spec{name: "omega", ext: true, auth: true, sens: true}, // P0 external+sensitive
		spec{name: "alpha", ext: true, auth: true},             // P1
		spec{name: "gamma", sens: true},                        // P2
		spec{name: "delta"},                                    // P3
		spec{name: "attic", idl: true, sens: true},             // Decommission, external+sensitive
		spec{name: "cellar", idl: true},                        // Decommission
	)
	got := names(Classify(inv, nil, pii))
	want := []string{"omega", "beta", "zeta", "alpha", "gamma", "delta", "attic", "cellar"}
	if !slices.Equal(got, want) {
		t.Errorf("order\n got %v\nwant %v", got, want)
	}
}

// TestLead: with more than 50 findings, every external and sensitive API leads, the
// Decommission one included; with 50 it does not.
func TestLead(t *testing.T) {
	build := func(findings int) Inventory {
		specs := []spec{
			{name: "attic", idl: true, sens: true}, // Decommission, external+sensitive
			{name: "quiet"},                        // P3
			{name: "vault", ext: true, auth: true, sens: true},
			{name: "open", ext: true, sens: true},
		}
		for i := len(specs) - 2; i < findings; i++ {
			specs = append(specs, spec{name: fmt.Sprintf("p1-%02d", i), ext: true, auth: true})
		}
		return inventoryOf(specs...)
	}
	c := Classify(build(50), nil, pii)
	if n := c.Counts[P0] + c.Counts[P1] + c.Counts[P2]; n != 50 {
		t.Fatalf("%d findings, want 50", n)
	}
	if got := names(c); !slices.Equal(got[:3], []string{"open", "vault", "p1-02"}) || got[len(got)-1] != "attic" {
		t.Errorf("50 findings: %v ... %s; want open, vault, p1-02 ... attic", got[:3], got[len(got)-1])
	}
	c = Classify(build(51), nil, pii)
	got := names(c)
	if !slices.Equal(got[:4], []string{"open", "vault", "attic", "p1-02"}) || got[len(got)-1] != "quiet" {
		t.Errorf("51 findings: %v ... %s; want open, vault, attic (external+sensitive lead), p1-02 ... quiet", got[:4], got[len(got)-1])
	}
}

func TestCounts(t *testing.T) {
	c := Classify(inventoryOf(spec{name: "a", ext: true}, spec{name: "b"}, spec{name: "c"}), nil, Options{})
	want := map[Priority]int{P0: 1, P1: 0, P2: 0, P3: 2, Decommission: 0}
	if !reflect.DeepEqual(c.Counts, want) {
		t.Errorf("counts %v, want %v", c.Counts, want)
	}
	if c.Month != "2026-12" || !c.Collected.Equal(collected) {
		t.Errorf("month %q collected %v", c.Month, c.Collected)
	}
	if c := Classify(Inventory{Collected: collected}, nil, Options{Month: "2026-11"}); c.Month != "2026-11" {
		t.Errorf("Options.Month ignored: %q", c.Month)
	}
}

// TestDeterministic: the same input gives the same output, byte for byte.
func TestDeterministic(t *testing.T) {
	inv := synthetic(40, 4, 1)
	a, _ := json.Marshal(Classify(inv, nil, pii))
	for range 3 {
		if b, _ := json.Marshal(Classify(inv, nil, pii)); string(a) != string(b) {
			t.Fatal("two runs on the same inventory differ")
		}
	}
}
