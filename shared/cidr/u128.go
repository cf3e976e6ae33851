package cidr

import "math/bits"

// u128 is an address as a 128-bit integer: IPv4 in the low 32 bits. Aggregation works
// on these, not on netip.Addr or strings, so 100,000 addresses cost a sort and a few
// integer operations each.
type u128 struct{ hi, lo uint64 }

func (a u128) cmp(b u128) int {
	switch {
	case a.hi < b.hi:
		return -1
	case a.hi > b.hi:
		return 1
	case a.lo < b.lo:
		return -1
	case a.lo > b.lo:
		return 1
	}
	return 0
}

func (a u128) or(b u128) u128  { return u128{a.hi | b.hi, a.lo | b.lo} }
func (a u128) and(b u128) u128 { return u128{a.hi & b.hi, a.lo & b.lo} }
func (a u128) not() u128       { return u128{^a.hi, ^a.lo} }

func (a u128) sub(b u128) u128 {
	lo, borrow := bits.Sub64(a.lo, b.lo, 0)
	hi, _ := bits.Sub64(a.hi, b.hi, borrow)
	return u128{hi, lo}
}

// addOne returns a+1 and whether it wrapped past 2^128-1.
func (a u128) addOne() (u128, bool) {
	lo, carry := bits.Add64(a.lo, 1, 0)
	hi, carry := bits.Add64(a.hi, 0, carry)
	return u128{hi, lo}, carry != 0
}

// trailingZeros counts zero bits from the bottom (128 for zero).
func (a u128) trailingZeros() int {
	if a.lo != 0 {
		return bits.TrailingZeros64(a.lo)
	}
	return 64 + bits.TrailingZeros64(a.hi)
}

// bitLen is the number of bits needed to hold a.
func (a u128) bitLen() int {
	if a.hi != 0 {
		return 64 + bits.Len64(a.hi)
	}
	return bits.Len64(a.lo)
}

// lowMask has the low n bits set, 0 <= n <= 128.
func lowMask(n int) u128 {
	switch {
	case n <= 0:
		return u128{}
	case n < 64:
		return u128{0, 1<<uint(n) - 1}
	case n < 128:
		return u128{1<<uint(n-64) - 1, ^uint64(0)}
	}
	return u128{^uint64(0), ^uint64(0)}
}
