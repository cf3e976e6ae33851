package fragment

import (
	"bytes"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"math/bits"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/cidr/cidrtest"
	"github.com/apiguard/apiguard/shared/decide"
)

// Through the renderer: with decide's guard, neither the ip-filter, nor the forwarded
// check, nor an ip throttle holds an address of a protected or allow-listed IPv4 in
// any embedded form; each is skipped with the guard's reason, and every public
// embedded form is enforced.
func TestRenderSeesEmbeddedIPv4(t *testing.T) {
	guard := decide.NewGuard(cidrtest.AllowListed)
	exp := t0.Add(time.Hour)
	var blocks []Block
	var throttles []Throttle
	wantThrottles := 0
	for i, c := range cidrtest.EmbeddedCases() {
		blocks = append(blocks, Block{Prefix: netip.PrefixFrom(c.Addr, 128), Severity: 3, Expires: exp, Forwarded: i%2 == 0})
		throttles = append(throttles, Throttle{Key: KeyIP, Value: c.Addr.String(), Calls: 5, Period: 60, Severity: 3, Expires: exp})
		if c.Blockable {
			wantThrottles++
		}
	}
	for _, p := range []string{"2002::/16", "2002:a00::/24", "64:ff9b::/96", "64:ff9b::a00:0/120", "2001:0:4136:e378::/64"} {
		blocks = append(blocks, Block{Prefix: netip.MustParsePrefix(p), Severity: 3, Expires: exp, Forwarded: true})
	}
	o := Options{Now: t0, Guard: guard}
	res, err := Render(blocks, throttles, o)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, res, o)
	written := writtenPrefixes(t, res.XML)
	for _, p := range written {
		if why := guard.WhyPrefix(p); why != "" {
			t.Errorf("the fragment blocks %s: %s", p, why)
		}
	}
	skipped := map[string]string{}
	for _, s := range res.Skipped {
		skipped[s.What] = s.Reason
	}
	for _, c := range cidrtest.EmbeddedCases() {
		p := netip.PrefixFrom(c.Addr.Unmap(), c.Addr.Unmap().BitLen())
		in := false
		for _, w := range written {
			in = in || w.Bits() <= p.Bits() && w.Contains(p.Addr())
		}
		if c.Blockable != in {
			t.Errorf("%s (%s of %s %s): written %v", c.Addr, c.Form, c.Inner.Kind, c.Inner.Addr, in)
		}
		if !c.Blockable && !strings.HasPrefix(skipped[netip.PrefixFrom(c.Addr, 128).String()], "never blocked: ") {
			t.Errorf("%s: skip reason %q", c.Addr, skipped[netip.PrefixFrom(c.Addr, 128).String()])
		}
	}
	if res.Throttles != wantThrottles {
		t.Errorf("%d throttles written, want the %d public ones", res.Throttles, wantThrottles)
	}
	n := 0
	for _, s := range res.Skipped {
		if strings.HasPrefix(s.Reason, "never throttled: ") {
			n++
		}
	}
	if n != len(throttles)-wantThrottles {
		t.Errorf("%d throttles skipped by the guard, want %d", n, len(throttles)-wantThrottles)
	}
}

// writtenPrefixes reads every prefix the fragment blocks or throttles: ip-filter
// addresses and ranges, the forwarded check's keys, and the address each ip throttle
// condition compares the caller with (not an identity that reads like an address).
func writtenPrefixes(tb testing.TB, doc []byte) []netip.Prefix {
	tb.Helper()
	var out []netip.Prefix
	d := xml.NewDecoder(bytes.NewReader(doc))
	inAddress := false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			tb.Fatal(err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			attr := map[string]string{}
			for _, a := range tok.Attr {
				attr[a.Name.Local] = a.Value
			}
			switch tok.Name.Local {
			case "address":
				inAddress = true
			case "address-range":
				out = append(out, rangePrefix(tb, attr["from"], attr["to"]))
			case "when":
				lits, err := csLiterals(attr["condition"])
				if err != nil {
					tb.Fatal(err)
				}
				for _, l := range lits {
					if isKeySet(l) {
						for _, k := range strings.Fields(l) {
							out = append(out, keyPrefix(tb, k))
						}
					} else if a, err := netip.ParseAddr(l); err == nil &&
						strings.Contains(attr["condition"], "context.Request.IpAddress == "+csString(l)) {
						out = append(out, netip.PrefixFrom(a, a.BitLen()))
					}
				}
			}
		case xml.EndElement:
			inAddress = false
		case xml.CharData:
			if inAddress {
				a := netip.MustParseAddr(strings.TrimSpace(string(tok)))
				out = append(out, netip.PrefixFrom(a, a.BitLen()))
			}
		}
	}
}

// rangePrefix is the CIDR an address-range was written from (it must be one).
func rangePrefix(tb testing.TB, from, to string) netip.Prefix {
	f, l := netip.MustParseAddr(from).As16(), netip.MustParseAddr(to).As16()
	n := 0
	for i := range 16 {
		if x := f[i] ^ l[i]; x != 0 {
			n += bits.LeadingZeros8(x)
			break
		}
		n += 8
	}
	a := netip.MustParseAddr(from)
	p := netip.PrefixFrom(a, n-(128-a.BitLen())).Masked()
	if p.Addr() != a {
		tb.Fatalf("range %s-%s is not a CIDR", from, to)
	}
	return p
}

// keyPrefix reads a forwarded key: "4" or "6", then the prefix's leading hex digits.
func keyPrefix(tb testing.TB, k string) netip.Prefix {
	digits := k[1:]
	b, err := hex.DecodeString(digits + strings.Repeat("0", 32-len(digits)))
	if err != nil {
		tb.Fatalf("key %q: %v", k, err)
	}
	var a netip.Addr
	if k[0] == '4' {
		a = netip.AddrFrom4([4]byte(b[:4]))
	} else {
		a = netip.AddrFrom16([16]byte(b[:16]))
	}
	return netip.PrefixFrom(a, 4*len(digits))
}
