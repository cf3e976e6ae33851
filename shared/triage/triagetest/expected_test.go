package triagetest

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/triage"
)

// The expected data is hand-written; these checks keep it consistent with itself and
// with the scenario it describes (not with any classifier).
func TestExpectedDataIsConsistent(t *testing.T) {
	for _, c := range []struct {
		w *World
		e Expected
	}{{Scenario(), ScenarioExpected()}, {ScenarioNextMonth(), NextMonthExpected()}} {
		t.Run(c.e.Scenario, func(t *testing.T) {
			checkCoverage(t, c.w, c.e)
			checkTable(t, c.e)
			checkIdleDays(t, c.w, c.e)
		})
	}
}

// Every current API of the world has one expectation, and nothing else has one.
func checkCoverage(t *testing.T, w *World, e Expected) {
	t.Helper()
	if !e.Collected.Equal(w.Collected) || !e.WatchingSince.Equal(w.WatchingSince) {
		t.Errorf("times %s/%s, world %s/%s", e.Collected, e.WatchingSince, w.Collected, w.WatchingSince)
	}
	want := map[string]bool{}
	for _, s := range w.Services {
		for _, a := range s.APIs {
			if a.NotCurrent {
				continue
			}
			id := s.ID() + "/apis/" + a.Name
			want[id] = true
			x := e.API(id)
			if x == nil {
				t.Errorf("no expectation for %s", id)
				continue
			}
			onboarded := a.Defender != nil && s.Name != PartnerService
			if x.Onboarded != onboarded {
				t.Errorf("%s onboarded %v, world %v", a.Name, x.Onboarded, onboarded)
			}
		}
	}
	for _, x := range e.APIs {
		if !want[x.API] {
			t.Errorf("expectation for %s, which the world does not have", x.API)
		}
	}
	if len(e.APIs) != len(want) {
		t.Errorf("%d expectations for %d APIs", len(e.APIs), len(want))
	}
}

// The rank and rules follow from the signals by the risk table; the counts add up.
func checkTable(t *testing.T, e Expected) {
	t.Helper()
	counts := map[triage.Priority]int{}
	for _, x := range e.APIs {
		counts[x.Priority]++
		sig := func(n string) ExpectedSignal {
			s, ok := x.Signals[n]
			if !ok {
				t.Errorf("%s: no %s signal", x.Name, n)
			}
			return s
		}
		ext, auth, sens, inact := sig("external"), sig("authenticated"), sig("sensitive"), sig("inactive")
		// Unknown authentication counts as unauthenticated (the cautious side). Rules
		// are every rule that holds, in the table's order.
		unauth := !auth.Value
		var rules []string
		add := func(ok bool, rule string) {
			if ok {
				rules = append(rules, rule)
			}
		}
		add(ext.Value && unauth, "external+unauthenticated")
		add(ext.Value && sens.Value, "external+sensitive")
		add(ext.Value && !unauth, "external+authenticated")
		add(!ext.Value && sens.Value, "internal+sensitive")
		add(!ext.Value && !sens.Value, "internal+non-sensitive")
		var rank triage.Priority
		switch {
		case ext.Value && (unauth || sens.Value):
			rank = triage.P0
		case ext.Value:
			rank = triage.P1
		case sens.Value:
			rank = triage.P2
		default:
			rank = triage.P3
		}
		if inact.Value && inact.Known {
			if x.Otherwise != rank {
				t.Errorf("%s: otherwise %s, the table gives %s", x.Name, x.Otherwise, rank)
			}
			rank, rules = triage.Decommission, append([]string{"inactive>90d"}, rules...)
		}
		if x.Priority != rank || !slices.Equal(x.Rules, rules) {
			t.Errorf("%s: %s %v, the table gives %s %v", x.Name, x.Priority, x.Rules, rank, rules)
		}
		idle := inact.IdleDays
		switch {
		case idle == nil:
			t.Errorf("%s: no idleDays", x.Name)
		case x.Priority == triage.Decommission && *idle <= 90:
			t.Errorf("%s: Decommission at %d days", x.Name, *idle)
		case x.Candidate && (*idle < 30 || *idle > 90 || inact.Value):
			t.Errorf("%s: candidate at %d days (inactive %v)", x.Name, *idle, inact.Value)
		case !x.Candidate && x.Priority != triage.Decommission && *idle >= 30:
			t.Errorf("%s: idle %d days and neither candidate nor Decommission", x.Name, *idle)
		}
		if ext.Inferred != (ext.By == "network") {
			t.Errorf("%s: external inferred %v by %s", x.Name, ext.Inferred, ext.By)
		}
	}
	for _, p := range triage.Priorities() {
		if counts[p] != e.Counts[p] {
			t.Errorf("%s: %d APIs, counts say %d", p, counts[p], e.Counts[p])
		}
	}
}

// idleDays agree with the world's last-seen keys (the API's latest key, else
// WatchingSince).
func checkIdleDays(t *testing.T, w *World, e Expected) {
	t.Helper()
	for _, x := range e.APIs {
		var last time.Time
		for k, at := range w.Seen {
			if strings.HasPrefix(k, x.Name+" ") && at.After(last) {
				last = at
			}
		}
		if last.IsZero() {
			last = w.WatchingSince
		}
		days := int(w.Collected.Sub(last) / (24 * time.Hour))
		if got := x.Signals["inactive"].IdleDays; got == nil || *got != days {
			t.Errorf("%s: idleDays %s, the world's keys give %d", x.Name, showInt(got), days)
		}
	}
}

// The next month's changes are exactly the differences between the two months, in the
// kinds of shared/triage/vocab.go (no candidate changes here).
func TestExpectedChanges(t *testing.T) {
	before, after := ScenarioExpected(), NextMonthExpected()
	got := map[string]ExpectedChange{}
	for _, c := range after.Changes {
		got[c.Name] = c
	}
	for _, b := range before.APIs {
		a := after.API(b.API)
		c, listed := got[b.Name]
		switch {
		case a == nil:
			if !listed || c.Kind != "removed" || c.From != b.Priority {
				t.Errorf("%s removed, change %+v", b.Name, c)
			}
		case a.Priority == b.Priority:
			if listed {
				t.Errorf("%s: rank unchanged, change %+v", b.Name, c)
			}
		case a.Priority == triage.Decommission:
			if !listed || c.Kind != "newly-inactive" {
				t.Errorf("%s newly inactive, change %+v", b.Name, c)
			}
		case a.Priority == triage.P3 && b.Priority != triage.P3:
			if !listed || c.Kind != "resolved" {
				t.Errorf("%s %s -> P3, change %+v", b.Name, b.Priority, c)
			}
		default:
			kind := "rose"
			if slices.Index(triage.Priorities(), a.Priority) > slices.Index(triage.Priorities(), b.Priority) {
				kind = "fell"
			}
			if !listed || c.Kind != kind || c.From != b.Priority || c.To != a.Priority {
				t.Errorf("%s %s -> %s, change %+v", b.Name, b.Priority, a.Priority, c)
			}
		}
	}
	for _, a := range after.APIs {
		if before.API(a.API) == nil {
			if c, ok := got[a.Name]; !ok || c.Kind != "new" || c.To != a.Priority {
				t.Errorf("%s new, change %+v", a.Name, c)
			}
		}
	}
	if len(after.Changes) != 6 {
		t.Errorf("%d changes, want one of each kind", len(after.Changes))
	}
}

func showInt(p *int) string {
	if p == nil {
		return "none"
	}
	return strconv.Itoa(*p)
}
