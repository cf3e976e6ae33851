// Package pagetest holds the DOM queries that the tests of apiguard's rendered pages
// (the operator console, the triage report) check them with: parse, find elements by
// tag, class or id, read attributes and text as a reader sees them.
package pagetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// Parse parses a page as a browser would.
func Parse(t testing.TB, page string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// All lists the elements under n that match, in document order.
func All(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && match(d) {
			out = append(out, d)
		}
	}
	return out
}

// Attr is an element's attribute, and whether it has it.
func Attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// Tag matches elements by tag name.
func Tag(tag string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Data == tag }
}

// Class matches elements that have class among theirs.
func Class(class string) func(*html.Node) bool {
	return func(n *html.Node) bool {
		v, _ := Attr(n, "class")
		return slices.Contains(strings.Fields(v), class)
	}
}

// ByID is the one element with that id; the test fails unless there is exactly one.
func ByID(t testing.TB, doc *html.Node, id string) *html.Node {
	t.Helper()
	found := All(doc, func(n *html.Node) bool { v, _ := Attr(n, "id"); return v == id })
	if len(found) != 1 {
		t.Fatalf("elements with id %q: %d, want 1", id, len(found))
	}
	return found[0]
}

// Text is the text under n, entities decoded, its pieces apart (pages set many on
// lines of their own) and white space collapsed.
func Text(n *html.Node) string {
	var pieces []string
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			pieces = append(pieces, d.Data)
		}
	}
	return strings.Join(strings.Fields(strings.Join(pieces, " ")), " ")
}

// ActiveAttrs lists the attributes under n that would run or load something: event
// handlers (on...) and src. A page that takes data must have none the data made.
func ActiveAttrs(n *html.Node) []string {
	var out []string
	for _, e := range All(n, func(*html.Node) bool { return true }) {
		for _, a := range e.Attr {
			if strings.HasPrefix(strings.ToLower(a.Key), "on") || strings.EqualFold(a.Key, "src") {
				out = append(out, fmt.Sprintf("%s=%q on <%s>", a.Key, a.Val, e.Data))
			}
		}
	}
	return out
}
