package waf

import (
	"slices"
)

// Aggregate merges desired prefixes into the fewest CIDRs that cover exactly the same
// addresses: entries inside another are dropped, and sibling halves that are both
// desired become their parent, repeatedly. It never covers an address nobody asked to
// block (10.0.0.0-10.0.0.2 stays 10.0.0.0/31 + 10.0.0.2). A merged entry keeps the
// highest severity, the latest expiry and Forwarded if any entry it covers had them:
// evicting it evicts all of them. Invalid prefixes are skipped. The result is sorted,
// IPv4 before IPv6, and does not depend on the input order.
func Aggregate(entries []Entry) []Entry {
	items := make([]item, 0, len(entries))
	for i := range entries {
		if it, ok := itemOf(entries[i].Prefix); ok {
			it.setMeta(&entries[i])
			items = append(items, it)
		}
	}
	blocks := aggregate(items)
	out := make([]Entry, len(blocks))
	for i := range blocks {
		out[i] = blocks[i].entry()
	}
	return out
}

// aggregate returns the canonical blocks covering the union of items. It consumes
// items: their order and contents are overwritten.
//
// It works on intervals rather than by merging siblings pair by pair: overlapping and
// adjacent prefixes are joined into maximal address intervals, and each interval is cut
// into the largest aligned blocks that fit, which is the unique minimal CIDR cover of
// exactly those addresses. Every input prefix then lies inside exactly one output block
// (a block that is not maximal would have been merged), so one sweep attributes
// severity, expiry and counts.
func aggregate(items []item) []item {
	items = sortItems(items)
	// Blocks are written over the items already read: every block holds at least one
	// item and an interval never needs more blocks than the items it came from.
	out := items[:0]
	for i := 0; i < len(items); {
		// Interval [s, e] of one family, from items[i:j].
		v6, s, e := items[i].v6, items[i].start, items[i].end()
		j := i + 1
		for ; j < len(items) && items[j].v6 == v6; j++ {
			next, wrapped := e.addOne()
			if !wrapped && !familyEnd(e, v6) && items[j].start.cmp(next) > 0 {
				break // a gap
			}
			if ie := items[j].end(); ie.cmp(e) > 0 {
				e = ie
			}
		}
		out = cutInterval(out, items[i:j], s, e, v6)
		i = j
	}
	return out
}

// sortItems sorts items in canonical order. IPv4, nearly always the bulk, is sorted
// as packed integer keys (address, length, index), several times faster than a
// comparison function over structs; IPv6 with one. The result may be a new slice.
func sortItems(items []item) []item {
	const idxBits = 26
	if len(items) >= 1<<idxBits {
		slices.SortFunc(items, func(a, b item) int { return cmpAddr(&a, &b) })
		return items
	}
	keys := make([]uint64, 0, len(items))
	v6 := make([]item, 0, 16)
	for i := range items {
		if it := &items[i]; it.v6 {
			v6 = append(v6, *it)
		} else {
			keys = append(keys, it.start.lo<<32|uint64(it.bits)<<idxBits|uint64(i))
		}
	}
	slices.Sort(keys)
	slices.SortFunc(v6, func(a, b item) int { return cmpAddr(&a, &b) })
	out := make([]item, 0, len(items))
	for _, k := range keys {
		out = append(out, items[k&(1<<idxBits-1)])
	}
	return append(out, v6...)
}

// familyEnd reports whether a is the last address of its family (nothing can follow).
func familyEnd(a u128, v6 bool) bool {
	if v6 {
		return a.hi == ^uint64(0) && a.lo == ^uint64(0)
	}
	return a.lo == 0xffffffff
}

// cutInterval appends the largest aligned blocks covering [s, e] and folds into each
// block the inputs (sorted by start) that it contains.
func cutInterval(out []item, in []item, s, e u128, v6 bool) []item {
	width := 32
	if v6 {
		width = 128
	}
	k := 0
	for {
		// Largest 2^n block starting at s: limited by s's alignment and by the length left.
		n := min(s.trailingZeros(), width)
		if left := e.sub(s); left == lowMask(128) {
			n = min(n, 128)
		} else {
			size, _ := left.addOne()
			n = min(n, size.bitLen()-1)
		}
		last := s.or(lowMask(n))
		b := item{start: s, v6: v6, bits: uint8(width - n)}
		for ; k < len(in) && in[k].start.cmp(last) <= 0; k++ {
			fold(&b, &in[k])
		}
		out = append(out, b)
		if last.cmp(e) >= 0 {
			return out
		}
		s, _ = last.addOne()
	}
}

// fold merges one covered entry into its block.
func fold(b, it *item) {
	if b.covers == 0 {
		b.sev, b.expSec, b.expNs = it.sev, it.expSec, it.expNs
	} else {
		b.sev = max(b.sev, it.sev)
		if cmpExp(it, b) > 0 {
			b.expSec, b.expNs = it.expSec, it.expNs
		}
	}
	b.fwd = b.fwd || it.fwd
	b.covers += it.covers
}

// contains reports whether block b holds prefix it entirely.
func contains(b, it *item) bool {
	return b.v6 == it.v6 && b.bits <= it.bits && it.start.and(lowMask(b.width()-int(b.bits)).not()) == b.start
}
