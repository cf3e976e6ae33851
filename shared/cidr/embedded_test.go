package cidr_test

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/apiguard/apiguard/shared/cidr"
	"github.com/apiguard/apiguard/shared/cidr/cidrtest"
)

// Known vectors, from the RFCs' own examples and the reports.
func TestCarriedByVectors(t *testing.T) {
	for _, c := range []struct {
		addr string
		want []string // "form prefix"
	}{
		{"64:ff9b::a00:1", []string{"NAT64 10.0.0.1/32"}},                                                                   // issue 13
		{"2002:a00:1::1", []string{"6to4 10.0.0.1/32"}},                                                                     // issue 13
		{"64:ff9b::192.0.2.33", []string{"NAT64 192.0.2.33/32"}},                                                            // RFC 6052 §2.4
		{"64:ff9b:1:c000:2:2100::", []string{"local-use NAT64 192.0.2.33/32"}},                                              // RFC 6052 §2.4 /48 row, in the RFC 8215 prefix
		{"64:ff9b:1:c000:ff02:2100::", []string{"local-use NAT64 192.0.2.33/32"}},                                           // u-octet not zero: still read
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", []string{"Teredo server 65.54.227.120/32", "Teredo client 192.0.2.45/32"}}, // RFC 4380 §4
		{"::a00:1", []string{"IPv4-compatible 10.0.0.1/32"}},
		{"::ffff:10.0.0.1", []string{"IPv4-mapped 10.0.0.1/32"}},
		{"::", []string{"IPv4-compatible 0.0.0.0/32"}},
		{"2001:db8::a00:1", nil},
		{"64:ff9c::a00:1", nil},
		{"10.0.0.1", nil},
	} {
		var got []string
		for _, x := range cidr.CarriedBy(netip.MustParseAddr(c.addr)) {
			got = append(got, x.Form+" "+x.Prefix.String())
		}
		if len(got) != len(c.want) {
			t.Errorf("%s carries %q, want %q", c.addr, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s carries %q, want %q", c.addr, got, c.want)
			}
		}
	}
}

// Every sample in every form reads back (the encoders are cidrtest's, written apart).
func TestCarriedByRoundTrip(t *testing.T) {
	for _, c := range cidrtest.EmbeddedCases() {
		found := false
		for _, x := range cidr.CarriedBy(c.Addr) {
			if x.Form == c.Form {
				found = true
				if x.Prefix != netip.PrefixFrom(c.Inner.Addr, 32) {
					t.Errorf("%s (%s of %s) carries %s", c.Addr, c.Form, c.Inner.Addr, x.Prefix)
				}
			}
		}
		if !found {
			t.Errorf("%s (%s of %s): form not recognised", c.Addr, c.Form, c.Inner.Addr)
		}
	}
}

func TestCarriedByPrefix(t *testing.T) {
	for _, c := range []struct {
		prefix string
		want   []string
	}{
		{"2002::/16", []string{"6to4 0.0.0.0/0"}},
		{"2000::/3", []string{"6to4 0.0.0.0/0", "Teredo server 0.0.0.0/0", "Teredo client 0.0.0.0/0"}},
		{"2002:a00::/24", []string{"6to4 10.0.0.0/8"}},
		{"2002:a00:1::/48", []string{"6to4 10.0.0.1/32"}},
		{"2002:a00:1::/64", []string{"6to4 10.0.0.1/32"}},
		{"64:ff9b::/96", []string{"NAT64 0.0.0.0/0"}},
		{"64:ff9b::a00:0/120", []string{"NAT64 10.0.0.0/24"}},
		{"64:ff9b::808:800/120", []string{"NAT64 8.8.8.0/24"}},
		{"64:ff9b::/64", []string{"NAT64 0.0.0.0/0"}},
		{"64:ff9b:1:a00::/56", []string{"local-use NAT64 10.0.0.0/8"}},
		{"64:ff9b:1:a00::/72", []string{"local-use NAT64 10.0.0.0/16"}},
		{"64:ff9b:1:a00:1::/80", []string{"local-use NAT64 10.0.1.0/24"}},
		{"2001:0:4136:e378::/64", []string{"Teredo server 65.54.227.120/32", "Teredo client 0.0.0.0/0"}},
		{"2001:0:4136:e378:8000:63bf:3fff:fd00/120", []string{"Teredo server 65.54.227.120/32", "Teredo client 192.0.2.0/24"}},
		{"::fffe:0:0/95", []string{"IPv4-mapped 0.0.0.0/0"}},
		{"::/0", []string{"IPv4-mapped 0.0.0.0/0", "IPv4-compatible 0.0.0.0/0", "NAT64 0.0.0.0/0", "local-use NAT64 0.0.0.0/0", "6to4 0.0.0.0/0", "Teredo server 0.0.0.0/0", "Teredo client 0.0.0.0/0"}},
		{"2001:db8::/32", nil},
		{"10.0.0.0/8", nil},
	} {
		var got []string
		for _, x := range cidr.CarriedByPrefix(netip.MustParsePrefix(c.prefix)) {
			got = append(got, x.Form+" "+x.Prefix.String())
		}
		if len(got) != len(c.want) {
			t.Errorf("%s carries %q, want %q", c.prefix, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s carries %q, want %q", c.prefix, got, c.want)
			}
		}
	}
}

// FuzzCarriedByPrefix checks the prefix rule against the address rule: every address
// drawn inside p carries, in each form, an IPv4 address inside what p carries for that
// form, so a guard that clears the carried prefix has cleared every address of p. (That
// the answer is no wider than needed is TestCarriedByPrefix's table.)
func FuzzCarriedByPrefix(f *testing.F) {
	for _, c := range cidrtest.EmbeddedCases() {
		a := c.Addr.As16()
		f.Add(a[:], uint8(96), uint64(1))
		f.Add(a[:], uint8(48), uint64(2))
	}
	f.Add(make([]byte, 16), uint8(0), uint64(3))
	f.Fuzz(func(t *testing.T, raw []byte, bits uint8, seed uint64) {
		var b [16]byte
		copy(b[:], raw)
		p := netip.PrefixFrom(netip.AddrFrom16(b), int(bits)%129).Masked()
		forms := map[string]netip.Prefix{}
		for _, x := range cidr.CarriedByPrefix(p) {
			forms[x.Form] = x.Prefix
		}
		rng := rand.New(rand.NewPCG(seed, uint64(bits)))
		for range 16 {
			a := randomIn(rng, p)
			for _, x := range cidr.CarriedBy(a) {
				cp, ok := forms[x.Form]
				if !ok || !cp.Contains(x.Prefix.Addr()) {
					t.Fatalf("%s in %s carries %s (%s), outside %v", a, p, x.Prefix, x.Form, cp)
				}
			}
		}
	})
}

// randomIn draws an address of p.
func randomIn(rng *rand.Rand, p netip.Prefix) netip.Addr {
	a := p.Addr().As16()
	var r [16]byte
	binary.BigEndian.PutUint64(r[:8], rng.Uint64())
	binary.BigEndian.PutUint64(r[8:], rng.Uint64())
	for i := p.Bits(); i < 128; i++ {
		m := byte(1) << (7 - i%8)
		a[i/8] = a[i/8]&^m | r[i/8]&m
	}
	return netip.AddrFrom16(a)
}
