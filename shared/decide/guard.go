package decide

import (
	"fmt"
	"net/netip"

	"github.com/apiguard/apiguard/shared/cidr"
)

// protected is every range apiguard refuses to block whatever an alert says: blocking
// them would cut off the platform, the customer's own network or nobody at all, and an
// attacker who can forge an alert could otherwise turn apiguard against them.
//
// An IPv6 address that carries an IPv4 address (NAT64, 6to4, Teredo...: cidr.Embeddings)
// is also judged by the IPv4 address inside, so a private or allow-listed host cannot be
// blocked through its translated or tunnelled form.
var protected = []struct {
	prefix netip.Prefix
	why    string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "reserved \"this network\" range (RFC 791)"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private range (RFC 1918)"},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT range (RFC 6598)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback range"},
	{netip.MustParsePrefix("168.63.129.16/32"), "Azure platform address (host DNS, DHCP and health probes)"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local range (includes Azure IMDS 169.254.169.254)"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private range (RFC 1918)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments (RFC 6890)"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation range TEST-NET-1 (RFC 5737)"},
	{netip.MustParsePrefix("192.88.99.0/24"), "reserved 6to4 relay range (RFC 7526)"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private range (RFC 1918)"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking range (RFC 2544)"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation range TEST-NET-2 (RFC 5737)"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation range TEST-NET-3 (RFC 5737)"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast range"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved range (RFC 1112), including broadcast"},
	{netip.MustParsePrefix("::/128"), "unspecified address"},
	{netip.MustParsePrefix("::1/128"), "loopback address"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64 range (RFC 8215)"},
	{netip.MustParsePrefix("100::/64"), "discard-only range (RFC 6666)"},
	{netip.MustParsePrefix("2001::/23"), "IETF protocol assignments (RFC 2928), Teredo apart"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation range (RFC 3849)"},
	{netip.MustParsePrefix("3fff::/20"), "documentation range (RFC 9637)"},
	{netip.MustParsePrefix("fc00::/7"), "unique local range (RFC 4193)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local range"},
	{netip.MustParsePrefix("ff00::/8"), "multicast range"},
}

// teredo is 2001::/32 (RFC 4380), the one part of 2001::/23 that ordinary clients'
// addresses come from: a Teredo address is judged by the IPv4 addresses it carries (its
// server's and its client's), so an attacker behind Teredo stays blockable.
var teredo = netip.MustParsePrefix("2001::/32")

// exempt says p lies in the part of a protected range that the range's row does not
// cover (Teredo inside 2001::/23).
func exempt(r, p netip.Prefix) bool {
	return r.Contains(teredo.Addr()) && r.Bits() > 0 && r.Bits() < teredo.Bits() &&
		teredo.Bits() <= p.Bits() && teredo.Contains(p.Addr())
}

// Guard says why an address must never be blocked, or "" when it may be.
type Guard struct {
	allow []Allowed
}

// Allowed is one allow-list entry and how a refusal names it.
type Allowed struct {
	Prefix netip.Prefix
	// Why names the entry in a refusal: "in APIGUARD_ALLOW_CIDRS", "by alice until ...".
	Why string
}

// NewGuard protects the built-in ranges plus the configured allow-list.
func NewGuard(allow []netip.Prefix) *Guard {
	g := &Guard{allow: make([]Allowed, len(allow))}
	for i, p := range allow {
		g.allow[i] = Allowed{Prefix: p, Why: "in APIGUARD_ALLOW_CIDRS"}
	}
	return g
}

// With is g plus allow-list entries kept at run time (the control API's).
func (g *Guard) With(extra []Allowed) *Guard {
	if len(extra) == 0 {
		return g
	}
	return &Guard{allow: append(append([]Allowed(nil), g.allow...), extra...)}
}

// Why returns the reason addr is protected, or "". An IPv6 address carrying an IPv4
// address is protected when it is itself, or when an IPv4 address it carries is.
func (g *Guard) Why(addr netip.Addr) string {
	if !addr.IsValid() {
		return "not a valid address"
	}
	addr = addr.Unmap().WithZone("")
	for _, a := range g.allow {
		if a.Prefix.Contains(addr) {
			return fmt.Sprintf("allow-listed (%s %s)", a.Prefix, a.Why)
		}
	}
	for _, p := range protected {
		if p.prefix.Contains(addr) && !exempt(p.prefix, netip.PrefixFrom(addr, addr.BitLen())) {
			return fmt.Sprintf("%s: %s", p.prefix, p.why)
		}
	}
	for _, c := range cidr.CarriedBy(addr) {
		if why := g.Why(c.Prefix.Addr()); why != "" {
			return fmt.Sprintf("carries %s (%s): %s", c.Prefix.Addr(), c.Form, why)
		}
	}
	if !addr.IsGlobalUnicast() {
		return "not a global unicast address"
	}
	return ""
}

// WhyPrefix returns the reason a block of p would touch a protected address, or "".
// A CIDR is refused whole when any part of it is protected: blocking must never spill
// onto the allow-list or the platform. That holds for the IPv4 addresses an IPv6 CIDR
// carries too: 2002::/16 or 64:ff9b::/96 carry all of IPv4 and are refused, a /120 of
// 64:ff9b::/96 is refused when the /24 it carries is.
func (g *Guard) WhyPrefix(p netip.Prefix) string {
	if !p.IsValid() {
		return "not a valid CIDR"
	}
	p = netip.PrefixFrom(p.Addr().WithZone(""), p.Bits()).Masked()
	if p.IsSingleIP() {
		return g.Why(p.Addr())
	}
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked()
	}
	for _, a := range g.allow {
		if a.Prefix.Overlaps(p) {
			return fmt.Sprintf("overlaps allow-listed %s (%s)", a.Prefix, a.Why)
		}
	}
	for _, r := range protected {
		if r.prefix.Overlaps(p) && !exempt(r.prefix, p) {
			return fmt.Sprintf("overlaps %s: %s", r.prefix, r.why)
		}
	}
	for _, c := range cidr.CarriedByPrefix(p) {
		if why := g.WhyPrefix(c.Prefix); why != "" {
			return fmt.Sprintf("carries %s (%s): %s", c.Prefix, c.Form, why)
		}
	}
	return ""
}
