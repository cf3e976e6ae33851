package fragment

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/apiguard/apiguard/shared/cidr/cidrtest"
	"github.com/apiguard/apiguard/shared/decide"
)

// FuzzRender renders random blocks and throttles, with the fuzzer's strings as values,
// claim names and API ids, under random limits and options. Whatever the input: no
// panic, no error for valid options, well-formed XML under <fragment> within the limit,
// counts that match, and every caller-supplied string reads back from its C# literal
// exactly as given (so it was escaped, never interpreted). With a guard (decide's, one
// flag in two), embedded forms of protected and public IPv4 addresses are added as
// blocks and ip throttles, and nothing the fragment blocks or throttles is protected.
func FuzzRender(f *testing.F) {
	for i, c := range loadCases(f) {
		var v, cl, api string
		if len(c.Throttles) > 0 {
			v, cl, api = c.Throttles[0].Value, c.Throttles[0].Claim, c.Throttles[0].API
		}
		f.Add(uint64(i), v, cl, api, uint8(len(c.Blocks)+len(c.Throttles)), uint16(c.Options.MaxBytes), uint8(i))
	}
	for i, s := range []string{`"`, "<", "&", "]]>", "@(", "@{", "\n", "{{x}}", "\\", "\x00", "\xff", "😀", "-->", "'"} {
		f.Add(uint64(100+i), s, s, s, uint8(20), uint16(0), uint8(i*37))
	}
	for i := range 4 { // the guard on, with embedded addresses
		f.Add(uint64(200+i), "64:ff9b::a00:1", "sub", "api", uint8(30+i), uint16(0), uint8(32|i<<2))
	}
	f.Fuzz(func(t *testing.T, seed uint64, value, claim, api string, n uint8, maxBytes uint16, flags uint8) {
		rng := rand.New(rand.NewPCG(seed, uint64(n)))
		o := Options{Now: t0, TrustedHops: 1 + int(flags%3)}
		if flags&4 != 0 {
			o.ForwardedHeader = "X-Azure-ClientIP"
		}
		if flags&8 != 0 {
			o.Tier = TierConsumption
			if flags&16 != 0 {
				o.ConsumptionThrottle = ConsumptionBlock
			}
		}
		if maxBytes != 0 {
			o.MaxBytes = len(emptyFragment) + int(maxBytes)%(DefaultMaxBytes-len(emptyFragment)+1)
		}
		blocks := randomBlocks(rng, int(n)*3)
		throttles, values := randomThrottles(rng, int(n)%48, value, claim, api)
		if flags&32 != 0 {
			o.Guard = fuzzGuard
			b, th := randomEmbedded(rng, 1+int(n)%16)
			blocks, throttles = append(blocks, b...), append(throttles, th...)
			for _, t := range th {
				values[t.Value] = true
				values[netip.MustParseAddr(t.Value).Unmap().String()] = true // as written
			}
		}

		res, err := Render(blocks, throttles, o)
		if err != nil {
			t.Fatalf("valid options, error %v", err)
		}
		checkResult(t, res, o)
		checkLiterals(t, res.XML, values)
		if o.Guard != nil {
			for _, p := range writtenPrefixes(t, res.XML) {
				if why := fuzzGuard.WhyPrefix(p); why != "" {
					t.Fatalf("the fragment blocks or throttles %s: %s", p, why)
				}
			}
		}
	})
}

var fuzzGuard = decide.NewGuard(cidrtest.AllowListed)

// randomEmbedded draws n embedded IPv4 addresses (cidrtest's forms and samples), as
// blocks (some forwarded, some as the CIDR around them) and ip throttles.
func randomEmbedded(rng *rand.Rand, n int) ([]Block, []Throttle) {
	cases := cidrtest.EmbeddedCases()
	var bs []Block
	var ths []Throttle
	for range n {
		c := cases[rng.IntN(len(cases))]
		exp := t0.Add(time.Duration(1+rng.IntN(120)) * time.Minute)
		bits := 128 - rng.IntN(3)*rng.IntN(24)
		bs = append(bs, Block{Prefix: netip.PrefixFrom(c.Addr, bits).Masked(), Severity: rng.IntN(4), Forwarded: rng.IntN(2) == 0, Expires: exp})
		ths = append(ths, Throttle{Key: KeyIP, Value: c.Addr.String(), Calls: 1 + rng.IntN(9), Period: 60, Severity: rng.IntN(4), Expires: exp})
	}
	return bs, ths
}

// randomBlocks draws n blocks, IPv4 and IPv6, singles and CIDRs, a fifth forwarded,
// some expired, some invalid, clustered so that some aggregate.
func randomBlocks(rng *rand.Rand, n int) []Block {
	out := make([]Block, 0, n)
	for range n {
		var p netip.Prefix
		switch rng.IntN(10) {
		case 0:
			var b [16]byte
			b[0], b[1], b[2], b[3] = 0x20, 0x01, 0x0d, 0xb8
			b[5], b[15] = byte(rng.IntN(4)), byte(rng.IntN(256))
			p = netip.PrefixFrom(netip.AddrFrom16(b), 100+rng.IntN(29))
		case 1:
			p = netip.Prefix{} // invalid
		default:
			a := netip.AddrFrom4([4]byte{198, 18, byte(rng.IntN(8)), byte(rng.IntN(256))})
			bits := 32
			if rng.IntN(4) == 0 {
				bits = 8 + rng.IntN(25)
			}
			p = netip.PrefixFrom(a, bits)
		}
		out = append(out, Block{Prefix: p, Severity: rng.IntN(4), Forwarded: rng.IntN(5) == 0,
			Expires: t0.Add(time.Duration(rng.IntN(120)-10) * time.Minute)})
	}
	return out
}

// randomThrottles draws n throttles of every kind (and an unknown one); the fuzzer's
// strings go into about half of them.
// About a quarter have an empty value: per-client throttles when they have an API,
// skipped when not. values collects every string a C# literal may legitimately hold.
func randomThrottles(rng *rand.Rand, n int, value, claim, api string) ([]Throttle, map[string]bool) {
	values := map[string]bool{"Authorization": true, "": true, "X-Forwarded-For": true, "X-Azure-ClientIP": true,
		"-": true, "[": true, "4": true, "6": true, " ": true, value: true, claim: true, api: true}
	out := make([]Throttle, 0, n)
	for i := range n {
		th := Throttle{Calls: rng.IntN(50), Period: rng.IntN(320), Severity: rng.IntN(4),
			Expires: t0.Add(time.Duration(rng.IntN(120)-10) * time.Minute)}
		th.Key = []KeyKind{KeyIP, KeySubscription, KeyUser, KeyClaim, "other"}[rng.IntN(5)]
		if i%2 == 0 {
			th.Value, th.Claim = value, claim
			if rng.IntN(2) == 0 {
				th.API = api
			}
			if rng.IntN(4) == 0 {
				th.Value = ""
			}
		} else {
			th.Value, th.Claim = fmt.Sprintf("v%d", rng.IntN(20)), "sub"
			if th.Key == KeyIP {
				th.Value = fmt.Sprintf("192.0.2.%d", rng.IntN(256))
			}
			if rng.IntN(3) == 0 {
				th.API = fmt.Sprintf("api-%d", rng.IntN(3))
			}
			if rng.IntN(4) == 0 {
				th.Value = ""
			}
		}
		if th.Key == KeyIP {
			if a, err := netip.ParseAddr(th.Value); err == nil {
				values[a.Unmap().String()] = true
			}
		}
		values[th.Value], values[th.Claim], values[th.API] = true, true, true
		out = append(out, th)
	}
	return out, values
}

// checkLiterals decodes every C# string literal in every condition and requires it to
// be one of the strings the input supplied (or the set of forwarded keys), and every
// counter key to be made of safe characters only: a literal key, or a per-client
// expression whose first literal is such a key under "apiguard/each/" and whose other
// literals the input supplied (or the id/ip markers).
func checkLiterals(tb testing.TB, doc []byte, values map[string]bool) {
	tb.Helper()
	for _, e := range elements(tb, doc) {
		if k, ok := e.attrs["counter-key"]; ok {
			if !strings.HasPrefix(k, "@") {
				if !isLiteralKey(k) {
					tb.Fatalf("counter key %q has characters outside the key set", k)
				}
				continue
			}
			lits, err := csLiterals(k)
			if err != nil || !isWholeExpr(k) {
				tb.Fatalf("counter key %q: not one expression (%v)", k, err)
			}
			if len(lits) == 0 || !strings.HasPrefix(lits[0], "apiguard/each/") || !isLiteralKey(lits[0]) ||
				!strings.HasPrefix(k, "@("+csString(lits[0])+" + (") {
				tb.Fatalf("counter key %q does not start with a literal apiguard/each/ prefix", k)
			}
			for _, l := range lits[1:] {
				if !values[l] && l != markID && l != markAddr {
					tb.Fatalf("counter key %q holds the literal %q, which no input supplied", k, l)
				}
			}
			continue
		}
		c, ok := e.attrs["condition"]
		if !ok {
			continue
		}
		if !isWholeExpr(c) {
			tb.Fatalf("condition %q is not one expression", c)
		}
		lits, err := csLiterals(c)
		if err != nil {
			tb.Fatalf("condition %q: %v", c, err)
		}
		for _, l := range lits {
			if values[l] || isKeySet(l) {
				continue
			}
			tb.Fatalf("condition %q holds the literal %q, which no input supplied", c, l)
		}
	}
}

// isKeySet reports whether s is the forwarded check's set: " key key ... ".
func isKeySet(s string) bool {
	if len(s) < 3 || s[0] != ' ' || s[len(s)-1] != ' ' {
		return false
	}
	for _, k := range strings.Fields(s) {
		if k[0] != '4' && k[0] != '6' || strings.Trim(k[1:], "0123456789ABCDEF") != "" {
			return false
		}
	}
	return true
}

// csLiterals reads the C# string and char literals of an expression, decoding \uXXXX
// (the only escape the package writes). A raw quote or backslash that leaked from a
// value would misalign the scan and fail here.
func csLiterals(expr string) ([]string, error) {
	var out []string
	for i := 0; i < len(expr); i++ {
		switch expr[i] {
		case '\'':
			if i+2 >= len(expr) || expr[i+2] != '\'' {
				return nil, fmt.Errorf("bad char literal at %d", i)
			}
			i += 2
		case '"':
			var units []uint16
			j := i + 1
			for ; j < len(expr) && expr[j] != '"'; j++ {
				switch c := expr[j]; {
				case c == '\\':
					if j+5 >= len(expr) || expr[j+1] != 'u' {
						return nil, fmt.Errorf("escape other than \\u at %d", j)
					}
					v, err := strconv.ParseUint(expr[j+2:j+6], 16, 16)
					if err != nil {
						return nil, err
					}
					units = append(units, uint16(v))
					j += 5
				case c < 0x20 || c >= 0x7f:
					return nil, fmt.Errorf("raw byte %#x in a literal", c)
				default:
					units = append(units, uint16(c))
				}
			}
			if j >= len(expr) {
				return nil, fmt.Errorf("unterminated literal at %d", i)
			}
			out = append(out, string(utf16.Decode(units)))
			i = j
		}
	}
	return out, nil
}

// BenchmarkRender2000x50 renders the acceptance input: aggregation, eviction of about
// 1,300 entries and the 32 KB fragment.
func BenchmarkRender2000x50(b *testing.B) {
	blocks, throttles := acceptanceInput(2000, 50)
	o := Options{Now: t0}
	res, err := Render(blocks, throttles, o)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(res.Size))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(blocks, throttles, o); err != nil {
			b.Fatal(err)
		}
	}
}
