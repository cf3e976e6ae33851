package alert

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/cases/*.golden.json from the current output")

// testCase is one input of testdata/cases: <name>.json, optionally <name>.headers.json
// (request headers, for binary-mode CloudEvents), and the expected <name>.golden.json.
// The same table feeds the golden test, the fuzz seed corpus and the benchmark.
type testCase struct {
	name   string
	body   []byte
	header http.Header
}

func loadCases(tb testing.TB) []testCase {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "cases", "*.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var cases []testCase
	for _, p := range paths {
		if strings.HasSuffix(p, ".golden.json") || strings.HasSuffix(p, ".headers.json") {
			continue
		}
		body, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		c := testCase{name: strings.TrimSuffix(filepath.Base(p), ".json"), body: body}
		if hb, err := os.ReadFile(strings.TrimSuffix(p, ".json") + ".headers.json"); err == nil {
			var hm map[string]string
			if err := json.Unmarshal(hb, &hm); err != nil {
				tb.Fatalf("%s.headers.json: %v", c.name, err)
			}
			c.header = http.Header{}
			for k, v := range hm {
				c.header.Set(k, v)
			}
		}
		cases = append(cases, c)
	}
	if len(cases) == 0 {
		tb.Fatal("no cases in testdata/cases")
	}
	return cases
}

// goldenView is what a golden file holds: the Batch as JSON, plus the validation code
// the Batch keeps out of its JSON (it is an answer to Event Grid, not data).
type goldenView struct {
	Batch
	ValidationCode string `json:"validation_code,omitempty"`
}

func render(tb testing.TB, b Batch) []byte {
	tb.Helper()
	out, err := json.MarshalIndent(goldenView{Batch: b, ValidationCode: b.ValidationCode}, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	return append(out, '\n')
}

func TestGolden(t *testing.T) {
	for _, c := range loadCases(t) {
		t.Run(c.name, func(t *testing.T) {
			b, err := Decode(c.body, c.header)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			got := render(t, b)
			path := filepath.Join("testdata", "cases", c.name+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./shared/alert -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (rerun with -update once the change is intended)\n--- got\n%s\n--- want\n%s", path, got, want)
			}
			for i, inc := range b.Incidents {
				if !json.Valid(inc.Raw) || len(inc.Raw) == 0 || inc.Raw[0] != '{' {
					t.Errorf("incident %d: Raw is not a JSON object: %.80q", i, inc.Raw)
				}
			}
		})
	}
}
