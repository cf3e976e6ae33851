package report

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/shared/triage"
)

func renderJSON(t *testing.T, c triage.Classification) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := JSON(&buf, c); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The document decodes back into the Classification it came from, with its version
// and a summary tallied from the lists.
func TestJSONRoundTrip(t *testing.T) {
	c := sample(t)
	out := renderJSON(t, c)
	var doc Document
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.Version != 1 {
		t.Errorf("version %d", doc.Version)
	}
	if !reflect.DeepEqual(doc.Classification, c) {
		t.Errorf("the classification does not round-trip")
	}
	want := Summary{
		APIs:       30,
		Priorities: map[triage.Priority]int{triage.P0: 5, triage.P1: 7, triage.P2: 5, triage.P3: 10, triage.Decommission: 3},
		Findings:   17, Candidates: 1,
		Changes: map[string]int{triage.ChangeNew: 3, triage.ChangeRemoved: 1, triage.ChangeRose: 1, triage.ChangeFell: 1, triage.ChangeNewlyInactive: 1, triage.ChangeResolved: 1},
		Gaps:    3, NotOnboarded: 7,
	}
	if !reflect.DeepEqual(doc.Summary, want) {
		t.Errorf("summary %+v, want %+v", doc.Summary, want)
	}
	for p, n := range c.Counts {
		if doc.Summary.Priorities[p] != n {
			t.Errorf("summary %s = %d, counts %d", p, doc.Summary.Priorities[p], n)
		}
	}
	// Snippets keep their markup readable; the document is one line.
	if !bytes.Contains(out, []byte(`"snippet":"<validate-jwt header-name=\"Authorization\"`)) {
		t.Errorf("snippet escaped for HTML:\n%s", out[:min(len(out), 2000)])
	}
	if !bytes.HasPrefix(out, []byte(`{"version":1,"month":"2026-12","collected":"2026-12-01T05:40:12Z","apis":[`)) ||
		bytes.Count(out, []byte("\n")) != 1 || !bytes.HasSuffix(out, []byte("}\n")) {
		t.Errorf("document starts %q", out[:80])
	}
}

// The shape a script relies on: the top level's fields in order, the lists as arrays
// even when empty, every priority and change kind in the summary.
func TestJSONShape(t *testing.T) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(renderJSON(t, sample(t)), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "month", "collected", "apis", "counts", "changes", "previous", "gaps", "coverage", "summary"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("no %q", k)
		}
	}

	// The first run of an empty tenant: no nulls.
	empty := renderJSON(t, triage.Classification{Month: "2026-12", APIs: []triage.Ranked{{API: "a", Name: "a", Service: "s", Priority: triage.P3}},
		Counts: map[triage.Priority]int{triage.P3: 1}})
	if bytes.Contains(empty, []byte("null")) {
		t.Errorf("null in\n%s", empty)
	}
	var e struct {
		APIs []struct {
			Rules   []string `json:"rules"`
			Signals []any    `json:"signals"`
		} `json:"apis"`
		Coverage struct {
			NotOnboarded []string `json:"notOnboarded"`
		} `json:"coverage"`
		Summary struct {
			Priorities map[string]int `json:"priorities"`
			Changes    map[string]int `json:"changes"`
		} `json:"summary"`
	}
	if err := json.Unmarshal(empty, &e); err != nil {
		t.Fatal(err)
	}
	if e.APIs[0].Rules == nil || e.APIs[0].Signals == nil || e.Coverage.NotOnboarded == nil {
		t.Errorf("empty lists are not arrays:\n%s", empty)
	}
	if got := slices.Sorted(maps.Keys(e.Summary.Priorities)); !slices.Equal(got, []string{"Decommission", "P0", "P1", "P2", "P3"}) {
		t.Errorf("summary priorities %v", got)
	}
	if got := slices.Sorted(maps.Keys(e.Summary.Changes)); !slices.Equal(got, []string{"fell", "new", "newly-inactive", "removed", "resolved", "rose"}) {
		t.Errorf("summary changes %v", got)
	}
	var none Document
	if err := json.Unmarshal(renderJSON(t, triage.Classification{}), &none); err != nil || none.APIs == nil || none.Counts == nil {
		t.Errorf("no APIs: %v %+v", err, none)
	}
}

// README.md documents every field the document can hold, and no other: its field
// table against the paths of a document with every optional field set.
func TestJSONDocumented(t *testing.T) {
	c := sample(t)
	c.Coverage.Next = c.Coverage.Batches[0]
	var doc any
	if err := json.Unmarshal(renderJSON(t, c), &doc); err != nil {
		t.Fatal(err)
	}
	paths := map[string]bool{}
	jsonPaths(doc, "", paths)

	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, fields, _ := strings.Cut(string(readme), "\n### Fields\n")
	fields, _, _ = strings.Cut(fields, "\n## ")
	documented := map[string]bool{}
	for _, line := range strings.Split(fields, "\n") {
		if rest, ok := strings.CutPrefix(line, "| `"); ok {
			if path, _, ok := strings.Cut(rest, "`"); ok {
				documented[path] = true
			}
		}
	}
	for _, p := range slices.Sorted(maps.Keys(paths)) {
		if !documented[p] {
			t.Errorf("README.md does not document %s", p)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(documented)) {
		if !paths[p] {
			t.Errorf("README.md documents %s, which the document does not hold", p)
		}
	}
}

// jsonPaths collects the paths of v: "apis[].signals[].source". Maps keyed by data
// (priorities, kinds) and lists of plain values end a path.
func jsonPaths(v any, path string, out map[string]bool) {
	if path != "" && !strings.HasSuffix(path, "[]") {
		out[path] = true
	}
	switch v := v.(type) {
	case map[string]any:
		switch path {
		case "counts", "summary.priorities", "summary.changes":
			return
		}
		for k, child := range v {
			p := k
			if path != "" {
				p = path + "." + k
			}
			jsonPaths(child, p, out)
		}
	case []any:
		for _, child := range v {
			if _, ok := child.(map[string]any); ok {
				jsonPaths(child, path+"[]", out)
			}
		}
	}
}
