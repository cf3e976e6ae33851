package waf

import (
	"slices"
)

// Change is one reconcile step computed offline.
type Change struct {
	Doc     []byte     // the document to write (the input bytes themselves when !Changed)
	Before  []Rule     // owned rules found
	After   []Rule     // owned rules wanted
	Added   []string   // values in After not in Before, canonical order
	Removed []string   // values in Before not in After, canonical order
	Evicted []Eviction // desired blocks that did not fit
	// Changed says the owned rules differ, compared as canonical rules: key order or
	// whitespace in the live document never causes a write.
	Changed bool
	Plan    Plan // the packing behind After (counts of desired, expired, aggregated)
}

// Compute reads current, packs the entries live at opts.Now into the budget the
// customer leaves, and returns the document to write. Invalid options and documents are
// rejections (fault.Rejected); nothing is half-computed.
func Compute(opts Options, current []byte, entries []Entry) (Change, error) {
	opts = opts.WithDefaults()
	if err := opts.Validate(); err != nil {
		return Change{}, err
	}
	doc, err := ParseDocument(opts.Kind, current)
	if err != nil {
		return Change{}, err
	}
	plan := Pack(entries, opts, doc.Budget(opts))
	c := Change{
		Before:  doc.Owned(opts),
		After:   plan.Rules,
		Evicted: plan.Evicted,
		Plan:    plan,
		Doc:     current,
	}
	c.Changed = !EqualRules(c.Before, c.After)
	if c.Changed {
		c.Added, c.Removed = diffValues(c.Before, c.After)
		if c.Doc, err = doc.WithOwned(opts, c.After); err != nil {
			return Change{}, err
		}
	}
	return c, nil
}

// EqualRules compares two owned rule sets as canonical rules, in any order.
func EqualRules(a, b []Rule) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	sortRules(a)
	sortRules(b)
	for i := range a {
		x, y := &a[i], &b[i]
		if x.Name != y.Name || x.Priority != y.Priority || x.Action != y.Action ||
			x.MatchVariable != y.MatchVariable || x.Malformed != y.Malformed || !slices.Equal(x.Values, y.Values) {
			return false
		}
	}
	return true
}

// diffValues lists the values that appear only in after (added) and only in before
// (removed), whichever rule holds them.
func diffValues(before, after []Rule) (added, removed []string) {
	set := func(rs []Rule) map[string]bool {
		n := 0
		for _, r := range rs {
			n += len(r.Values)
		}
		m := make(map[string]bool, n)
		for _, r := range rs {
			for _, v := range r.Values {
				m[v] = true
			}
		}
		return m
	}
	b, a := set(before), set(after)
	for v := range a {
		if !b[v] {
			added = append(added, v)
		}
	}
	for v := range b {
		if !a[v] {
			removed = append(removed, v)
		}
	}
	return sortValues(added), sortValues(removed)
}
