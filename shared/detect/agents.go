package detect

import "math"

// topAgents is how many user agents an address's agentTally follows (Misra–Gries).
const topAgents = 8

// agentTally follows an address's busiest user agents: a Misra–Gries summary of
// topAgents counters over the hashes of its requests' user agents. A flooder sends
// one agent; a forward proxy's or a school's anonymous users send dozens, none of them
// many requests. It bounds the busiest agent's count from above (busiest), so flood
// judges an address by the most one browser behind it can have sent.
type agentTally struct {
	h     [topAgents]uint32
	n     [topAgents]uint32
	total uint32 // requests summarised
}

func (t *agentTally) add(h, c uint32) {
	t.total = addU32(t.total, c)
	for i := range t.h {
		if t.n[i] > 0 && t.h[i] == h {
			t.n[i] = addU32(t.n[i], c)
			return
		}
	}
	for i := range t.h {
		if t.n[i] == 0 {
			t.h[i], t.n[i] = h, c
			return
		}
	}
	// Full: every counter gives up as much as it can toward c (the classic decrement).
	least := t.n[0]
	for _, n := range t.n[1:] {
		least = min(least, n)
	}
	d := min(least, c)
	for i := range t.n {
		t.n[i] -= d
	}
	if c > d {
		for i := range t.h {
			if t.n[i] == 0 {
				t.h[i], t.n[i] = h, c-d
				return
			}
		}
	}
}

// merge adds o's summary (the summaries of two parts merge into one of the whole,
// with the same error bound).
func (t *agentTally) merge(o *agentTally) {
	if o.total == 0 {
		return
	}
	total := addU32(t.total, o.total)
	for i := range o.h {
		if o.n[i] > 0 {
			t.add(o.h[i], o.n[i])
		}
	}
	t.total = total
}

// busiest bounds from above how many of the n requests of the key (n >= total: some
// may predate the summary) came with one user agent. It gives n itself when at most
// two agents were seen: a person's browser and app are one client. A flooder must
// rotate through three agents or more, and stay under as many times the limit, to be
// judged as several clients.
func (t *agentTally) busiest(n uint32) uint32 {
	var top, sum uint64
	k := 0
	for _, c := range t.n {
		top, sum = max(top, uint64(c)), sum+uint64(c)
		if c > 0 {
			k++
		}
	}
	if t.total == 0 || k <= 2 && sum >= uint64(t.total) {
		return n
	}
	bound := top + (uint64(t.total)-min(sum, uint64(t.total)))/(topAgents+1) + uint64(n-min(n, t.total))
	return uint32(min(bound, uint64(n), math.MaxUint32))
}

// trivial: at most one agent seen, which busiest gives whole without the summary.
func (t *agentTally) trivial() bool {
	k := 0
	for _, c := range t.n {
		if c > 0 {
			k++
		}
	}
	return k <= 1 && t.total == sumCounts(t)
}

func sumCounts(t *agentTally) uint32 {
	var s uint32
	for _, c := range t.n {
		s = addU32(s, c)
	}
	return s
}
