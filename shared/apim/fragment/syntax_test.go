package fragment

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// toolkit is Microsoft's policy toolkit test data, beside the repository.
const toolkit = "../../../../shared/fixtures/apim-policies/policy-toolkit"

var (
	tagRE  = regexp.MustCompile(`<([a-z][a-z0-9-]*)`)
	attrRE = regexp.MustCompile(`\s([a-z][a-z0-9-]*)="`)
)

// documentedSyntax reads the element and attribute names the toolkit's examples use.
// The examples are policies, not XML (expressions hold raw quotes and generics), so
// they are scanned line by line: a tag name, then the name="..." pairs up to the next
// "<" on its line. Every tag this package writes sits on one line in the examples.
func documentedSyntax(tb testing.TB) map[string]map[string]bool {
	tb.Helper()
	if _, err := os.Stat(toolkit); err != nil {
		tb.Skipf("policy toolkit fixtures not found at %s", toolkit)
	}
	names := map[string]map[string]bool{}
	err := filepath.WalkDir(toolkit, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".xml") || strings.HasSuffix(path, ".cs")) {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(data), "\n") {
			for _, m := range tagRE.FindAllStringSubmatchIndex(line, -1) {
				name := line[m[2]:m[3]]
				rest := line[m[1]:]
				if i := strings.IndexByte(rest, '<'); i >= 0 {
					rest = rest[:i]
				}
				if names[name] == nil {
					names[name] = map[string]bool{}
				}
				for _, a := range attrRE.FindAllStringSubmatch(rest, -1) {
					names[name][a[1]] = true
				}
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return names
}

// TestSyntaxMatchesToolkit checks every element and attribute of every golden case
// against the toolkit's examples, and the structure APIM documents: ip-filter holds
// address / address-range from+to, rate-limit-by-key has calls, renewal-period and
// counter-key, each inside choose/when, and the forwarded check answers with
// return-response/set-status.
func TestSyntaxMatchesToolkit(t *testing.T) {
	doc := documentedSyntax(t)
	for _, el := range []string{"ip-filter", "address", "address-range", "rate-limit-by-key", "choose", "when", "return-response", "set-status"} {
		if doc[el] == nil {
			t.Fatalf("the toolkit examples have no <%s>: fixtures changed?", el)
		}
	}
	required := map[string][]string{
		"ip-filter":         {"action"},
		"address-range":     {"from", "to"},
		"rate-limit-by-key": {"calls", "renewal-period", "counter-key"},
		"when":              {"condition"},
		"set-status":        {"code"},
	}
	parent := map[string]string{
		"ip-filter": "fragment", "address": "ip-filter", "address-range": "ip-filter", "choose": "fragment",
		"when": "choose", "rate-limit-by-key": "when", "return-response": "when", "set-status": "return-response",
	}
	seen := map[string]bool{}
	for _, c := range loadCases(t) {
		bs, ts, o := c.inputs(t)
		res, err := Render(bs, ts, o)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range elements(t, res.XML) {
			seen[e.name] = true
			if e.name == "fragment" {
				// A fragment's root, as apim.md documents (the toolkit has no fragments).
				if len(e.attrs) != 0 || e.depth != 0 {
					t.Errorf("%s: <fragment> must be the bare root", c.name)
				}
				continue
			}
			if doc[e.name] == nil {
				t.Errorf("%s: <%s> does not occur in the toolkit examples", c.name, e.name)
			}
			for a := range e.attrs {
				if !doc[e.name][a] {
					t.Errorf("%s: <%s %s=...> does not occur in the toolkit examples", c.name, e.name, a)
				}
			}
			for _, a := range required[e.name] {
				if _, ok := e.attrs[a]; !ok {
					t.Errorf("%s: <%s> without %s", c.name, e.name, a)
				}
			}
			if want := parent[e.name]; e.parent != want {
				t.Errorf("%s: <%s> inside <%s>, want <%s>", c.name, e.name, e.parent, want)
			}
			if e.name == "ip-filter" && e.attrs["action"] != "forbid" {
				t.Errorf("%s: ip-filter action %q", c.name, e.attrs["action"])
			}
		}
	}
	for el := range parent {
		if !seen[el] {
			t.Errorf("no case writes <%s>: the check above never saw it", el)
		}
	}
}
