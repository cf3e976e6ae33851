package cidr_test

import (
	"testing"

	"github.com/apiguard/apiguard/shared/cidr"
	"github.com/apiguard/apiguard/shared/cidr/cidrtest"
)

// BenchmarkAggregate100k aggregates a realistic desired set of 100,000 entries: dense
// /24s that collapse, scattered /32s, some IPv6. shared/waf's BenchmarkBaselineSort100k
// sorts the same set, the least any aggregation must do.
func BenchmarkAggregate100k(b *testing.B) {
	entries := cidrtest.Mixed(100000, 5, t0)
	b.ReportAllocs()
	for b.Loop() {
		cidr.Aggregate(entries)
	}
}
