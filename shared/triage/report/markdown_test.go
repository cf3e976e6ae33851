package report

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/apiguard/apiguard/shared/triage"
)

func renderMarkdown(t *testing.T, c triage.Classification) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Markdown(&buf, c); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// mdSections splits the text at its "## " headings: the part before the first is "".
func mdSections(text string) map[string]string {
	out := map[string]string{}
	parts := strings.Split(text, "\n## ")
	out[""] = parts[0]
	for _, p := range parts[1:] {
		head, body, _ := strings.Cut(p, "\n")
		out[head] = body
	}
	return out
}

// items are a section's list lines.
func items(section string) []string {
	var out []string
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "- ") {
			out = append(out, line)
		}
	}
	return out
}

func TestMarkdownSample(t *testing.T) {
	c := sample(t)
	text := renderMarkdown(t, c)
	s := mdSections(text)

	for _, want := range []string{
		"# API triage: December 2026\n",
		"Collected 2026-12-01 05:40 UTC · compared with November 2026 · 30 APIs in 2 services.",
		"| P0: this week | 5 |\n| P1: this month | 7 |\n| P2: this quarter | 5 |\n| P3: monitor only | 10 |\n| Decommission: inactive > 90 days | 3 |\n| **Total** | **30** |",
		"1 API is a decommission candidate",
	} {
		if !strings.Contains(s[""], want) {
			t.Errorf("the head lacks %q:\n%s", want, s[""])
		}
	}

	start := items(s["Start here"])
	if len(start) != 5 {
		t.Fatalf("start here: %d lines, want the 5 P0 APIs:\n%s", len(start), s["Start here"])
	}
	for i, line := range start {
		a := c.APIs[i]
		if want := "- **" + a.DisplayName + "** · " + a.Name + " on " + a.Service + ": " + a.Reason; line != want {
			t.Errorf("start here %d: %q, want %q", i, line, want)
		}
	}

	changes := s["Changes since November 2026"]
	for _, want := range []string{
		"**New** (3)\n\n- Partner webhooks on apim-contoso-prod: now P0\n- Store locator on apim-contoso-prod: now P1\n- KYC checks on apim-contoso-int: now P2\n",
		"**Removed** (1)\n\n- mobile-bff-beta on apim-contoso-prod: was P1\n",
		"**Rose** (1)\n\n- Orders v1 (legacy) on apim-contoso-prod: P1 → P0 (authenticated: true -> false)\n",
		"**Fell** (1)\n\n- Catalog on apim-contoso-prod: P0 → P1 (authenticated: false -> true)\n",
		"**Newly inactive** (1)\n\n- Summer 2026 promotion on apim-contoso-prod: P1 → Decommission (inactive: false -> true)\n",
		"**Resolved** (1)\n\n- Telemetry ingest on apim-contoso-int: P2 → P3 (sensitive: true -> false)\n",
	} {
		if !strings.Contains(changes, want) {
			t.Errorf("changes lack %q:\n%s", want, changes)
		}
	}

	gaps := items(s["Gaps"])
	if len(gaps) != len(c.Gaps) {
		t.Fatalf("gaps: %d lines, want %d", len(gaps), len(c.Gaps))
	}
	if want := "- **Capacity metric** in apim-contoso-int: 403 AuthorizationFailed: the client does not have authorization to perform action 'Microsoft.Insights/metrics/read'. *Effect:* onboarding on apim-contoso-int waits until its load can be watched."; gaps[2] != want {
		t.Errorf("gap line %q, want %q", gaps[2], want)
	}
	if want := "- **assessments** in subscription 5f3c9a71-2b8e-4d6a-9c1e-7a0b3d4e5f61: "; !strings.HasPrefix(gaps[0], want) {
		t.Errorf("gap line %q, want it to start %q", gaps[0], want)
	}

	cov := s["Coverage"]
	for _, want := range []string{"7 APIs are not onboarded to Defender for APIs; the onboarding plan takes them in 3 batches.",
		"Onboarding waits: apim-contoso-prod's gateway capacity peaked at 81% in the last hour (onboarding waits for under 60%), and apim-contoso-int's could not be read."} {
		if !strings.Contains(cov, want) {
			t.Errorf("coverage lacks %q:\n%s", want, cov)
		}
	}
	if !strings.HasSuffix(text, "and the proposed policies: apiguard-triage-2026-12.html\n") {
		t.Errorf("the last line does not point to the HTML report:\n%s", text[len(text)-200:])
	}
	if strings.Contains(text, "more") && strings.Contains(text, "… and") {
		t.Errorf("the sample is cut")
	}
}

// The other states of each section: a first run, a month without change or gap, full
// coverage, a proposed batch, no P0.
func TestMarkdownStates(t *testing.T) {
	c := sample(t)
	c.Previous, c.Changes, c.Gaps = "", nil, nil
	c.Coverage = triage.Coverage{NotOnboarded: c.Coverage.NotOnboarded, Batches: c.Coverage.Batches, Next: c.Coverage.Batches[1]}
	s := mdSections(renderMarkdown(t, c))
	for section, want := range map[string]string{
		"":         "first run: nothing to compare with",
		"Changes":  "The first run: nothing to compare with.",
		"Gaps":     "None: every source was read.",
		"Coverage": "Next batch (2, pending approval):\n\n- Store locator on apim-contoso-prod\n- Feature flags on apim-contoso-int\n",
	} {
		if !strings.Contains(s[section], want) {
			t.Errorf("%q lacks %q:\n%s", section, want, s[section])
		}
	}

	c = sample(t)
	c.Changes = nil
	c.Coverage = triage.Coverage{}
	c.APIs = c.APIs[5:] // no P0
	c.Counts[triage.P0] = 0
	s = mdSections(renderMarkdown(t, c))
	for section, want := range map[string]string{
		"Start here":                  "No API is P0 this month.",
		"Changes since November 2026": "No change.",
		"Coverage":                    "Defender for APIs covers every API.",
	} {
		if !strings.Contains(s[section], want) {
			t.Errorf("%q lacks %q:\n%s", section, want, s[section])
		}
	}
}

// "Start here" takes at most StartHere lines; with more than FocusFindings findings
// the external and sensitive P0 APIs come first, in worklist order.
func TestMarkdownStartHere(t *testing.T) {
	c := synthetic(5000) // 200 P0, 1,750 findings
	d, err := digestOf(c)
	if err != nil {
		t.Fatal(err)
	}
	if !d.focus() {
		t.Fatal("5,000 synthetic APIs are not over the focus rule")
	}
	s := mdSections(renderMarkdown(t, c))
	if !strings.HasPrefix(s["Start here"], "\nMore than 50 findings (1750): the external and sensitive APIs first.\n") {
		t.Errorf("no focus note:\n%s", s["Start here"])
	}
	lines := items(s["Start here"])
	if len(lines) != StartHere {
		t.Fatalf("%d lines, want %d", len(lines), StartHere)
	}
	if want := "- … and 186 more P0 APIs in the full report"; lines[StartHere-1] != want {
		t.Errorf("last line %q, want %q", lines[StartHere-1], want)
	}
	// The external and sensitive ones are every third API of the synthetic month.
	for i, line := range lines[:StartHere-1] {
		if want := fmt.Sprintf("- **Service API %d** · api-%05d", 3*i, 3*i); !strings.HasPrefix(line, want) {
			t.Errorf("line %d %q, want %q first", i, line, want)
		}
	}

	// Under the rule, the worklist's order stands.
	c = synthetic(100) // 4 P0, 35 findings
	lines = items(mdSections(renderMarkdown(t, c))["Start here"])
	for i, line := range lines {
		if want := fmt.Sprintf("- **Service API %d** ·", i); !strings.HasPrefix(line, want) {
			t.Errorf("line %d %q, want %q", i, line, want)
		}
	}
}

// Data is text: what a customer puts in an API's name cannot make a link, emphasis,
// code, a table cell, HTML, a heading or a new line.
func TestMarkdownEscaping(t *testing.T) {
	tricky := append([]string{
		"*bold* _it_ __u__ ~~s~~ `code` [link](https://evil.example) ![img](x) <b>b</b> a|b &amp; {{DATE()}}",
		"name\n# heading\n- item\r\n> quote",
		`back\slash \*`,
		"\u2028line\u2029sep\x00\x7f",
	}, hostile...)
	for _, evil := range tricky {
		escaped := md(evil)
		if unescapeMD(escaped) != flatten(evil) {
			t.Errorf("md(%q) = %q reads back as %q", evil, escaped, unescapeMD(escaped))
		}
		if strings.ContainsAny(escaped, "\n\r\x00\x7f\u2028\u2029") {
			t.Errorf("md(%q) = %q keeps a line break or control character", evil, escaped)
		}
		if bad := unescapedMarkup(escaped); bad != "" {
			t.Errorf("md(%q) = %q leaves %q unescaped", evil, escaped, bad)
		}
		if strings.Contains(escaped, "{{") {
			t.Errorf("md(%q) keeps {{", evil)
		}

		c := sample(t)
		c.APIs[0].DisplayName = evil
		c.APIs[0].Name = evil
		c.APIs[0].Service = evil
		c.APIs[0].Reason = evil
		c.Changes[0].API = "gone"
		c.Changes[0].Name = evil
		c.Changes[0].Signal = evil
		c.Gaps[0] = triage.Gap{Scope: evil, What: evil, Error: evil, Effect: evil}
		c.Coverage.Waiting = evil
		text := renderMarkdown(t, c)
		if n := strings.Count(text, escaped); n < 10 {
			t.Errorf("%q: the escaped text appears %d times, want at least 10", evil, n)
		}
		var heads []string
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(line, "#") {
				heads = append(heads, line)
			}
		}
		if want := []string{"# API triage: December 2026", "## Start here", "## Changes since November 2026", "## Gaps", "## Coverage"}; strings.Join(heads, "|") != strings.Join(want, "|") {
			t.Errorf("%q: headings %q", evil, heads)
		}
	}
	if got := md("{{{x}}"); got != "{\u200b{\u200b{x}}" {
		t.Errorf("md({{{x}}) = %q", got)
	}
}

// mdPunct are the characters md escapes.
const mdPunct = "\\`*_[]<|~&"

// unescapeMD reads escaped text back as CommonMark would: a backslash before
// punctuation stands for the punctuation; the zero-width spaces md adds go.
func unescapeMD(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(mdPunct, s[i+1]) >= 0 {
			i++
		}
		b.WriteByte(s[i])
	}
	return strings.ReplaceAll(b.String(), "\u200b", "")
}

// flatten is what md keeps of s: control characters and line breaks become spaces,
// invisible format characters their code point.
func flatten(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < ' ' || r == 0x7f || r == '\u2028' || r == '\u2029':
			b.WriteByte(' ')
		case unicode.Is(unicode.Cf, r):
			fmt.Fprintf(&b, "‹U+%04X›", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// unescapedMarkup returns the first markup character of s not escaped by a backslash.
func unescapedMarkup(s string) string {
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\':
			i++ // the escaped character
		case strings.IndexByte(mdPunct, s[i]) >= 0:
			return s[i : i+1]
		}
	}
	return ""
}

// With thousands of changes and gaps the text stays within MarkdownLimit: every list
// shows the same number of items, as many as fit, and says how many it left out.
func TestMarkdownTruncation(t *testing.T) {
	c := synthetic(5000) // 1,000 changes, ~167 of each kind
	long := strings.Repeat("x", 5000)
	for i := range 400 {
		c.Gaps = append(c.Gaps, triage.Gap{Scope: "/subscriptions/" + strconv.Itoa(i), What: "policy " + long, Error: long, Effect: long})
	}
	c.APIs[0].Name = long // a start-here line, clipped
	c.Coverage.Next = c.Coverage.NotOnboarded
	text := renderMarkdown(t, c)
	if len(text) > MarkdownLimit {
		t.Fatalf("%d bytes, over the limit of %d", len(text), MarkdownLimit)
	}
	if len(text) < MarkdownLimit*9/10 {
		t.Errorf("%d bytes: the cut leaves a tenth of the room unused", len(text))
	}
	more := regexp.MustCompile(`^- … and (\d+) more `)
	shown := -1
	var cut int
	for _, list := range []struct{ head, section string }{
		{"**New** (167)", ""}, {"**Removed** (167)", ""}, {"**Rose** (167)", ""}, {"**Fell** (167)", ""},
		{"**Newly inactive** (166)", ""}, {"**Resolved** (166)", ""},
		{"## Gaps", ""}, {"Next batch (500, pending approval):", ""},
	} {
		_, rest, ok := strings.Cut(text, list.head+"\n\n")
		if !ok {
			t.Errorf("no %q", list.head)
			continue
		}
		rest, _, _ = strings.Cut(rest, "\n\n")
		lines := items(rest)
		m := more.FindStringSubmatch(lines[len(lines)-1])
		if m == nil {
			t.Errorf("%s: no \"and N more\" line:\n%s", list.head, rest)
			continue
		}
		cut++
		left, _ := strconv.Atoi(m[1])
		total, _ := strconv.Atoi(regexp.MustCompile(`\d+`).FindString(list.head))
		if list.head == "## Gaps" {
			total = len(c.Gaps)
		}
		if n := len(lines) - 1; n+left != total {
			t.Errorf("%s: %d shown and %d more, of %d", list.head, n, left, total)
		} else if shown >= 0 && n != shown {
			t.Errorf("%s: %d shown, the others %d: not cut evenly", list.head, n, shown)
		} else {
			shown = n
		}
	}
	if cut != 8 || shown < 1 {
		t.Errorf("%d lists cut, showing %d items each", cut, shown)
	}
	// One more item each would not fit.
	d, _ := digestOf(c)
	if size := markdownSize(d.markdownParts(), shown+1); size <= MarkdownLimit {
		t.Errorf("%d items each fit in %d bytes, but only %d are shown", shown+1, size, shown)
	}
	for _, line := range strings.Split(text, "\n") {
		if len(line) > 2*mdErrorMax+2*mdNameMax+64 {
			t.Errorf("a line of %d bytes: %.80s…", len(line), line)
		}
	}
}

func TestClip(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"a longer text", 10, "a longe…"}, // the mark takes 3 bytes
		{"ééééé", 8, "éé…"},               // never half a character
	} {
		if got := clip(tc.in, tc.n); got != tc.want || len(got) > tc.n {
			t.Errorf("clip(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
	for in, want := range map[string]string{"done.": "done.", "done": "done.", "  what? ": "what?", "": ""} {
		if got := sentence(in); got != want {
			t.Errorf("sentence(%q) = %q, want %q", in, got, want)
		}
	}
}
