// Package cidr is the address arithmetic both enforcement planes share. The WAF rules
// (shared/waf) and the APIM fragment (shared/apim/fragment) block the same desired
// prefixes, so they must read, aggregate and write them the same way; keeping that
// here lets each plane change without the other. Addresses are 128-bit integers, never
// strings, because aggregation runs over 100,000 of them on every reconcile.
package cidr

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Entry is one desired block, with what aggregation keeps of it.
type Entry struct {
	Prefix   netip.Prefix // an address is a /32 or /128; canonicalised by BlockOf
	Severity int          // 0 Informational, 1 Low, 2 Medium, 3 High: higher is more important
	// Expires is when the block ends. There is no "never": the zero time has expired
	// for any clock, so a forgotten expiry cannot become a permanent block.
	Expires time.Time
	// Forwarded says the address was learnt through a trusted forwarded header; each
	// plane also checks it where the forwarded address is seen.
	Forwarded bool
}

// Block is an Entry in integer form, or an aggregated block of entries. It is kept
// small (40 bytes) because sorting 100,000 of them moves them around a lot.
type Block struct {
	start  u128  // first address
	expSec int64 // expiry as Unix seconds and nanoseconds: no location, no monotonic
	expNs  int32 // reading, so outputs never depend on which entry they came from
	sev    int32
	covers int32 // entries this block stands for
	bits   uint8 // prefix length inside its family (32 or 128 bits wide)
	v6     bool
	fwd    bool
}

// BlockOf is a prefix in integer form, without metadata (see SetMeta): the zone is
// dropped, an IPv4-mapped IPv6 prefix of /96 or longer becomes the IPv4 prefix it maps
// (the services see IPv4 clients as IPv4), and host bits are masked off. false when the
// prefix is not valid.
//
// The metadata is set apart, by the caller, because converting 100,000 entries is
// measurably slower when this function also reads them.
func BlockOf(p netip.Prefix) (Block, bool) {
	if !p.IsValid() {
		return Block{}, false
	}
	a, n := p.Addr().WithZone(""), p.Bits()
	if a.Is4In6() && n >= 96 {
		a, n = a.Unmap(), n-96
	}
	a = netip.PrefixFrom(a, n).Masked().Addr()
	if a.Is4() {
		x := a.As4()
		return Block{start: u128{0, uint64(binary.BigEndian.Uint32(x[:]))}, bits: uint8(n), covers: 1}, true
	}
	x := a.As16()
	return Block{
		start: u128{binary.BigEndian.Uint64(x[:8]), binary.BigEndian.Uint64(x[8:])},
		v6:    true, bits: uint8(n), covers: 1,
	}, true
}

// SetMeta sets what aggregation keeps of an entry: its severity (clamped to int32),
// expiry and forwarded flag.
func (b *Block) SetMeta(severity int, expires time.Time, forwarded bool) {
	b.sev = int32(max(min(severity, math.MaxInt32), math.MinInt32))
	b.expSec, b.expNs = expires.Unix(), int32(expires.Nanosecond())
	b.fwd = forwarded
}

// Parse reads an address or a CIDR as operators, settings and policies write it,
// surrounding spaces allowed, in the canonical form of BlockOf: a bare address is a /32
// or /128, an IPv4-mapped IPv6 address or prefix (of /96 or longer) is IPv4, host bits
// are masked. An address with a zone is refused: no rule can match it.
func Parse(s string) (netip.Prefix, error) {
	b, err := ParseBlock(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return b.Prefix(), nil
}

// ParseBlock is Parse in integer form, without metadata, for callers that sort or
// rewrite many values.
func ParseBlock(s string) (Block, error) {
	t := strings.TrimSpace(s)
	var p netip.Prefix
	if strings.Contains(t, "/") {
		var err error
		if p, err = netip.ParsePrefix(t); err != nil {
			return Block{}, fmt.Errorf("%q is not a CIDR: %w", s, err)
		}
	} else {
		a, err := netip.ParseAddr(t)
		if err != nil {
			return Block{}, fmt.Errorf("%q is not an address: %w", s, err)
		}
		if a.Zone() != "" {
			return Block{}, fmt.Errorf("%q is an address with a zone, which no rule can match", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	b, _ := BlockOf(p) // p is valid
	return b, nil
}

// Entry converts back: the canonical prefix, the expiry in UTC.
func (b *Block) Entry() Entry {
	return Entry{Prefix: b.Prefix(), Severity: b.Severity(), Expires: b.Expires(), Forwarded: b.fwd}
}

// Prefix is the block as a netip prefix.
func (b *Block) Prefix() netip.Prefix {
	if b.v6 {
		return netip.PrefixFrom(addr16(b.start), int(b.bits))
	}
	return netip.PrefixFrom(addr4(b.start), int(b.bits))
}

// First is the block's first address, Last its last.
func (b *Block) First() netip.Addr { return b.addr(b.start) }
func (b *Block) Last() netip.Addr  { return b.addr(b.end()) }

// Is6 says the block is IPv6 (after unmapping: IPv4-mapped prefixes are IPv4).
func (b *Block) Is6() bool { return b.v6 }

// Bits is the prefix length.
func (b *Block) Bits() int { return int(b.bits) }

// Severity is the highest severity of what the block covers, clamped to int32.
func (b *Block) Severity() int { return int(b.sev) }

// Expires is the latest expiry of what the block covers, in UTC, without a monotonic
// reading.
func (b *Block) Expires() time.Time { return time.Unix(b.expSec, int64(b.expNs)).UTC() }

// ExpiresUnix is Expires as Unix seconds and nanoseconds (0 to 999,999,999), for
// orderings over many blocks that should not build a time.Time for each.
func (b *Block) ExpiresUnix() (sec int64, nsec int32) { return b.expSec, b.expNs }

// Covers counts the entries the block stands for: evicting it evicts all of them.
func (b *Block) Covers() int { return int(b.covers) }

// Contains reports whether b holds o entirely.
func (b *Block) Contains(o *Block) bool {
	return b.v6 == o.v6 && b.bits <= o.bits && o.start.and(lowMask(b.width()-int(b.bits)).not()) == b.start
}

// Compare is the canonical order of blocks: IPv4 before IPv6, then by first address,
// then the shorter prefix first.
func (b *Block) Compare(o *Block) int {
	if b.v6 != o.v6 {
		if b.v6 {
			return 1
		}
		return -1
	}
	if c := b.start.cmp(o.start); c != 0 {
		return c
	}
	return int(b.bits) - int(o.bits)
}

// AppendTo appends the canonical text: "a.b.c.d/n", a single address bare.
func (b *Block) AppendTo(buf []byte) []byte {
	if !b.v6 {
		v := uint32(b.start.lo)
		buf = strconv.AppendUint(buf, uint64(v>>24), 10)
		buf = append(buf, '.')
		buf = strconv.AppendUint(buf, uint64(v>>16&0xff), 10)
		buf = append(buf, '.')
		buf = strconv.AppendUint(buf, uint64(v>>8&0xff), 10)
		buf = append(buf, '.')
		buf = strconv.AppendUint(buf, uint64(v&0xff), 10)
	} else {
		buf = b.First().AppendTo(buf)
	}
	if int(b.bits) != b.width() {
		buf = append(buf, '/')
		buf = strconv.AppendUint(buf, uint64(b.bits), 10)
	}
	return buf
}

// String is the canonical text, as AppendTo writes it.
func (b *Block) String() string { return string(b.AppendTo(make([]byte, 0, 18))) }

func (b *Block) width() int {
	if b.v6 {
		return 128
	}
	return 32
}

// end is the last address of the block.
func (b *Block) end() u128 { return b.start.or(lowMask(b.width() - int(b.bits))) }

func (b *Block) addr(x u128) netip.Addr {
	if b.v6 {
		return addr16(x)
	}
	return addr4(x)
}

func addr4(x u128) netip.Addr {
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], uint32(x.lo))
	return netip.AddrFrom4(a)
}

func addr16(x u128) netip.Addr {
	var a [16]byte
	binary.BigEndian.PutUint64(a[:8], x.hi)
	binary.BigEndian.PutUint64(a[8:], x.lo)
	return netip.AddrFrom16(a)
}
