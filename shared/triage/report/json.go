package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/apiguard/apiguard/shared/triage"
)

// JSON writes the report for scripts: the Classification's JSON with a "version" and a
// "summary" (README.md documents every field). It is indented, one field a line, so
// two months' reports diff readably, and policy snippets keep their "<" and ">" (the
// document is never embedded in a page). Nothing is written when the Classification is
// refused.
func JSON(w io.Writer, c triage.Classification) error {
	d, err := digestOf(c)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.Grow(2048 + 2048*len(c.APIs))
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
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
