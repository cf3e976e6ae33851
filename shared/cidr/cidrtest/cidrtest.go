// Package cidrtest holds the desired sets that the tests and benchmarks of the packages
// aggregating addresses (shared/cidr, shared/waf) share: the same generated input, so
// their figures compare, and the same case-file shape for entries.
package cidrtest

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"github.com/apiguard/apiguard/shared/cidr"
)

// Mixed is a realistic desired set of about n entries expiring after now: dense /24s
// given address by address (they aggregate), scattered /32s with random severities and
// expiries, some IPv6 and some forwarded. The same n and seed give the same set.
func Mixed(n int, seed uint64, now time.Time) []cidr.Entry {
	r := rand.New(rand.NewPCG(seed, seed+1))
	es := make([]cidr.Entry, 0, n)
	add := func(p netip.Prefix) {
		es = append(es, cidr.Entry{
			Prefix: p, Severity: r.IntN(4), Expires: now.Add(time.Duration(1+r.IntN(7*24*60)) * time.Minute),
			Forwarded: r.IntN(20) == 0,
		})
	}
	dense := n / 5 / 256 // a fifth of the entries fill whole /24s
	for d := range dense {
		for h := range 256 {
			add(netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 64, byte(d), byte(h)}), 32))
		}
	}
	for len(es) < n-n/10 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], r.Uint32()|0x01000000)
		add(netip.PrefixFrom(netip.AddrFrom4(b), 32))
	}
	for len(es) < n {
		var b [16]byte
		b[0], b[1], b[2], b[3] = 0x20, 0x01, 0x0d, 0xb8
		binary.BigEndian.PutUint64(b[8:], r.Uint64())
		b[7] = byte(r.IntN(4))
		add(netip.PrefixFrom(netip.AddrFrom16(b), 128))
	}
	return es
}

// CaseEntry is a cidr.Entry as case files under testdata write it.
type CaseEntry struct {
	Prefix    string `json:"prefix"` // an address or a CIDR, masked but otherwise as written
	Severity  int    `json:"severity"`
	TTL       string `json:"ttl"` // remaining time at the case's clock (default 1h; negative: already expired)
	Forwarded bool   `json:"forwarded"`
}

// Entry is the entry at clock now.
func (c CaseEntry) Entry(now time.Time) (cidr.Entry, error) {
	ttl := time.Hour
	if c.TTL != "" {
		d, err := time.ParseDuration(c.TTL)
		if err != nil {
			return cidr.Entry{}, fmt.Errorf("ttl %q: %w", c.TTL, err)
		}
		ttl = d
	}
	p, err := netip.ParsePrefix(c.Prefix)
	if !strings.Contains(c.Prefix, "/") {
		var a netip.Addr
		a, err = netip.ParseAddr(c.Prefix)
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if err != nil {
		return cidr.Entry{}, fmt.Errorf("prefix %q: %w", c.Prefix, err)
	}
	return cidr.Entry{Prefix: p.Masked(), Severity: c.Severity, Expires: now.Add(ttl), Forwarded: c.Forwarded}, nil
}
