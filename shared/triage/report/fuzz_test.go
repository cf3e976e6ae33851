package report

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/net/html"

	"github.com/apiguard/apiguard/shared/pagetest"
	"github.com/apiguard/apiguard/shared/triage"
)

// FuzzEscape puts one string everywhere a customer's or a collector's text lands:
// the Markdown reads it back as text with no markup left unescaped, and the page keeps
// its shape (the same elements as with a plain name) with the name reading back.
func FuzzEscape(f *testing.F) {
	for _, s := range append([]string{"orders", "*a* _b_ [c](d) <e> f|g ~~h~~ `i` {{j}} &amp;", "a\r\nb\x00c", "\\", "é\u2028"}, hostile...) {
		f.Add(s)
	}
	shape := func(t *testing.T, name string) (int, *html.Node) {
		c := triage.Classification{Month: "2026-12", Previous: "2026-11",
			APIs: []triage.Ranked{{API: "/apis/" + name, Name: name, DisplayName: name, Service: name, Priority: triage.P0, Rules: []string{name},
				Reason: name, Signals: []triage.Signal{{Name: name, Known: true, Source: name}},
				Recommendations: []triage.Recommendation{{Kind: name, Text: name, Snippet: name, Operations: []string{name}}}}},
			Counts:   map[triage.Priority]int{triage.P0: 1},
			Changes:  []triage.Change{{API: "gone", Name: name, Kind: triage.ChangeRemoved, Signal: name}},
			Gaps:     []triage.Gap{{Scope: name, What: name, Error: name, Effect: name}},
			Coverage: triage.Coverage{NotOnboarded: []string{"/apis/" + name}, Waiting: name},
		}
		var buf bytes.Buffer
		if err := HTML(&buf, c, HTMLOptions{Title: name}); err != nil {
			t.Fatal(err)
		}
		doc, err := html.Parse(&buf)
		if err != nil {
			t.Fatal(err)
		}
		// A "+" in a rule adds a line-break opportunity, <wbr>; nothing else may change.
		return len(pagetest.All(doc, func(n *html.Node) bool { return n.Data != "wbr" })), doc
	}
	plain, _ := shape(&testing.T{}, "orders")
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" {
			t.Skip("an empty name leaves out what it would fill")
		}
		escaped := md(s)
		if unescapeMD(escaped) != flatten(s) {
			t.Errorf("md(%q) = %q reads back as %q", s, escaped, unescapeMD(escaped))
		}
		if bad := unescapedMarkup(escaped); bad != "" || strings.Contains(escaped, "{{") || strings.ContainsAny(escaped, "\r\n") {
			t.Errorf("md(%q) = %q leaves markup", s, escaped)
		}
		n, doc := shape(t, s)
		if n != plain {
			t.Errorf("%q: %d elements, %d with a plain name", s, n, plain)
		}
		if utf8.ValidString(s) && !strings.ContainsAny(s, "\r\x00") && strings.TrimSpace(s) != "" {
			if got := pagetest.Text(pagetest.All(worklistRows(t, doc)[0], pagetest.Class("api"))[0]); got != strings.Join(strings.Fields(s), " ") {
				t.Errorf("%q reads back as %q", s, got)
			}
		}
	})
}
