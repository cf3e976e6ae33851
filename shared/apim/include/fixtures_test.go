package include

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// fixturesDir holds real policies (apiops scopes and fragments, policy-toolkit test data,
// snippets examples, ARM examples), next to the repository.
const fixturesDir = "../../../../shared/fixtures/apim-policies"

type fixture struct {
	name string
	doc  []byte
}

// loadFixtures reads every *.xml below fixturesDir and every policy value
// ("properties": {"value": "<...>"}) of the ARM examples.
func loadFixtures(t *testing.T) []fixture {
	t.Helper()
	if _, err := os.Stat(fixturesDir); err != nil {
		t.Skipf("real APIM policies not available at %s (%v): skipping", fixturesDir, err)
	}
	var out []fixture
	err := filepath.WalkDir(fixturesDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(fixturesDir, path)
		switch {
		case strings.HasSuffix(path, ".xml"):
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			out = append(out, fixture{rel, b})
		case strings.HasPrefix(filepath.ToSlash(rel), "arm-examples/") && strings.HasSuffix(path, ".json"):
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				return err
			}
			armValues(rel, v, &out)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func armValues(at string, v any, out *[]fixture) {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k == "properties" {
				if p, ok := v[k].(map[string]any); ok {
					if s, ok := p["value"].(string); ok && strings.Contains(s, "<") {
						*out = append(*out, fixture{at + "#/properties/value", []byte(s)})
						continue
					}
				}
			}
			armValues(at+"/"+k, v[k], out)
		}
	case []any:
		for _, e := range v {
			armValues(at, e, out)
		}
	}
}

var comment = regexp.MustCompile(`(?s)<!--.*?-->`)

// TestFixtures runs every real policy through Insert, Insert again, Count and Remove.
// Only documents without an <inbound> section may be refused.
func TestFixtures(t *testing.T) {
	docs := loadFixtures(t)
	var refused []string
	changed := 0
	for _, f := range docs {
		out, rerr, broken := checkInsert(f.doc, testID)
		if broken != nil {
			t.Errorf("%s: %v", f.name, broken)
			continue
		}
		if rerr == nil {
			if !bytes.Equal(out, f.doc) {
				changed++
			}
			continue
		}
		refused = append(refused, f.name+": "+rerr.Error())
		if !errors.Is(rerr, ErrNoInbound) {
			t.Errorf("%s: refused although it is not a document without <inbound>: %v", f.name, rerr)
		}
		if strings.Contains(string(comment.ReplaceAll(f.doc, nil)), "<inbound") {
			t.Errorf("%s: refused but has an <inbound> outside comments: %v", f.name, rerr)
		}
	}
	t.Logf("%d real policies processed: %d changed and restored, %d already included, %d refused",
		len(docs), changed, len(docs)-changed-len(refused), len(refused))
	for _, r := range refused {
		t.Logf("refused %s", r)
	}
}
