package triage

import (
	"cmp"
	"slices"
	"strings"
)

// changes compares this month's ranks with last month's. APIs are matched by resource id
// (case-insensitively, as ARM compares them). Kinds, one per API and month except that a
// new decommission candidate is also reported:
//
//   - new: not in last month's classification.
//   - removed: in last month's, not in this month's inventory (the API was deleted, or
//     left the triage's scope).
//   - newly-inactive: now Decommission and not last month; or newly a decommission
//     candidate (idle 30 days) at an unchanged priority.
//   - resolved: a finding last month (P0, P1 or P2), P3 now: it is still there and has
//     left the findings because a signal changed (authentication added, no longer
//     external, no longer sensitive). An API that went idle is newly-inactive and one
//     that was deleted is removed: neither was fixed, so neither is resolved.
//   - rose: more urgent than last month (P1 to P0, P3 to P2, Decommission back to a
//     risk rank because traffic came back).
//   - fell: less urgent, and still a finding (P0 to P1, P1 to P2).
//
// Signal names every signal whose value changed, "authenticated: false -> true;
// external: unknown -> true" (unknown where it was not known).
func changes(prev, cur []Ranked) []Change {
	before := make(map[string]*Ranked, len(prev))
	for i := range prev {
		before[strings.ToLower(prev[i].API)] = &prev[i]
	}
	now := make(map[string]bool, len(cur))
	var out []Change
	for i := range cur {
		r := &cur[i]
		k := strings.ToLower(r.API)
		now[k] = true
		p, ok := before[k]
		if !ok {
			out = append(out, Change{API: r.API, Name: r.Name, Kind: ChangeNew, To: r.Priority})
			continue
		}
		ch := Change{API: r.API, Name: r.Name, From: p.Priority, To: r.Priority, Signal: signalDiff(p.Signals, r.Signals)}
		switch {
		case p.Priority == r.Priority:
			if r.Candidate && !p.Candidate {
				ch.Kind = ChangeNewlyInactive
				ch.Signal = "candidate: false -> true"
			}
		case r.Priority == Decommission:
			ch.Kind = ChangeNewlyInactive
		case p.Priority.finding() && r.Priority == P3:
			ch.Kind = ChangeResolved
		case r.Priority.rank() < p.Priority.rank():
			ch.Kind = ChangeRose
		default:
			ch.Kind = ChangeFell
		}
		if ch.Kind == "" {
			continue
		}
		out = append(out, ch)
		if ch.Kind != ChangeNewlyInactive && r.Candidate && !p.Candidate {
			out = append(out, Change{API: r.API, Name: r.Name, Kind: ChangeNewlyInactive, From: p.Priority, To: r.Priority, Signal: "candidate: false -> true"})
		}
	}
	for i := range prev {
		if p := &prev[i]; !now[strings.ToLower(p.API)] {
			out = append(out, Change{API: p.API, Name: p.Name, Kind: ChangeRemoved, From: p.Priority})
		}
	}
	slices.SortStableFunc(out, func(a, b Change) int {
		return cmp.Or(
			cmp.Compare(changeRank(a.Kind), changeRank(b.Kind)),
			strings.Compare(a.Name, b.Name),
			strings.Compare(a.API, b.API),
		)
	})
	return out
}

// changeRank orders the changes in a report: what needs attention first.
func changeRank(kind string) int {
	return slices.Index([]string{ChangeNew, ChangeRose, ChangeFell, ChangeResolved, ChangeNewlyInactive, ChangeRemoved}, kind)
}

// signalDiff names the signals whose value changed between two months.
func signalDiff(prev, cur []Signal) string {
	var diffs []string
	for _, s := range cur {
		for _, p := range prev {
			if p.Name != s.Name {
				continue
			}
			if a, b := signalWord(p), signalWord(s); a != b {
				diffs = append(diffs, s.Name+": "+a+" -> "+b)
			}
			break
		}
	}
	return strings.Join(diffs, "; ")
}
