package waf

import (
	"slices"
	"strings"

	"github.com/apiguard/apiguard/shared/cidr"
)

// Entry is one desired block. Forwarded says the address was learnt through a trusted
// forwarded header: on Front Door it is also matched on RemoteAddr, where the WAF sees it.
type Entry = cidr.Entry

// valueStrings formats the items' values into one backing string, sliced per value:
// one allocation for all the text however many values there are.
func valueStrings(items []cidr.Block) []string {
	buf := make([]byte, 0, len(items)*18)
	ends := make([]int, len(items))
	for i := range items {
		buf = items[i].AppendTo(buf)
		ends[i] = len(buf)
	}
	text := string(buf)
	out := make([]string, len(items))
	start := 0
	for i, e := range ends {
		out[i] = text[start:e]
		start = e
	}
	return out
}

// parseValue reads a match value as written by anyone: an address or a CIDR.
func parseValue(s string) (cidr.Block, bool) {
	b, err := cidr.ParseBlock(s)
	return b, err == nil
}

// canonicalValues rewrites match values in canonical text and order. Values that are
// not addresses are kept as written, after the others, and reported.
func canonicalValues(vs []string) (out []string, bad []string) {
	items := make([]cidr.Block, 0, len(vs))
	for _, v := range vs {
		if it, ok := parseValue(v); ok {
			items = append(items, it)
		} else {
			bad = append(bad, v)
		}
	}
	slices.SortFunc(items, func(a, b cidr.Block) int { return a.Compare(&b) })
	items = slices.CompactFunc(items, func(a, b cidr.Block) bool { return a.Compare(&b) == 0 })
	out = valueStrings(items)
	if len(bad) > 0 {
		slices.Sort(bad)
		out = append(out, bad...)
	}
	return out, bad
}

// sortValues orders value strings canonically: addresses in canonical order (each
// parsed once), then anything else as text.
func sortValues(vs []string) []string {
	type keyed struct {
		it   cidr.Block
		ok   bool
		text string
	}
	ks := make([]keyed, len(vs))
	for i, v := range vs {
		it, ok := parseValue(v)
		ks[i] = keyed{it, ok, v}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		switch {
		case a.ok && b.ok:
			if c := a.it.Compare(&b.it); c != 0 {
				return c
			}
		case a.ok:
			return -1
		case b.ok:
			return 1
		}
		return strings.Compare(a.text, b.text)
	})
	for i := range ks {
		vs[i] = ks[i].text
	}
	return vs
}
