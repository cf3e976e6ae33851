package decide

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/shared/cidr/cidrtest"
)

// Every protected kind of IPv4 address is protected in every embedded form, with a
// reason that names the address inside; public ones stay blockable (except in a form
// that is protected whole), as addresses and as the /128 of the address.
func TestGuardSeesEmbeddedIPv4(t *testing.T) {
	g := NewGuard(cidrtest.AllowListed)
	for _, c := range cidrtest.EmbeddedCases() {
		for _, why := range []string{g.Why(c.Addr), g.WhyPrefix(netip.PrefixFrom(c.Addr, 128))} {
			switch {
			case c.Blockable && why != "":
				t.Errorf("%s (%s of public %s) refused: %s", c.Addr, c.Form, c.Inner.Addr, why)
			case !c.Blockable && why == "":
				t.Errorf("%s (%s of %s %s) may be blocked", c.Addr, c.Form, c.Inner.Kind, c.Inner.Addr)
			case !c.Blockable && c.Inner.Kind != "public" && c.Form != "IPv4-mapped" &&
				!strings.Contains(why, c.Inner.Addr.String()) && !inProtectedRow(c.Addr):
				t.Errorf("%s (%s of %s): reason %q does not name the address inside", c.Addr, c.Form, c.Inner.Addr, why)
			}
		}
	}
}

// inProtectedRow says a is refused by the table of IPv6 ranges itself (::, local-use
// NAT64), which is checked before the addresses carried.
func inProtectedRow(a netip.Addr) bool {
	for _, r := range protected {
		if r.prefix.Contains(a) && !exempt(r.prefix, netip.PrefixFrom(a, 128)) {
			return true
		}
	}
	return false
}

// The reports, and the reason given.
func TestGuardEmbeddedReasons(t *testing.T) {
	g := NewGuard(cidrtest.AllowListed)
	for addr, want := range map[string]string{
		"64:ff9b::a00:1":                       "carries 10.0.0.1 (NAT64): 10.0.0.0/8: private range",
		"2002:a00:1::1":                        "carries 10.0.0.1 (6to4): 10.0.0.0/8: private range",
		"2002:a832:102::1":                     "carries 168.50.1.2 (6to4)", // not protected: checked below
		"64:ff9b::a83f:8110":                   "carries 168.63.129.16 (NAT64): 168.63.129.16/32: Azure platform",
		"2002:1432:102::1":                     "carries 20.50.1.2 (6to4): allow-listed (20.50.0.0/16 in APIGUARD_ALLOW_CIDRS)",
		"2001:0:4136:e378:8000:63bf:3fff:fdd2": "carries 192.0.2.45 (Teredo client): 192.0.2.0/24: documentation",
		"2001:0:a00:1:8000:63bf:d266:5f71":     "carries 10.0.0.1 (Teredo server)",
		"::7f00:1":                             "carries 127.0.0.1 (IPv4-compatible): 127.0.0.0/8: loopback",
		"::1":                                  "::1/128: loopback",
		"64:ff9b:1::":                          "64:ff9b:1::/48: local-use NAT64",
	} {
		got := g.Why(netip.MustParseAddr(addr))
		if addr == "2002:a832:102::1" {
			if got != "" {
				t.Errorf("%s (public 168.50.1.2) refused: %s", addr, got)
			}
			continue
		}
		if !strings.HasPrefix(got, want) {
			t.Errorf("%s: %q, want %q...", addr, got, want)
		}
	}
}

// A CIDR is refused when any IPv4 address it carries is protected: so a prefix that
// holds a whole embedding range is refused (it carries all of IPv4), and one inside a
// range is judged by the IPv4 prefix it carries.
func TestGuardEmbeddedPrefixes(t *testing.T) {
	g := NewGuard(cidrtest.AllowListed)
	for p, want := range map[string]string{
		"2002::/16":              "carries 0.0.0.0/0 (6to4)",
		"2002::/15":              "carries 0.0.0.0/0 (6to4)",
		"2000::/3":               "overlaps 2001::/23", // the rows of the table first
		"2002:a00::/24":          "carries 10.0.0.0/8 (6to4): overlaps 10.0.0.0/8",
		"2002:800::/21":          "carries 8.0.0.0/5 (6to4): overlaps 10.0.0.0/8",
		"2002:1432::/32":         "carries 20.50.0.0/16 (6to4): overlaps allow-listed",
		"64:ff9b::/96":           "carries 0.0.0.0/0 (NAT64)",
		"64:ff9b::/32":           "overlaps 64:ff9b:1::/48",
		"64:ff9b::a00:0/120":     "carries 10.0.0.0/24 (NAT64): overlaps 10.0.0.0/8",
		"64:ff9b::a83f:8100/120": "carries 168.63.129.0/24 (NAT64): overlaps 168.63.129.16/32",
		"64:ff9b:1:2d99::/64":    "overlaps 64:ff9b:1::/48",
		"2001::/32":              "carries 0.0.0.0/0 (Teredo server)",
		"2001:0:4136:e378::/64":  "carries 0.0.0.0/0 (Teredo client)",
		"2001:0:a00:0::/48":      "carries 10.0.0.0/16 (Teredo server)",
		"::/96":                  "overlaps ::/128",
		"::fffe:0:0/95":          "carries 0.0.0.0/0 (IPv4-mapped)",
		"::a00:0/104":            "carries 10.0.0.0/8 (IPv4-compatible)",
	} {
		if got := g.WhyPrefix(netip.MustParsePrefix(p)); !strings.HasPrefix(got, want) {
			t.Errorf("%s: %q, want %q...", p, got, want)
		}
	}
	for _, p := range []string{
		"2002:2d99:a000::/40",                      // 6to4 of 45.153.160.0/24
		"64:ff9b::808:800/120",                     // NAT64 of 8.8.8.0/24
		"2001:0:4136:e378:8000:63bf:d266:5f00/120", // Teredo, public server, clients 45.153.160.0/24
		"2001:0:4136:e378:8000:63bf:d266:5f71/128",
		"2001:0:4136:e378:8000:63bf:c000:200/120", // client bits inverted: 63.255.253.0/24, public
		"2a01:111::/32",                           // ordinary IPv6
	} {
		if got := g.WhyPrefix(netip.MustParsePrefix(p)); got != "" {
			t.Errorf("%s refused: %s", p, got)
		}
	}
}
