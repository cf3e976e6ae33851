package alert

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// BenchmarkDecodeManyKeys is a hostile shape for the repeated-key check: one alert whose
// extendedProperties hold 10,000 keys. The check must stay linear.
func BenchmarkDecodeManyKeys(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"alertType":"A","extendedProperties":{`)
	for i := range 10000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `"key %d":"v"`, i)
	}
	sb.WriteString(`}}`)
	body := []byte(sb.String())
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(body, nil); err != nil {
			b.Fatal(err)
		}
	}
}
