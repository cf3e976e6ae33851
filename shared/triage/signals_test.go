package triage

import (
	"strings"
	"testing"
	"time"
)

// one builds an inventory of one service (network None) with one API that requires a
// key and has two operations, then lets edit change it.
func one(edit func(inv *Inventory, svc *Service, api *API)) Inventory {
	inv := authCase{apiSub: true}.inventory()
	svc := &inv.Services[0]
	edit(&inv, svc, &svc.APIs[0])
	return inv
}

func classifyOne(t *testing.T, inv Inventory, opts Options) Ranked {
	t.Helper()
	c := Classify(inv, nil, opts)
	if len(c.APIs) != 1 {
		t.Fatalf("%d APIs ranked, want 1", len(c.APIs))
	}
	return c.APIs[0]
}

type signalCase struct {
	name     string
	edit     func(inv *Inventory, svc *Service, api *API)
	opts     Options
	want     string // true, false or unknown
	value    bool   // the value the rank used
	inferred bool
	source   string
}

func runSignalCases(t *testing.T, name string, cases []signalCase) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := classifyOne(t, one(c.edit), c.opts)
			s := signal(t, r, name)
			if w := signalWord(s); w != c.want || s.Value != c.value || s.Inferred != c.inferred {
				t.Errorf("%s = %s (value %v, inferred %v), want %s (value %v, inferred %v)\nsource: %s",
					name, w, s.Value, s.Inferred, c.want, c.value, c.inferred, s.Source)
			}
			if !strings.Contains(s.Source, c.source) {
				t.Errorf("source\n got %s\nwant it to contain %s", s.Source, c.source)
			}
		})
	}
}

func TestExternal(t *testing.T) {
	runSignalCases(t, SignalExternal, []signalCase{
		{name: "Defender saw internet traffic", want: "true", value: true, source: "Defender: 2 of 12 endpoints saw internet traffic in 30 days",
			edit: func(_ *Inventory, svc *Service, api *API) {
				svc.Network = "Internal"
				api.Defender = &Collection{Endpoints: 12, External: 2}
			}},
		{name: "Defender saw only internal traffic", want: "false", value: false, source: "traffic on 12 of 12 endpoints in 30 days, none of it from the internet (the service is reachable from the internet: network None)",
			edit: func(_ *Inventory, _ *Service, api *API) { api.Defender = &Collection{Endpoints: 12} }},
		{name: "Defender saw no traffic: network decides", want: "true", value: true, inferred: true, source: "inferred: Defender saw no traffic to the API in 30 days; service apim is reachable from the internet (network None)",
			edit: func(_ *Inventory, _ *Service, api *API) { api.Defender = &Collection{Endpoints: 12, Inactive: 12} }},
		{name: "onboarding still running: network decides", want: "true", value: true, inferred: true, source: "inferred: no Defender data",
			edit: func(_ *Inventory, _ *Service, api *API) {
				api.Defender = &Collection{ProvisioningState: "InProgress", Endpoints: 12}
			}},
		{name: "network None", want: "true", value: true, inferred: true, source: "inferred: no Defender data for the API; service apim is reachable from the internet (network None)",
			edit: func(*Inventory, *Service, *API) {}},
		{name: "network External", want: "true", value: true, inferred: true, source: "(network External)",
			edit: func(_ *Inventory, svc *Service, _ *API) { svc.Network = "External" }},
		{name: "network Internal", want: "false", value: false, inferred: true, source: "inferred: no Defender data for the API; service apim is reachable only inside its VNet (network Internal)",
			edit: func(_ *Inventory, svc *Service, _ *API) { svc.Network = "Internal" }},
		{name: "network unread", want: "unknown", value: true, source: "unknown: no Defender data for the API and the network mode of service apim was not read; taken as external (cautious)",
			edit: func(_ *Inventory, svc *Service, _ *API) { svc.Network = "" }},
	})
}

func TestSensitive(t *testing.T) {
	tags := Options{SensitiveTags: []string{" PII", "payment", ""}}
	runSignalCases(t, SignalSensitive, []signalCase{
		{name: "Defender found sensitive data", want: "true", value: true, source: "Defender: 3 of 12 endpoints expose sensitive data",
			edit: func(_ *Inventory, _ *Service, api *API) { api.Defender = &Collection{Endpoints: 12, SensitiveData: 3} }},
		{name: "sensitivity label", want: "true", value: true, source: `Defender: sensitivity label "Confidential"`,
			edit: func(_ *Inventory, _ *Service, api *API) {
				api.Defender = &Collection{Endpoints: 12, Inactive: 12, SensitivityLabel: "Confidential"}
			}},
		{name: "sensitive tag, any case", opts: tags, want: "true", value: true, source: "tag pii, listed as sensitive",
			edit: func(_ *Inventory, _ *Service, api *API) { api.Tags = []string{"public", "pii"} }},
		{name: "tag match ignores case", opts: tags, want: "true", value: true, source: "tags Payment, PII",
			edit: func(_ *Inventory, _ *Service, api *API) { api.Tags = []string{"Payment", "PII"} }},
		{name: "Defender saw traffic, no sensitive data", opts: tags, want: "false", value: false, source: "Defender: no sensitive data on any endpoint in 30 days, and no sensitive tag",
			edit: func(_ *Inventory, _ *Service, api *API) { api.Defender = &Collection{Endpoints: 12} }},
		{name: "no Defender data, no tag", opts: tags, want: "false", value: false, inferred: true, source: "inferred: no Defender data on sensitive data",
			edit: func(_ *Inventory, _ *Service, api *API) { api.Tags = []string{"public"} }},
	})
}

func TestInactive(t *testing.T) {
	daysAgo := func(n int) time.Time { return collected.Add(-time.Duration(n) * day) }
	watch := func(n int) func(inv *Inventory) { return func(inv *Inventory) { inv.WatchingSince = daysAgo(n) } }
	idleDefender := &Collection{Endpoints: 2, Inactive: 2}
	activeDefender := &Collection{Endpoints: 2, Inactive: 1, External: 1}
	unused := func(status string) []Assessment {
		id := authCase{}.inventory().Services[0].APIs[0].ID
		return []Assessment{
			{Key: AssessmentUnused, Operation: id + "/operations/op1", Status: status},
			{Key: AssessmentUnused, Operation: strings.ToUpper(id) + "/Operations/OP2", Status: status},
			{Key: AssessmentAuthenticated, Operation: id + "/operations/op1", Status: "Healthy"},
		}
	}
	cases := []struct {
		name         string
		watching     func(*Inventory)
		lastSeen     time.Time // the API's
		opSeen       time.Time // op2's
		defender     *Collection
		assessments  []Assessment
		priority     Priority
		candidate    bool
		want, source string
	}{
		{name: "idle 120 days, 200 days of evidence, no Defender", watching: watch(200), lastSeen: daysAgo(120),
			priority: Decommission, want: "true", source: "apiguard last saw traffic on 2026-08-03 (120 days ago); its evidence spans 200 days; no Defender data on activity"},
		{name: "never seen in 100 days of watching, Defender agrees", watching: watch(100), defender: idleDefender,
			priority: Decommission, want: "true", source: "apiguard has seen no traffic since it started watching on 2026-08-23 (100 days); Defender: all 2 endpoints inactive for 30 days"},
		{name: "exactly 90 days", watching: watch(90),
			priority: Decommission, want: "true", source: "(90 days)"},
		{name: "idle 100 days by apiguard, Defender saw traffic", watching: watch(200), lastSeen: daysAgo(100), defender: activeDefender,
			priority: P1, want: "false", source: "Defender: 1 of 2 endpoints had traffic in 30 days; apiguard saw none for 30 days but Defender did: in use"},
		{name: "operation seen lately keeps the API", watching: watch(200), lastSeen: daysAgo(150), opSeen: daysAgo(3),
			priority: P1, want: "false", source: "(3 days ago)"},
		{name: "Defender idle, 40 days of evidence: candidate", watching: watch(40), defender: idleDefender,
			priority: P1, candidate: true, want: "unknown", source: "idle for 30 days or more without 90 days of proof: a decommission candidate"},
		{name: "Defender idle, no apiguard evidence: candidate", defender: idleDefender,
			priority: P1, candidate: true, want: "unknown", source: "apiguard has no traffic evidence of its own"},
		{name: "unused assessment Unhealthy on every operation: candidate", assessments: unused("Unhealthy"),
			priority: P1, candidate: true, want: "unknown", source: "the unused-endpoint assessment is Unhealthy for all 2 operations"},
		{name: "unused assessment Healthy: in use", watching: watch(200), assessments: unused("Healthy"),
			priority: P1, want: "false", source: "the unused-endpoint assessment is Healthy for operation op1"},
		{name: "idle 45 days of 200: candidate, known not idle 90", watching: watch(200), lastSeen: daysAgo(45),
			priority: P1, candidate: true, want: "false", source: "a decommission candidate"},
		{name: "seen 10 days ago, Defender idle: in use", watching: watch(200), lastSeen: daysAgo(10), defender: idleDefender,
			priority: P1, want: "false", source: "apiguard last saw traffic on 2026-11-21 (10 days ago)"},
		{name: "nothing known", priority: P1, want: "unknown", source: "not enough evidence either way: not ranked inactive"},
		{name: "20 days of evidence, never seen", watching: watch(20), priority: P1, want: "unknown", source: "(20 days)"},
		{name: "watching starts after collection", watching: watch(-5), lastSeen: daysAgo(400), priority: P1, want: "unknown", source: "apiguard has no traffic evidence of its own"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inv := one(func(inv *Inventory, _ *Service, api *API) {
				if c.watching != nil {
					c.watching(inv)
				}
				api.LastSeen = c.lastSeen
				api.Operations[1].LastSeen = c.opSeen
				api.Defender = c.defender
				api.Assessments = c.assessments
			})
			r := classifyOne(t, inv, Options{})
			s := signal(t, r, SignalInactive)
			if r.Priority != c.priority || r.Candidate != c.candidate || signalWord(s) != c.want {
				t.Errorf("priority %s candidate %v inactive %s, want %s %v %s\nsource: %s", r.Priority, r.Candidate, signalWord(s), c.priority, c.candidate, c.want, s.Source)
			}
			if !strings.Contains(s.Source, c.source) {
				t.Errorf("source\n got %s\nwant it to contain %s", s.Source, c.source)
			}
			if c.candidate && !strings.Contains(r.Reason, "decommission candidate") {
				t.Errorf("a candidate's reason does not say so: %s", r.Reason)
			}
		})
	}
}
