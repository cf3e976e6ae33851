package cidr_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/cidr"
	"github.com/apiguard/apiguard/shared/cidr/cidrtest"
)

var update = flag.Bool("update", false, "rewrite testdata/aggregate/*.golden.json from the current output")

// t0 is the clock of every case: entries say how long they have left ("ttl").
var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// aggregateCase is one testdata/aggregate/<name>.json: entries in, and the exact
// prefixes expected out (the golden file holds the full entries).
type aggregateCase struct {
	Note    string               `json:"note"`
	Entries []cidrtest.CaseEntry `json:"entries"`
	Want    []string             `json:"want"`
}

// TestAggregateGolden runs every case in testdata/aggregate against its golden file
// (go test ./shared/cidr -update rewrites them; read the diff).
func TestAggregateGolden(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "aggregate", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, path := range paths {
		name, _ := strings.CutSuffix(filepath.Base(path), ".json")
		if strings.HasSuffix(name, ".golden") {
			continue
		}
		n++
		t.Run(name, func(t *testing.T) {
			var c aggregateCase
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&c); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			in := make([]cidr.Entry, len(c.Entries))
			for i, e := range c.Entries {
				if in[i], err = e.Entry(t0); err != nil {
					t.Fatal(err)
				}
			}
			out := cidr.Aggregate(in)
			var got []string
			for _, e := range out {
				got = append(got, e.Prefix.String())
			}
			if strings.Join(got, " ") != strings.Join(c.Want, " ") {
				t.Errorf("Aggregate = %v, want %v", got, c.Want)
			}
			checkCover(t, in, out)

			full, err := json.MarshalIndent(out, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			full = append(full, '\n')
			gpath := filepath.Join("testdata", "aggregate", name+".golden.json")
			if *update {
				if err := os.WriteFile(gpath, full, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if want, err := os.ReadFile(gpath); err != nil {
				t.Fatalf("%v (run go test ./shared/cidr -update to create it)", err)
			} else if !bytes.Equal(full, want) {
				t.Errorf("output differs from %s (rerun with -update once the change is intended)\n--- got\n%s\n--- want\n%s", gpath, full, want)
			}
		})
	}
	if n == 0 {
		t.Fatal("no cases in testdata/aggregate")
	}
}
