package detect

import (
	"math"
	"slices"
)

// sketchK bounds every distinct count: up to sketchK values are counted exactly, beyond
// that the sketch keeps the sketchK smallest hashes (a KMV, "k minimum values",
// sketch) and estimates the count as (k-1)/h_k with h_k the k-th smallest hash read as
// a fraction of 2^64: relative standard error 1/sqrt(k-2), about 13%.
//
// The exact mode and the KMV mode are the same data: a set of at most k hashes is also
// the k smallest of itself. Union is exact in both modes (merge, keep the k smallest),
// so sketches from any number of batches and instances combine in any order to the
// same result. Every threshold that has to be exact (probing, credential stuffing) is
// validated to be at most sketchK.
const sketchK = 64

// distinct is a bounded distinct-count sketch. The zero value is empty and allocates
// nothing; the slice grows with the values seen, up to sketchK.
type distinct struct {
	h   []uint64 // strictly ascending
	sat bool     // more than sketchK distinct values were seen; len(h) == sketchK
}

func (d *distinct) add(x uint64) {
	i, found := slices.BinarySearch(d.h, x)
	if found {
		return
	}
	if len(d.h) < sketchK {
		if d.h == nil {
			d.h = make([]uint64, 0, 4)
		}
		d.h = slices.Insert(d.h, i, x)
		return
	}
	d.sat = true
	if i == sketchK {
		return
	}
	copy(d.h[i+1:], d.h[i:sketchK-1])
	d.h[i] = x
}

func (d *distinct) empty() bool { return len(d.h) == 0 }

// count is the number of distinct values: exact up to sketchK, estimated above.
func (d *distinct) count() int {
	if !d.sat {
		return len(d.h)
	}
	est := float64(sketchK-1) / ((float64(d.h[sketchK-1]) + 1) / math.Exp2(64))
	return max(int(math.Round(est)), sketchK+1)
}

// estimated reports whether count is an estimate.
func (d *distinct) estimated() bool { return d.sat }

// merge makes d the union of d and o, in place when d has the room.
func (d *distinct) merge(o *distinct) {
	if len(o.h) == 0 {
		d.sat = d.sat || o.sat
		return
	}
	if len(d.h) == 0 {
		*d = o.cloneRoom()
		return
	}
	// Count the union up to sketchK: m values are kept, i of d's and j of o's.
	i, j, m := 0, 0, 0
	for m < sketchK && (i < len(d.h) || j < len(o.h)) {
		switch {
		case j == len(o.h) || (i < len(d.h) && d.h[i] < o.h[j]):
			i++
		case i == len(d.h) || o.h[j] < d.h[i]:
			j++
		default:
			i++
			j++
		}
		m++
	}
	// Whatever is left is larger than everything kept, so distinct from it.
	d.sat = d.sat || o.sat || i < len(d.h) || j < len(o.h)
	if m == len(d.h) && i == len(d.h) {
		return // nothing of o is new below the cut
	}
	if cap(d.h) < m {
		grown := make([]uint64, len(d.h), min(max(2*m, 8), sketchK))
		copy(grown, d.h)
		d.h = grown
	}
	// Merge from the back into d.h[:m]: the write position never passes the unread
	// part of d.
	i, j = i-1, j-1
	out := d.h[:m]
	for k := m - 1; k >= 0; k-- {
		switch {
		case j < 0 || (i >= 0 && d.h[i] > o.h[j]):
			out[k] = d.h[i]
			i--
		case i < 0 || o.h[j] > d.h[i]:
			out[k] = o.h[j]
			j--
		default:
			out[k] = d.h[i]
			i--
			j--
		}
	}
	d.h = out
}

// lowerBound is a count unlikely to exceed the true one: the exact count, or the
// estimate less two standard errors.
func (d *distinct) lowerBound() int {
	if !d.sat {
		return len(d.h)
	}
	return int(float64(d.count()) * (1 - 2/math.Sqrt(sketchK-2)))
}

// compareSketches returns |a ∪ b| and |a \ b| without allocating: exact while neither
// sketch is saturated; else KMV estimates from the sketchK smallest hashes of the
// union, below which membership in each sketch is exact (a value of b below the k-th
// smallest of the union is among b's own k smallest, so b keeps it).
func compareSketches(a, b *distinct) (union, aOnly int, estimated bool) {
	exact := !a.sat && !b.sat
	i, j, n, only := 0, 0, 0, 0
	var last uint64
	for (exact || n < sketchK) && (i < len(a.h) || j < len(b.h)) {
		switch {
		case j == len(b.h) || (i < len(a.h) && a.h[i] < b.h[j]):
			last = a.h[i]
			i++
			only++
		case i == len(a.h) || b.h[j] < a.h[i]:
			last = b.h[j]
			j++
		default:
			last = a.h[i]
			i++
			j++
		}
		n++
	}
	if exact {
		return n, only, false
	}
	u := max(int(math.Round(float64(sketchK-1)/((float64(last)+1)/math.Exp2(64)))), sketchK+1)
	return u, int(math.Round(float64(only) / float64(n) * float64(u))), true
}

func (d distinct) clone() distinct { return distinct{h: slices.Clone(d.h), sat: d.sat} }

// cloneRoom is clone with the room merge would grow to: a state's sketch that takes
// more values in later batches is merged in place instead of being reallocated.
func (d distinct) cloneRoom() distinct {
	if len(d.h) == 0 {
		return distinct{sat: d.sat}
	}
	h := make([]uint64, len(d.h), min(max(2*len(d.h), 8), sketchK))
	copy(h, d.h)
	return distinct{h: h, sat: d.sat}
}

// valid checks the invariants a decoded sketch must hold.
func (d *distinct) valid() bool {
	if len(d.h) > sketchK || (d.sat && len(d.h) != sketchK) {
		return false
	}
	for i := 1; i < len(d.h); i++ {
		if d.h[i] <= d.h[i-1] {
			return false
		}
	}
	return true
}
