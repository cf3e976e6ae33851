package waf

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/cidr"
	"github.com/apiguard/apiguard/shared/cidr/cidrtest"
	"github.com/apiguard/apiguard/shared/decide"
)

// embeddedPrefixCases are CIDRs over embedded space: refused when any IPv4 address
// they carry is protected, kept otherwise.
var embeddedPrefixCases = []struct {
	prefix    string
	blockable bool
}{
	{"2002::/16", false},
	{"2002:a00::/24", false},
	{"64:ff9b::/96", false},
	{"64:ff9b::a00:0/120", false},
	{"64:ff9b::a83f:8100/120", false},
	{"2001:0:4136:e378::/64", false},
	{"2002:2d99:a000::/40", true},
	{"64:ff9b::808:800/120", true},
	{"2001:0:4136:e378:8000:63bf:d266:5f00/120", true},
}

// Through the packer's output: with decide's guard, no rule value holds an address of
// a protected or allow-listed IPv4 in any embedded form, every such entry is evicted
// with the guard's reason, and every public embedded form is written.
func TestPackSeesEmbeddedIPv4(t *testing.T) {
	guard := decide.NewGuard(cidrtest.AllowListed)
	exp := t0.Add(time.Hour)
	var entries []Entry
	want := map[netip.Prefix]bool{} // canonical prefix -> blockable
	for _, c := range cidrtest.EmbeddedCases() {
		p := netip.PrefixFrom(c.Addr, 128)
		entries = append(entries, Entry{Prefix: p, Severity: 3, Expires: exp})
		cp, _ := cidr.Parse(p.String())
		want[cp] = c.Blockable
	}
	for _, c := range embeddedPrefixCases {
		p := netip.MustParsePrefix(c.prefix)
		entries = append(entries, Entry{Prefix: p, Severity: 3, Expires: exp})
		want[p] = c.blockable
	}
	plan := Pack(entries, Options{Kind: AppGW, Now: t0, Guard: guard}, Budget{Rules: 10, Priorities: []int{50, 51, 52, 53, 54, 55, 56, 57, 58, 59}})

	var written []netip.Prefix
	for _, r := range plan.Rules {
		for _, v := range r.Values {
			p, err := cidr.Parse(v)
			if err != nil {
				t.Fatalf("rule %s holds %q: %v", r.Name, v, err)
			}
			if why := guard.WhyPrefix(p); why != "" {
				t.Errorf("rule %s blocks %s: %s", r.Name, v, why)
			}
			written = append(written, p)
		}
	}
	evicted := map[netip.Prefix]string{}
	for _, e := range plan.Evicted {
		evicted[e.Prefix] = e.Reason
	}
	// covered says a written value holds all of p. (That no written value holds a
	// protected address at all is the guard check on every value above.)
	covered := func(p netip.Prefix) bool {
		for _, w := range written {
			if w.Bits() <= p.Bits() && w.Contains(p.Addr()) {
				return true
			}
		}
		return false
	}
	for p, blockable := range want {
		whole := covered(p)
		switch {
		case blockable && !whole:
			t.Errorf("public %s not written (evicted: %q)", p, evicted[p])
		case !blockable && whole:
			t.Errorf("protected %s written", p)
		case !blockable && !strings.HasPrefix(evicted[p], "never blocked: ") && !strings.HasPrefix(evictedCanon(plan, p), "never blocked: "):
			t.Errorf("protected %s: eviction %q, want the guard's reason", p, evicted[p])
		}
	}
}

// evictedCanon finds the eviction of p written in another spelling (an IPv4-mapped
// entry is canonicalised to IPv4 when written, but evicted as given).
func evictedCanon(plan Plan, p netip.Prefix) string {
	for _, e := range plan.Evicted {
		if c, err := cidr.Parse(e.Prefix.String()); err == nil && c == p {
			return e.Reason
		}
	}
	return ""
}
