package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/apiguard/apiguard/shared/triage"
)

// JSON writes the report for scripts: the Classification's JSON with a "version" and a
// "summary" (README.md documents every field), on one line and a newline, with policy
// snippets keeping their "<" and ">" (the document is never embedded in a page).
// Compact, not indented: indenting took six times as long as encoding (60 ms for 5,000
// APIs), and jq indents it for a reader. Nothing is written when the Classification
// is refused.
func JSON(w io.Writer, c triage.Classification) error {
	d, err := digestOf(c)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.Grow(2048 + 1536*len(c.APIs))
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(Document{Version: Version, Classification: arrays(c), Summary: d.summary}); err != nil {
		return fmt.Errorf("report: encode JSON: %w", err)
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// arrays gives the lists the contract promises as arrays an empty one where the
// Classification has none, so a script reads [] or {}, never null.
func arrays(c triage.Classification) triage.Classification {
	if c.APIs == nil {
		c.APIs = []triage.Ranked{}
	}
	if c.Counts == nil {
		c.Counts = map[triage.Priority]int{}
	}
	if c.Coverage.NotOnboarded == nil {
		c.Coverage.NotOnboarded = []string{}
	}
	copied := false
	for i, a := range c.APIs {
		if a.Rules != nil && a.Signals != nil {
			continue
		}
		if !copied {
			c.APIs = append([]triage.Ranked(nil), c.APIs...)
			copied = true
		}
		if a.Rules == nil {
			c.APIs[i].Rules = []string{}
		}
		if a.Signals == nil {
			c.APIs[i].Signals = []triage.Signal{}
		}
	}
	return c
}
