package trafficsim

import (
	"reflect"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/shared/vocab"
)

func ip(v string) Key   { return Key{vocab.KeyIP, v} }
func user(v string) Key { return Key{vocab.KeyUser, v} }

// scoreScenario: two floods (one never flagged below), a credential stuffer from
// two addresses with two victims, an insider keyed by user behind the office NAT.
func scoreScenario() *Scenario {
	return &Scenario{
		Attackers: []Attacker{
			{Class: Flood, Keys: []Key{ip("198.18.0.1")}},
			{Class: CredentialStuffing, Keys: []Key{ip("198.18.0.2"), ip("198.18.0.3")},
				Victims: []Key{user("anna@mail.example"), user("ben@mail.example")}},
			{Class: Enumeration, Keys: []Key{user("insider@corp.example")}, Known: true},
			{Class: Flood, Keys: []Key{ip("198.18.0.4")}},
		},
		Benign: map[Key]Population{
			ip("198.18.9.9"):                    PopCorporateNAT,
			user("bob@mail.example"):            PopBrowser,
			{vocab.KeySubscription, "portal01"}: "browser+mobile",
		},
	}
}

func TestScore(t *testing.T) {
	cases := []struct {
		name  string
		flags []Flag
		want  Result // Classes, Detectors, Missed as listed; FalsePositives and VictimFlags in key order
	}{
		{"nothing flagged", nil, Result{Precision: 1, Attackers: 4, Recall: 0,
			Classes:   map[Class]ClassResult{Flood: {2, 0}, CredentialStuffing: {1, 0}, Enumeration: {1, 0}},
			Detectors: map[string]DetectorResult{}, Missed: []Attacker{{}, {}, {}, {}}}},
		{"every attacker by one key", []Flag{
			{ip("198.18.0.1"), "flood"}, {ip("198.18.0.3"), "credential_stuffing"},
			{user("insider@corp.example"), "enumeration"}, {ip("198.18.0.4"), "flood"},
		}, Result{Flagged: 4, TruePositives: 4, Precision: 1, Attackers: 4, Found: 4, Recall: 1,
			Classes:   map[Class]ClassResult{Flood: {2, 2}, CredentialStuffing: {1, 1}, Enumeration: {1, 1}},
			Detectors: map[string]DetectorResult{"flood": {2, 0}, "credential_stuffing": {1, 0}, "enumeration": {1, 0}}}},
		{"one key by two detectors, twice each, counts once", []Flag{
			{ip("198.18.0.1"), "flood"}, {ip("198.18.0.1"), "rate_spike"},
			{ip("198.18.0.1"), "flood"}, {ip("198.18.0.1"), "rate_spike"},
		}, Result{Flagged: 1, TruePositives: 1, Precision: 1, Attackers: 4, Found: 1, Recall: 0.25,
			Classes:   map[Class]ClassResult{Flood: {2, 1}, CredentialStuffing: {1, 0}, Enumeration: {1, 0}},
			Detectors: map[string]DetectorResult{"flood": {1, 0}, "rate_spike": {1, 0}}, Missed: []Attacker{{}, {}, {}}}},
		{"both addresses of one attacker: two hits, one attacker found", []Flag{
			{ip("198.18.0.2"), "credential_stuffing"}, {ip("198.18.0.3"), "credential_stuffing"},
		}, Result{Flagged: 2, TruePositives: 2, Precision: 1, Attackers: 4, Found: 1, Recall: 0.25,
			Classes:   map[Class]ClassResult{Flood: {2, 0}, CredentialStuffing: {1, 1}, Enumeration: {1, 0}},
			Detectors: map[string]DetectorResult{"credential_stuffing": {2, 0}}, Missed: []Attacker{{}, {}, {}}}},
		{"victims are neither hits nor false positives", []Flag{
			{user("anna@mail.example"), "brute_force"}, {user("ben@mail.example"), "brute_force"},
			{ip("198.18.0.2"), "credential_stuffing"},
		}, Result{Flagged: 1, TruePositives: 1, Precision: 1, Attackers: 4, Found: 1, Recall: 0.25,
			VictimFlags: []KeyFlags{{user("anna@mail.example"), PopVictim, []string{"brute_force"}},
				{user("ben@mail.example"), PopVictim, []string{"brute_force"}}},
			Classes:   map[Class]ClassResult{Flood: {2, 0}, CredentialStuffing: {1, 1}, Enumeration: {1, 0}},
			Detectors: map[string]DetectorResult{"credential_stuffing": {1, 0}}, Missed: []Attacker{{}, {}, {}}}},
		{"false positives with their population, unknown keys too", []Flag{
			{ip("198.18.0.1"), "flood"}, {ip("198.18.9.9"), "flood"}, {ip("198.18.9.9"), "enumeration"},
			{user("bob@mail.example"), "enumeration"}, {ip("203.0.113.1"), "flood"},
			{Key{vocab.KeySubscription, "portal01"}, "flood"},
		}, Result{Flagged: 5, TruePositives: 1, Precision: 0.2, Attackers: 4, Found: 1, Recall: 0.25,
			FalsePositives: []KeyFlags{
				{ip("198.18.9.9"), PopCorporateNAT, []string{"enumeration", "flood"}},
				{ip("203.0.113.1"), PopUnknown, []string{"flood"}},
				{Key{vocab.KeySubscription, "portal01"}, "browser+mobile", []string{"flood"}},
				{user("bob@mail.example"), PopBrowser, []string{"enumeration"}},
			},
			Classes:   map[Class]ClassResult{Flood: {2, 1}, CredentialStuffing: {1, 0}, Enumeration: {1, 0}},
			Detectors: map[string]DetectorResult{"flood": {1, 3}, "enumeration": {0, 2}}, Missed: []Attacker{{}, {}, {}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Score(scoreScenario(), tc.flags)
			if len(got.Missed) != len(tc.want.Missed) {
				t.Errorf("missed %d attackers, want %d", len(got.Missed), len(tc.want.Missed))
			}
			for _, m := range got.Missed {
				for _, k := range m.Keys {
					for _, f := range tc.flags {
						if f.Key == k {
							t.Errorf("attacker %s counted missed though %v is flagged", m.Class, k)
						}
					}
				}
			}
			got.Missed, tc.want.Missed = nil, nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Score:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestResultAdd: over many seeds, precision and recall are over the summed counts
// (micro-averaged), not a mean of each seed's ratios.
func TestResultAdd(t *testing.T) {
	s := scoreScenario()
	a := Score(s, []Flag{{ip("198.18.0.1"), "flood"}, {ip("198.18.9.9"), "flood"}})                                      // 1/2, 1/4
	b := Score(s, []Flag{{ip("198.18.0.2"), "cs"}, {user("insider@corp.example"), "enum"}, {ip("198.18.0.4"), "flood"}}) // 3/3, 3/4
	var total Result
	total.Add(a)
	total.Add(b)
	if total.Flagged != 5 || total.TruePositives != 4 || total.Precision != 0.8 {
		t.Errorf("precision %v (%d of %d), want 0.8 (4 of 5), not the mean of 0.5 and 1", total.Precision, total.TruePositives, total.Flagged)
	}
	if total.Attackers != 8 || total.Found != 4 || total.Recall != 0.5 {
		t.Errorf("recall %v (%d of %d), want 0.5", total.Recall, total.Found, total.Attackers)
	}
	if c := total.Classes[Flood]; c.Attackers != 4 || c.Found != 2 || c.Recall() != 0.5 {
		t.Errorf("flood %+v", c)
	}
	if d := total.Detectors["flood"]; d.TruePositives != 2 || d.FalsePositives != 1 {
		t.Errorf("flood detector %+v", d)
	}
	if len(total.FalsePositives) != 1 || len(total.Missed) != 4 {
		t.Errorf("%d false positives, %d missed", len(total.FalsePositives), len(total.Missed))
	}
	out := total.String()
	for _, want := range []string{"precision 0.800 (4 of 5 flagged keys), recall 0.500 (4 of 8 attackers)",
		"false positive: ip 198.18.9.9 (corporate-nat) by flood", "missed: credential_stuffing"} {
		if !strings.Contains(out, want) {
			t.Errorf("String() lacks %q:\n%s", want, out)
		}
	}
}

func TestScoreEmptyScenario(t *testing.T) {
	r := Score(&Scenario{}, []Flag{{ip("198.18.0.9"), "flood"}})
	if r.Recall != 1 || r.Precision != 0 || len(r.FalsePositives) != 1 || r.FalsePositives[0].Population != PopUnknown {
		t.Errorf("no attackers, one unknown key flagged: %+v", r)
	}
}
