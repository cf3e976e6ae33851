package triage

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/sample/classification.json")

// TestSample classifies testdata/sample/inventory.json (two services, every rule, a
// policy that could not be read and one the scanner cannot read) against last month's
// previous.json and compares with classification.json: the whole output, reasons and
// sources included, for review and for the report's tests. Regenerate with
// go test ./shared/triage -run Sample -update and read the diff.
func TestSample(t *testing.T) {
	dir := filepath.Join("testdata", "sample")
	var inv Inventory
	var prev Classification
	for name, v := range map[string]any{"inventory.json": &inv, "previous.json": &prev} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	got := Classify(inv, &prev, Options{SensitiveTags: []string{"pii", "payment"}, OwnFragments: []string{"apiguard"}})
	checkClassification(t, inv, got)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // policies and reasons stay readable: <base />, not \u003cbase /\u003e
	enc.SetIndent("", "  ")
	if err := enc.Encode(got); err != nil {
		t.Fatal(err)
	}
	out := buf.Bytes()
	path := filepath.Join(dir, "classification.json")
	if *update {
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, want) {
		t.Errorf("classification differs from %s (run with -update and read the diff)", path)
	}
}
