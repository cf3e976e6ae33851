package waf

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apiguard/apiguard/shared/cidr/cidrtest"
)

// BenchmarkPack100k packs a realistic desired set of 100,000 entries (the one
// shared/cidr's Aggregate100k aggregates) into the default budget of an empty Front Door
// policy (so forwarded entries add RemoteAddr rules and the excess is evicted).
func BenchmarkPack100k(b *testing.B) {
	entries := cidrtest.Mixed(100000, 5, t0)
	opts := Options{Kind: FrontDoor, Now: t0}.WithDefaults()
	budget := (&Document{kind: FrontDoor}).Budget(opts)
	b.ReportAllocs()
	for b.Loop() {
		Pack(entries, opts, budget)
	}
}

// BenchmarkCompute40k is one reconcile step with a full policy: pack, compare with the
// live rules, write the document.
func BenchmarkCompute40k(b *testing.B) {
	entries := cidrtest.Mixed(40000, 5, t0)
	opts := Options{Kind: AppGW, Now: t0}.WithDefaults()
	first, err := Compute(opts, appgwPolicy(1, 2, 3), entries)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(first.Doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compute(opts, first.Doc, entries); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWrite40kIndented is the first reconcile of 40,000 entries into the shipped
// (indented) Application Gateway example: the owned rules are laid out in the
// document's style, every value on a line of its own, and spliced in.
func BenchmarkWrite40kIndented(b *testing.B) {
	policy, err := os.ReadFile(filepath.Join("..", "..", "docs", "examples", "waf-policy-appgw.json"))
	if err != nil {
		b.Fatal(err)
	}
	entries := cidrtest.Mixed(40000, 5, t0)
	opts := Options{Kind: AppGW, Now: t0}.WithDefaults()
	first, err := Compute(opts, policy, entries)
	if err != nil || !first.Changed {
		b.Fatal(first.Changed, err)
	}
	b.SetBytes(int64(len(first.Doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compute(opts, policy, entries); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaselineSort100k is the yardstick for Pack100k and for shared/cidr's
// Aggregate100k: sorting the same 100,000 prefixes with the standard library, the
// least any aggregation must do.
func BenchmarkBaselineSort100k(b *testing.B) {
	entries := cidrtest.Mixed(100000, 5, t0)
	prefixes := make([]netip.Prefix, len(entries))
	b.ReportAllocs()
	for b.Loop() {
		for i, e := range entries {
			prefixes[i] = e.Prefix
		}
		slices.SortFunc(prefixes, func(x, y netip.Prefix) int {
			if c := x.Addr().Compare(y.Addr()); c != 0 {
				return c
			}
			return x.Bits() - y.Bits()
		})
	}
}
