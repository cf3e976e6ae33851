package cidr

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// TestAggregateExact checks aggregation by brute force on small address spaces:
// exactly the desired addresses are covered, by disjoint blocks, none of which could
// merge with a neighbour, each carrying the highest severity and latest expiry it covers.
func TestAggregateExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for round := range 500 {
		v6 := round%2 == 1
		base, width := netip.MustParseAddr("10.0.0.0"), 32
		if v6 {
			base, width = netip.MustParseAddr("2001:db8::"), 128
		}
		want := make([]int, 256) // max severity + 1 per address, 0 = not desired
		var in []Block
		for range 1 + rng.IntN(12) {
			bits := width - rng.IntN(6)
			off := rng.IntN(256)
			a := base
			for range off {
				a = a.Next()
			}
			s, _ := BlockOf(netip.PrefixFrom(a, bits))
			s.SetMeta(rng.IntN(4), t0.Add(time.Duration(rng.IntN(100))*time.Minute), false)
			in = append(in, s)
			start := int(s.start.lo & 0xff)
			for x := start; x < start+1<<(width-bits); x++ {
				want[x] = max(want[x], s.Severity()+1)
			}
		}
		inCopy := slices.Clone(in)
		out := AggregateBlocks(in)
		got := make([]int, 256)
		for i, b := range out {
			if b.start.lo&lowMask(b.width()-b.Bits()).lo != 0 {
				t.Fatalf("round %d: %s not aligned", round, b.String())
			}
			start := int(b.start.lo & 0xff)
			for x := start; x < start+1<<(b.width()-b.Bits()); x++ {
				if got[x] != 0 {
					t.Fatalf("round %d: blocks overlap at %d", round, x)
				}
				got[x] = b.Severity() + 1
			}
			if i > 0 {
				p := out[i-1]
				if p.bits == b.bits && p.bits > 0 && p.end().lo+1 == b.start.lo && p.start.lo&(1<<(p.width()-p.Bits()+1)-1) == 0 {
					t.Fatalf("round %d: sibling halves %s and %s not merged", round, p.String(), b.String())
				}
			}
			// Attribution: the latest expiry among the inputs inside the block.
			var latest time.Time
			for _, x := range inCopy {
				if b.Contains(&x) && x.Expires().After(latest) {
					latest = x.Expires()
				}
			}
			if !b.Expires().Equal(latest) {
				t.Fatalf("round %d: %s expires %v, want %v", round, b.String(), b.Expires(), latest)
			}
		}
		for x := range 256 {
			if (got[x] == 0) != (want[x] == 0) {
				t.Fatalf("round %d: address %d covered %v, desired %v", round, x, got[x] != 0, want[x] != 0)
			}
			if got[x] != 0 && got[x] < want[x] {
				t.Fatalf("round %d: address %d at severity %d under a block of %d", round, x, want[x]-1, got[x]-1)
			}
		}
	}
}
