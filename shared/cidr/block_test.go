package cidr_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/cidr"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in, want string // want "" for an error
	}{
		{"203.0.113.7", "203.0.113.7/32"},
		{" 203.0.113.7\t", "203.0.113.7/32"},
		{"203.0.113.7/24", "203.0.113.0/24"},
		{"2001:db8::1", "2001:db8::1/128"},
		{"2001:db8::1/32", "2001:db8::/32"},
		{"::ffff:203.0.113.7", "203.0.113.7/32"},
		{"::ffff:203.0.113.7/120", "203.0.113.0/24"},
		{"::ffff:0:0/95", "::fffe:0:0/95"}, // shorter than the mapped space: stays IPv6
		{"0.0.0.0/0", "0.0.0.0/0"},
		{"fe80::1%eth0", ""},
		{"fe80::1%eth0/64", ""},
		{"203.0.113.7/33", ""},
		{"203.0.113", ""},
		{"", ""},
		{"example.com", ""},
	} {
		t.Run(c.in, func(t *testing.T) {
			p, err := cidr.Parse(c.in)
			switch {
			case c.want == "" && err == nil:
				t.Errorf("Parse(%q) = %v, want an error", c.in, p)
			case c.want != "" && err != nil:
				t.Errorf("Parse(%q): %v", c.in, err)
			case c.want != "" && p.String() != c.want:
				t.Errorf("Parse(%q) = %v, want %s", c.in, p, c.want)
			}
		})
	}
}

// Block's accessors read back what BlockOf was given, in canonical form.
func TestBlockOf(t *testing.T) {
	for _, c := range []struct {
		prefix      string
		text        string // String: single addresses bare
		first, last string
		v6          bool
	}{
		{"10.1.2.3/32", "10.1.2.3", "10.1.2.3", "10.1.2.3", false},
		{"10.1.2.3/24", "10.1.2.0/24", "10.1.2.0", "10.1.2.255", false},
		{"0.0.0.0/0", "0.0.0.0/0", "0.0.0.0", "255.255.255.255", false},
		{"::ffff:10.1.2.3/127", "10.1.2.2/31", "10.1.2.2", "10.1.2.3", false},
		{"2001:db8::5/128", "2001:db8::5", "2001:db8::5", "2001:db8::5", true},
		{"2001:db8::/126", "2001:db8::/126", "2001:db8::", "2001:db8::3", true},
		{"::/0", "::/0", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true},
	} {
		t.Run(c.prefix, func(t *testing.T) {
			b, ok := cidr.BlockOf(netip.MustParsePrefix(c.prefix))
			if !ok {
				t.Fatal("not valid")
			}
			if b.String() != c.text || b.First().String() != c.first || b.Last().String() != c.last || b.Is6() != c.v6 {
				t.Errorf("%s: text %s, first %s, last %s, v6 %v", c.prefix, b.String(), b.First(), b.Last(), b.Is6())
			}
			b.SetMeta(2, time.Date(2026, 11, 23, 12, 0, 0, 5, time.UTC), true)
			e := b.Entry()
			back, _ := cidr.BlockOf(e.Prefix)
			back.SetMeta(e.Severity, e.Expires, e.Forwarded)
			if back != b {
				t.Errorf("%s: round trip %v", c.prefix, back.String())
			}
		})
	}
	if _, ok := cidr.BlockOf(netip.Prefix{}); ok {
		t.Error("the zero prefix is valid")
	}
}

func TestBlockContains(t *testing.T) {
	block := func(s string) *cidr.Block {
		b, _ := cidr.BlockOf(netip.MustParsePrefix(s))
		return &b
	}
	for _, c := range []struct {
		outer, inner string
		want         bool
	}{
		{"10.0.0.0/24", "10.0.0.7/32", true},
		{"10.0.0.0/24", "10.0.0.0/24", true},
		{"10.0.0.0/24", "10.0.0.0/23", false},
		{"10.0.0.0/24", "10.0.1.0/32", false},
		{"0.0.0.0/0", "::/128", false},
		{"::/0", "2001:db8::/32", true},
	} {
		if got := block(c.outer).Contains(block(c.inner)); got != c.want {
			t.Errorf("%s contains %s = %v, want %v", c.outer, c.inner, got, c.want)
		}
	}
}
