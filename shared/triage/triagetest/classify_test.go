package triagetest

import (
	"slices"
	"testing"

	"github.com/apiguard/apiguard/shared/triage"
	"github.com/apiguard/apiguard/shared/triage/collect"
)

// The cross-check: the collector over each scenario, classified (next month against the
// first), gives what the hand-derived expectations say, rank, rules, candidate,
// onboarding, each signal's value, knownness and inference, and the changes.
func TestClassificationMatchesExpected(t *testing.T) {
	var prev *triage.Classification
	for _, c := range []struct {
		w *World
		e Expected
	}{{Scenario(), ScenarioExpected()}, {ScenarioNextMonth(), NextMonthExpected()}} {
		inv, err := collect.Collect(t.Context(), c.w.Options())
		if err != nil {
			t.Fatal(err)
		}
		got := triage.Classify(inv, prev, triage.Options{SensitiveTags: c.w.SensitiveTags})
		prev = &got
		t.Run(c.e.Scenario, func(t *testing.T) {
			if len(got.APIs) != len(c.e.APIs) {
				t.Errorf("%d APIs ranked, %d expected", len(got.APIs), len(c.e.APIs))
			}
			for _, r := range got.APIs {
				x := c.e.API(r.API)
				if x == nil {
					t.Errorf("%s ranked, not expected", r.API)
					continue
				}
				if r.Priority != x.Priority || !slices.Equal(r.Rules, x.Rules) || r.Candidate != x.Candidate || r.Onboarded != x.Onboarded {
					t.Errorf("%s/%s: %s %v candidate %v onboarded %v; want %s %v candidate %v onboarded %v",
						x.Service, x.Name, r.Priority, r.Rules, r.Candidate, r.Onboarded, x.Priority, x.Rules, x.Candidate, x.Onboarded)
				}
				for _, s := range r.Signals {
					e, ok := x.Signals[s.Name]
					if !ok || s.Value != e.Value || s.Known != e.Known || s.Inferred != e.Inferred {
						t.Errorf("%s/%s %s: %v known %v inferred %v (%s); want %v known %v inferred %v (%s)",
							x.Service, x.Name, s.Name, s.Value, s.Known, s.Inferred, s.Source, e.Value, e.Known, e.Inferred, e.Why)
					}
				}
			}
			for _, p := range triage.Priorities() {
				if got.Counts[p] != c.e.Counts[p] {
					t.Errorf("%s: %d, want %d", p, got.Counts[p], c.e.Counts[p])
				}
			}
			type change struct{ name, kind, from, to string }
			var have, want []change
			for _, ch := range got.Changes {
				have = append(have, change{ch.Name, ch.Kind, string(ch.From), string(ch.To)})
			}
			for _, ch := range c.e.Changes {
				want = append(want, change{ch.Name, ch.Kind, string(ch.From), string(ch.To)})
			}
			cmp := func(a, b change) int {
				if a.name != b.name {
					if a.name < b.name {
						return -1
					}
					return 1
				}
				return 0
			}
			slices.SortFunc(have, cmp)
			slices.SortFunc(want, cmp)
			if !slices.Equal(have, want) {
				t.Errorf("changes\n got %v\nwant %v", have, want)
			}
		})
	}
}
