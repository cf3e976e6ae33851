package collect_test

import (
	"testing"

	"github.com/apiguard/apiguard/shared/triage/collect"
	"github.com/apiguard/apiguard/shared/triage/triagetest"
)

// BenchmarkCollect5000 collects a service of 5,000 APIs of 20 operations from the
// SDK's fakes (ARM paging 100 a page) and reports the ARM calls it made: the count
// that must stay inside ARM's read limits. Run it with -benchtime 1x.
func BenchmarkCollect5000(b *testing.B) {
	w := triagetest.Large(5000, 20)
	for b.Loop() {
		stats := &collect.Stats{}
		opts := w.Options()
		opts.Stats = stats
		inv, err := collect.Collect(b.Context(), opts)
		if err != nil {
			b.Fatal(err)
		}
		if n := len(inv.Services[0].APIs); n != 5000 {
			b.Fatalf("%d APIs collected", n)
		}
		b.ReportMetric(float64(stats.Calls), "arm-calls")
		for kind, n := range stats.ByKind {
			b.Logf("%-48s %d", kind, n)
		}
	}
}
