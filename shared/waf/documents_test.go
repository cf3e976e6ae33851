package waf

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/fault"
)

// documentEntries are the blocks applied to every document case: IPv4 and IPv6, so
// that two owned rules are written.
var documentEntries = []Entry{
	{Prefix: netip.MustParsePrefix("45.153.160.140/31"), Severity: 3, Expires: t0.Add(time.Hour)},
	{Prefix: netip.MustParsePrefix("2001:db8::7/128"), Severity: 2, Expires: t0.Add(time.Hour)},
}

// documentCase is testdata/documents/<name>.<kind>.json; <name>.<kind>.golden holds
// "refused: <message>" or the document with documentEntries applied, byte for byte.
type documentCase struct {
	name string
	kind Kind
	doc  []byte
}

func loadDocumentCases(tb testing.TB) []documentCase {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "documents", "*.json"))
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no document cases: %v", err)
	}
	var out []documentCase
	for _, p := range paths {
		base := strings.TrimSuffix(filepath.Base(p), ".json")
		i := strings.LastIndexByte(base, '.')
		if i < 0 {
			tb.Fatalf("%s: name it <case>.<kind>.json", p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, documentCase{name: base, kind: Kind(base[i+1:]), doc: b})
	}
	return out
}

// TestDocumentCases: every refusal names what it found and is a 400 rejection; every
// accepted document gets the owned rules inside its one policy, at priorities its own
// rules leave free, and gives back its bytes when they go.
func TestDocumentCases(t *testing.T) {
	for _, c := range loadDocumentCases(t) {
		t.Run(c.name, func(t *testing.T) {
			goldenPath := filepath.Join("testdata", "documents", c.name+".golden")
			opts := Options{Kind: c.kind, Now: t0}.WithDefaults()
			_, err := ParseDocument(c.kind, c.doc)
			if err != nil {
				if fault.Of(err) != fault.Reject || fault.StatusOf(err) != 400 {
					t.Errorf("disposition %v status %d, want a 400 rejection", fault.Of(err), fault.StatusOf(err))
				}
				if _, cerr := Compute(opts, c.doc, documentEntries); cerr == nil || cerr.Error() != err.Error() {
					t.Errorf("Compute does not refuse it the same way: %v", cerr)
				}
				golden(t, goldenPath, []byte("refused: "+err.Error()+"\n"))
				return
			}
			ch, err := Compute(opts, c.doc, documentEntries)
			if err != nil || !ch.Changed {
				t.Fatalf("changed %v, %v", ch.Changed, err)
			}
			golden(t, goldenPath, ch.Doc)
			checkWritten(t, opts, c.doc, ch)
			back, _ := ParseDocument(c.kind, ch.Doc)
			taken := map[int]bool{}
			for _, raw := range back.Customer(opts) {
				e := readElement(raw)
				taken[e.priority] = e.hasPriority
			}
			for _, r := range back.Owned(opts) {
				if taken[r.Priority] {
					t.Errorf("owned rule %s takes priority %d, which the document's own rule has", r.Name, r.Priority)
				}
			}
			if n, m := bytes.Count(c.doc, []byte(`"customRules"`)), bytes.Count(ch.Doc, []byte(`"customRules"`)); max(n, 1) != m {
				t.Errorf("%d customRules members, was %d: a second one was written", m, n)
			}
			undo, err := Compute(opts, ch.Doc, nil)
			if err != nil || !bytes.Equal(undo.Doc, c.doc) {
				t.Errorf("removing the owned rules did not give back the original bytes (%v):\n%s", err, undo.Doc)
			}
		})
	}
}

// roundTripSources are the documents the byte round trip is checked on: the shipped
// examples, the accepted document cases, and the published examples when present.
func roundTripSources(t *testing.T) []policyDoc {
	t.Helper()
	var docs []policyDoc
	for _, name := range []string{"appgw", "frontdoor"} {
		p := filepath.Join("..", "..", "docs", "examples", "waf-policy-"+name+".json")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, policyDoc{where: filepath.Base(p), kind: Kind(name), raw: b})
	}
	for _, c := range loadDocumentCases(t) {
		if _, err := ParseDocument(c.kind, c.doc); err == nil {
			docs = append(docs, policyDoc{where: c.name, kind: c.kind, raw: c.doc})
		}
	}
	if paths, _ := filepath.Glob(filepath.Join(fixtureDir, "*.json")); len(paths) > 0 {
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			findPolicies(filepath.Base(p), b, &docs)
		}
	} else {
		t.Logf("no WAF policy fixtures in %s: the published examples are left out of the round trip", fixtureDir)
	}
	return docs
}

// layouts re-lays a document out: the same content in other indentations, on one line,
// with CRLF line breaks, without its custom rules container and with an empty one.
func layouts(t *testing.T, kind Kind, raw []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{"as shipped": raw}
	indent := func(prefix, unit string) []byte {
		var b bytes.Buffer
		if err := json.Indent(&b, raw, prefix, unit); err != nil {
			t.Fatal(err)
		}
		return append(b.Bytes(), '\n')
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		t.Fatal(err)
	}
	out["one line"] = compact.Bytes()
	out["tabs"] = indent("", "\t")
	out["four spaces"] = indent("", "    ")
	out["CRLF"] = bytes.ReplaceAll(indent("", "  "), []byte("\n"), []byte("\r\n"))
	out["CRLF as shipped"] = bytes.ReplaceAll(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
	// Content variants, written with encoding/json (sorted keys, so customRules is not
	// the last member of properties: see dropEmpty).
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if props, ok := m["properties"].(map[string]any); ok {
		delete(props, "customRules")
		b, _ := json.MarshalIndent(m, "", "  ")
		out["no customRules"] = b
		if kind == AppGW {
			props["customRules"] = []any{}
		} else {
			props["customRules"] = map[string]any{"rules": []any{}}
		}
		b, _ = json.MarshalIndent(m, "", " ")
		out["empty customRules"] = b
	}
	return out
}

// Adding the owned rules and then removing every one gives back the original bytes,
// whatever the layout; what is added is laid out like the document (its line breaks,
// nothing on one line broken).
func TestRoundTripBytes(t *testing.T) {
	for _, src := range roundTripSources(t) {
		if _, err := ParseDocument(src.kind, src.raw); err != nil {
			t.Errorf("%s: %v", src.where, err)
			continue
		}
		variants := layouts(t, src.kind, src.raw)
		names := make([]string, 0, len(variants))
		for name := range variants {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			doc := variants[name]
			t.Run(src.where+"/"+name, func(t *testing.T) {
				opts := Options{Kind: src.kind, Now: t0}.WithDefaults()
				add, err := Compute(opts, doc, documentEntries)
				if err != nil || !add.Changed {
					t.Fatalf("add: changed %v, %v", add.Changed, err)
				}
				checkWritten(t, opts, doc, add)
				crlf := bytes.Contains(doc, []byte("\r\n"))
				switch {
				case bytes.IndexByte(bytes.TrimSpace(doc), '\n') < 0:
					if bytes.IndexByte(bytes.TrimSpace(add.Doc), '\n') >= 0 {
						t.Error("a one-line document got line breaks")
					}
				case crlf && bytes.Count(add.Doc, []byte("\n")) != bytes.Count(add.Doc, []byte("\r\n")):
					t.Error("a CRLF document got bare line breaks")
				case !crlf && bytes.Contains(add.Doc, []byte("\r")):
					t.Error("an LF document got CR")
				}
				remove, err := Compute(opts, add.Doc, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(remove.Doc, doc) {
					t.Errorf("adding then removing the owned rules changed the bytes:\n--- got\n%s\n--- want\n%s", remove.Doc, doc)
				}
			})
		}
	}
}
