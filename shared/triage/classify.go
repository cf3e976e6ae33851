package triage

import (
	"cmp"
	"slices"
	"strings"
)

// Classify ranks every API of the inventory by the risk table, with the signals that
// decided each rank, compares with last month's classification (prev, nil on the first
// run), proposes remediations and plans Defender for APIs onboarding. It is pure: no
// I/O, no clock (ages are judged against inv.Collected), the same answer for the same
// input. It never fails: what it cannot read it says (in the signals and the gaps) and
// ranks on the cautious side.
//
// The rules, evaluated in this order (README.md explains each signal):
//
//	Decommission  inactive for more than 90 days (proven; see inactive)
//	P0            external and unauthenticated, or external and sensitive (both named when both hold)
//	P1            external and authenticated
//	P2            internal and sensitive
//	P3            internal and not sensitive
//
// An unknown signal takes the cautious side: external, unauthenticated; an API whose
// inactivity is not proven is ranked by the other rules.
func Classify(inv Inventory, prev *Classification, opts Options) Classification {
	opts = opts.withDefaults(inv.Collected)
	c := &classifier{
		inv:    &inv,
		opts:   opts,
		tags:   lowerSet(opts.SensitiveTags),
		reader: policyReader{own: lowerSet(opts.OwnFragments)},
	}
	out := Classification{
		Month:     opts.Month,
		Collected: inv.Collected,
		Counts:    make(map[Priority]int, len(Priorities())),
	}
	for _, p := range Priorities() {
		out.Counts[p] = 0
	}
	var items []*item
	for si := range inv.Services {
		sc := c.service(&inv.Services[si])
		for ai := range sc.svc.APIs {
			it := c.classify(sc, &apiCtx{api: &sc.svc.APIs[ai]})
			items = append(items, it)
			out.Counts[it.Priority]++
		}
	}
	out.Coverage = c.coverage(items)
	for _, it := range items {
		c.recommend(it)
	}
	order(items)
	out.APIs = make([]Ranked, len(items))
	for i, it := range items {
		out.APIs[i] = it.Ranked
	}
	if prev != nil {
		out.Previous = prev.Month
		out.Changes = changes(prev.APIs, out.APIs)
	}
	out.Gaps = append(slices.Clip(inv.Gaps), c.gaps...)
	return out
}

// classifier holds one run's state: the options and what it has read.
type classifier struct {
	inv    *Inventory
	opts   Options
	tags   map[string]bool
	reader policyReader
	gaps   []Gap // policies the scanner could not read
}

// item is one API being ranked, with what the recommendations and the ordering need.
type item struct {
	Ranked
	sc        *serviceCtx
	ac        *apiCtx
	ext, sens bool // the values the rank used (unknown external counts as external)
	auth      authResult
	batch     int // 1-based onboarding batch within its service; 0 none
	batches   int // the service's batch count
}

// classify ranks one API.
func (c *classifier) classify(sc *serviceCtx, ac *apiCtx) *item {
	api := ac.api
	it := &item{sc: sc, ac: ac}
	it.Ranked = Ranked{
		API:         api.ID,
		Name:        api.Name,
		DisplayName: api.DisplayName,
		Service:     sc.svc.Name,
		Onboarded:   onboarded(api.Defender),
	}
	ext, extPhrase := external(sc.svc, api)
	it.auth = c.authenticated(sc, ac)
	sens, sensPhrase := sensitive(api, c.tags)
	idle := inactive(api, c.inv.Collected, c.inv.WatchingSince)
	it.Signals = []Signal{ext, it.auth.sig, sens, idle.sig}
	it.ext, it.sens = ext.Value, sens.Value
	authed := it.auth.sig.Value

	var rules []string
	if it.ext && !authed {
		rules = append(rules, RuleExternalUnauthenticated)
	}
	if it.ext && it.sens {
		rules = append(rules, RuleExternalSensitive)
	}
	if it.ext && authed {
		rules = append(rules, RuleExternalAuthenticated)
	}
	if !it.ext && it.sens {
		rules = append(rules, RuleInternalSensitive)
	}
	if !it.ext && !it.sens {
		rules = append(rules, RuleInternalNonSensitive)
	}
	switch {
	case idle.decommission:
		it.Priority = Decommission
		rules = append([]string{RuleInactive}, rules...)
	case it.ext && (!authed || it.sens):
		it.Priority = P0
	case it.ext:
		it.Priority = P1
	case it.sens:
		it.Priority = P2
	default:
		it.Priority = P3
	}
	it.Rules = rules
	it.Candidate = idle.candidate

	// The reason: the rank, then the signals that decided it.
	var why []string
	switch it.Priority {
	case Decommission:
		why = []string{idle.phrase}
	case P0, P1:
		why = []string{extPhrase, it.auth.phrase, sensPhrase}
	default:
		why = []string{extPhrase, sensPhrase}
	}
	reason := it.Priority.label() + ": " + sentence(why)
	if idle.candidate {
		reason += "; " + idle.phrase
	}
	it.Reason = reason + "."
	return it
}

// sentence joins clauses as "a, b and c".
func sentence(clauses []string) string {
	switch n := len(clauses); n {
	case 0:
		return ""
	case 1:
		return clauses[0]
	default:
		return strings.Join(clauses[:n-1], ", ") + " and " + clauses[n-1]
	}
}

// LeadThreshold: with more findings (P0 to P2) than this, the report leads with external
// and sensitive APIs (the guidance: they usually hold most of the risk).
const LeadThreshold = 50

// order sorts the APIs most urgent first: by priority (P0, P1, P2, P3, Decommission),
// external and sensitive first within a priority, then by name, service and id.
//
// With more than 50 findings (P0 to P2), the report leads with external and sensitive:
// every API that is external and sensitive (by the values its rank used) comes first,
// whatever its priority (a Decommission API that is external and sensitive included),
// among them by priority then name; the rest follow in the order above. With 50 or fewer
// the order above alone applies, which already puts external and sensitive APIs first
// within P0.
func order(items []*item) {
	findings := 0
	for _, it := range items {
		if it.Priority.finding() {
			findings++
		}
	}
	lead := findings > LeadThreshold
	slices.SortStableFunc(items, func(a, b *item) int {
		as, bs := a.ext && a.sens, b.ext && b.sens
		if lead && as != bs {
			return boolFirst(as, bs)
		}
		if r := cmp.Compare(a.Priority.rank(), b.Priority.rank()); r != 0 {
			return r
		}
		if as != bs {
			return boolFirst(as, bs)
		}
		return cmp.Or(
			strings.Compare(a.Name, b.Name),
			strings.Compare(a.Service, b.Service),
			strings.Compare(a.API, b.API),
		)
	})
}

// boolFirst orders true before false.
func boolFirst(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return -1
	}
	return 1
}
