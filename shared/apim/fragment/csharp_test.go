package fragment

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/cidr"
)

// TestExpressionsRunInCSharp compiles the policy expressions a fragment holds with
// Mono's C# compiler, against a stand-in for APIM's context (headers, IpAddress,
// Subscription, User, Api, AsJwt), and runs them on requests whose answer Go knows: the
// forwarded check on every spelling of addresses inside, at the edges of and just
// outside forwarded blocks, the throttle conditions on hostile values, and the counter
// keys of per-client throttles (the exact key for each kind of caller). It proves
// the expressions compile, the escaping round-trips and the membership logic is
// exact; it cannot prove APIM's allow-list (see README). Skipped without mcs and mono
// (apt-get install mono-mcs mono-runtime).
func TestExpressionsRunInCSharp(t *testing.T) {
	mcs, err1 := exec.LookPath("mcs")
	mono, err2 := exec.LookPath("mono")
	if err1 != nil || err2 != nil {
		t.Skip("mcs and mono not installed (apt-get install mono-mcs mono-runtime)")
	}
	var prog csProgram
	forwardedVectors(t, &prog)
	throttleVectors(t, &prog)

	dir := t.TempDir()
	src := filepath.Join(dir, "check.cs")
	if err := os.WriteFile(src, []byte(prog.source()), 0o644); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "check.exe")
	if out, err := exec.Command(mcs, "-langversion:7", "-nologo", "-out:"+exe, src).CombinedOutput(); err != nil {
		t.Fatalf("mcs: %v\n%s\n(source in %s)", err, out, src)
	}
	out, err := exec.Command(mono, exe).CombinedOutput()
	if err != nil {
		t.Fatalf("mono: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), fmt.Sprintf("%d checks, 0 failed", prog.checks)) {
		t.Fatalf("C# checks failed:\n%s", out)
	}
	t.Logf("%d C# checks passed", prog.checks)
}

// csProgram collects expressions (each a static method taking the context) and the
// requests to run them on.
type csProgram struct {
	funcs  []string
	calls  []string
	checks int
}

// add compiles one condition attribute value ("@(...)" or "@{...}") into a method
// and returns its name.
func (p *csProgram) add(tb testing.TB, cond string) string {
	tb.Helper()
	name := fmt.Sprintf("F%d", len(p.funcs))
	var body string
	switch {
	case strings.HasPrefix(cond, "@(") && strings.HasSuffix(cond, ")"):
		body = "return " + cond[1:] + ";"
	case strings.HasPrefix(cond, "@{") && strings.HasSuffix(cond, "}"):
		body = cond[2 : len(cond)-1]
	default:
		tb.Fatalf("not a policy expression: %q", cond)
	}
	p.funcs = append(p.funcs, "static bool "+name+"(Ctx context) { "+body+" }")
	return name
}

// addKey compiles a counter key expression ("@(...)", a string) into a method and
// returns its name.
func (p *csProgram) addKey(tb testing.TB, key string) string {
	tb.Helper()
	if !strings.HasPrefix(key, "@(") || !strings.HasSuffix(key, ")") {
		tb.Fatalf("not a counter key expression: %q", key)
	}
	name := fmt.Sprintf("K%d", len(p.funcs))
	p.funcs = append(p.funcs, "static string "+name+"(Ctx context) { return "+key[1:]+"; }")
	return name
}

// check runs fn on a request without an APIM user and expects want. sub == nil
// means no subscription; headers alternate name, value.
func (p *csProgram) check(fn string, want bool, ip, api string, sub *string, headers ...string) {
	p.checkUser(fn, want, ip, api, sub, nil, headers...)
}

// checkUser is check with an APIM user: user == nil means none (context.User null).
func (p *csProgram) checkUser(fn string, want bool, ip, api string, sub, user *string, headers ...string) {
	p.checks++
	p.calls = append(p.calls, fmt.Sprintf("Expect(%s, %v);", request(fn, ip, api, sub, user, headers), strings.ToLower(fmt.Sprint(want))))
}

// checkKey runs the counter key fn on a request without an APIM user and expects the
// key want.
func (p *csProgram) checkKey(fn, want, ip, api string, sub *string, headers ...string) {
	p.checkKeyUser(fn, want, ip, api, sub, nil, headers...)
}

// checkKeyUser is checkKey with an APIM user (nil: none).
func (p *csProgram) checkKeyUser(fn, want, ip, api string, sub, user *string, headers ...string) {
	p.checks++
	p.calls = append(p.calls, fmt.Sprintf("ExpectKey(%s, %s);", request(fn, ip, api, sub, user, headers), lit(want)))
}

// request is the C# arguments "description, fn(context)" of one check.
func request(fn, ip, api string, sub, user *string, headers []string) string {
	opt := func(v *string) string {
		if v == nil {
			return "null"
		}
		return lit(*v)
	}
	s, u := opt(sub), opt(user)
	hs := make([]string, len(headers))
	for i, h := range headers {
		hs[i] = lit(h)
	}
	desc := fmt.Sprintf("%s ip=%q api=%q sub=%s user=%s headers=%q", fn, ip, api, s, u, headers)
	return fmt.Sprintf("%s, %s(Ctx.Make(%s, %s, %s, %s, new string[] {%s}))", lit(desc), fn, lit(ip), lit(api), s, u, strings.Join(hs, ", "))
}

// lit writes a C# literal independently of csString: everything but letters and
// digits as \uXXXX.
func lit(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, u := range utf16Units(s) {
		if u < 0x80 && ('a' <= u && u <= 'z' || 'A' <= u && u <= 'Z' || '0' <= u && u <= '9') {
			b.WriteByte(byte(u))
		} else {
			fmt.Fprintf(&b, `\u%04x`, u)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func utf16Units(s string) []uint16 {
	var out []uint16
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			out = append(out, uint16(0xd800+(r>>10)), uint16(0xdc00+(r&0x3ff)))
		} else {
			out = append(out, uint16(r))
		}
	}
	return out
}

func (p *csProgram) source() string {
	return `using System;
using System.Linq;
using System.Collections.Generic;

// Stand-ins for the parts of APIM's context the fragment reads.
public class Jwt { public IReadOnlyDictionary<string, string[]> Claims; }
public class Req { public string IpAddress; public IReadOnlyDictionary<string, string[]> Headers; }
public class Sub { public string Id; }
public class User { public string Id; }
public class Api { public string Id; }
public class Ctx {
	public Req Request; public Sub Subscription; public User User; public Api Api;
	public static Ctx Make(string ip, string api, string sub, string user, string[] headers) {
		var h = new Dictionary<string, string[]>(StringComparer.OrdinalIgnoreCase);
		for (int i = 0; i + 1 < headers.Length; i += 2) {
			string[] old;
			h[headers[i]] = h.TryGetValue(headers[i], out old) ? old.Concat(new[] { headers[i + 1] }).ToArray() : new[] { headers[i + 1] };
		}
		return new Ctx { Request = new Req { IpAddress = ip, Headers = h }, Api = new Api { Id = api },
			Subscription = sub == null ? null : new Sub { Id = sub }, User = user == null ? null : new User { Id = user } };
	}
}
public static class Ext {
	// APIM: comma-separated values, or the default.
	public static string GetValueOrDefault(this IReadOnlyDictionary<string, string[]> d, string k, string def) {
		string[] v;
		return d.TryGetValue(k, out v) ? string.Join(",", v) : def;
	}
	// Tokens are "Bearer claims:<name>=<value>" with \u0001 between pairs, so that any
	// value can be carried without a JWT library.
	public static Jwt AsJwt(this string s) {
		if (!s.StartsWith("Bearer claims:")) return null;
		var claims = new Dictionary<string, string[]>();
		foreach (var pair in s.Substring(14).Split('\u0001')) {
			var i = pair.IndexOf('=');
			if (i > 0) claims[pair.Substring(0, i)] = new[] { pair.Substring(i + 1) };
		}
		return new Jwt { Claims = claims };
	}
}
public static class Check {
	static int n, failed;
	static void Expect(string desc, bool got, bool want) {
		n++;
		if (got != want) { failed++; Console.WriteLine("FAIL " + desc + ": got " + got + ", want " + want); }
	}
	static void ExpectKey(string desc, string got, string want) {
		n++;
		if (got != want) { failed++; Console.WriteLine("FAIL " + desc + ": got key " + got + ", want " + want); }
	}
` + "\t" + strings.Join(p.funcs, "\n\t") + `
	public static int Main() {
` + "\t\t" + strings.Join(p.calls, "\n\t\t") + `
		Console.WriteLine(n + " checks, " + failed + " failed");
		return failed == 0 ? 0 : 1;
	}
}
`
}

// conditions renders blocks and throttles and returns the condition of every <when>.
func conditions(tb testing.TB, blocks []Block, throttles []Throttle, o Options) []string {
	tb.Helper()
	conds, _ := whens(tb, blocks, throttles, o)
	return conds
}

// whens renders blocks and throttles and returns the condition of every <when> and
// the counter key of every rate-limit-by-key.
func whens(tb testing.TB, blocks []Block, throttles []Throttle, o Options) (conds, keys []string) {
	tb.Helper()
	res, err := Render(blocks, throttles, o)
	if err != nil {
		tb.Fatal(err)
	}
	if len(res.Evicted) > 0 || len(res.Skipped) > 0 {
		tb.Fatalf("evicted %v, skipped %v", res.Evicted, res.Skipped)
	}
	for _, e := range elements(tb, res.XML) {
		switch e.name {
		case "when":
			conds = append(conds, e.attrs["condition"])
		case "rate-limit-by-key":
			keys = append(keys, e.attrs["counter-key"])
		}
	}
	return conds, keys
}

// forwardedVectors blocks random forwarded singles and CIDRs (IPv4 and IPv6, every
// prefix length kind: whole hex digits or not) plus non-forwarded blocks, and checks
// the header check on addresses at and around every block, in every spelling a proxy
// writes.
func forwardedVectors(tb testing.TB, p *csProgram) {
	rng := rand.New(rand.NewPCG(7, 11))
	exp := t0.Add(time.Hour)
	var blocks []Block
	var fwd []netip.Prefix
	add := func(pfx netip.Prefix, forwarded bool) {
		pfx = pfx.Masked()
		blocks = append(blocks, Block{Prefix: pfx, Severity: 1, Expires: exp, Forwarded: forwarded})
		if forwarded {
			fwd = append(fwd, pfx)
		}
	}
	v4 := func() netip.Addr {
		return netip.AddrFrom4([4]byte{198, 18, byte(rng.IntN(4)), byte(rng.IntN(256))})
	}
	v6 := func() netip.Addr {
		var b [16]byte
		copy(b[:], []byte{0x20, 0x01, 0x0d, 0xb8})
		b[4], b[7], b[15] = byte(rng.IntN(2)), byte(rng.IntN(4)), byte(rng.IntN(256))
		return netip.AddrFrom16(b)
	}
	for range 20 {
		add(netip.PrefixFrom(v4(), 32), true)
	}
	for _, bits := range []int{8, 13, 22, 23, 24, 25, 26, 27, 29, 30, 31} {
		add(netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(10 + bits), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))}), bits), true)
	}
	for range 6 {
		add(netip.PrefixFrom(v6(), 128), true)
	}
	for _, bits := range []int{17, 32, 46, 48, 63, 64, 65, 127} {
		add(netip.PrefixFrom(v6(), bits), true)
	}
	for range 10 {
		add(netip.PrefixFrom(v4(), 32), false)
		add(netip.PrefixFrom(v6(), 128), false)
	}

	blocked := func(a netip.Addr) bool {
		for _, f := range fwd {
			if f.Contains(a.Unmap()) {
				return true
			}
		}
		return false
	}
	var probes []netip.Addr
	for _, b := range blocks {
		s, _ := cidr.BlockOf(b.Prefix)
		first, last := s.First(), s.Last()
		probes = append(probes, first, last, first.Prev(), last.Next())
	}

	for _, hc := range []struct {
		header string
		hops   int
	}{{"X-Forwarded-For", 1}, {"X-Forwarded-For", 2}, {"X-Azure-ClientIP", 1}} {
		o := Options{ForwardedHeader: hc.header, TrustedHops: hc.hops, Now: t0}
		conds := conditions(tb, blocks, nil, o)
		if len(conds) != 1 {
			tb.Fatalf("%d conditions, want the forwarded check only", len(conds))
		}
		fn := p.add(tb, conds[0])
		// spell writes the header value a proxy chain leaves for client a.
		spell := func(client string) string {
			switch {
			case hc.header != "X-Forwarded-For":
				return client
			case hc.hops == 2:
				return "198.18.3.3, " + client + ", 192.0.2.200:443" // a spoofed entry, the client, the first proxy
			}
			return "198.18.3.3," + client // the spoofed left entry is never read
		}
		for _, a := range probes {
			if !a.IsValid() {
				continue
			}
			want := blocked(a)
			p.check(fn, want, "192.0.2.250", "api", nil, hc.header, spell(a.String()))
			if a.Is4() {
				p.check(fn, want, "192.0.2.250", "api", nil, hc.header, spell(a.String()+":51234"))
				p.check(fn, want, "192.0.2.250", "api", nil, hc.header, spell("::ffff:"+a.String()))
			} else {
				p.check(fn, want, "192.0.2.250", "api", nil, hc.header, spell("["+a.String()+"]:443"))
				p.check(fn, want, "192.0.2.250", "api", nil, hc.header, spell(strings.ToUpper(a.StringExpanded())))
			}
		}
		// Nothing a client can send makes the check throw or match by accident.
		blockedAddr := fwd[0].Addr().String()
		for _, v := range []string{"", " ", "unknown", "[", "[]", "]", ":", "1.2.3.4:", "[::1", "::ffff:", "999.1.1.1", "x, y, z, w"} {
			p.check(fn, false, "192.0.2.250", "api", nil, hc.header, v)
		}
		p.check(fn, false, "192.0.2.250", "api", nil) // no header
		if hc.header == "X-Forwarded-For" {
			// A blocked address the client wrote on the left is not trusted...
			p.check(fn, false, "192.0.2.250", "api", nil, hc.header, blockedAddr+", 198.18.3.3, 192.0.2.9")
			// ...and two headers read as one list.
			p.check(fn, true, "192.0.2.250", "api", nil, hc.header, "198.18.3.3", hc.header, spell(blockedAddr))
		}
	}
}

// throttleVectors checks every throttle condition, hostile values included: true for
// its target exactly, false for a near miss, another API, or a caller without the key;
// and every per-client throttle (eachVectors).
func throttleVectors(tb testing.TB, p *csProgram) {
	hostile := []string{`a"b`, "<x>&amp;", "]]>", "@(context.Api.Id)", "{{secret}}", "line\nbreak\r\t", `back\slash`,
		"émoji 😀", "'single'", "${x}", "\u2028sep", "x)", "(y", "sub"}
	exp := t0.Add(time.Hour)
	var ths []Throttle
	for i, v := range hostile {
		api := ""
		if i%2 == 1 {
			api = hostile[(i+3)%len(hostile)]
		}
		ths = append(ths,
			Throttle{Key: KeySubscription, Value: v, API: api, Calls: 1, Period: 60, Expires: exp},
			Throttle{Key: KeyUser, Value: v, API: api, Calls: 1, Period: 60, Expires: exp},
			Throttle{Key: KeyClaim, Claim: hostile[(i+1)%len(hostile)], Value: v, API: api, Calls: 1, Period: 60, Expires: exp})
	}
	ths = append(ths, Throttle{Key: KeyIP, Value: "203.0.113.9", Calls: 1, Period: 60, Expires: exp},
		Throttle{Key: KeyIP, Value: "2001:db8::9", API: "a&b", Calls: 1, Period: 60, Expires: exp})
	// Per-client throttles: Value "", hostile APIs and claim names.
	for i, v := range hostile {
		ths = append(ths,
			Throttle{Key: KeyIP, API: v, Calls: 1, Period: 60, Expires: exp},
			Throttle{Key: KeySubscription, API: hostile[(i+5)%len(hostile)], Calls: 1, Period: 60, Expires: exp},
			Throttle{Key: KeyUser, API: hostile[(i+7)%len(hostile)], Calls: 1, Period: 60, Expires: exp},
			Throttle{Key: KeyClaim, Claim: hostile[(i+1)%len(hostile)], API: v, Calls: 1, Period: 60, Expires: exp})
	}

	// Together they are distinct targets (none merged or skipped); they exceed one
	// fragment, so some are evicted.
	res, err := Render(nil, ths, Options{Now: t0})
	if err != nil {
		tb.Fatal(err)
	}
	if res.Throttles+len(res.Evicted) != len(ths) || len(res.Skipped) > 0 {
		tb.Fatalf("%d throttles written and %d evicted of %d (skipped %v)", res.Throttles, len(res.Evicted), len(ths), res.Skipped)
	}
	// The conditions come in canonical order; render each throttle alone to pair them.
	for _, th := range ths {
		conds, keys := whens(tb, nil, []Throttle{th}, Options{Now: t0})
		if len(conds) != 1 || len(keys) != 1 {
			tb.Fatalf("%d conditions and %d counter keys for one throttle", len(conds), len(keys))
		}
		fn := p.add(tb, conds[0])
		if th.Value == "" {
			eachVectors(p, fn, p.addKey(tb, keys[0]), th)
			continue
		}
		api, other := th.API, th.API+"x"
		if api == "" {
			api, other = "any-api", "" // not scoped: every API matches
		}
		none := (*string)(nil)
		switch th.Key {
		case KeyIP:
			p.check(fn, true, th.Value, api, none)
			p.check(fn, false, th.Value+"0", api, none)
			if other != "" {
				p.check(fn, false, th.Value, other, none)
			}
		case KeySubscription:
			v, miss := th.Value, th.Value+"x"
			p.check(fn, true, "192.0.2.1", api, &v)
			p.check(fn, false, "192.0.2.1", api, &miss)
			p.check(fn, false, "192.0.2.1", api, none)
			if other != "" {
				p.check(fn, false, "192.0.2.1", other, &v)
			}
			// The subscription throttle never reads the user.
			p.checkUser(fn, false, "192.0.2.1", api, &miss, &v)
		case KeyUser:
			v, miss, sub := th.Value, th.Value+"x", "sub-1"
			p.checkUser(fn, true, "192.0.2.1", api, &sub, &v)
			p.checkUser(fn, true, "192.0.2.1", api, none, &v)
			p.checkUser(fn, false, "192.0.2.1", api, &sub, &miss)
			p.checkUser(fn, false, "192.0.2.1", api, &sub, none) // a subscription no user owns
			p.checkUser(fn, false, "192.0.2.1", api, none, none) // no subscription
			p.checkUser(fn, false, "192.0.2.1", api, &v, none)   // the value as a subscription id is not the user
			if other != "" {
				p.checkUser(fn, false, "192.0.2.1", other, &sub, &v)
			}
		case KeyClaim:
			tok := "Bearer claims:" + th.Claim + "=" + th.Value
			p.check(fn, true, "192.0.2.1", api, none, "Authorization", tok)
			p.check(fn, false, "192.0.2.1", api, none, "Authorization", tok+"x")
			p.check(fn, false, "192.0.2.1", api, none, "Authorization", "Bearer claims:other="+th.Value)
			p.check(fn, false, "192.0.2.1", api, none)
			if other != "" {
				p.check(fn, false, "192.0.2.1", other, none, "Authorization", tok)
			}
		}
	}
}

// eachVectors checks a per-client throttle: the condition admits every caller of its
// API (with or without the key) and no other API; the counter key is the prefix for
// its kind, claim and API followed by the client: the address (ip), "id/" + the
// subscription id, user id or claim value, or "ip/" + the address for callers without
// one.
// So callers with different identities, and callers without one at different
// addresses, never share a counter, and an identity that reads like an address is not
// counted with that address.
func eachVectors(p *csProgram, cond, key string, th Throttle) {
	api, other, none := th.API, th.API+"x", (*string)(nil)
	prefix := "apiguard/each/" + string(th.Key) + "/"
	if th.Key == KeyClaim {
		prefix += keyPart(th.Claim) + "/"
	}
	prefix += "api/" + keyPart(api) + "/"
	tok := func(claims ...string) string { return "Bearer claims:" + strings.Join(claims, "\u0001") }

	p.check(cond, true, "192.0.2.1", api, none)
	p.check(cond, false, "192.0.2.1", other, none)
	p.check(cond, false, "192.0.2.1", "", none)
	switch th.Key {
	case KeyIP:
		p.checkKey(key, prefix+"192.0.2.1", "192.0.2.1", api, none)
		p.checkKey(key, prefix+"2001:db8::9", "2001:db8::9", api, none)
		v := "sub-1"
		p.checkKey(key, prefix+"192.0.2.2", "192.0.2.2", api, &v, "Authorization", tok("sub=x"))
	case KeySubscription:
		for _, v := range []string{"sub-1", "192.0.2.1", `a"b`, "émoji 😀", "{{secret}}"} {
			p.check(cond, true, "192.0.2.1", api, &v)
			p.checkKey(key, prefix+"id/"+v, "192.0.2.1", api, &v)
		}
		empty := ""
		p.checkKey(key, prefix+"ip/192.0.2.1", "192.0.2.1", api, none)
		p.checkKey(key, prefix+"ip/2001:db8::9", "2001:db8::9", api, none)
		p.checkKey(key, prefix+"ip/192.0.2.1", "192.0.2.1", api, &empty)
		sub, u := "sub-1", "user-1"
		p.checkKeyUser(key, prefix+"id/sub-1", "192.0.2.1", api, &sub, &u) // the subscription, not the user
	case KeyUser:
		sub := "sub-1"
		for _, v := range []string{"1", "64f1a2b3c4d5e6f7a8b9c0d1", "192.0.2.1", `a"b`, "émoji 😀", "{{secret}}"} {
			p.checkUser(cond, true, "192.0.2.1", api, &sub, &v)
			p.checkKeyUser(key, prefix+"id/"+v, "192.0.2.1", api, &sub, &v)
			p.checkKeyUser(key, prefix+"id/"+v, "2001:db8::9", api, none, &v)
		}
		empty := ""
		p.checkKeyUser(key, prefix+"ip/192.0.2.1", "192.0.2.1", api, &sub, none)     // a subscription no user owns
		p.checkKeyUser(key, prefix+"ip/2001:db8::9", "2001:db8::9", api, none, none) // no subscription
		p.checkKeyUser(key, prefix+"ip/192.0.2.1", "192.0.2.1", api, &sub, &empty)
		p.checkKeyUser(key, prefix+"ip/192.0.2.1", "192.0.2.1", api, &sub, none, "Authorization", tok("sub=alice"))
	case KeyClaim:
		for _, v := range []string{"alice", "192.0.2.1", `a"b<c>&d]]>e`, "line\nbreak", "émoji 😀"} {
			p.check(cond, true, "192.0.2.1", api, none, "Authorization", tok(th.Claim+"="+v))
			p.checkKey(key, prefix+"id/"+v, "192.0.2.1", api, none, "Authorization", tok("other=z", th.Claim+"="+v))
		}
		sub := "sub-1"
		p.checkKey(key, prefix+"ip/192.0.2.1", "192.0.2.1", api, none)                                         // no token
		p.checkKey(key, prefix+"ip/192.0.2.1", "192.0.2.1", api, &sub, "Authorization", "Basic xyz")           // not a bearer token
		p.checkKey(key, prefix+"ip/192.0.2.1", "192.0.2.1", api, none, "Authorization", tok("other=alice"))    // no such claim
		p.checkKey(key, prefix+"ip/2001:db8::9", "2001:db8::9", api, none, "Authorization", tok(th.Claim+"=")) // empty claim
	}
}
