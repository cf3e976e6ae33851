package alert

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkBaselineUnmarshal is the yardstick for BenchmarkDecode: the same body read
// by encoding/json into an untyped value, which is the least any decoder must do.
func BenchmarkBaselineUnmarshal(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("testdata", "cases", "arm.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			b.Fatal(err)
		}
	}
}
