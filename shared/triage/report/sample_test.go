package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/apiguard/apiguard/shared/triage"
)

var update = flag.Bool("update", false, "rewrite docs/triage-report/sample.* from testdata/sample.json")

// The samples under docs/triage-report are what the renderers draw from
// testdata/sample.json now: make triage-shots rewrites them (go test -run TestSamples
// -update) and screenshots the page.
func TestSamples(t *testing.T) {
	c := sample(t)
	for name, render := range map[string]func(*bytes.Buffer) error{
		"sample.html": func(b *bytes.Buffer) error { return HTML(b, c, HTMLOptions{}) },
		"sample.md":   func(b *bytes.Buffer) error { return Markdown(b, c) },
		"sample.json": func(b *bytes.Buffer) error { return indentedJSON(b, c) },
	} {
		var buf bytes.Buffer
		if err := render(&buf); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("..", "..", "..", "docs", "triage-report", name)
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (make triage-shots writes it)", err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("%s is not what the report draws now: run make triage-shots", path)
		}
	}
}

// indentedJSON is the JSON report indented for reading, as docs/triage-report keeps
// it (JSON writes one line).
func indentedJSON(b *bytes.Buffer, c triage.Classification) error {
	var line bytes.Buffer
	if err := JSON(&line, c); err != nil {
		return err
	}
	return json.Indent(b, line.Bytes(), "", "  ")
}
