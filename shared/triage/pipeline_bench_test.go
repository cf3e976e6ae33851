package triage_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/apiguard/apiguard/shared/triage"
	"github.com/apiguard/apiguard/shared/triage/report"
)

// BenchmarkTriage5000 is the whole path a monthly run takes after collecting: 5,000
// APIs of 20 operations classified against last month, then rendered in all three
// formats. The target is under 1 s on one core (-cpu 1). SetBytes is the
// inventory's JSON size.
func BenchmarkTriage5000(b *testing.B) {
	inv := triage.Synthetic(5000, 20, 1)
	doc, err := json.Marshal(inv)
	if err != nil {
		b.Fatal(err)
	}
	prev := triage.Classify(triage.Synthetic(5000, 20, 2), nil, triage.PII)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	var out bytes.Buffer
	for b.Loop() {
		c := triage.Classify(inv, &prev, triage.PII)
		out.Reset()
		if err := report.JSON(&out, c); err != nil {
			b.Fatal(err)
		}
		if err := report.Markdown(&out, c); err != nil {
			b.Fatal(err)
		}
		if err := report.HTML(&out, c, report.HTMLOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(out.Len())/1e6, "MB-out")
}

// BenchmarkMarshalInventory5000 is the baseline for BenchmarkTriage5000, measured in
// the same run: the standard library encoding the same inventory once, the least any
// report of it could cost.
func BenchmarkMarshalInventory5000(b *testing.B) {
	inv := triage.Synthetic(5000, 20, 1)
	doc, err := json.Marshal(inv)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(inv); err != nil {
			b.Fatal(err)
		}
	}
}
