package probe

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/shared/fault"
)

// hitNames renders hits as sorted "class:pattern" strings.
func hitNames(m *Matcher, h *Hits) []string {
	out := make([]string, 0, h.Len())
	for _, x := range h.All() {
		p := m.Pattern(x.Pattern)
		out = append(out, p.Class.Name()+":"+p.Text)
	}
	sort.Strings(out)
	return out
}

func checkCase(t *testing.T, m *Matcher, c matchCase) {
	t.Helper()
	var h Hits
	m.Match(c.path, c.query, c.agent, &h)
	got := hitNames(m, &h)
	want := slices.Clone(c.want)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("Match(%q, %q, %q)\n got  %q\n want %q", c.path, c.query, c.agent, got, want)
	}
	// The summary agrees with the hits.
	var classes ClassSet
	weight := 0
	for _, x := range h.All() {
		classes |= 1 << x.Class
		weight += int(x.Weight)
		if p := m.Pattern(x.Pattern); p.Class != x.Class || p.Weight != x.Weight {
			t.Errorf("hit %+v disagrees with its pattern %+v", x, p)
		}
	}
	if h.Classes() != classes || h.Weight() != weight || h.Overflow() != 0 {
		t.Errorf("summary classes=%v weight=%d overflow=%d, hits say classes=%v weight=%d", h.Classes(), h.Weight(), h.Overflow(), classes, weight)
	}
}

func TestPositives(t *testing.T) {
	m := Default()
	for _, c := range positives {
		t.Run(c.name, func(t *testing.T) {
			if len(c.want) == 0 {
				t.Fatal("a positive case must want a hit")
			}
			checkCase(t, m, c)
		})
	}
}

func TestNegatives(t *testing.T) {
	m := Default()
	for _, c := range negatives {
		t.Run(c.name, func(t *testing.T) { checkCase(t, m, c) })
	}
}

// TestEveryClassCovered: each class of the data has positive cases, so a class
// whose patterns stopped matching cannot go unnoticed.
func TestEveryClassCovered(t *testing.T) {
	seen := map[string]int{}
	for _, c := range positives {
		for _, w := range c.want {
			seen[strings.SplitN(w, ":", 2)[0]]++
		}
	}
	for _, c := range Classes() {
		if seen[c.Name()] < 3 {
			t.Errorf("class %s has %d positive hits in the table, want at least 3", c, seen[c.Name()])
		}
	}
}

// classWeights is the weight of every pattern of each class in the default data,
// as README.md explains it.
var classWeights = map[Class]uint8{
	ClassScanner:   10,
	ClassTraversal: 5,
	ClassInclusion: 5,
	ClassSQLi:      5,
	ClassTemplate:  5,
	ClassCommand:   5,
	ClassWebShell:  5,
	ClassEvasion:   5,
	ClassXSS:       4,
	ClassSensitive: 4,
	ClassAdmin:     2,
}

func TestDefaultData(t *testing.T) {
	m := Default()
	keys := map[uint64]string{}
	perClass := map[Class]int{}
	for i, p := range m.Patterns() {
		if int(p.ID) != i {
			t.Fatalf("pattern %d has id %d", i, p.ID)
		}
		if w := classWeights[p.Class]; p.Weight != w {
			t.Errorf("%s: %s %q weighs %d, the class weighs %d (README.md)", p.Source, p.Class, p.Text, p.Weight, w)
		}
		if other, dup := keys[p.Key]; dup {
			t.Errorf("%s and %s have the same key", p.Source, other)
		}
		keys[p.Key] = p.Source
		perClass[p.Class]++
	}
	for _, c := range Classes() {
		if perClass[c] == 0 {
			t.Errorf("class %s has no pattern", c)
		}
	}
	if len(classWeights) != len(Classes()) {
		t.Errorf("classWeights names %d classes, there are %d", len(classWeights), len(Classes()))
	}
	t.Logf("%d patterns, %d states, %d byte classes (row %d), table %d KiB",
		m.Len(), len(m.delta)>>m.shift, m.cls['z'], 1<<m.shift, len(m.delta)*2/1024)
}

// TestKeyStable pins the key of one pattern: keys must not change between versions,
// since stored sketches are made of them.
func TestKeyStable(t *testing.T) {
	m, err := Compile(strings.NewReader("# a comment\nsqli 5 url w union select\ntraversal 5 url - ../\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	for _, p := range m.Patterns() {
		found := false
		for _, q := range d.Patterns() {
			if q.Text == p.Text {
				found = true
				if q.Key != p.Key {
					t.Errorf("%q: key %x in a team file, %x in the defaults", p.Text, p.Key, q.Key)
				}
			}
		}
		if !found {
			t.Errorf("%q not in the defaults", p.Text)
		}
	}
	// FNV-1a 64 of "sqli\x00union select".
	if got := m.Pattern(0).Key; got != 0x46834a39d5b409d7 {
		t.Errorf("key of sqli:union select changed: %#x", got)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, c := range []struct {
		name, data string
		line       int
		want       string
	}{
		{"columns", "sqli 5 url w\n", 1, "want five columns"},
		{"class", "# x\n\nsqlinjection 5 url w union select\n", 3, `unknown class "sqlinjection"`},
		{"weight-text", "sqli five url w union select\n", 1, "weight"},
		{"weight-zero", "sqli 0 url w union select\n", 1, "weight"},
		{"weight-big", "sqli 101 url w union select\n", 1, "weight"},
		{"where", "sqli 5 body w union select\n", 1, `where "body"`},
		{"where-agent-raw", "sqli 5 agent.raw w union select\n", 1, `where "agent.raw"`},
		{"bound", "sqli 5 url x union select\n", 1, `bound "x"`},
		{"bound-long", "sqli 5 url www union select\n", 1, `bound "www"`},
		{"escape", `sqli 5 url - a\qb` + "\n", 1, "backslash"},
		{"escape-hex", `sqli 5 url - a\xZZ` + "\n", 1, `\x wants`},
		{"short", "sqli 5 url - x\n", 1, "2 to 64 bytes"},
		{"long", "sqli 5 url - " + strings.Repeat("a", 65) + "\n", 1, "2 to 64 bytes"},
		{"not-normal-encoded", "traversal 5 url - %2e%2e/\n", 1, `normalisation makes it "../"`},
		{"not-normal-plus", "sqli 5 query w union+select\n", 1, `normalised query`},
		{"not-normal-backslash", `traversal 5 path - ..\\` + "\n", 1, `normalisation makes it "../"`},
		{"not-normal-spaces", "sqli 5 url w union  select\n", 1, `"union select"`},
		{"not-normal-comment", "sqli 5 url w union/**/select\n", 1, `"union select"`},
		{"not-normal-separator", "command 5 url - ; cat /\n", 1, `";cat /"`},
		{"bound-word-left", "sqli 5 url w- (select\n", 1, "left has no effect"},
		{"bound-word-right", "sqli 5 url w sleep(\n", 1, "right has no effect"},
		{"bound-segment-left", "admin 2 path s- /admin\n", 1, "left has no effect"},
		{"bound-segment-right", "admin 2 path -s /admin/\n", 1, "right has no effect"},
		{"duplicate", "sqli 5 url w union select\nsqli 5 url w UNION SELECT\n", 2, "already on line 1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile(strings.NewReader(c.data))
			if err == nil {
				t.Fatal("no error")
			}
			var de *DataError
			if !errors.As(err, &de) || de.Line != c.line {
				t.Fatalf("error %v: want a DataError on line %d", err, c.line)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("line %d: ", c.line)) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q: want line %d and %q", err, c.line, c.want)
			}
			if fault.Of(err) != fault.Reject {
				t.Errorf("disposition %v, want reject", fault.Of(err))
			}
		})
	}
	if _, err := Compile(strings.NewReader("# only comments\n")); err == nil || fault.Of(err) != fault.Reject {
		t.Errorf("empty data: %v", err)
	}
}

// TestCompileOwnData: a team's file with raw and agent patterns and escapes.
func TestCompileOwnData(t *testing.T) {
	m, err := Compile(strings.NewReader(`
# a team's own markers
admin      3   path       -s    /internal/debug
sqli       7   query      w     select\x20pg_
evasion    6   query.raw  -     %ff%fe
scanner    10  agent      w     acme-audit
`))
	if err != nil {
		t.Fatal(err)
	}
	var h Hits
	m.Match("/internal/debug", "q=SELECT%20pg_&b=%FF%FE", "ACME-Audit/1.0", &h)
	got := hitNames(m, &h)
	want := []string{"admin:/internal/debug", "evasion:%ff%fe", "scanner:acme-audit", "sqli:select pg_"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if h.Weight() != 3+7+6+10 {
		t.Errorf("weight %d", h.Weight())
	}
	m.Match("/internal/debugger", "q=select pg_=1", "acme-auditor", &h)
	if h.Len() != 0 {
		t.Errorf("boundaries: got %q", hitNames(m, &h))
	}
}

// TestCompileEscapes: \xHH writes the byte it names, above 0x7f too, and only ASCII
// letters are lowered, as the automaton folds only those.
func TestCompileEscapes(t *testing.T) {
	m, err := Compile(strings.NewReader(`
evasion    6   path.raw   -     ..\xC0\xAF
sensitive  4   path       -     /Caf\xc3\x89
scanner    10  agent      w     Agent\x5c\\X
`))
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, p := range m.Patterns() {
		texts = append(texts, p.Text)
	}
	if want := []string{"..\xc0\xaf", "/caf\xc3\x89", `agent\\x`}; !slices.Equal(texts, want) {
		t.Fatalf("texts %q, want %q", texts, want)
	}
	for _, c := range []struct {
		path, agent string
		want        []string
	}{
		{"/..\xc0\xafetc", "", []string{"evasion:..\xc0\xaf"}},
		{"/CAF\xc3\x89", "AGENT\\\\x/1", []string{"scanner:agent\\\\x", "sensitive:/caf\xc3\x89"}},
		{"/caf\xc3\xa9", "", nil}, // é is not É: no case folding beyond ASCII
	} {
		var h Hits
		m.Match(c.path, "", c.agent, &h)
		if got := hitNames(m, &h); !slices.Equal(got, c.want) {
			t.Errorf("Match(%q, %q): %q, want %q", c.path, c.agent, got, c.want)
		}
	}
}

// TestBoundaries exercises each boundary kind on each side, at field edges and
// inside.
func TestBoundaries(t *testing.T) {
	m, err := Compile(strings.NewReader(`
sqli   5 url   w  union select
sqli   5 url   w- sleep(
admin  2 path  -s /admin
admin  2 path  s- admin.php
admin  2 path  ss wp
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path, query string
		hit         bool
	}{
		{"", "union select", true},
		{"", "x=union select&y", true},
		{"", "reunion select", false},
		{"", "union selection", false},
		{"", "union_select", false},
		{"", "union select=1", false}, // a parameter name
		{"", "union select;", true},
		{"", "sleep(1)", true},
		{"", "asleep(1)", false},
		{"", "_sleep(1)", false},
		{"/admin", "", true},
		{"/admin/", "", true},
		{"/admin;x", "", true},
		{"/x/admin", "", true},
		{"/administrator", "", false},
		{"/admin-guide", "", false},
		{"/admin.html", "", false},
		{"admin.php", "", true},
		{"/admin.php", "", true},
		{"/myadmin.php", "", false},
		{"/wp", "", true},
		{"/wp/", "", true},
		{"wp", "", true},
		{"/wpx", "", false},
		{"/xwp", "", false},
		{"/x.wp", "", false},
	} {
		var h Hits
		m.Match(c.path, c.query, "", &h)
		if (h.Len() > 0) != c.hit {
			t.Errorf("path %q query %q: hits %q, want hit=%v", c.path, c.query, hitNames(m, &h), c.hit)
		}
	}
}

func TestNormalise(t *testing.T) {
	for _, c := range []struct {
		in    string
		query bool
		want  string
	}{
		{"/a/b", false, "/a/b"},
		{"%2e%2E%2f", false, "../"},
		{"%252e%252e%252f", false, "../"},
		{"%25252e", false, "%2e"}, // decoded twice, not three times
		{"%25%32%65", false, "."},
		{"%%32%65", false, "."},
		{"%u002e%U002F", false, "./"},
		{"%25u002e", false, "."},
		{"%u2215%uff0e%uff0f%u2216", false, "/./" + "/"},
		{"%u00e9", false, "\x80"},
		{"%", false, "%"},
		{"%2", false, "%2"},
		{"%zz%4", false, "%zz%4"},
		{"%u12", false, "%u12"},
		{"100%25", false, "100%"},
		{"..%c0%af..%c0%ae", false, "../..."},
		{"%c1%9c%c1%1c", false, "//"},
		{"%e0%80%ae%e0%80%af", false, "./"},
		{"%ef%bc%8e%ef%bc%8f%ef%bc%bc", false, "./" + "/"},
		{"%e2%88%95", false, "/"},
		{"caf%c3%a9", false, "caf\xc3\xa9"},
		{`..\..\`, false, "../../"},
		{"a+b", false, "a+b"},
		{"a+b", true, "a b"},
		{"a%2bb", true, "a b"},
		{"a%2bb", false, "a+b"},
		{"a \t\r\n b", false, "a b"},
		{"a%0a%0d%09%0b%0cb", false, "a b"},
		{"a%c2%a0b", false, "a b"},
		{"union/**/select", false, "union select"},
		{"union/*comment*/ /**/select", false, "union select"},
		{"/*!50000union*/", false, " union "},
		{"/*!union*/select", false, " union select"},
		{"/*unterminated", false, "/*unterminated"},
		// The second opener's '*' is the first "*/"'s: that one does not close it.
		{"/*!a/*/b*/", false, " a "},
		{"/*!a/*/b", false, " a/ b"},
		{"/*/", false, "/*/"},
		{"/files/*/x", false, "/files/*/x"},
		{"a*/b", false, "a*/b"},
		{`\*c*\d`, false, " d"},
		{"%2f%2ac%2a%2fd", false, " d"},
		{"; cat /", false, ";cat /"},
		{"a |  b & c ` d ( e", false, "a |b &c `d (e"},
		{";/**/id", false, ";id"},
		{"x%00y", false, "x\x00y"},
	} {
		buf := make([]byte, len(c.in))
		got := string(buf[:normalise(buf, c.in, c.query)])
		if got != c.want {
			t.Errorf("normalise(%q, query=%v) = %q, want %q", c.in, c.query, got, c.want)
		}
	}
}

// TestLongFields: in a field longer than one window, a marker is found wherever it
// is, including across every position of a window edge, and an ordinary long field
// stays clean.
func TestLongFields(t *testing.T) {
	m := Default()
	filler := strings.Repeat("a=b&", 3000) // 12,000 bytes, no marker
	var h Hits
	m.Match("/x", filler+"%20", "", &h)
	if h.Len() != 0 {
		t.Fatalf("long ordinary query: %q", hitNames(m, &h))
	}
	marker := "q=1%2520union%2520select%25201" // double-encoded, normalised path
	for _, at := range []int{0, 100, windowSize - 40, windowSize - 20, windowSize - 1, windowSize, windowSize + 7,
		2*(windowSize-windowOverlap) - 15, len(filler) - 1, len(filler)} {
		q := filler[:at] + "&" + marker + "&" + filler[at:]
		m.Match("/x", q, "", &h)
		if got := hitNames(m, &h); !slices.Equal(got, []string{"sqli:union select"}) {
			t.Errorf("marker at %d of %d: %q", at, len(q), got)
		}
	}
	// Slide a bounded marker across the first window edge one byte at a time.
	for at := windowSize - 60; at < windowSize+10; at++ {
		p := "/" + strings.Repeat("x", at) + "/%61dmin/" + strings.Repeat("y", 5000)
		m.Match(p, "", "", &h)
		if got := hitNames(m, &h); !slices.Equal(got, []string{"admin:/admin"}) {
			t.Errorf("/admin at %d: %q", at, got)
		}
		p = "/" + strings.Repeat("x", at) + "/%61dministrators-guide/" + strings.Repeat("y", 5000)
		m.Match(p, "", "", &h)
		if h.Len() != 0 {
			t.Errorf("/administrators-guide at %d: %q", at, hitNames(m, &h))
		}
	}
}

// TestHitsCapacity: a request with more distinct markers than Hits holds keeps the
// first HitsCap, counts the rest as overflow and still reports every class.
func TestHitsCapacity(t *testing.T) {
	m := Default()
	q := "a=../&b=/etc/passwd&c=union+select&d=sleep(1)&e=<script&f=alert(1)&g={{7*7}}&h=${jndi:x}" +
		"&i=;id&j=|whoami&k=php://&l=information_schema&m=@@version&n='1'='1&o=document.cookie&p=<svg&q=onerror=x&r=cmd.exe"
	var h Hits
	m.Match("/.git/config", q, "sqlmap/1.0", &h)
	if h.Len() != HitsCap || h.Overflow() == 0 {
		t.Fatalf("len %d overflow %d", h.Len(), h.Overflow())
	}
	for _, c := range []Class{ClassSensitive, ClassTraversal, ClassSQLi, ClassXSS, ClassTemplate, ClassCommand, ClassInclusion, ClassScanner} {
		if !h.Classes().Has(c) {
			t.Errorf("classes %v lack %v", h.Classes(), c)
		}
	}
	seen := map[uint16]bool{}
	for _, x := range h.All() {
		if seen[x.Pattern] {
			t.Errorf("pattern %d recorded twice", x.Pattern)
		}
		seen[x.Pattern] = true
	}
}

// TestRepeatsCountOnce: a marker repeated in a request, or in several fields, is one
// hit, found first where it first appears.
func TestRepeatsCountOnce(t *testing.T) {
	m := Default()
	var h Hits
	m.Match("/a/../../b/../", "x=../../../&y=..%2f", "", &h)
	got := hitNames(m, &h)
	if !slices.Equal(got, []string{"evasion:..%2f", "traversal:../"}) {
		t.Fatalf("got %q", got)
	}
	if h.At(0).Field != FieldPath {
		t.Errorf("first hit in %v, want path", h.At(0).Field)
	}
	if h.Weight() != 10 {
		t.Errorf("weight %d, want 10", h.Weight())
	}
}

func TestNoAllocs(t *testing.T) {
	m := Default()
	long := strings.Repeat("%2e%2e%2f", 2000) + "&q=union+select"
	cases := append(append(slices.Clone(positives), negatives...), matchCase{name: "long", path: "/x", query: long})
	var h Hits
	for _, c := range cases {
		if n := testing.AllocsPerRun(20, func() { m.Match(c.path, c.query, c.agent, &h) }); n != 0 {
			t.Errorf("%s: %v allocations per Match", c.name, n)
		}
	}
}

func TestClassNames(t *testing.T) {
	for _, c := range Classes() {
		back, ok := ParseClass(c.Name())
		if !ok || back != c {
			t.Errorf("ParseClass(%q) = %v, %v", c.Name(), back, ok)
		}
	}
	if _, ok := ParseClass("none"); ok {
		t.Error("none is not a pattern class")
	}
	s := ClassSet(1<<ClassSQLi | 1<<ClassScanner)
	if s.String() != "sqli,scanner" || s.Len() != 2 || !s.Has(ClassSQLi) || s.Has(ClassXSS) {
		t.Errorf("set %v", s)
	}
}
