package trafficsim

import (
	"encoding/hex"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"time"
)

// newRand returns the generator of one stream of a scenario: every population and
// every attacker draws from its own, so adding a client to one population does not
// change what another one does (its sizes, times and requests; addresses come from
// one pool, so the populations generated after it get other addresses).
func newRand(seed uint64, stream string, i int) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(stream))
	return rand.New(rand.NewPCG(seed, h.Sum64()^uint64(i)*0x9e3779b97f4a7c15))
}

// lognormal draws around a median; sigma 0.5 puts 95% within ×0.38..×2.7.
func lognormal(r *rand.Rand, median, sigma float64) float64 {
	return median * math.Exp(sigma*r.NormFloat64())
}

// heavy is lognormal with a Pareto tail: one draw in a hundred is up to 50 times larger.
func heavy(r *rand.Rand, median, sigma float64) float64 {
	v := lognormal(r, median, sigma)
	if r.IntN(100) == 0 {
		v *= min(math.Pow(1-r.Float64(), -1/1.5), 50)
	}
	return v
}

func logUniform(r *rand.Rand, lo, hi float64) float64 { return lo * math.Pow(hi/lo, r.Float64()) }

func uniform(r *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }

// between draws an int in [lo, hi].
func between(r *rand.Rand, lo, hi int) int {
	if hi <= lo {
		return lo
	}
	return lo + r.IntN(hi-lo+1)
}

func chance(r *rand.Rand, p float64) bool { return r.Float64() < p }

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// durBetween draws a duration uniformly in [lo, hi].
func durBetween(r *rand.Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(r.Int64N(int64(hi-lo)))
}

// expDur draws an exponential gap of the given mean: the gaps of a Poisson process.
func expDur(r *rand.Rand, mean time.Duration) time.Duration {
	return time.Duration(r.ExpFloat64() * float64(mean))
}

// logDur draws a lognormal duration around a median, capped.
func logDur(r *rand.Rand, median time.Duration, sigma float64, maxDur time.Duration) time.Duration {
	return min(time.Duration(lognormal(r, float64(median), sigma)), maxDur)
}

// poisson draws a Poisson count (Knuth's method for small means, normal beyond).
func poisson(r *rand.Rand, mean float64) int {
	if mean > 30 {
		return max(0, int(math.Round(mean+math.Sqrt(mean)*r.NormFloat64())))
	}
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// varied scales a nominal count by a factor in [1-frac, 1+frac].
func varied(r *rand.Rand, n int, frac float64) int {
	if n == 0 {
		return 0
	}
	return max(1, int(math.Round(float64(n)*uniform(r, 1-frac, 1+frac))))
}

// hexID returns n random hex digits (an APIM subscription id is 32).
func hexID(r *rand.Rand, n int) string {
	b := make([]byte, (n+1)/2)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return hex.EncodeToString(b)[:n]
}

// uuid returns a random version-4 UUID.
func uuid(r *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	s := hex.EncodeToString(b[:])
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}

// weighted picks an index by weight; all weights zero picks uniformly.
func weighted(r *rand.Rand, w []float64) int {
	total := 0.0
	for _, x := range w {
		total += x
	}
	if total <= 0 {
		return r.IntN(len(w))
	}
	x := r.Float64() * total
	for i, v := range w {
		if x < v {
			return i
		}
		x -= v
	}
	return len(w) - 1
}
