package triage

import (
	"encoding/json"
	"testing"
)

// BenchmarkClassify5000: 5,000 APIs of 20 operations each (synthetic: every
// authentication case, policies at every scope of realistic size), classified against a
// previous month. SetBytes is the inventory's JSON size, the collector's output.
func BenchmarkClassify5000(b *testing.B) {
	inv := synthetic(5000, 20, 1)
	doc, err := json.Marshal(inv)
	if err != nil {
		b.Fatal(err)
	}
	prev := Classify(synthetic(5000, 20, 2), nil, pii)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		c := Classify(inv, &prev, pii)
		if len(c.APIs) != 5000 {
			b.Fatalf("%d APIs ranked", len(c.APIs))
		}
	}
}
