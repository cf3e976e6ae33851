package cidr

import (
	"encoding/binary"
	"net/netip"
)

// Embedding is one standard way an IPv6 address carries an IPv4 address. A packet from
// such an address comes from, or on behalf of, the IPv4 host inside: blocking the IPv6
// form blocks that host's traffic through the translator or tunnel, so every check that
// protects an IPv4 address must also protect its embedded forms. This table is the one
// place that knows the forms; the guard (shared/decide), and through it the WAF packer
// and the fragment renderer, read it and nothing else.
type Embedding struct {
	// Name says which form, for refusals: "NAT64", "6to4", "Teredo client"...
	Name string
	// Range is the IPv6 range whose addresses carry an IPv4 address this way.
	Range netip.Prefix
	segs  []segment // where the 32 IPv4 bits sit, most significant first
	xor   uint32    // applied to the bits read (Teredo obfuscates the client address)
}

// segment is a run of IPv4 bits inside the IPv6 address: n bits from bit at (bit 0 is
// the most significant).
type segment struct{ at, n int }

// Embeddings are the forms checked. Facts, from the RFCs named:
//   - IPv4-mapped ::ffff:0:0/96 (RFC 4291 §2.5.5.2): IPv4 in bits 96-127. netip unmaps
//     these already; listed so that a prefix covering the mapped range is caught too.
//   - IPv4-compatible ::/96 (RFC 4291 §2.5.5.1, deprecated): bits 96-127.
//   - NAT64 well-known prefix 64:ff9b::/96 (RFC 6052 §2.1): used with /96 only, so
//     the IPv4 is bits 96-127.
//   - NAT64 local-use 64:ff9b:1::/48 (RFC 8215): an operator may cut a network-specific
//     prefix of any RFC 6052 length from it; apiguard reads it with the /48 layout of
//     RFC 6052 §2.2 (IPv4 bits 0-15 in address bits 48-63, the u-octet, bits 64-71,
//     zero and skipped, IPv4 bits 16-31 in address bits 72-87). The whole /48 is a
//     protected range in the guard anyway (not globally reachable), so a longer
//     network-specific prefix with another layout is never blockable either.
//   - 6to4 2002::/16 (RFC 3056 §2): the site's IPv4 in bits 16-47.
//   - Teredo 2001::/32 (RFC 4380 §4): the Teredo server's IPv4 in bits 32-63, the
//     client's public (mapped) IPv4 in bits 96-127, every bit inverted.
//
// ISATAP interface identifiers (…:5efe:a.b.c.d, RFC 5214) are not read: they sit in any
// /64, so they would make a private IPv4 out of ordinary IPv6 hosts' identifiers.
var Embeddings = []Embedding{
	{Name: "IPv4-mapped", Range: netip.MustParsePrefix("::ffff:0:0/96"), segs: []segment{{96, 32}}},
	{Name: "IPv4-compatible", Range: netip.MustParsePrefix("::/96"), segs: []segment{{96, 32}}},
	{Name: "NAT64", Range: netip.MustParsePrefix("64:ff9b::/96"), segs: []segment{{96, 32}}},
	{Name: "local-use NAT64", Range: netip.MustParsePrefix("64:ff9b:1::/48"), segs: []segment{{48, 16}, {72, 16}}},
	{Name: "6to4", Range: netip.MustParsePrefix("2002::/16"), segs: []segment{{16, 32}}},
	{Name: "Teredo server", Range: netip.MustParsePrefix("2001::/32"), segs: []segment{{32, 32}}},
	{Name: "Teredo client", Range: netip.MustParsePrefix("2001::/32"), segs: []segment{{96, 32}}, xor: 0xffffffff},
}

// Carried is an IPv4 address or prefix inside an IPv6 one, and the form that put it there.
type Carried struct {
	Prefix netip.Prefix // an address is a /32
	Form   string       // Embedding.Name
}

// CarriedBy returns the IPv4 addresses an IPv6 address carries, one per form whose range
// holds it (a Teredo address carries two), or nil. IPv4 addresses carry nothing.
func CarriedBy(a netip.Addr) []Carried {
	if !a.Is6() {
		return nil
	}
	a = a.WithZone("")
	var out []Carried
	for i := range Embeddings {
		e := &Embeddings[i]
		if e.Range.Contains(a) {
			out = append(out, Carried{netip.PrefixFrom(e.extract(a.As16()), 32), e.Name})
		}
	}
	return out
}

// CarriedByPrefix returns, for each form whose range p overlaps, the smallest IPv4
// prefix holding every IPv4 address that an address of p carries that way. It is exact:
// the IPv4 bits p fixes are a prefix of the IPv4 address (the segments are in order),
// so the IPv4 addresses carried are exactly that prefix (for Teredo's client, the
// inverted one). A p that holds a whole range (2002::/16, 2000::/3) carries 0.0.0.0/0.
func CarriedByPrefix(p netip.Prefix) []Carried {
	if !p.IsValid() || !p.Addr().Is6() {
		return nil
	}
	p = netip.PrefixFrom(p.Addr().WithZone(""), p.Bits()).Masked()
	var out []Carried
	for i := range Embeddings {
		e := &Embeddings[i]
		if !e.Range.Overlaps(p) {
			continue
		}
		fixed := 0
		for _, s := range e.segs {
			fixed += min(max(p.Bits()-s.at, 0), s.n)
		}
		out = append(out, Carried{netip.PrefixFrom(e.extract(p.Addr().As16()), fixed).Masked(), e.Name})
	}
	return out
}

// extract reads the IPv4 address that a carries this way.
func (e *Embedding) extract(a [16]byte) netip.Addr {
	var v uint32
	for _, s := range e.segs {
		for i := range s.n {
			bit := s.at + i
			v = v<<1 | uint32(a[bit/8]>>(7-bit%8)&1)
		}
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v^e.xor)
	return netip.AddrFrom4(b)
}
