package fragment

import (
	"bytes"
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/cidr"
	"github.com/apiguard/apiguard/shared/fault"
)

// acceptanceInput is the sizing case: n scattered IPv4 addresses that do not
// aggregate (all odd, so no two are siblings or adjacent), severities 0-3 in turn and
// expiries from 10 minutes to a day, and m ip, subscription and claim throttles, a
// third of them API-scoped (user throttles, sized like subscription ones, are left out
// so the measured figures in README hold). It feeds the acceptance test and the
// benchmark.
func acceptanceInput(n, m int) ([]Block, []Throttle) {
	rng := rand.New(rand.NewPCG(2026, 11))
	seen := map[netip.Addr]bool{}
	blocks := make([]Block, 0, n)
	for len(blocks) < n {
		a := netip.AddrFrom4([4]byte{byte(1 + rng.IntN(222)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(128)*2 + 1)})
		if seen[a] {
			continue
		}
		seen[a] = true
		blocks = append(blocks, Block{Prefix: netip.PrefixFrom(a, 32), Severity: len(blocks) % 4,
			Expires: t0.Add(10*time.Minute + time.Duration(rng.IntN(1440))*time.Minute)})
	}
	throttles := make([]Throttle, 0, m)
	for i := range m {
		th := Throttle{Calls: 1 + rng.IntN(100), Period: []int{1, 10, 60, 300}[i%4], Severity: (i + 1) % 4,
			Expires: t0.Add(time.Duration(1+rng.IntN(48)) * time.Hour)}
		switch i % 3 {
		case 0:
			th.Key, th.Value = KeyIP, fmt.Sprintf("198.18.%d.%d", i/200, i%200)
		case 1:
			th.Key, th.Value = KeySubscription, fmt.Sprintf("contoso-sub-%04d", i)
		default:
			th.Key, th.Claim, th.Value = KeyClaim, []string{"sub", "oid"}[i%2], fmt.Sprintf("%08x-53a4-4d0b-9b8e-2f4d1c7a0b11", i)
		}
		if i%3 == 1 {
			th.API = fmt.Sprintf("orders-v%d", i%5)
		}
		throttles = append(throttles, th)
	}
	return blocks, throttles
}

// TestAcceptance2000Blocks50Throttles: 2,000 unaggregatable addresses and 50 throttles
// do not fit in 32 KB; the fragment fits after eviction, the least important went, and
// nothing evicted would still fit.
func TestAcceptance2000Blocks50Throttles(t *testing.T) {
	blocks, throttles := acceptanceInput(2000, 50)
	o := Options{Now: t0}
	res, err := Render(blocks, throttles, o)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, res, o)
	if res.Size > DefaultMaxBytes {
		t.Fatalf("%d bytes", res.Size)
	}
	if len(res.Evicted) == 0 {
		t.Fatal("nothing evicted: 2,000 addresses cannot fit in 32 KB")
	}
	var evBlocks, evThrottles int
	for _, e := range res.Evicted {
		if strings.HasPrefix(e.What, "throttle ") {
			evThrottles++
		} else {
			evBlocks++
		}
	}
	if res.Blocks+evBlocks != 2000 || res.Throttles+evThrottles != 50 {
		t.Fatalf("kept %d+%d, evicted %d+%d: something vanished", res.Blocks, res.Throttles, evBlocks, evThrottles)
	}
	checkEvictionOrder(t, blocks, throttles, res, DefaultMaxBytes)

	keptSev, evSev := [4]int{}, [4]int{}
	for _, e := range res.Evicted {
		evSev[e.Severity]++
	}
	bySev := map[string]int{}
	for _, b := range blocks {
		bySev[b.Prefix.Addr().String()] = b.Severity
	}
	for _, m := range regexp.MustCompile(`<address>([^<]+)</address>`).FindAllSubmatch(res.XML, -1) {
		keptSev[bySev[string(m[1])]]++
	}
	t.Logf("2,000 blocks + 50 throttles: %d bytes (limit %d); kept %d blocks and %d throttles, evicted %d blocks and %d throttles",
		res.Size, DefaultMaxBytes, res.Blocks, res.Throttles, evBlocks, evThrottles)
	t.Logf("evictions by severity 0-3 (blocks and throttles): %v; kept blocks by severity 0-3: %v", evSev, keptSev)
}

// checkEvictionOrder holds for any eviction: records are least important first; no
// evicted entry would still fit; and a kept entry less important than an evicted one
// survived only by being smaller (it was taken back into room the other did not fit).
// Sizes are each entry's own text, which is exact for ip-filter entries and throttles
// once the enclosing elements exist (true here: some of each kind is kept).
func checkEvictionOrder(tb testing.TB, blocks []Block, throttles []Throttle, res Result, max int) {
	tb.Helper()
	type rec struct {
		sev  int
		exp  time.Time
		size int
	}
	size := map[string]rec{}
	for _, b := range blocks {
		s, _ := cidr.BlockOf(b.Prefix)
		size[s.String()] = rec{b.Severity, b.Expires.UTC(), len(ipFilterLine(&s))}
	}
	for _, th := range throttles {
		c, reason := normalize(&th)
		if reason != "" {
			tb.Fatalf("%v: %s", th, reason)
		}
		c.render()
		size[c.name()] = rec{th.Severity, th.Expires.UTC(), len(c.text)}
	}
	evicted := map[string]bool{}
	for i, e := range res.Evicted {
		evicted[e.What] = true
		if i > 0 {
			p := res.Evicted[i-1]
			if c := cmp.Compare(p.Severity, e.Severity); c > 0 || c == 0 && p.Expires.After(e.Expires) {
				tb.Fatalf("eviction %d (%s sev %d) recorded after %s sev %d", i, e.What, e.Severity, p.What, p.Severity)
			}
		}
		if size[e.What].size <= max-res.Size {
			tb.Fatalf("%s (%d bytes) evicted with %d bytes free", e.What, size[e.What].size, max-res.Size)
		}
	}
	for what, k := range size {
		if evicted[what] {
			continue
		}
		for _, e := range res.Evicted {
			less := k.sev < e.Severity || k.sev == e.Severity && k.exp.Before(e.Expires)
			if less && k.size >= size[e.What].size {
				tb.Fatalf("kept %s (sev %d, %d bytes) but evicted the more important %s (sev %d, %d bytes)",
					what, k.sev, k.size, e.What, e.Severity, size[e.What].size)
			}
		}
	}
}

// TestDeterministic: the same entries in any order give the same bytes and records.
func TestDeterministic(t *testing.T) {
	blocks, throttles := acceptanceInput(600, 30)
	for i := 0; i < len(blocks); i += 7 {
		blocks[i].Forwarded = true
		if i%21 == 0 {
			blocks[i].Prefix = netip.PrefixFrom(blocks[i].Prefix.Addr(), 20+i%12).Masked()
		}
	}
	throttles = append(throttles, throttles[3], throttles[4]) // duplicates too
	throttles[len(throttles)-1].Calls = 1
	// Per-client throttles of every kind, a duplicate of one, and a single-client
	// throttle on the same API, at importances that reach into eviction.
	for i := range 12 {
		throttles = append(throttles, Throttle{Key: []KeyKind{KeyIP, KeySubscription, KeyUser, KeyClaim}[i%4], Claim: "oid",
			API: fmt.Sprintf("orders-v%d", i%3), Calls: 1 + i, Period: 60, Severity: i % 4, Expires: t0.Add(time.Duration(1+i%5) * time.Hour)})
	}
	throttles = append(throttles, throttles[len(throttles)-1], Throttle{Key: KeyIP, Value: "198.18.0.9", API: "orders-v0",
		Calls: 1, Period: 1, Severity: 2, Expires: t0.Add(time.Hour)})
	throttles[len(throttles)-2].Calls = 2
	// Single-client user throttles: everywhere and on one API, a duplicate, and one on
	// an id that is also a subscription throttle's (another target).
	for i := range 4 {
		throttles = append(throttles, Throttle{Key: KeyUser, Value: []string{"1", "64f1a2b3c4d5e6f7a8b9c0d1", "contoso-sub-0001", "1"}[i],
			API: []string{"", "orders-v1", "", ""}[i], Calls: 5 + i, Period: 60, Severity: i % 4, Expires: t0.Add(time.Duration(2+i) * time.Hour)})
	}
	o := Options{Now: t0, MaxBytes: 20000}
	want, err := Render(blocks, throttles, o)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, want, o)
	var each int
	for _, e := range want.Evicted {
		if strings.HasPrefix(e.What, "throttle each ") {
			each++
		}
	}
	if each == 0 || !bytes.Contains(want.XML, []byte("apiguard/each/")) {
		t.Fatalf("%d per-client throttles evicted, want some evicted and some kept", each)
	}
	for _, k := range []string{"apiguard/user/", "apiguard/each/user/"} {
		if !bytes.Contains(want.XML, []byte(k)) {
			t.Fatalf("no %s... throttle kept", k)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10 {
		rng.Shuffle(len(blocks), func(i, j int) { blocks[i], blocks[j] = blocks[j], blocks[i] })
		rng.Shuffle(len(throttles), func(i, j int) { throttles[i], throttles[j] = throttles[j], throttles[i] })
		got, err := Render(blocks, throttles, o)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.XML, want.XML) {
			t.Fatal("different bytes for the same entries in another order")
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("different results for the same entries in another order:\n%+v\n%+v", got.Evicted, want.Evicted)
		}
	}
}

// TestExpired: an entry expiring at Now or before is dropped (there is no "never": a
// zero Expires has expired); with a zero Now nothing is.
func TestExpired(t *testing.T) {
	a := func(s string) netip.Prefix { return netip.MustParsePrefix(s) }
	blocks := []Block{
		{Prefix: a("192.0.2.1/32"), Expires: t0},
		{Prefix: a("192.0.2.3/32"), Expires: t0.Add(-time.Hour)},
		{Prefix: a("192.0.2.5/32")},
		{Prefix: a("192.0.2.7/32"), Expires: t0.Add(time.Nanosecond)},
	}
	throttles := []Throttle{
		{Key: KeyIP, Value: "192.0.2.9", Calls: 1, Period: 1, Expires: t0},
		{Key: KeyIP, Value: "192.0.2.11", Calls: 1, Period: 1, Expires: t0.Add(time.Second)},
	}
	res, err := Render(blocks, throttles, Options{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if res.Expired != 4 || res.Blocks != 1 || res.Throttles != 1 ||
		!bytes.Contains(res.XML, []byte("192.0.2.7")) || !bytes.Contains(res.XML, []byte("192.0.2.11")) {
		t.Fatalf("expired %d, blocks %d, throttles %d:\n%s", res.Expired, res.Blocks, res.Throttles, res.XML)
	}
	res, err = Render(blocks, throttles, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Expired != 0 || res.Blocks != 4 || res.Throttles != 2 {
		t.Fatalf("zero Now: expired %d, blocks %d, throttles %d", res.Expired, res.Blocks, res.Throttles)
	}
}

func TestEmpty(t *testing.T) {
	res, err := Render(nil, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.XML, Empty()) {
		t.Fatalf("Render of nothing %q, Empty %q", res.XML, Empty())
	}
	checkResult(t, res, Options{})
	if els := elements(t, Empty()); len(els) != 1 {
		t.Fatalf("the empty fragment holds %d elements", len(els))
	}
	// The smallest limit that is allowed still renders.
	res, err = Render([]Block{{Prefix: netip.MustParsePrefix("192.0.2.1/32"), Expires: t0.Add(time.Hour)}}, nil,
		Options{MaxBytes: len(Empty()), Now: t0})
	if err != nil || !bytes.Equal(res.XML, Empty()) || len(res.Evicted) != 1 {
		t.Fatalf("%v %q %v", err, res.XML, res.Evicted)
	}
}

func TestOptionsValidate(t *testing.T) {
	if err := (Options{}).Validate(); err != nil {
		t.Fatalf("zero options: %v", err)
	}
	ok := []Options{
		{ForwardedHeader: "X-Azure-ClientIP", Tier: "Premium", ConsumptionThrottle: "BLOCK", TrustedHops: 16},
		{Tier: "standardv2", MaxBytes: 32768},
	}
	for _, o := range ok {
		if err := o.Validate(); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
	bad := []struct {
		o    Options
		want []string
	}{
		{Options{MaxBytes: 40000}, []string{"MaxBytes 40000"}},
		{Options{MaxBytes: 10}, []string{"even the empty fragment"}},
		{Options{ForwardedHeader: "X Forwarded"}, []string{"not an HTTP header name"}},
		{Options{ForwardedHeader: "forwarded"}, []string{"RFC 7239"}},
		{Options{TrustedHops: -1, Tier: "gold", ConsumptionThrottle: "drop"},
			[]string{"TrustedHops -1", `Tier "gold"`, `ConsumptionThrottle "drop"`}},
	}
	for _, c := range bad {
		err := c.o.Validate()
		if err == nil {
			t.Errorf("%+v: no error", c.o)
			continue
		}
		if fault.Of(err) != fault.Reject {
			t.Errorf("%+v: disposition %v, want reject", c.o, fault.Of(err))
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: %q does not say %q", c.o, err, w)
			}
		}
		if _, err := Render(nil, nil, c.o); err == nil {
			t.Errorf("%+v: Render accepted it", c.o)
		}
	}
}

// TestImportance: severity, then expiry, then a throttle before a block, then the
// later entry in canonical order.
func TestImportance(t *testing.T) {
	units := []unit{
		{sev: 1, exp: t0, block: true, idx: 1},
		{sev: 1, exp: t0, block: true, idx: 0},
		{sev: 1, exp: t0, idx: 5},
		{sev: 0, exp: t0.Add(time.Hour), block: true},
		{sev: 1, exp: t0.Add(-time.Hour), block: true, idx: 9},
		{sev: 2, exp: t0.Add(-time.Hour), idx: 9},
	}
	slices.SortFunc(units, func(a, b unit) int { return cmpImportance(&a, &b) })
	var got []string
	for _, u := range units {
		got = append(got, fmt.Sprintf("%d/%v/%v/%d", u.sev, u.exp.Sub(t0), u.block, u.idx))
	}
	want := []string{"0/1h0m0s/true/0", "1/-1h0m0s/true/9", "1/0s/false/5", "1/0s/true/1", "1/0s/true/0", "2/-1h0m0s/false/9"}
	if !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

// TestSingleThrottleTooLarge: a throttle larger than the whole limit is evicted, with
// a record, and the blocks still render.
func TestSingleThrottleTooLarge(t *testing.T) {
	long := strings.Repeat("\u00e9", 128) // 256 bytes, 768 once escaped as \u00E9
	res, err := Render(
		[]Block{{Prefix: netip.MustParsePrefix("192.0.2.1/32"), Severity: 0, Expires: t0.Add(time.Hour)}},
		[]Throttle{{Key: KeyClaim, Claim: long, Value: long, Calls: 1, Period: 1, Severity: 3, Expires: t0.Add(time.Hour)}},
		Options{MaxBytes: 600, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if res.Blocks != 1 || res.Throttles != 0 || len(res.Evicted) != 1 || !strings.HasPrefix(res.Evicted[0].What, "throttle ") {
		t.Fatalf("%+v", res)
	}
}

func TestInvalidUTF8Skipped(t *testing.T) {
	res, err := Render(nil, []Throttle{{Key: KeySubscription, Value: "a\xffb", Calls: 1, Period: 1, Expires: t0.Add(time.Hour)}}, Options{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Skipped) != 1 || !strings.Contains(res.Skipped[0].Reason, "UTF-8") {
		t.Fatalf("%+v", res.Skipped)
	}
}
