package cidr

import "slices"

// Aggregate merges desired prefixes into the fewest CIDRs that cover exactly the same
// addresses: entries inside another are dropped, and sibling halves that are both
// desired become their parent, repeatedly. It never covers an address nobody asked to
// block (10.0.0.0-10.0.0.2 stays 10.0.0.0/31 + 10.0.0.2). A merged entry keeps the
// highest severity, the latest expiry and Forwarded if any entry it covers had them:
// evicting it evicts all of them. Invalid prefixes are skipped. The result is sorted,
// IPv4 before IPv6, and does not depend on the input order.
func Aggregate(entries []Entry) []Entry {
	blocks := make([]Block, 0, len(entries))
	for i := range entries {
		e := &entries[i]
		if b, ok := BlockOf(e.Prefix); ok {
			b.SetMeta(e.Severity, e.Expires, e.Forwarded)
			blocks = append(blocks, b)
		}
	}
	blocks = AggregateBlocks(blocks)
	out := make([]Entry, len(blocks))
	for i := range blocks {
		out[i] = blocks[i].Entry()
	}
	return out
}

// AggregateBlocks is Aggregate in integer form, for callers that keep working on
// blocks: every input lies inside exactly one output block, and Covers counts them.
// It consumes blocks: their order and contents are overwritten.
//
// It works on intervals rather than by merging siblings pair by pair: overlapping and
// adjacent prefixes are joined into maximal address intervals, and each interval is cut
// into the largest aligned blocks that fit, which is the unique minimal CIDR cover of
// exactly those addresses. Every input prefix then lies inside exactly one output block
// (a block that is not maximal would have been merged), so one sweep attributes
// severity, expiry and counts.
func AggregateBlocks(blocks []Block) []Block {
	in := sortBlocks(blocks)
	// Output is written over the input already read: every output block holds at least
	// one input and an interval never needs more blocks than the inputs it came from.
	out := in[:0]
	for i := 0; i < len(in); {
		// Interval [s, e] of one family, from in[i:j].
		v6, s, e := in[i].v6, in[i].start, in[i].end()
		j := i + 1
		for ; j < len(in) && in[j].v6 == v6; j++ {
			next, wrapped := e.addOne()
			if !wrapped && !familyEnd(e, v6) && in[j].start.cmp(next) > 0 {
				break // a gap
			}
			if ie := in[j].end(); ie.cmp(e) > 0 {
				e = ie
			}
		}
		out = cutInterval(out, in[i:j], s, e, v6)
		i = j
	}
	return out
}

// sortBlocks sorts blocks in canonical order. IPv4, nearly always the bulk, is sorted
// as packed integer keys (address, length, index), several times faster than a
// comparison function over structs; IPv6 with one. The result may be a new slice.
func sortBlocks(blocks []Block) []Block {
	const idxBits = 26
	if len(blocks) >= 1<<idxBits {
		slices.SortFunc(blocks, func(a, b Block) int { return a.Compare(&b) })
		return blocks
	}
	keys := make([]uint64, 0, len(blocks))
	v6 := make([]Block, 0, 16)
	for i := range blocks {
		if b := &blocks[i]; b.v6 {
			v6 = append(v6, *b)
		} else {
			keys = append(keys, b.start.lo<<32|uint64(b.bits)<<idxBits|uint64(i))
		}
	}
	slices.Sort(keys)
	slices.SortFunc(v6, func(a, b Block) int { return a.Compare(&b) })
	out := make([]Block, 0, len(blocks))
	for _, k := range keys {
		out = append(out, blocks[k&(1<<idxBits-1)])
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
func cutInterval(out []Block, in []Block, s, e u128, v6 bool) []Block {
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
		b := Block{start: s, v6: v6, bits: uint8(width - n)}
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

// fold merges one covered block into its output block.
func fold(b, in *Block) {
	if b.covers == 0 {
		b.sev, b.expSec, b.expNs = in.sev, in.expSec, in.expNs
	} else {
		b.sev = max(b.sev, in.sev)
		if in.expSec > b.expSec || in.expSec == b.expSec && in.expNs > b.expNs {
			b.expSec, b.expNs = in.expSec, in.expNs
		}
	}
	b.fwd = b.fwd || in.fwd
	b.covers += in.covers
}
