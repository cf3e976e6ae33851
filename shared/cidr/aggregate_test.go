package cidr_test

import (
	"math/big"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/cidr"
)

// interval is an address range in exact integer form, computed independently of the
// package's u128 arithmetic.
type interval struct {
	v6         bool
	start, end *big.Int
}

func intervalOf(p netip.Prefix) interval {
	p = p.Masked()
	a := p.Addr()
	raw := a.AsSlice()
	start := new(big.Int).SetBytes(raw)
	host := new(big.Int).Lsh(big.NewInt(1), uint(a.BitLen()-p.Bits()))
	end := new(big.Int).Sub(new(big.Int).Add(start, host), big.NewInt(1))
	return interval{v6: a.Is6(), start: start, end: end}
}

// union merges overlapping and adjacent intervals: the exact set of addresses.
func union(ps []netip.Prefix) []interval {
	var iv []interval
	for _, p := range ps {
		iv = append(iv, intervalOf(p))
	}
	slices.SortFunc(iv, func(a, b interval) int {
		if a.v6 != b.v6 {
			if a.v6 {
				return 1
			}
			return -1
		}
		return a.start.Cmp(b.start)
	})
	var out []interval
	for _, x := range iv {
		if n := len(out); n > 0 && out[n-1].v6 == x.v6 {
			next := new(big.Int).Add(out[n-1].end, big.NewInt(1))
			if x.start.Cmp(next) <= 0 {
				if x.end.Cmp(out[n-1].end) > 0 {
					out[n-1].end = x.end
				}
				continue
			}
		}
		out = append(out, x)
	}
	return out
}

// checkCover asserts Aggregate's contract on one input: the output covers exactly the
// input's addresses, is sorted, has no prefix inside another, cannot be merged further,
// and carries the highest severity, latest expiry and any Forwarded of what it covers.
func checkCover(t testing.TB, in, out []cidr.Entry) {
	t.Helper()
	in = slices.Clone(in)
	var pin, pout []netip.Prefix
	for i, e := range in {
		if a := e.Prefix.Addr(); a.Is4In6() && e.Prefix.Bits() >= 96 { // IPv4-mapped is IPv4
			in[i].Prefix = netip.PrefixFrom(a.Unmap(), e.Prefix.Bits()-96)
		}
		pin = append(pin, in[i].Prefix)
	}
	for _, e := range out {
		pout = append(pout, e.Prefix)
	}
	ui, uo := union(pin), union(pout)
	if len(ui) != len(uo) {
		t.Fatalf("covers %d ranges, input %d: in %v out %v", len(uo), len(ui), pin, pout)
	}
	for i := range ui {
		if ui[i].v6 != uo[i].v6 || ui[i].start.Cmp(uo[i].start) != 0 || ui[i].end.Cmp(uo[i].end) != 0 {
			t.Fatalf("range %d differs: in %v out %v", i, pin, pout)
		}
	}
	// Sorted and disjoint: each block ends before the next starts.
	for i := 1; i < len(out); i++ {
		a, b := intervalOf(out[i-1].Prefix), intervalOf(out[i].Prefix)
		if a.v6 == b.v6 && a.end.Cmp(b.start) >= 0 || a.v6 && !b.v6 {
			t.Fatalf("not sorted or overlapping: %v before %v", out[i-1].Prefix, out[i].Prefix)
		}
	}
	// Each input lies inside exactly one block; fold what each block stands for.
	type want struct {
		sev int
		exp time.Time
		fwd bool
		n   int
	}
	wants := make([]want, len(out))
	for _, e := range in {
		k, found := slices.BinarySearchFunc(out, e.Prefix.Masked().Addr(), func(o cidr.Entry, a netip.Addr) int {
			return o.Prefix.Addr().Compare(a)
		})
		if !found {
			k--
		}
		if k < 0 || !out[k].Prefix.Contains(e.Prefix.Masked().Addr()) || out[k].Prefix.Bits() > e.Prefix.Bits() {
			t.Fatalf("input %v is not inside one output block: %v", e.Prefix, pout)
		}
		w := &wants[k]
		if w.n == 0 || e.Severity > w.sev {
			w.sev = e.Severity
		}
		if w.n == 0 || e.Expires.After(w.exp) {
			w.exp = e.Expires
		}
		w.fwd, w.n = w.fwd || e.Forwarded, w.n+1
	}
	for i, a := range out {
		if a.Prefix != a.Prefix.Masked() {
			t.Fatalf("%v is not masked", a.Prefix)
		}
		// Minimal: the parent is not wholly desired (else the block and its sibling
		// should have merged).
		if a.Prefix.Bits() > 0 {
			parent, _ := a.Prefix.Addr().Prefix(a.Prefix.Bits() - 1)
			piv := intervalOf(parent)
			for _, u := range ui {
				if u.v6 == piv.v6 && u.start.Cmp(piv.start) <= 0 && u.end.Cmp(piv.end) >= 0 {
					t.Fatalf("%v and its sibling should have merged into %v", a.Prefix, parent)
				}
			}
		}
		w := wants[i]
		if w.n == 0 || a.Severity != w.sev || !a.Expires.Equal(w.exp) || a.Forwarded != w.fwd {
			t.Fatalf("%v: severity %d expiry %v forwarded %v, want %+v", a.Prefix, a.Severity, a.Expires, a.Forwarded, w)
		}
	}
}

func entriesOf(prefixes ...string) []cidr.Entry {
	es := make([]cidr.Entry, len(prefixes))
	for i, s := range prefixes {
		es[i] = cidr.Entry{Prefix: netip.MustParsePrefix(s), Severity: 1, Expires: t0.Add(time.Hour)}
	}
	return es
}

// The rules every aggregation must follow, spelt out (the golden cases show more).
func TestAggregateRules(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []string
		want []string
	}{
		{"siblings merge", []string{"10.0.0.0/32", "10.0.0.1/32"}, []string{"10.0.0.0/31"}},
		{"siblings merge repeatedly", []string{"10.0.0.0/26", "10.0.0.64/26", "10.0.0.128/25"}, []string{"10.0.0.0/24"}},
		{"adjacent non-siblings stay", []string{"10.0.0.1/32", "10.0.0.2/32"}, []string{"10.0.0.1/32", "10.0.0.2/32"}},
		{"adjacent /24s across a /23 boundary stay", []string{"10.0.1.0/24", "10.0.2.0/24"}, []string{"10.0.1.0/24", "10.0.2.0/24"}},
		{"contained dropped", []string{"10.0.0.7/32", "10.0.0.0/24"}, []string{"10.0.0.0/24"}},
		{"never over-cover", []string{"10.0.0.0/32", "10.0.0.1/32", "10.0.0.2/32"}, []string{"10.0.0.0/31", "10.0.0.2/32"}},
		{"duplicates", []string{"10.0.0.9/32", "10.0.0.9/32"}, []string{"10.0.0.9/32"}},
		{"top of the space", []string{"255.255.255.254/32", "255.255.255.255/32"}, []string{"255.255.255.254/31"}},
		{"everything", []string{"0.0.0.0/1", "128.0.0.0/1", "::/1", "8000::/1"}, []string{"0.0.0.0/0", "::/0"}},
		{"IPv6 siblings", []string{"2001:db8::/128", "2001:db8::1/128", "2001:db8::3/128"}, []string{"2001:db8::/127", "2001:db8::3/128"}},
		{"IPv4-mapped is IPv4", []string{"::ffff:10.0.0.1/128", "10.0.0.0/32"}, []string{"10.0.0.0/31"}},
		{"families never merge", []string{"255.255.255.255/32", "::/128"}, []string{"255.255.255.255/32", "::/128"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := entriesOf(c.in...)
			out := cidr.Aggregate(in)
			var got []string
			for _, e := range out {
				got = append(got, e.Prefix.String())
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("Aggregate(%v) = %v, want %v", c.in, got, c.want)
			}
		})
	}
}

// A merged entry stands for the most important of what it covers.
func TestAggregateKeepsMostImportant(t *testing.T) {
	in := []cidr.Entry{
		{Prefix: netip.MustParsePrefix("10.0.0.0/24"), Severity: 0, Expires: t0.Add(time.Hour)},
		{Prefix: netip.MustParsePrefix("10.0.0.7/32"), Severity: 3, Expires: t0.Add(time.Minute), Forwarded: true},
		{Prefix: netip.MustParsePrefix("10.0.1.0/24"), Severity: 1, Expires: t0.Add(48 * time.Hour)},
	}
	out := cidr.Aggregate(in)
	if len(out) != 1 || out[0].Prefix.String() != "10.0.0.0/23" || out[0].Severity != 3 ||
		!out[0].Expires.Equal(t0.Add(48*time.Hour)) || !out[0].Forwarded {
		t.Fatalf("Aggregate = %+v", out)
	}
	checkCover(t, in, out)
}

// fuzzEntries decodes 4 bytes per entry into prefixes crowded into small spaces, so
// overlaps, siblings and gaps are common: byte 0 picks the family and space, byte 1 the
// address, byte 2 the severity and expiry, byte 3 the length.
func fuzzEntries(data []byte) []cidr.Entry {
	var es []cidr.Entry
	for ; len(data) >= 4; data = data[4:] {
		b0, b1, b2, b3 := data[0], data[1], data[2], data[3]
		var p netip.Prefix
		switch {
		case b0 == 0xff: // anywhere in IPv4, any length
			a := netip.AddrFrom4([4]byte{b1, b2, b1 ^ b3, b3})
			p = netip.PrefixFrom(a, int(b3)%33)
		case b0&0x80 != 0: // 2001:db8::/116, lengths 116-128
			a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: b0 & 0x0f, 15: b1})
			p = netip.PrefixFrom(a, 116+int(b3)%13)
		default: // 10.0.0.0/22, lengths 22-32
			a := netip.AddrFrom4([4]byte{10, 0, b0 & 0x03, b1})
			p = netip.PrefixFrom(a, 22+int(b3)%11)
		}
		es = append(es, cidr.Entry{
			Prefix: p.Masked(), Severity: int(b2 % 4), Expires: t0.Add(time.Duration(b2>>2) * time.Minute),
			Forwarded: b2&0x80 != 0,
		})
	}
	return es
}

func FuzzAggregate(f *testing.F) {
	f.Add([]byte{0, 0, 0, 10, 0, 1, 0, 10, 0, 2, 0, 10})                 // 10.0.0.0-2: /31 + /32
	f.Add([]byte{0, 7, 3, 10, 0, 0, 0, 2})                               // a /32 inside a /24
	f.Add([]byte{0x80, 0, 1, 12, 0x80, 1, 2, 12, 0x81, 0, 3, 0})         // IPv6 siblings and a /116
	f.Add([]byte{0xff, 255, 255, 32, 0xff, 254, 255, 32, 0xff, 0, 0, 0}) // the top of the space, 0/0
	r := rand.New(rand.NewPCG(1, 2))
	for range 4 {
		seed := make([]byte, 4*64)
		for i := range seed {
			seed[i] = byte(r.Uint32())
		}
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := fuzzEntries(data[:min(len(data), 4*1024)])
		out := cidr.Aggregate(in)
		checkCover(t, in, out)
		// Order does not matter.
		rev := slices.Clone(in)
		slices.Reverse(rev)
		if again := cidr.Aggregate(rev); !slices.Equal(again, out) {
			t.Fatalf("input order changed the output:\n%v\n%v", out, again)
		}
	})
}
