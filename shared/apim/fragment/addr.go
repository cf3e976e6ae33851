package fragment

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"time"

	"github.com/apiguard/apiguard/shared/cidr"
)

// u128 is an address as an integer, IPv4 in the low 32 bits: the hex keys and range ends
// of the rendered blocks are read off it. Aggregation itself is cidr.Aggregate.
type u128 struct{ hi, lo uint64 }

func (a u128) cmp(b u128) int {
	switch {
	case a.hi != b.hi:
		if a.hi < b.hi {
			return -1
		}
		return 1
	case a.lo != b.lo:
		if a.lo < b.lo {
			return -1
		}
		return 1
	}
	return 0
}

func (a u128) or(b u128) u128 { return u128{a.hi | b.hi, a.lo | b.lo} }

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

// span is a CIDR block in integer form with what eviction needs to know about the
// desired blocks it stands for.
type span struct {
	start u128
	v6    bool
	bits  int // prefix length
	sev   int
	exp   time.Time // UTC, no monotonic reading
	fwd   bool      // some entry it covers was learnt from a forwarded header
}

func (s *span) width() int {
	if s.v6 {
		return 128
	}
	return 32
}

func (s *span) end() u128 { return s.start.or(lowMask(s.width() - s.bits)) }

func (s *span) single() bool { return s.bits == s.width() }

// spanOf reads a prefix: the zone is dropped, an IPv4-mapped IPv6 prefix of /96 or
// longer is the IPv4 prefix it maps (APIM sees IPv4 clients as IPv4), and host bits are
// masked off. false for an invalid prefix.
func spanOf(p netip.Prefix) (span, bool) {
	if !p.IsValid() {
		return span{}, false
	}
	a, n := p.Addr().WithZone(""), p.Bits()
	if a.Is4In6() && n >= 96 {
		a, n = a.Unmap(), n-96
	}
	a = netip.PrefixFrom(a, n).Masked().Addr()
	if a.Is4() {
		b := a.As4()
		return span{start: u128{0, uint64(binary.BigEndian.Uint32(b[:]))}, bits: n}, true
	}
	b := a.As16()
	return span{start: u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}, v6: true, bits: n}, true
}

func (s *span) addr(x u128) netip.Addr {
	if !s.v6 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(x.lo))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], x.hi)
	binary.BigEndian.PutUint64(b[8:], x.lo)
	return netip.AddrFrom16(b)
}

func (s *span) prefix() netip.Prefix { return netip.PrefixFrom(s.addr(s.start), s.bits) }

// text is the prefix as operators read it: a single address bare.
func (s *span) text() string {
	if s.single() {
		return s.addr(s.start).String()
	}
	return s.prefix().String()
}

// hex is the address as the forwarded check computes it in C#: "4" or "6" for the
// family, then the address bytes in upper-case hex (BitConverter's digits).
func (s *span) hex() string {
	const digits = "0123456789ABCDEF"
	n := 8
	if s.v6 {
		n = 32
	}
	buf := make([]byte, 1+n)
	buf[0] = '4'
	if s.v6 {
		buf[0] = '6'
	}
	for i := range n {
		shift := uint(4 * (n - 1 - i))
		var nib uint64
		if shift >= 64 {
			nib = s.start.hi >> (shift - 64) & 0xf
		} else {
			nib = s.start.lo >> shift & 0xf
		}
		buf[1+i] = digits[nib]
	}
	return string(buf)
}

// nibbleKeys are the prefixes of hex() that together match exactly this block in the
// forwarded check, which tests whole hex digits: a block whose length is a multiple of
// four is one key; otherwise it is cut into the 2, 4 or 8 blocks of the next multiple.
func (s *span) nibbleKeys() []string {
	l := (s.bits + 3) / 4 // hex digits that decide membership
	extra := 4*l - s.bits
	full := s.hex()
	base := full[:1+l]
	if extra == 0 {
		return []string{base}
	}
	const digits = "0123456789ABCDEF"
	last := base[len(base)-1]
	v := int(last - '0')
	if last >= 'A' {
		v = int(last-'A') + 10
	}
	keys := make([]string, 0, 1<<extra)
	for j := range 1 << extra {
		keys = append(keys, base[:len(base)-1]+string(digits[v+j]))
	}
	return keys
}

// addressText is the ip-filter value of a block's first or last address.
func (s *span) addressText(x u128) string {
	if !s.v6 {
		v := uint32(x.lo)
		b := make([]byte, 0, 15)
		b = strconv.AppendUint(b, uint64(v>>24), 10)
		b = append(b, '.')
		b = strconv.AppendUint(b, uint64(v>>16&0xff), 10)
		b = append(b, '.')
		b = strconv.AppendUint(b, uint64(v>>8&0xff), 10)
		b = append(b, '.')
		b = strconv.AppendUint(b, uint64(v&0xff), 10)
		return string(b)
	}
	return s.addr(x).String()
}

// contains reports whether block b holds block s.
func (b *span) contains(s *span) bool {
	return b.v6 == s.v6 && b.start.cmp(s.start) <= 0 && s.end().cmp(b.end()) <= 0
}

// aggregate is cidr.Aggregate on spans: the fewest CIDR blocks covering exactly the
// union of in (10.0.0.0-10.0.0.2 stays 10.0.0.0/31 + 10.0.0.2), each keeping the highest
// severity, the latest expiry and the forwarded flag of what it covers, so evicting it
// evicts all of them at the importance of the most important. Every input block lies
// inside exactly one output block. The result is in canonical order (IPv4 before IPv6,
// by first address, the larger block first) whatever the input order.
func aggregate(in []span) []span {
	entries := make([]cidr.Entry, len(in))
	for i := range in {
		entries[i] = cidr.Entry{Prefix: in[i].prefix(), Severity: in[i].sev, Expires: in[i].exp, Forwarded: in[i].fwd}
	}
	agg := cidr.Aggregate(entries)
	out := make([]span, 0, len(agg))
	for _, e := range agg {
		s, _ := spanOf(e.Prefix) // already canonical: cannot fail
		s.sev, s.exp, s.fwd = e.Severity, e.Expires, e.Forwarded
		out = append(out, s)
	}
	return out
}
