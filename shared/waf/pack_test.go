package waf

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/cidr"
	"github.com/apiguard/apiguard/shared/cidr/cidrtest"
)

// spread returns n distinct /32s that cannot aggregate: one address in every /30.
func spread(n int) []Entry {
	es := make([]Entry, n)
	for i := range es {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], 0x0b000000+uint32(i)*4)
		es[i] = Entry{Prefix: netip.PrefixFrom(netip.AddrFrom4(b), 32), Severity: 2, Expires: t0.Add(time.Hour)}
	}
	return es
}

// appgwPolicy builds an Application Gateway policy with customer rules at the given
// priorities.
func appgwPolicy(priorities ...int) []byte {
	var rules []string
	for i, p := range priorities {
		rules = append(rules, fmt.Sprintf(`{"name":"Customer%d","priority":%d,"ruleType":"MatchRule","state":"Enabled","action":"Allow",`+
			`"matchConditions":[{"matchVariables":[{"variableName":"RequestUri"}],"operator":"Contains","negationConditon":false,"matchValues":["/c%d"],"transforms":[]}]}`, i, p, i))
	}
	return []byte(`{"location":"westeurope","properties":{"customRules":[` + strings.Join(rules, ",") + `],"policySettings":{"mode":"Prevention"}}}`)
}

func seq(from, to int) []int {
	var s []int
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// 5,000 addresses that do not aggregate fit in 9 rules of one condition and at most 600
// values each, inside the default budget.
func TestPack5000(t *testing.T) {
	opts := Options{Kind: AppGW, Now: t0}.WithDefaults()
	ch, err := Compute(opts, appgwPolicy(), spread(5000))
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.After) != 9 || len(ch.Evicted) != 0 || ch.Plan.Aggregated != 5000 {
		t.Fatalf("%d rules, %d evicted, %d aggregated", len(ch.After), len(ch.Evicted), ch.Plan.Aggregated)
	}
	var doc struct {
		Properties struct {
			CustomRules []struct {
				Name            string
				Priority        int
				MatchConditions []struct{ MatchValues []string }
			}
		}
	}
	if err := json.Unmarshal(ch.Doc, &doc); err != nil {
		t.Fatal(err)
	}
	total := 0
	for i, r := range doc.Properties.CustomRules {
		if len(r.MatchConditions) != 1 || len(r.MatchConditions[0].MatchValues) > 600 {
			t.Errorf("rule %s: %d conditions", r.Name, len(r.MatchConditions))
		}
		if want := fmt.Sprintf("apiguard%03d", i+1); r.Name != want || r.Priority != 50+i {
			t.Errorf("rule %d is %s at %d", i, r.Name, r.Priority)
		}
		total += len(r.MatchConditions[0].MatchValues)
	}
	if total != 5000 {
		t.Errorf("%d values written", total)
	}
}

// The customer's rules count against the 100-rule limit, and those inside the band take
// their priorities away.
func TestBudget(t *testing.T) {
	for _, c := range []struct {
		name        string
		customers   []int
		start, end  int
		rules       int
		firstFree   []int
		notInBudget []int
	}{
		{"30 customer rules below the band leave 70", seq(1, 30), 31, 100, 70, []int{31, 32}, nil},
		{"the default band holds 50", seq(1, 30), 0, 0, 50, []int{50, 51}, nil},
		{"customer rules inside the band take its priorities", seq(41, 70), 1, 100, 70, seq(1, 40), seq(41, 70)},
		{"duplicate customer priorities take one", []int{50, 50, 52}, 0, 0, 48, []int{51, 53}, []int{50, 52}},
		{"a full policy leaves nothing", seq(1, 100), 0, 0, 0, nil, nil},
		{"an empty policy leaves the band", nil, 0, 0, 50, []int{50}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := Options{Kind: AppGW, PriorityStart: c.start, PriorityEnd: c.end}.WithDefaults()
			doc, err := ParseDocument(AppGW, appgwPolicy(c.customers...))
			if err != nil {
				t.Fatal(err)
			}
			b := doc.Budget(opts)
			if b.Rules != c.rules {
				t.Errorf("Rules = %d, want %d", b.Rules, c.rules)
			}
			if len(b.Priorities) < len(c.firstFree) || !slices.Equal(b.Priorities[:len(c.firstFree)], c.firstFree) {
				t.Errorf("Priorities = %v, want to start with %v", b.Priorities, c.firstFree)
			}
			for _, p := range c.notInBudget {
				if slices.Contains(b.Priorities, p) {
					t.Errorf("priority %d is the customer's", p)
				}
			}
			if !slices.IsSorted(b.Priorities) {
				t.Errorf("Priorities not ascending: %v", b.Priorities)
			}
		})
	}
}

// Past the budget exactly the excess is evicted, least important first, each with a
// reason, and Compute still succeeds.
func TestPackEvictsExactlyTheExcess(t *testing.T) {
	entries := spread(80000)
	r := rand.New(rand.NewPCG(7, 8))
	for i := range entries {
		entries[i].Severity = r.IntN(4)
		entries[i].Expires = t0.Add(time.Duration(1+r.IntN(72)) * time.Hour)
	}
	opts := Options{Kind: AppGW, PriorityStart: 31, PriorityEnd: 100, Now: t0}.WithDefaults()
	ch, err := Compute(opts, appgwPolicy(seq(1, 30)...), entries)
	if err != nil {
		t.Fatal(err)
	}
	const room = 70 * 600
	if len(ch.After) != 70 || countValues(ch.After) != room || len(ch.Evicted) != 80000-room {
		t.Fatalf("%d rules, %d values, %d evicted", len(ch.After), countValues(ch.After), len(ch.Evicted))
	}
	// Every eviction less important than every kept entry, recorded in eviction order.
	key := func(sev int, exp time.Time) [2]int64 { return [2]int64{int64(sev), exp.Unix()} }
	cmpKey := func(a, b [2]int64) int { return slices.Compare(a[:], b[:]) }
	kept := map[string]bool{}
	for _, r := range ch.After {
		for _, v := range r.Values {
			kept[v] = true
		}
	}
	byValue := map[string]Entry{}
	for _, e := range entries {
		byValue[e.Prefix.Addr().String()] = e
	}
	var minKept [2]int64
	first := true
	for v := range kept {
		e := byValue[v]
		if k := key(e.Severity, e.Expires); first || cmpKey(k, minKept) < 0 {
			minKept, first = k, false
		}
	}
	for i, ev := range ch.Evicted {
		if ev.Reason == "" || ev.Covers != 1 {
			t.Fatalf("eviction %d: %+v", i, ev)
		}
		if kept[ev.Prefix.Addr().String()] {
			t.Fatalf("%s both kept and evicted", ev.Prefix)
		}
		if cmpKey(key(ev.Severity, ev.Expires), minKept) > 0 {
			t.Fatalf("evicted %s (severity %d, %v) before a less important kept entry %v", ev.Prefix, ev.Severity, ev.Expires, minKept)
		}
		if i > 0 {
			prev := ch.Evicted[i-1]
			if c := cmpKey(key(prev.Severity, prev.Expires), key(ev.Severity, ev.Expires)); c > 0 ||
				c == 0 && prev.Prefix.Addr().Less(ev.Prefix.Addr()) {
				t.Fatalf("evictions out of order at %d: %+v then %+v", i, prev, ev)
			}
		}
	}
	if ch.Evicted[0].Severity != 0 {
		t.Errorf("evictions start at severity %d", ch.Evicted[0].Severity)
	}
	if !strings.Contains(ch.Evicted[0].Reason, "room for 70 rules of 600") {
		t.Errorf("reason %q", ch.Evicted[0].Reason)
	}
}

// Shortest remaining time goes first among equals; then the larger address.
func TestPackEvictionOrder(t *testing.T) {
	mk := func(addr string, sev int, ttl time.Duration) Entry {
		return Entry{Prefix: netip.PrefixFrom(netip.MustParseAddr(addr), 32), Severity: sev, Expires: t0.Add(ttl)}
	}
	entries := []Entry{
		mk("192.0.2.1", 3, time.Minute),
		mk("192.0.2.3", 1, 5*time.Hour),
		mk("192.0.2.5", 1, time.Hour),
		mk("192.0.2.7", 0, 99*time.Hour),
		mk("192.0.2.9", 2, time.Minute),
		mk("192.0.2.11", 1, time.Hour),
	}
	opts := Options{Kind: AppGW, MaxValues: 1, Now: t0}.WithDefaults()
	var got []string
	for rules := 6; rules >= 0; rules-- {
		plan := Pack(entries, opts, Budget{Rules: rules, Priorities: seq(50, 99)})
		if len(plan.Rules) != rules || len(plan.Evicted) != 6-rules {
			t.Fatalf("budget %d: %d rules, %d evicted", rules, len(plan.Rules), len(plan.Evicted))
		}
		if rules < 6 {
			got = append(got, plan.Evicted[len(plan.Evicted)-1].Prefix.Addr().String())
		}
	}
	want := []string{"192.0.2.7", "192.0.2.11", "192.0.2.5", "192.0.2.3", "192.0.2.9", "192.0.2.1"}
	if !slices.Equal(got, want) {
		t.Errorf("eviction order %v, want %v", got, want)
	}
}

// Invalid prefixes and expired entries never reach a rule, and the invalid ones are
// recorded.
func TestPackDropsInvalidAndExpired(t *testing.T) {
	entries := []Entry{
		{Prefix: netip.Prefix{}, Severity: 3, Expires: t0.Add(time.Hour)},
		{Prefix: netip.MustParsePrefix("192.0.2.1/32"), Severity: 3, Expires: t0},
		{Prefix: netip.MustParsePrefix("192.0.2.2/32"), Severity: 3},
		{Prefix: netip.MustParsePrefix("192.0.2.3/24"), Severity: 3, Expires: t0.Add(time.Second)}, // not masked
	}
	plan := Pack(entries, Options{Kind: AppGW, Now: t0}, Budget{Rules: 1, Priorities: []int{50}})
	if plan.Expired != 2 || plan.Desired != 1 || len(plan.Evicted) != 1 || plan.Evicted[0].Reason == "" {
		t.Fatalf("%+v", plan)
	}
	if len(plan.Rules) != 1 || !slices.Equal(plan.Rules[0].Values, []string{"192.0.2.0/24"}) {
		t.Fatalf("rules %+v", plan.Rules)
	}
}

// The same desired set in any order gives the same rules and the same bytes.
func TestDeterminism(t *testing.T) {
	entries := cidrtest.Mixed(40000, 3, t0)
	policy := appgwPolicy(1, 2, 55)
	for _, kind := range []Kind{AppGW, FrontDoor} {
		t.Run(string(kind), func(t *testing.T) {
			opts := Options{Kind: kind, Now: t0}.WithDefaults()
			doc := policy
			if kind == FrontDoor {
				doc = []byte(`{"properties":{"customRules":{"rules":[{"name":"Keep","priority":60}]}}}`)
			}
			first, err := Compute(opts, doc, entries)
			if err != nil {
				t.Fatal(err)
			}
			if len(first.Evicted) == 0 || len(first.After) < 2 {
				t.Fatalf("the set should fill the budget: %d rules, %d evicted", len(first.After), len(first.Evicted))
			}
			r := rand.New(rand.NewPCG(11, 12))
			for i := range 10 {
				shuffled := slices.Clone(entries)
				r.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
				again, err := Compute(opts, doc, shuffled)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(again.After, first.After) || !reflect.DeepEqual(again.Evicted, first.Evicted) {
					t.Fatalf("shuffle %d: different rules or evictions", i)
				}
				if !bytes.Equal(again.Doc, first.Doc) {
					t.Fatalf("shuffle %d: different document bytes", i)
				}
			}
		})
	}
}

func countValues(rules []Rule) int {
	n := 0
	for _, r := range rules {
		n += len(r.Values)
	}
	return n
}

// The packed-key eviction sort gives exactly the order of the general one, ties and
// sub-millisecond expiries included (the latter fall back to the general sort).
func TestEvictionOrderPacked(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 200 {
		items := make([]cidr.Block, 1+r.IntN(300))
		for i := range items {
			sev, sec, ns := r.IntN(4), t0.Unix()+int64(r.IntN(5)), 0
			if round%2 == 1 {
				ns = r.IntN(3) * 1e6
			}
			if round%10 == 9 {
				ns += r.IntN(2) // sub-millisecond: not packable
			}
			items[i] = block(t, i, sev, time.Unix(sec, int64(ns)))
		}
		packed, ok := evictionOrderPacked(items)
		if subMs := slices.ContainsFunc(items, func(it cidr.Block) bool { return it.Expires().Nanosecond()%1e6 != 0 }); ok == subMs {
			t.Fatalf("round %d: packed %v with sub-millisecond expiries %v", round, ok, subMs)
		}
		if ok && !slices.Equal(packed, evictionOrderSorted(items)) {
			t.Fatalf("round %d: packed order differs", round)
		}
	}
	wide := []cidr.Block{block(t, 0, 0, time.Unix(math.MinInt64/2000, 0)), block(t, 1, 1, time.Unix(math.MaxInt64/2000, 0))}
	if _, ok := evictionOrderPacked(wide); ok {
		t.Error("an expiry range wider than the key was packed")
	}
	if got := evictionOrder(wide); !slices.Equal(got, []int32{0, 1}) {
		t.Errorf("order %v", got)
	}
}

// block is the i-th IPv4 address as a block of the given severity and expiry.
func block(tb testing.TB, i, sev int, exp time.Time) cidr.Block {
	tb.Helper()
	b, ok := cidr.BlockOf(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 32))
	if !ok {
		tb.Fatal("invalid block")
	}
	b.SetMeta(sev, exp, false)
	return b
}
