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
	attrRE = regexp.MustCompile(`\s([a-z][a-z0-9-]*)="(@[({])?`)
)

// syntax is what the toolkit's examples use: element -> attribute names, and
// element -> the attributes that some example gives a policy expression ("@(" or "@{").
type syntax struct{ attrs, exprs map[string]map[string]bool }

// documentedSyntax reads the element and attribute names the toolkit's examples use,
// and which attributes hold expressions. The examples are policies, not XML
// (expressions hold raw quotes and generics), so they are scanned line by line: a tag
// name, then the name="..." pairs up to the next "<" on its line. Every tag this
// package writes sits on one line in the examples.
func documentedSyntax(tb testing.TB) syntax {
	tb.Helper()
	if _, err := os.Stat(toolkit); err != nil {
		tb.Skipf("policy toolkit fixtures not found at %s", toolkit)
	}
	names, exprs := map[string]map[string]bool{}, map[string]map[string]bool{}
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
					names[name], exprs[name] = map[string]bool{}, map[string]bool{}
				}
				for _, a := range attrRE.FindAllStringSubmatch(rest, -1) {
					names[name][a[1]] = true
					if a[2] != "" {
						exprs[name][a[1]] = true
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return syntax{names, exprs}
}

// TestSyntaxMatchesToolkit checks every element and attribute of every golden case
// against the toolkit's examples, and the structure APIM documents: ip-filter holds
// address / address-range from+to, rate-limit-by-key has calls, renewal-period and
// counter-key, each inside choose/when, and the forwarded check answers with
// return-response/set-status. An attribute that holds an expression (a condition, a
// per-client counter key) must be one the examples give an expression, and be one
// whole "@(...)" or "@{...}"; a literal counter key is made of key characters only.
func TestSyntaxMatchesToolkit(t *testing.T) {
	syn := documentedSyntax(t)
	doc := syn.attrs
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
	for _, ea := range [][2]string{{"when", "condition"}, {"rate-limit-by-key", "counter-key"}} {
		if !syn.exprs[ea[0]][ea[1]] {
			t.Fatalf("the toolkit examples have no <%s %s=\"@(...)\">: fixtures changed?", ea[0], ea[1])
		}
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
			for a, v := range e.attrs {
				if !strings.HasPrefix(v, "@") {
					if e.name == "rate-limit-by-key" && a == "counter-key" && !isLiteralKey(v) {
						t.Errorf("%s: literal counter key %q has characters outside the key set", c.name, v)
					}
					continue
				}
				seen[e.name+" "+a+"=@"] = true
				if !syn.exprs[e.name][a] {
					t.Errorf("%s: <%s %s=\"@...\"> is not an expression in the toolkit examples", c.name, e.name, a)
				}
				if !isWholeExpr(v) {
					t.Errorf("%s: <%s %s=%q> is not one whole @(...) or @{...}", c.name, e.name, a, v)
				}
			}
		}
	}
	for el := range parent {
		if !seen[el] {
			t.Errorf("no case writes <%s>: the check above never saw it", el)
		}
	}
	for _, k := range []string{"when condition=@", "rate-limit-by-key counter-key=@"} {
		if !seen[k] {
			t.Errorf("no case writes <%s...>: the check above never saw it", k)
		}
	}
}

// isLiteralKey reports whether a counter key is a literal apiguard writes: key
// characters, "/" between fields and "%" escapes.
func isLiteralKey(k string) bool {
	for i := 0; i < len(k); i++ {
		if !keySafe(k[i]) && k[i] != '/' && k[i] != '%' {
			return false
		}
	}
	return k != ""
}

// isWholeExpr reports whether v is exactly one policy expression: "@(" or "@{", and
// its closing bracket at the very end, with brackets outside string and char literals
// balanced (the package writes literals with \uXXXX escapes only, so a quote always
// ends one).
func isWholeExpr(v string) bool {
	if len(v) < 3 || v[0] != '@' || v[1] != '(' && v[1] != '{' {
		return false
	}
	depth, inLit := 0, false
	for i := 1; i < len(v); i++ {
		switch c := v[i]; {
		case c == '"':
			inLit = !inLit
		case inLit:
		case c == '\'' && i+2 < len(v) && v[i+2] == '\'':
			i += 2 // a char literal such as ']'
		case c == '(' || c == '{' || c == '[':
			depth++
		case c == ')' || c == '}' || c == ']':
			depth--
			if depth == 0 && i != len(v)-1 {
				return false // the expression ended before the attribute
			}
			if depth < 0 {
				return false
			}
		}
	}
	return depth == 0 && !inLit
}

// contextMembers is the allow-list of APIM context members the fragment's expressions
// may read, each as documented for the context variable (api-management-policy-
// expressions, "Context variable"): Request (IRequest: IpAddress, and Headers with
// the GetValueOrDefault extension), Subscription (ISubscription: Id), User (IUser: Id;
// null without a user) and Api (IApi: Id). ?. reads the same member as ".".
var contextMembers = map[string]bool{
	"context.Request.IpAddress":                 true,
	"context.Request.Headers.GetValueOrDefault": true,
	"context.Subscription.Id":                   true,
	"context.User.Id":                           true,
	"context.Api.Id":                            true,
}

var contextRE = regexp.MustCompile(`context(?:\??\.[A-Za-z]+)+`)

// TestContextMembers checks that every expression of every golden case reads only
// context members on the allow-list, and that the cases read each of them (so a new
// member needs a case and a line here).
func TestContextMembers(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range loadCases(t) {
		bs, ts, o := c.inputs(t)
		res, err := Render(bs, ts, o)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range elements(t, res.XML) {
			for a, v := range e.attrs {
				if !strings.HasPrefix(v, "@") {
					continue
				}
				lits, err := csLiterals(v)
				if err != nil {
					t.Fatalf("%s: <%s %s=%q>: %v", c.name, e.name, a, v, err)
				}
				code := v
				for _, l := range lits {
					code = strings.Replace(code, csString(l), `""`, 1) // members named inside literals are data
				}
				for _, m := range contextRE.FindAllString(code, -1) {
					m = strings.ReplaceAll(m, "?.", ".")
					if !contextMembers[m] {
						t.Errorf("%s: <%s %s> reads %s, which is not on the allow-list", c.name, e.name, a, m)
					}
					seen[m] = true
				}
			}
		}
	}
	for m := range contextMembers {
		if !seen[m] {
			t.Errorf("no case reads %s", m)
		}
	}
}
