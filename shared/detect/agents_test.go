package detect

import (
	"math/rand/v2"
	"testing"
)

// busiest never under-counts the busiest agent, summarised in one piece or merged from
// parts in any split, and gives the whole count when one or two agents were seen.
func TestAgentTallyBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 500 {
		agents := 1 + rng.IntN(60)
		n := 1 + rng.IntN(600)
		stream := make([]uint32, n)
		exact := map[uint32]uint32{}
		for i := range stream {
			a := uint32(rng.IntN(agents)) // uniform
			if rng.IntN(3) == 0 {
				a = 0 // a heavy one
			}
			stream[i] = a + 1000
			exact[stream[i]]++
		}
		var top uint32
		for _, c := range exact {
			top = max(top, c)
		}
		var whole agentTally
		parts := make([]agentTally, 1+rng.IntN(5))
		for i, a := range stream {
			whole.add(a, 1)
			parts[i*len(parts)/n].add(a, 1)
		}
		var merged agentTally
		for i := range parts {
			merged.merge(&parts[i])
		}
		for name, tl := range map[string]*agentTally{"whole": &whole, "merged": &merged} {
			b := tl.busiest(uint32(n))
			if b < top || b > uint32(n) || tl.total != uint32(n) {
				t.Fatalf("round %d %s: busiest %d, true %d, of %d (total %d)", round, name, b, top, n, tl.total)
			}
			if len(exact) <= 2 && b != uint32(n) {
				t.Fatalf("round %d %s: %d agents judged as several (%d of %d)", round, name, len(exact), b, n)
			}
		}
	}
	// Forty agents evenly: the bound is far under the total.
	var proxy agentTally
	for i := range 400 {
		proxy.add(uint32(i%40), 1)
	}
	if b := proxy.busiest(400); b > 120 {
		t.Errorf("forty even agents: busiest %d of 400", b)
	}
	// Requests before the summary count as the busiest agent's.
	if b := proxy.busiest(500); b < 100 {
		t.Errorf("100 unsummarised requests: busiest %d", b)
	}
}
