package report

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/apiguard/apiguard/shared/pagetest"
	"github.com/apiguard/apiguard/shared/triage"
)

func renderHTML(t *testing.T, c triage.Classification, opts HTMLOptions) string {
	t.Helper()
	var buf bytes.Buffer
	if err := HTML(&buf, c, opts); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// domRaw is the text under n as a reader sees it: the pieces joined as they stand,
// white space collapsed.
func domRaw(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// worklistRows are the worklist's data rows.
func worklistRows(t *testing.T, doc *html.Node) []*html.Node {
	t.Helper()
	bodies := pagetest.All(pagetest.ByID(t, doc, "worklist-table"), pagetest.Tag("tbody"))
	if len(bodies) != 1 {
		t.Fatalf("%d tbody in the worklist", len(bodies))
	}
	return pagetest.All(bodies[0], pagetest.Tag("tr"))
}

func cells(row *html.Node) []*html.Node { return pagetest.All(row, pagetest.Tag("td")) }

func TestHTMLStructure(t *testing.T) {
	c := sample(t)
	doc := pagetest.Parse(t, renderHTML(t, c, HTMLOptions{Title: "Contoso production"}))

	if got := pagetest.Text(pagetest.All(doc, pagetest.Tag("title"))[0]); got != "Contoso production: December 2026" {
		t.Errorf("title %q", got)
	}
	if got := pagetest.Text(pagetest.All(doc, pagetest.Tag("h1"))[0]); got != "Contoso production: December 2026" {
		t.Errorf("h1 %q", got)
	}
	meta := pagetest.Text(pagetest.ByID(t, doc, "meta"))
	for _, want := range []string{"collected 2026-12-01 05:40 UTC", "compared with November 2026", "30 APIs in 2 services"} {
		if !strings.Contains(meta, want) {
			t.Errorf("header %q lacks %q", meta, want)
		}
	}
	if iso, _ := pagetest.Attr(pagetest.All(pagetest.ByID(t, doc, "meta"), pagetest.Tag("time"))[0], "datetime"); iso != "2026-12-01T05:40:12Z" {
		t.Errorf("collected datetime %q", iso)
	}
	var ids []string
	for _, s := range pagetest.All(doc, pagetest.Tag("section")) {
		id, _ := pagetest.Attr(s, "id")
		ids = append(ids, id)
	}
	if want := []string{"summary", "changes", "gaps", "coverage", "worklist"}; !slices.Equal(ids, want) {
		t.Errorf("sections %v, want %v", ids, want)
	}

	// The chart: one bar per priority, in order, each with its count written out and a
	// width in proportion.
	bars := pagetest.All(pagetest.ByID(t, doc, "chart"), pagetest.Class("bar"))
	if len(bars) != len(triage.Priorities()) {
		t.Fatalf("%d bars, want %d", len(bars), len(triage.Priorities()))
	}
	widths := map[string]int{}
	for i, b := range bars {
		p := triage.Priorities()[i]
		if got, _ := pagetest.Attr(b, "data-priority"); got != string(p) {
			t.Errorf("bar %d is %q, want %s", i, got, p)
		}
		counts := pagetest.All(b, pagetest.Class("count"))
		if len(counts) != 1 || pagetest.Text(counts[0]) != strconv.Itoa(c.Counts[p]) {
			t.Errorf("bar %s does not read %d", p, c.Counts[p])
		}
		if label := pagetest.Text(pagetest.All(b, pagetest.Class("label"))[0]); label != string(p)+" "+priorityTerms[p] {
			t.Errorf("bar %s labelled %q", p, label)
		}
		rect := pagetest.All(b, pagetest.Tag("rect"))
		if len(rect) != 1 {
			t.Fatalf("bar %s: %d rects", p, len(rect))
		}
		w, _ := pagetest.Attr(rect[0], "width")
		widths[string(p)], _ = strconv.Atoi(w)
	}
	if widths["P3"] != chartWidth-chartLabel-chartCountW || widths["P0"] != widths["P2"] || widths["P0"] != widths["P3"]*5/10 {
		t.Errorf("bar widths %v not in proportion to the counts", widths)
	}
	if label := pagetest.Text(pagetest.All(pagetest.ByID(t, doc, "chart"), pagetest.Tag("title"))[0]); label != "APIs per priority: P0 5, P1 7, P2 5, P3 10, Decommission 3" {
		t.Errorf("chart title %q", label)
	}

	// Every API exactly once, in worklist order, with what the row must say.
	rows := worklistRows(t, doc)
	if len(rows) != len(c.APIs) {
		t.Fatalf("%d rows, want %d", len(rows), len(c.APIs))
	}
	perPriority := map[string]int{}
	for i, a := range c.APIs {
		r := rows[i]
		td := cells(r)
		if len(td) != 8 {
			t.Fatalf("row %d: %d cells", i, len(td))
		}
		if got := pagetest.Text(td[0]); got != strconv.Itoa(i+1) {
			t.Errorf("row %d ranked %q", i, got)
		}
		p, _ := pagetest.Attr(r, "data-priority")
		perPriority[p]++
		prio := pagetest.Text(td[1])
		if want := string(a.Priority); a.Candidate {
			want += " decommission candidate"
			if prio != want {
				t.Errorf("%s: priority %q, want %q", a.Name, prio, want)
			}
		} else if prio != want {
			t.Errorf("%s: priority %q, want %q", a.Name, prio, want)
		}
		api := pagetest.Text(td[2])
		if !strings.HasPrefix(api, label(&a)) || !strings.Contains(api, a.Name) || strings.Contains(api, "not onboarded") == a.Onboarded {
			t.Errorf("%s: API cell %q", a.Name, api)
		}
		if pagetest.Text(td[3]) != a.Service || pagetest.Text(td[5]) != a.Reason || domRaw(td[4]) != strings.Join(a.Rules, " ") {
			t.Errorf("%s: service %q, rules %q, reason %q", a.Name, pagetest.Text(td[3]), pagetest.Text(td[4]), pagetest.Text(td[5]))
		}
		sigs := pagetest.Text(td[6])
		for _, s := range a.Signals {
			want := s.Name + ": " + answer(s)
			if s.Inferred {
				want += " (inferred)"
			}
			if !strings.Contains(sigs, want) || !strings.Contains(sigs, s.Source) {
				t.Errorf("%s: signals %q lack %q or its source", a.Name, sigs, want)
			}
		}
		if n := len(pagetest.All(td[6], pagetest.Tag("dd"))); n != len(a.Signals) {
			t.Errorf("%s: %d sources, want %d", a.Name, n, len(a.Signals))
		}
		pres := pagetest.All(td[7], pagetest.Tag("pre"))
		var snippets []string
		for _, rec := range a.Recommendations {
			if !strings.Contains(pagetest.Text(td[7]), rec.Kind+" ") || !strings.Contains(pagetest.Text(td[7]), rec.Text) {
				t.Errorf("%s: recommendation %s missing", a.Name, rec.Kind)
			}
			if rec.Snippet != "" {
				snippets = append(snippets, rec.Snippet)
			}
		}
		if len(pres) != len(snippets) {
			t.Fatalf("%s: %d <pre>, want %d", a.Name, len(pres), len(snippets))
		}
		for j, pre := range pres {
			if got := pre.FirstChild.Data; got != snippets[j] {
				t.Errorf("%s: snippet %q, want %q", a.Name, got, snippets[j])
			}
		}
	}
	for p, n := range c.Counts {
		if perPriority[string(p)] != n {
			t.Errorf("%d rows of %s, counts say %d", perPriority[string(p)], p, n)
		}
	}
	for _, a := range c.APIs {
		if n := strings.Count(pagetest.Text(pagetest.ByID(t, doc, "worklist-table")), a.Reason); n != 1 && a.Priority != triage.P3 {
			t.Errorf("%s's reason appears %d times", a.Name, n)
		}
	}

	// Changes, grouped by kind in report order.
	changes := pagetest.ByID(t, doc, "changes")
	if h := pagetest.Text(pagetest.All(changes, pagetest.Tag("h2"))[0]); h != "Changes since November 2026" {
		t.Errorf("changes heading %q", h)
	}
	var kinds []string
	for _, g := range pagetest.All(changes, pagetest.Class("kind")) {
		k, _ := pagetest.Attr(g, "data-kind")
		kinds = append(kinds, k+" "+pagetest.Text(g))
	}
	if want := []string{
		"new New (3) Partner webhooks apim-contoso-prod now P0 Store locator apim-contoso-prod now P1 KYC checks apim-contoso-int now P2",
		"removed Removed (1) mobile-bff-beta apim-contoso-prod was P1",
		"rose Rose (1) Orders v1 (legacy) apim-contoso-prod P1 → P0 authenticated: true -> false",
		"fell Fell (1) Catalog apim-contoso-prod P0 → P1 authenticated: false -> true",
		"newly-inactive Newly inactive (1) Summer 2026 promotion apim-contoso-prod P1 → Decommission inactive: false -> true",
		"resolved Resolved (1) Telemetry ingest apim-contoso-int P2 → P3 sensitive: true -> false",
	}; !slices.Equal(kinds, want) {
		t.Errorf("changes\n%q\nwant\n%q", kinds, want)
	}

	// Gaps, each with what, where, the error and the effect.
	gapRows := pagetest.All(pagetest.All(pagetest.ByID(t, doc, "gaps"), pagetest.Tag("tbody"))[0], pagetest.Tag("tr"))
	if len(gapRows) != len(c.Gaps) {
		t.Fatalf("%d gap rows, want %d", len(gapRows), len(c.Gaps))
	}
	for i, g := range c.Gaps {
		td := cells(gapRows[i])
		if pagetest.Text(td[0]) != g.What || !strings.Contains(pagetest.Text(td[1]), g.Scope) || pagetest.Text(td[2]) != g.Error || pagetest.Text(td[3]) != g.Effect {
			t.Errorf("gap %d reads %q", i, pagetest.Text(gapRows[i]))
		}
	}

	// Coverage: why onboarding waits, the plan batch by batch, every API not onboarded.
	coverage := pagetest.ByID(t, doc, "coverage")
	if got := pagetest.Text(pagetest.ByID(t, doc, "waiting")); got != "Onboarding waits: "+c.Coverage.Waiting {
		t.Errorf("waiting %q", got)
	}
	batches := pagetest.All(pagetest.All(coverage, pagetest.Tag("ol"))[0], pagetest.Tag("li"))
	if len(batches) != 3 || domRaw(batches[0]) != "Batch 1: build-info apim-contoso-int, Developer docs apim-contoso-int, Geo lookup apim-contoso-int" {
		t.Errorf("batches %d, first %q", len(batches), domRaw(batches[0]))
	}
	all := pagetest.All(pagetest.All(coverage, pagetest.Tag("details"))[0], pagetest.Tag("li"))
	if len(all) != len(c.Coverage.NotOnboarded) {
		t.Errorf("%d APIs listed as not onboarded, want %d", len(all), len(c.Coverage.NotOnboarded))
	}
}

// The other states: a first run, nothing to report in changes, gaps or coverage, a
// proposed batch, and the focus note past 50 findings.
func TestHTMLStates(t *testing.T) {
	c := sample(t)
	c.Previous, c.Changes, c.Gaps = "", nil, nil
	c.Coverage.Next, c.Coverage.Waiting = c.Coverage.Batches[1], ""
	doc := pagetest.Parse(t, renderHTML(t, c, HTMLOptions{}))
	if got := pagetest.Text(pagetest.All(doc, pagetest.Tag("h1"))[0]); got != "API triage: December 2026" {
		t.Errorf("h1 %q", got)
	}
	for id, want := range map[string]string{
		"changes":  "Changes The first run: nothing to compare with.",
		"gaps":     "Gaps 0 None: every source was read.",
		"next":     "Store locator apim-contoso-prod Feature flags apim-contoso-int",
		"meta":     "collected 2026-12-01 05:40 UTC · first run: nothing to compare with · 30 APIs in 2 services",
		"coverage": "Batch 2 (next): Store locator",
	} {
		if got := pagetest.Text(pagetest.ByID(t, doc, id)); !strings.Contains(got, want) {
			t.Errorf("#%s reads %q, want %q", id, got, want)
		}
	}
	if n := len(pagetest.All(doc, func(n *html.Node) bool { id, _ := pagetest.Attr(n, "id"); return id == "focus" })); n != 0 {
		t.Errorf("a focus note under 50 findings")
	}

	c = sample(t)
	c.Changes, c.Coverage = nil, triage.Coverage{}
	doc = pagetest.Parse(t, renderHTML(t, c, HTMLOptions{}))
	for id, want := range map[string]string{
		"changes":  "No change since November 2026.",
		"coverage": "Defender for APIs covers every API.",
	} {
		if got := pagetest.Text(pagetest.ByID(t, doc, id)); !strings.Contains(got, want) {
			t.Errorf("#%s reads %q, want %q", id, got, want)
		}
	}

	doc = pagetest.Parse(t, renderHTML(t, synthetic(200), HTMLOptions{}))
	if got := pagetest.Text(pagetest.ByID(t, doc, "focus")); !strings.HasPrefix(got, "More than 50 findings (70)") {
		t.Errorf("focus note %q", got)
	}
	if got := len(worklistRows(t, doc)); got != 200 {
		t.Errorf("%d rows of 200", got)
	}

	// Nothing at all still draws a page with its five bars.
	doc = pagetest.Parse(t, renderHTML(t, triage.Classification{}, HTMLOptions{}))
	if bars := pagetest.All(pagetest.ByID(t, doc, "chart"), pagetest.Class("bar")); len(bars) != 5 {
		t.Errorf("%d bars for an empty month", len(bars))
	}
}

// Data is text wherever it lands: API names, reasons, sources, snippets, gaps,
// changes, the plan, the title.
func TestHTMLEscaping(t *testing.T) {
	for _, evil := range hostile {
		t.Run(evil, func(t *testing.T) {
			c := sample(t)
			a := &c.APIs[0]
			a.API, a.Name, a.DisplayName, a.Service, a.Reason = evil, evil, evil, evil, evil
			a.Rules = []string{evil}
			a.Signals[0].Source = evil
			a.Signals[1].Name = evil
			a.Recommendations[0].Snippet = evil
			a.Recommendations[0].Text = evil
			a.Recommendations[0].Kind = evil
			a.Recommendations[1].Operations = []string{evil}
			c.Changes[3].API, c.Changes[3].Name, c.Changes[3].Signal = evil, evil, evil
			c.Gaps[0] = triage.Gap{Scope: evil, What: evil, Error: evil, Effect: evil}
			c.Coverage.Waiting = evil
			c.Coverage.NotOnboarded = append(c.Coverage.NotOnboarded, evil)
			c.Month, c.Previous = evil, evil
			page := renderHTML(t, c, HTMLOptions{Title: evil})

			for _, raw := range []string{"<script>alert", "<img", "onerror=alert(1)>"} {
				if strings.Contains(page, raw) {
					t.Errorf("page holds %q unescaped", raw)
				}
			}
			doc := pagetest.Parse(t, page)
			if n := pagetest.All(doc, pagetest.Tag("img")); len(n) > 0 {
				t.Errorf("data made an <img>")
			}
			scripts := pagetest.All(doc, pagetest.Tag("script"))
			if len(scripts) != 1 || scripts[0].FirstChild.Data != reportJS {
				t.Errorf("%d scripts, or the one is not the page's", len(scripts))
			}
			for _, a := range pagetest.ActiveAttrs(doc) {
				t.Errorf("data made an attribute %s", a)
			}
			// Read back as text: the title (twice), month and previous month, the
			// API's name, display name, service, rule, reason, a source, a signal, a
			// recommendation's kind, text, operation and snippet, a change's name and
			// signal, a gap's four fields, the waiting reason and an id not onboarded.
			if got := strings.Count(pagetest.Text(doc), evil); got < 20 {
				t.Errorf("the hostile text reads back %d times, want at least 20", got)
			}
			if title, _ := pagetest.Attr(pagetest.All(worklistRows(t, doc)[0], pagetest.Class("api"))[0], "title"); title != evil {
				t.Errorf("the API's id reads back as %q", title)
			}
			var snippet bool
			for _, pre := range pagetest.All(doc, pagetest.Tag("pre")) {
				snippet = snippet || pre.FirstChild.Data == evil
			}
			if !snippet {
				t.Errorf("the snippet is not in a <pre> as text")
			}
		})
	}
}

// The page is well formed, holds its policy, and refers to nothing outside itself:
// no resource, no link but to its own sections, no url() in its style.
func TestHTMLSelfContained(t *testing.T) {
	void := map[string]bool{"meta": true, "br": true, "hr": true, "img": true, "input": true, "link": true, "col": true, "wbr": true}
	for name, c := range map[string]triage.Classification{"sample": sample(t), "synthetic": synthetic(300)} {
		page := renderHTML(t, c, HTMLOptions{})
		z := html.NewTokenizer(strings.NewReader(page))
		var open []string
		for tt := z.Next(); tt != html.ErrorToken; tt = z.Next() {
			tag, _ := z.TagName()
			switch tt {
			case html.StartTagToken:
				if !void[string(tag)] {
					open = append(open, string(tag))
				}
			case html.SelfClosingTagToken:
			case html.EndTagToken:
				if len(open) == 0 || open[len(open)-1] != string(tag) {
					t.Fatalf("%s: </%s> closes %v", name, tag, open[max(0, len(open)-3):])
				}
				open = open[:len(open)-1]
			}
		}
		if !errors.Is(z.Err(), io.EOF) || len(open) != 0 {
			t.Fatalf("%s: ends with %v open (%v)", name, open, z.Err())
		}

		doc := pagetest.Parse(t, page)
		for _, n := range pagetest.All(doc, func(n *html.Node) bool {
			return slices.Contains([]string{"link", "img", "iframe", "object", "embed", "base", "form", "audio", "video", "source", "image", "use", "a"}, n.Data)
		}) {
			href, _ := pagetest.Attr(n, "href")
			if n.Data != "a" || !strings.HasPrefix(href, "#") {
				t.Errorf("%s: <%s href=%q> refers outside the page", name, n.Data, href)
			}
		}
		for _, n := range pagetest.All(doc, func(*html.Node) bool { return true }) {
			for _, attr := range n.Attr {
				switch k := strings.TrimPrefix(attr.Key, "xlink:"); k {
				case "src", "srcset", "action", "formaction", "poster", "background", "style":
					t.Errorf("%s: <%s %s=%q>", name, n.Data, attr.Key, attr.Val)
				case "href":
					if !strings.HasPrefix(attr.Val, "#") {
						t.Errorf("%s: <%s href=%q>", name, n.Data, attr.Val)
					}
				}
			}
		}
		styles := pagetest.All(doc, pagetest.Tag("style"))
		if len(styles) != 1 || styles[0].FirstChild.Data != reportCSS {
			t.Fatalf("%s: %d style elements, or the one is not the page's", name, len(styles))
		}
		for _, bad := range []string{"url(", "@import", "http:", "https:", "</"} {
			if strings.Contains(reportCSS, bad) {
				t.Errorf("the style sheet holds %q", bad)
			}
		}
		for _, bad := range []string{"http:", "https:", "fetch(", "XMLHttpRequest", "import(", "</", "innerHTML", "eval("} {
			if strings.Contains(reportJS, bad) {
				t.Errorf("the script holds %q", bad)
			}
		}

		// The policy: nothing from anywhere, the page's style and script by hash.
		var csp string
		for _, m := range pagetest.All(doc, pagetest.Tag("meta")) {
			if k, _ := pagetest.Attr(m, "http-equiv"); strings.EqualFold(k, "content-security-policy") {
				csp, _ = pagetest.Attr(m, "content")
			}
		}
		directives := map[string]string{}
		for _, d := range strings.Split(csp, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(d), " ")
			directives[k] = v
		}
		want := map[string]string{
			"default-src": "'none'", "script-src": "'" + cspHash(reportJS) + "'", "style-src": "'" + cspHash(reportCSS) + "'",
			"base-uri": "'none'", "form-action": "'none'",
		}
		if !maps.Equal(directives, want) {
			t.Errorf("%s: CSP %q", name, csp)
		}
		// The hashes are of what the page holds, byte for byte.
		script := pagetest.All(doc, pagetest.Tag("script"))[0].FirstChild.Data
		if cspHash(script) != cspHash(reportJS) {
			t.Errorf("%s: the script on the page is not the one hashed", name)
		}
	}
}

// chromiumDOM loads page in headless chromium and returns the DOM after the scripts
// its policy allows ran. It skips the test without chromium.
func chromiumDOM(t *testing.T, page string) *html.Node {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed (make triage-shots installs it)")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir=" + filepath.Join(dir, "profile")}
	cmd := exec.CommandContext(ctx, chromium, append(args, "--dump-dom", "file://"+file)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v\n%s", err, stderr.Bytes())
	}
	return pagetest.Parse(t, string(out))
}

// In a browser, under the page's own policy: the script runs (its hash is right),
// the style applies, and sorting and filtering work. A test script, allowed by its
// own hash, drives the page and writes what it saw into the DOM.
func TestHTMLInChromium(t *testing.T) {
	const driver = `(() => {
  const out = {};
  const table = document.getElementById("worklist-table");
  const rows = () => Array.from(table.tBodies[0].rows);
  const col = (i) => rows().map((r) => r.cells[i].textContent.trim());
  const click = (i) => table.tHead.rows[0].cells[i].querySelector("button").click();
  out.controls = !document.getElementById("controls").hidden;
  out.buttons = table.tHead.querySelectorAll("button.sort").length;
  out.styled = getComputedStyle(document.querySelector("h2")).borderBottomStyle;
  out.shownFirst = document.getElementById("shown").textContent;
  click(3); out.byService = col(3); out.byServiceRank = col(0).map(Number);
  click(3); out.byServiceDesc = col(3);
  click(1); out.byPriority = col(0).map(Number);
  click(0); click(0); out.byRankDesc = col(0).map(Number);
  const filter = document.getElementById("filter");
  filter.value = "PAYROLL  export"; filter.dispatchEvent(new Event("input"));
  out.filtered = rows().filter((r) => !r.hidden).map((r) => r.cells[2].textContent.trim());
  filter.value = ""; filter.dispatchEvent(new Event("input"));
  document.querySelector('input[name="priority"][value="P3"]').click();
  document.querySelector('input[name="priority"][value="Decommission"]').click();
  out.withoutP3 = rows().filter((r) => !r.hidden).length;
  out.shown = document.getElementById("shown").textContent;
  const pre = document.createElement("pre");
  pre.id = "test-result";
  pre.textContent = JSON.stringify(out);
  document.body.append(pre);
})();`
	c := sample(t)
	page := renderHTML(t, c, HTMLOptions{})
	page = allowScript(t, page, "'"+cspHash(driver)+"' '"+cspHash(reportJS)+"'")
	page = strings.Replace(page, "</body>", "<script>"+driver+"</script>\n</body>", 1)
	doc := chromiumDOM(t, page)

	var got struct {
		Controls                  bool
		Buttons                   int
		Styled, ShownFirst, Shown string
		ByService, ByServiceDesc  []string
		ByServiceRank             []int
		ByPriority, ByRankDesc    []int
		Filtered                  []string
		WithoutP3                 int
	}
	if err := json.Unmarshal([]byte(pagetest.Text(pagetest.ByID(t, doc, "test-result"))), &got); err != nil {
		t.Fatal(err)
	}
	if !got.Controls || got.Buttons != 6 {
		t.Errorf("the page's script did not run under its policy: controls shown %v, %d sort buttons", got.Controls, got.Buttons)
	}
	if got.Styled != "solid" {
		t.Errorf("the page's style did not apply under its policy (h2 border %q)", got.Styled)
	}
	if got.ShownFirst != "all 30 APIs shown" {
		t.Errorf("count %q", got.ShownFirst)
	}
	if !slices.IsSorted(got.ByService) || len(got.ByService) != 30 || got.ByService[0] != "apim-contoso-int" {
		t.Errorf("by service: %v", got.ByService)
	}
	// Ties keep the worklist order.
	if ranks := got.ByServiceRank[:15]; !slices.IsSorted(ranks) || ranks[0] != 13 {
		t.Errorf("apim-contoso-int's APIs in order %v", ranks)
	}
	if slices.Reverse(got.ByServiceDesc); !slices.Equal(got.ByServiceDesc, got.ByService) {
		t.Errorf("second click does not reverse: %v", got.ByServiceDesc)
	}
	if !slices.IsSorted(got.ByPriority) {
		t.Errorf("by priority (the worklist's ranks): %v", got.ByPriority)
	}
	if len(got.ByRankDesc) != 30 || got.ByRankDesc[0] != 30 || !slices.IsSortedFunc(got.ByRankDesc, func(a, b int) int { return b - a }) {
		t.Errorf("by rank, descending: %v", got.ByRankDesc)
	}
	if len(got.Filtered) != 1 || !strings.HasPrefix(got.Filtered[0], "Payroll export") {
		t.Errorf("filter on two words: %v", got.Filtered)
	}
	if want := 30 - c.Counts[triage.P3] - c.Counts[triage.Decommission]; got.WithoutP3 != want || got.Shown != strconv.Itoa(want)+" of 30 APIs shown" {
		t.Errorf("without P3 and Decommission: %d rows, %q; want %d", got.WithoutP3, got.Shown, want)
	}
}

// With the script blocked (a mail viewer, a stricter policy) the page is complete:
// every row, and no controls that would do nothing.
func TestHTMLWithoutScript(t *testing.T) {
	c := sample(t)
	doc := chromiumDOM(t, allowScript(t, renderHTML(t, c, HTMLOptions{}), "'none'"))
	if rows := worklistRows(t, doc); len(rows) != len(c.APIs) {
		t.Errorf("%d rows, want %d", len(rows), len(c.APIs))
	}
	if _, hidden := pagetest.Attr(pagetest.ByID(t, doc, "controls"), "hidden"); !hidden {
		t.Errorf("the controls show without the script")
	}
	if n := len(pagetest.All(doc, pagetest.Tag("button"))); n != 0 {
		t.Errorf("%d buttons without the script", n)
	}
}

// allowScript rewrites the page's script-src, as html/template writes it in the
// attribute.
func allowScript(t *testing.T, page, sources string) string {
	t.Helper()
	old, new := attrEscape(t, "script-src '"+cspHash(reportJS)+"'"), attrEscape(t, "script-src "+sources)
	if strings.Count(page, old) != 1 {
		t.Fatalf("the page's policy does not hold %q once", old)
	}
	return strings.Replace(page, old, new, 1)
}

func attrEscape(t *testing.T, s string) string {
	t.Helper()
	var b strings.Builder
	if err := template.Must(template.New("").Parse(`<p title="{{.}}">`)).Execute(&b, s); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(strings.TrimPrefix(b.String(), `<p title="`), `">`)
}
