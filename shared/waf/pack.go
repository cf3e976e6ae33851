package waf

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"slices"
	"time"

	"github.com/apiguard/apiguard/shared/cidr"
)

// Rule is one owned custom rule in canonical form: what Pack wants and what
// Document.Owned reads back, so the two compare with EqualRules.
type Rule struct {
	Name          string `json:"name"`
	Priority      int    `json:"priority"`
	Action        string `json:"action"`
	MatchVariable string `json:"matchVariable"`
	// Values in canonical order: IPv4 before IPv6, numeric order, "a.b.c.d/n" with
	// single addresses written bare.
	Values []string `json:"values"`
	// Malformed says why an owned rule read from a policy is not one apiguard would
	// write (disabled, a second condition, a value that is not an address...). Such a
	// rule never equals a wanted one, so it is always rewritten. Empty for Pack's rules.
	Malformed string `json:"malformed,omitempty"`
}

// Eviction is a desired block left out of the policy, and why.
type Eviction struct {
	Prefix   netip.Prefix `json:"prefix"`
	Severity int          `json:"severity"`
	Expires  time.Time    `json:"expires"`
	Covers   int          `json:"covers"` // desired entries it stood for
	Reason   string       `json:"reason"`
}

// Budget is what the customer leaves apiguard in one policy.
type Budget struct {
	Rules      int   // owned rules that fit
	Priorities []int // free priorities inside the band, ascending (at most MaxRules of them)
}

// Plan is Pack's answer.
type Plan struct {
	Rules      []Rule     `json:"rules"`
	Evicted    []Eviction `json:"evicted"`
	Desired    int        `json:"desired"`    // live entries in (valid and unexpired)
	Expired    int        `json:"expired"`    // entries dropped because they had expired at Options.Now
	Aggregated int        `json:"aggregated"` // entries after aggregation, before eviction
}

// Pack turns desired entries into owned rules.
//
// Entries are aggregated, then cut into rules of one IPMatch condition each (conditions
// are ANDed, so a block list cannot use more than one) holding at most MaxValues values,
// IPv4 and IPv6 apart. On Front Door matching SocketAddr, Forwarded entries are also
// written into RemoteAddr rules of their own (aggregated among themselves, so RemoteAddr
// never covers an address that was not learnt through a forwarded header). Rules are
// named NamePrefix + a three-digit sequence and take budget.Priorities in order.
//
// When the rules needed exceed the budget, the least important aggregated entries are
// evicted first (lowest severity, then shortest remaining time, then the larger
// address), with their RemoteAddr twins, until the rest fits; then any evicted entry
// that fits after all is taken back, most important first, so nothing is evicted that
// did not have to be. Every eviction is recorded with its reason. Invalid prefixes are
// recorded as evictions too, and so are entries Options.Guard refuses (checked per
// entry, before aggregation, which only ever covers the union of what it is given). Pack is deterministic: input order does not matter.
//
// Pack expects validated options (Compute validates); it applies WithDefaults itself.
func Pack(entries []Entry, opts Options, budget Budget) Plan {
	opts = opts.WithDefaults()
	maxValues := opts.MaxValues
	if maxValues < 1 || maxValues > DefaultMaxValues {
		maxValues = DefaultMaxValues // never write a rule the WAF refuses
	}
	var plan Plan
	all := make([]cidr.Block, 0, len(entries))
	var fwd []cidr.Block
	for i := range entries {
		e := &entries[i]
		it, ok := cidr.BlockOf(e.Prefix)
		if !ok {
			plan.Evicted = append(plan.Evicted, Eviction{Prefix: e.Prefix, Severity: e.Severity,
				Expires: e.Expires.Round(0).UTC(), Covers: 1, Reason: "not a valid address or prefix"})
			continue
		}
		if opts.Guard != nil {
			if why := opts.Guard.WhyPrefix(e.Prefix); why != "" {
				plan.Evicted = append(plan.Evicted, Eviction{Prefix: e.Prefix, Severity: e.Severity,
					Expires: e.Expires.Round(0).UTC(), Covers: 1, Reason: "never blocked: " + why})
				continue
			}
		}
		if !opts.Now.IsZero() && !e.Expires.After(opts.Now) {
			plan.Expired++
			continue
		}
		it.SetMeta(e.Severity, e.Expires, e.Forwarded)
		all = append(all, it)
		if e.Forwarded && opts.splitsForwarded() {
			fwd = append(fwd, it)
		}
	}
	plan.Desired = len(all)
	all = cidr.AggregateBlocks(all)
	fwd = cidr.AggregateBlocks(fwd)
	plan.Aggregated = len(all)

	rules := min(budget.Rules, len(budget.Priorities), opts.MaxRules)
	rules = max(rules, 0)
	keep, parent, order := fit(all, fwd, rules, maxValues)
	var reason string
	if len(order) > 0 {
		plan.Evicted = slices.Grow(plan.Evicted, len(all)-count(keep))
	}
	for _, i := range order { // eviction order: the record reads least important first
		if keep[i] {
			continue
		}
		if reason == "" {
			reason = evictReason(rules, maxValues, len(all), len(fwd))
		}
		b := &all[i]
		plan.Evicted = append(plan.Evicted, Eviction{Prefix: b.Prefix(), Severity: b.Severity(),
			Expires: b.Expires(), Covers: b.Covers(), Reason: reason})
	}

	kept := all[:0] // filtered in place: all is not needed any more
	for i := range all {
		if keep[i] {
			kept = append(kept, all[i])
		}
	}
	keptFwd := fwd[:0]
	for i := range fwd {
		if keep[parent[i]] {
			keptFwd = append(keptFwd, fwd[i])
		}
	}
	plan.Rules = makeRules(opts, budget.Priorities, maxValues, kept, keptFwd)
	return plan
}

func count(keep []bool) int {
	n := 0
	for _, k := range keep {
		if k {
			n++
		}
	}
	return n
}

// evictReason explains an eviction once per plan (shared by every eviction of it).
func evictReason(rules, maxValues, values, fwdValues int) string {
	if rules == 0 {
		return "no room: the customer's rules take the whole policy or the priority band"
	}
	twins := ""
	if fwdValues > 0 {
		twins = fmt.Sprintf(" (%d of them RemoteAddr twins of forwarded entries)", fwdValues)
	}
	return fmt.Sprintf("over budget: %d values wanted%s, room for %d rules of %d; least important evicted first (lowest severity, then shortest remaining time)",
		values+fwdValues, twins, rules, maxValues)
}

// counts tracks the values kept per rule group, to know how many rules they need.
type counts struct{ v4, v6, f4, f6 int }

func (c *counts) add(b *cidr.Block, fwd bool, d int) {
	switch {
	case fwd && b.Is6():
		c.f6 += d
	case fwd:
		c.f4 += d
	case b.Is6():
		c.v6 += d
	default:
		c.v4 += d
	}
}

func (c *counts) rules(maxValues int) int {
	n := 0
	for _, v := range [...]int{c.v4, c.v6, c.f4, c.f6} {
		n += (v + maxValues - 1) / maxValues
	}
	return n
}

// fit decides which aggregated entries stay. parent maps each RemoteAddr block to the
// block of all that contains it: evicting an address evicts it on both variables.
// order is the eviction order, nil when everything fits.
func fit(all, fwd []cidr.Block, rules, maxValues int) (keep []bool, parent []int, order []int32) {
	keep = make([]bool, len(all))
	for i := range keep {
		keep[i] = true
	}
	parent = make([]int, len(fwd))
	var twins []int32 // forwarded blocks inside each block of all (same family)
	if len(fwd) > 0 {
		twins = make([]int32, len(all))
		// Both are sorted and every forwarded block lies inside one block of all.
		p := 0
		for i := range fwd {
			for !all[p].Contains(&fwd[i]) {
				p++
			}
			parent[i] = p
			twins[p]++
		}
	}
	var c counts
	for i := range all {
		c.add(&all[i], false, 1)
	}
	for i := range fwd {
		c.add(&fwd[i], true, 1)
	}
	if c.rules(maxValues) <= rules {
		return keep, parent, nil
	}

	move := func(i, d int) {
		c.add(&all[i], false, d)
		if twins != nil {
			c.add(&all[i], true, d*int(twins[i]))
		}
	}
	order = evictionOrder(all)
	n := 0
	for ; n < len(order) && c.rules(maxValues) > rules; n++ {
		keep[order[n]] = false
		move(int(order[n]), -1)
	}
	// Take back what fits after all, most important first: an IPv6 entry evicted to
	// free IPv4 room, say, when IPv4 could not use the room anyway.
	for i := n - 1; i >= 0; i-- {
		x := int(order[i])
		move(x, 1)
		if c.rules(maxValues) <= rules {
			keep[x] = true
		} else {
			move(x, -1)
		}
	}
	return keep, parent, order
}

// evictionOrder lists all's indices least important first: lowest severity, then the
// one expiring first, then the larger address (any fixed order would do; this one is
// documented). all is sorted by address, so the larger index is the larger address.
func evictionOrder(all []cidr.Block) []int32 {
	if order, ok := evictionOrderPacked(all); ok {
		return order
	}
	return evictionOrderSorted(all)
}

// evictionOrderSorted is the general case: compact keys (read in order by the sort)
// and a comparison function.
func evictionOrderSorted(all []cidr.Block) []int32 {
	type key struct {
		expSec int64
		sev    int32
		expNs  int32
		idx    int32
	}
	keys := make([]key, len(all))
	for i := range all {
		sec, ns := all[i].ExpiresUnix()
		keys[i] = key{sec, int32(all[i].Severity()), ns, int32(i)}
	}
	slices.SortFunc(keys, func(a, b key) int {
		switch {
		case a.sev != b.sev:
			return cmp.Compare(a.sev, b.sev)
		case a.expSec != b.expSec:
			return cmp.Compare(a.expSec, b.expSec)
		case a.expNs != b.expNs:
			return cmp.Compare(a.expNs, b.expNs)
		}
		return cmp.Compare(b.idx, a.idx)
	})
	order := make([]int32, len(keys))
	for i := range keys {
		order[i] = keys[i].idx
	}
	return order
}

// evictionOrderPacked is the same order from one sort of uint64 keys (severity, expiry
// in milliseconds from the earliest, reversed index), for the usual case where
// severities span fewer than 16 values and expiries are whole milliseconds within a
// range the key can hold. false means use the general sort.
func evictionOrderPacked(all []cidr.Block) ([]int32, bool) {
	if len(all) == 0 {
		return nil, true
	}
	minSev, maxSev := all[0].Severity(), all[0].Severity()
	minMs, maxMs := int64(math.MaxInt64), int64(math.MinInt64)
	for i := range all {
		sec, ns := all[i].ExpiresUnix()
		sev := all[i].Severity()
		if ns%1e6 != 0 || sec > math.MaxInt64/1000-1 || sec < math.MinInt64/1000+1 {
			return nil, false
		}
		ms := sec*1000 + int64(ns/1e6)
		minSev, maxSev = min(minSev, sev), max(maxSev, sev)
		minMs, maxMs = min(minMs, ms), max(maxMs, ms)
	}
	idxBits := bits.Len(uint(len(all)))
	expBits := 64 - 4 - idxBits
	if int64(maxSev)-int64(minSev) >= 16 || maxMs-minMs < 0 || uint64(maxMs-minMs)>>expBits != 0 {
		return nil, false
	}
	keys := make([]uint64, len(all))
	top := uint64(len(all) - 1)
	for i := range all {
		sec, ns := all[i].ExpiresUnix()
		ms := sec*1000 + int64(ns/1e6)
		keys[i] = uint64(all[i].Severity()-minSev)<<(64-4) | uint64(ms-minMs)<<idxBits | (top - uint64(i))
	}
	slices.Sort(keys)
	order := make([]int32, len(keys))
	mask := uint64(1)<<idxBits - 1
	for i, k := range keys {
		order[i] = int32(top - k&mask)
	}
	return order, true
}

// makeRules cuts kept values into rules: primary variable IPv4, IPv6, then the
// RemoteAddr twins IPv4, IPv6; each group fills rules of maxValues in address order.
func makeRules(opts Options, priorities []int, maxValues int, kept, fwd []cidr.Block) []Rule {
	values := valueStrings(kept)
	fwdValues := valueStrings(fwd)
	split := func(vs []string, blocks []cidr.Block) (v4, v6 []string) {
		i, _ := slices.BinarySearchFunc(blocks, true, func(b cidr.Block, _ bool) int {
			if b.Is6() {
				return 0
			}
			return -1
		})
		return vs[:i], vs[i:]
	}
	a4, a6 := split(values, kept)
	f4, f6 := split(fwdValues, fwd)
	var out []Rule
	for _, g := range []struct {
		variable string
		values   []string
	}{{opts.MatchVariable, a4}, {opts.MatchVariable, a6}, {"RemoteAddr", f4}, {"RemoteAddr", f6}} {
		for vs := range slices.Chunk(g.values, maxValues) {
			n := len(out)
			out = append(out, Rule{
				Name:     opts.NamePrefix + fmt.Sprintf("%03d", n+1),
				Priority: priorities[n], Action: opts.Action, MatchVariable: g.variable,
				Values: slices.Clip(vs),
			})
		}
	}
	return out
}
