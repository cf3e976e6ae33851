package waf

import (
	"encoding/binary"
	"math"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Entry is one desired block.
type Entry struct {
	Prefix   netip.Prefix // an address is a /32 or /128; masked on the way in
	Severity int          // 0 Informational, 1 Low, 2 Medium, 3 High: higher is more important
	// Expires is when the block ends. There is no "never": the zero time has expired
	// for any Options.Now, so a forgotten expiry cannot become a permanent block.
	Expires time.Time
	// Forwarded says the address was learnt through a trusted forwarded header: on
	// Front Door it is also matched on RemoteAddr, where the WAF sees it.
	Forwarded bool
}

// u128 is an address as a 128-bit integer: IPv4 in the low 32 bits. Aggregation and
// packing work on these, not on netip.Addr or strings, so 100,000 addresses cost a
// sort and a few integer operations each.
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
func (a u128) isZero() bool    { return a.hi == 0 && a.lo == 0 }

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

// item is an Entry in integer form, or an aggregated block of entries. It is kept
// small (40 bytes) because sorting 100,000 of them moves them around a lot.
type item struct {
	start  u128  // first address
	expSec int64 // expiry as Unix seconds and nanoseconds: no location, no monotonic
	expNs  int32 // reading, so outputs never depend on which entry they came from
	sev    int32
	covers int32 // entries this item stands for
	bits   uint8 // prefix length inside its family (32 or 128 bits wide)
	v6     bool
	fwd    bool
}

// setMeta copies what is not the address from an entry.
func (it *item) setMeta(e *Entry) {
	it.sev = int32(max(min(e.Severity, math.MaxInt32), math.MinInt32))
	it.expSec, it.expNs = e.Expires.Unix(), int32(e.Expires.Nanosecond())
	it.fwd = e.Forwarded
}

func (it *item) expires() time.Time { return time.Unix(it.expSec, int64(it.expNs)).UTC() }

// cmpExp orders by expiry, the earliest first.
func cmpExp(a, b *item) int {
	if a.expSec != b.expSec {
		if a.expSec < b.expSec {
			return -1
		}
		return 1
	}
	return int(a.expNs) - int(b.expNs)
}

func (it *item) width() int {
	if it.v6 {
		return 128
	}
	return 32
}

// end is the last address of the prefix.
func (it *item) end() u128 { return it.start.or(lowMask(it.width() - int(it.bits))) }

// cmpAddr orders IPv4 before IPv6, then by address, then shorter prefix first: the
// canonical order of values.
func cmpAddr(a, b *item) int {
	if a.v6 != b.v6 {
		if a.v6 {
			return 1
		}
		return -1
	}
	if c := a.start.cmp(b.start); c != 0 {
		return c
	}
	return int(a.bits) - int(b.bits)
}

// itemOf converts a prefix (masked here; an IPv4-mapped IPv6 prefix becomes IPv4);
// false when the prefix is not valid.
func itemOf(p netip.Prefix) (item, bool) {
	if !p.IsValid() {
		return item{}, false
	}
	a, n := p.Addr().WithZone(""), p.Bits()
	if a.Is4In6() && n >= 96 {
		a, n = a.Unmap(), n-96
	}
	p = netip.PrefixFrom(a, n).Masked()
	if a.Is4() {
		b := p.Addr().As4()
		return item{start: u128{0, uint64(binary.BigEndian.Uint32(b[:]))}, bits: uint8(n), covers: 1}, true
	}
	b := p.Addr().As16()
	return item{
		start: u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])},
		v6:    true, bits: uint8(n), covers: 1,
	}, true
}

func (it *item) prefix() netip.Prefix {
	if !it.v6 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(it.start.lo))
		return netip.PrefixFrom(netip.AddrFrom4(b), int(it.bits))
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], it.start.hi)
	binary.BigEndian.PutUint64(b[8:], it.start.lo)
	return netip.PrefixFrom(netip.AddrFrom16(b), int(it.bits))
}

func (it *item) entry() Entry {
	return Entry{Prefix: it.prefix(), Severity: int(it.sev), Expires: it.expires(), Forwarded: it.fwd}
}

// appendValue writes the canonical match value: "a.b.c.d/n", a single address bare.
func (it *item) appendValue(buf []byte) []byte {
	if !it.v6 {
		v := uint32(it.start.lo)
		buf = strconv.AppendUint(buf, uint64(v>>24), 10)
		buf = append(buf, '.')
		buf = strconv.AppendUint(buf, uint64(v>>16&0xff), 10)
		buf = append(buf, '.')
		buf = strconv.AppendUint(buf, uint64(v>>8&0xff), 10)
		buf = append(buf, '.')
		buf = strconv.AppendUint(buf, uint64(v&0xff), 10)
	} else {
		buf = it.prefix().Addr().AppendTo(buf)
	}
	if int(it.bits) != it.width() {
		buf = append(buf, '/')
		buf = strconv.AppendUint(buf, uint64(it.bits), 10)
	}
	return buf
}

// valueStrings formats the items' values into one backing string, sliced per value:
// one allocation for all the text however many values there are.
func valueStrings(items []item) []string {
	buf := make([]byte, 0, len(items)*18)
	ends := make([]int, len(items))
	for i := range items {
		buf = items[i].appendValue(buf)
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

// parseValue reads a match value as written by anyone: an address or a CIDR, masked.
func parseValue(s string) (item, bool) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return item{}, false
		}
		return itemOf(p)
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return item{}, false
	}
	return itemOf(netip.PrefixFrom(a, a.BitLen()))
}

// canonicalValues rewrites match values in canonical text and order. Values that are
// not addresses are kept as written, after the others, and reported.
func canonicalValues(vs []string) (out []string, bad []string) {
	items := make([]item, 0, len(vs))
	for _, v := range vs {
		if it, ok := parseValue(v); ok {
			items = append(items, it)
		} else {
			bad = append(bad, v)
		}
	}
	slices.SortFunc(items, func(a, b item) int { return cmpAddr(&a, &b) })
	items = slices.CompactFunc(items, func(a, b item) bool { return cmpAddr(&a, &b) == 0 })
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
		it   item
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
			if c := cmpAddr(&a.it, &b.it); c != 0 {
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
