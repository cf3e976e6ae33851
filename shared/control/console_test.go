package control

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/apiguard/apiguard/shared/decide"
	"github.com/apiguard/apiguard/shared/flow"
	"github.com/apiguard/apiguard/shared/pagetest"
	"github.com/apiguard/apiguard/shared/vocab"
)

func renderConsole(t *testing.T, c Console) string {
	t.Helper()
	var buf bytes.Buffer
	if err := RenderConsole(&buf, c); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// sectionRows are the data rows of a section's tables, one per item: the pending
// table's second row per decision (the endpoints) is part of its item.
func sectionRows(section *html.Node) []*html.Node {
	var rows []*html.Node
	for _, body := range pagetest.All(section, pagetest.Tag("tbody")) {
		rows = append(rows, pagetest.All(body, func(n *html.Node) bool { return n.Data == "tr" && !pagetest.Class("answer")(n) })...)
	}
	return rows
}

func TestConsoleStructure(t *testing.T) {
	for _, tc := range []struct {
		name   string
		c      Console
		status string
		empty  []string // the empty states shown
	}{
		{name: "busy", c: sampleConsole(), status: "✗ unhealthy"},
		{name: "quiet", c: quietConsole(), status: "✓ healthy",
			empty: []string{"No blocks in force.", "No recent incidents.", "No decisions wait for approval."}},
		{name: "nothing known", c: Console{Now: consoleNow}, status: "✗ unknown",
			empty: []string{"No blocks in force.", "No recent incidents.", "No decisions wait for approval.",
				"No function has reported yet.", "No enforcement targets configured."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			doc := pagetest.Parse(t, renderConsole(t, c))

			if got := pagetest.Text(pagetest.ByID(t, doc, "status")); got != tc.status {
				t.Errorf("status %q, want %q", got, tc.status)
			}
			header := pagetest.Text(pagetest.All(doc, pagetest.Tag("header"))[0])
			for _, cause := range c.Health.Causes {
				if !strings.Contains(header, cause) {
					t.Errorf("header lacks the cause %q", cause)
				}
			}

			// The four sections, in order, with their counts in the headings.
			var ids []string
			for _, s := range pagetest.All(doc, pagetest.Tag("section")) {
				id, _ := pagetest.Attr(s, "id")
				ids = append(ids, id)
			}
			if want := []string{"blocks", "incidents", "pending", "health"}; !slices.Equal(ids, want) {
				t.Fatalf("sections %v, want %v", ids, want)
			}
			for id, n := range map[string]int{"blocks": len(c.Blocks), "incidents": len(c.Incidents), "pending": len(c.Pending)} {
				section := pagetest.ByID(t, doc, id)
				count := pagetest.All(pagetest.All(section, pagetest.Tag("h2"))[0], pagetest.Class("count"))
				if len(count) != 1 || pagetest.Text(count[0]) != strconv.Itoa(n) {
					t.Errorf("%s heading does not count %d", id, n)
				}
				if rows := sectionRows(section); len(rows) != n {
					t.Errorf("%s: %d rows, want %d", id, len(rows), n)
				}
			}

			// Every block exactly once, with its target, action, mode and link.
			blockRows := sectionRows(pagetest.ByID(t, doc, "blocks"))
			for _, b := range c.Blocks {
				var mine []*html.Node
				for _, r := range blockRows {
					if ts := pagetest.All(r, pagetest.Class("target")); len(ts) == 1 && pagetest.Text(ts[0]) == b.Target {
						mine = append(mine, r)
					}
				}
				if len(mine) != 1 {
					t.Errorf("block %s: in %d rows, want 1", b.ID, len(mine))
					continue
				}
				text := pagetest.Text(mine[0])
				for _, want := range []string{string(b.Action), string(b.Kind), string(b.Mode), b.Reason,
					b.Expires.UTC().Format(timeLayout), strconv.Itoa(b.Offences)} {
					if !strings.Contains(text, want) {
						t.Errorf("block %s: row %q lacks %q", b.ID, text, want)
					}
				}
				links := pagetest.All(mine[0], pagetest.Tag("a"))
				if strings.HasPrefix(b.Source, operatorSource) {
					if len(links) != 0 || !strings.Contains(text, b.Source) {
						t.Errorf("block %s: an operator's source is text, got %d links in %q", b.ID, len(links), text)
					}
				} else if len(links) != 1 || pagetest.Text(links[0]) != b.Source {
					t.Errorf("block %s: want one link to %s", b.ID, b.Source)
				} else if href, _ := pagetest.Attr(links[0], "href"); href != "/api/v1/incidents/"+b.Source {
					t.Errorf("block %s: source links %q", b.ID, href)
				}
			}

			incidents := pagetest.Text(pagetest.ByID(t, doc, "incidents"))
			for _, inc := range c.Incidents {
				for _, want := range slices.Concat([]string{inc.ID, inc.AlertType}, inc.Addresses, inc.Identities) {
					if !strings.Contains(incidents, want) {
						t.Errorf("incident %s: section lacks %q", inc.ID, want)
					}
				}
			}
			pending := pagetest.Text(pagetest.ByID(t, doc, "pending"))
			for _, d := range c.Pending {
				for _, want := range []string{d.Target.Value, d.Duration, d.Reason,
					"POST /api/v1/decisions/" + d.ID + "/approve", "POST /api/v1/decisions/" + d.ID + "/reject"} {
					if strings.Count(pending, want) != 1 {
						t.Errorf("decision %s: %q appears %d times, want once", d.ID, want, strings.Count(pending, want))
					}
				}
			}
			health := pagetest.Text(pagetest.ByID(t, doc, "health"))
			for _, f := range c.Health.Functions {
				if !strings.Contains(health, f.Name) {
					t.Errorf("health lacks function %s", f.Name)
				}
			}
			for q := range c.Health.DeadLetters {
				if !strings.Contains(health, "Dead letters: "+q) {
					t.Errorf("health lacks dead letters of %s", q)
				}
			}

			var empties []string
			for _, p := range pagetest.All(doc, pagetest.Class("empty")) {
				empties = append(empties, pagetest.Text(p))
			}
			if !slices.Equal(empties, tc.empty) {
				t.Errorf("empty states %q, want %q", empties, tc.empty)
			}
		})
	}
}

// The times an operator reads: absolute UTC and how far from now.
func TestConsoleTimes(t *testing.T) {
	c := sampleConsole()
	doc := pagetest.Parse(t, renderConsole(t, c))
	rows := sectionRows(pagetest.ByID(t, doc, "blocks"))
	for i, want := range []string{"2026-03-14 13:12 UTC in 3h 12m", "2026-03-14 09:56 UTC expired 4m ago",
		"2026-03-15 09:00 UTC in 23h", "2026-03-14 10:45 UTC in 45m"} {
		cells := pagetest.All(rows[i], pagetest.Tag("td"))
		if got := pagetest.Text(cells[5]); got != want {
			t.Errorf("block %d expires %q, want %q", i, got, want)
		}
		if iso, _ := pagetest.Attr(pagetest.All(cells[5], pagetest.Tag("time"))[0], "datetime"); iso != c.Blocks[i].Expires.Format(time.RFC3339) {
			t.Errorf("block %d: datetime %q", i, iso)
		}
	}
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"}, {45 * time.Second, "45s"}, {59*time.Second + 600*time.Millisecond, "1m"},
		{5*time.Minute + 3*time.Second, "5m 3s"}, {3*time.Hour + 12*time.Minute + 40*time.Second, "3h 12m"},
		{48 * time.Hour, "2d"}, {52*time.Hour + 30*time.Minute, "2d 4h"},
	} {
		if got := span(tc.d); got != tc.want {
			t.Errorf("span(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{consoleNow.Add(30 * time.Second), "in under a minute"},
		{consoleNow.Add(-30 * time.Second), "just now"},
		{consoleNow.Add(-90 * time.Minute), "1h 30m ago"},
		{consoleNow.Add(26 * time.Hour), "in 1d 2h"},
	} {
		if got := (Console{Now: consoleNow}).stamp(tc.at).Relative; got != tc.want {
			t.Errorf("stamp(%v) = %q, want %q", tc.at, got, tc.want)
		}
	}
}

// Data is text wherever it lands: in element text, in attributes and in the links'
// paths.
func TestConsoleEscaping(t *testing.T) {
	hostile := []string{`<script>alert(1)</script>`, `"><img src=x onerror=alert(1)>`}
	for _, evil := range hostile {
		t.Run(evil, func(t *testing.T) {
			c := sampleConsole()
			incID := "inc-" + evil
			c.Blocks[0].Reason = evil
			c.Blocks[0].Target = evil
			c.Blocks[0].Source = incID
			c.Incidents[0].ID = incID
			c.Incidents[0].DisplayName = evil
			c.Incidents[0].Identities = []string{"user:" + evil}
			c.Incidents[0].AlertType = evil
			c.Pending[0].ID = incID + ".0"
			c.Pending[0].Incident = incID
			c.Pending[0].Reason = evil
			c.Health.Causes = []string{evil}
			c.Health.Functions[0].LastError = evil
			c.Health.Targets[0].Target = evil
			c.Health.DeadLetters = map[string]int64{evil: 1}
			page := renderConsole(t, c)

			for _, raw := range []string{"<script", "<img", "onerror=alert(1)>"} {
				if strings.Contains(page, raw) {
					t.Errorf("page holds %q unescaped", raw)
				}
			}
			doc := pagetest.Parse(t, page)
			if n := pagetest.All(doc, func(n *html.Node) bool { return n.Data == "script" || n.Data == "img" }); len(n) > 0 {
				t.Errorf("data made a <%s> element", n[0].Data)
			}
			for _, a := range pagetest.ActiveAttrs(doc) {
				t.Errorf("data made an attribute %s", a)
			}
			// Read back as text: the block reason and target, the incident's name,
			// identity and alert type, the decision's reason, a cause, an error, a
			// target and a queue.
			if got := strings.Count(pagetest.Text(doc), evil); got < 10 {
				t.Errorf("the hostile text reads back %d times, want at least 10", got)
			}
			wantHref := "/api/v1/incidents/" + url.PathEscape(incID)
			var hrefs int
			for _, a := range pagetest.All(doc, pagetest.Tag("a")) {
				if href, _ := pagetest.Attr(a, "href"); href == wantHref {
					hrefs++
					if pagetest.Text(a) != incID {
						t.Errorf("link %q reads %q", href, pagetest.Text(a))
					}
				}
			}
			if hrefs != 3 { // block source, incident, pending decision's incident
				t.Errorf("%d links to %s, want 3", hrefs, wantHref)
			}
			if want := "POST /api/v1/decisions/" + url.PathEscape(incID+".0") + "/approve"; !strings.Contains(pagetest.Text(doc), want) {
				t.Errorf("approve endpoint %q not shown", want)
			}
		})
	}
}

// The page is well formed (every element the template opens it closes, in order),
// carries its policy and refresh, and loads nothing: no script, no external
// resource.
func TestConsoleDocument(t *testing.T) {
	void := map[string]bool{"meta": true, "br": true, "hr": true, "img": true, "input": true, "link": true}
	for name, sample := range consoleSamples {
		page := renderConsole(t, sample())
		z := html.NewTokenizer(strings.NewReader(page))
		var open []string
		for tt := z.Next(); tt != html.ErrorToken; tt = z.Next() {
			tag, _ := z.TagName()
			switch tt {
			case html.StartTagToken:
				if !void[string(tag)] {
					open = append(open, string(tag))
				}
			case html.EndTagToken:
				if len(open) == 0 || open[len(open)-1] != string(tag) {
					t.Fatalf("%s: </%s> closes %v", name, tag, open)
				}
				open = open[:len(open)-1]
			}
		}
		if !errors.Is(z.Err(), io.EOF) || len(open) != 0 {
			t.Fatalf("%s: ends with %v open (%v)", name, open, z.Err())
		}

		doc := pagetest.Parse(t, page)
		metas := map[string]string{}
		for _, m := range pagetest.All(doc, pagetest.Tag("meta")) {
			if k, ok := pagetest.Attr(m, "http-equiv"); ok {
				metas[strings.ToLower(k)], _ = pagetest.Attr(m, "content")
			}
		}
		if metas["content-security-policy"] != consoleCSPMeta || metas["refresh"] != "60" {
			t.Errorf("%s: meta %v", name, metas)
		}
		if n := pagetest.All(doc, func(n *html.Node) bool { return n.Data == "script" || n.Data == "link" }); len(n) > 0 {
			t.Errorf("%s: has a <%s>", name, n[0].Data)
		}
		if strings.Contains(page, "http://") || strings.Contains(page, "https://") || strings.Contains(page, "url(") {
			t.Errorf("%s: refers to an external resource", name)
		}
	}
	csp := ConsoleCSP()
	for _, want := range []string{"default-src 'none'", "style-src 'unsafe-inline'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("ConsoleCSP() = %q, lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "script-src") {
		t.Errorf("ConsoleCSP() = %q allows scripts", csp)
	}
}

// The sample page as a browser builds it: chromium's DOM has the four sections.
func TestConsoleInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed (make console-shots installs it)")
	}
	dir := t.TempDir()
	c := sampleConsole()
	page := filepath.Join(dir, "sample.html")
	if err := os.WriteFile(page, []byte(renderConsole(t, c)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--dump-dom", "file://"+page)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v\n%s", err, stderr.Bytes())
	}
	doc := pagetest.Parse(t, string(out))
	for _, id := range []string{"blocks", "incidents", "pending", "health"} {
		section := pagetest.ByID(t, doc, id)
		if section.Data != "section" || len(pagetest.All(section, pagetest.Tag("h2"))) != 1 {
			t.Errorf("chromium's DOM: #%s is not a section with a heading", id)
		}
	}
	if rows := sectionRows(pagetest.ByID(t, doc, "blocks")); len(rows) != len(c.Blocks) {
		t.Errorf("chromium's DOM: %d block rows, want %d", len(rows), len(c.Blocks))
	}
}

// Hostile and odd data in the decision itself: a nil target falls back to the
// address, and a pending decision without a duration string shows its seconds.
func TestConsolePendingFallbacks(t *testing.T) {
	c := Console{Now: consoleNow, Base: "/api/v1/", Pending: []flow.Decision{{
		ID: "inc-1.0", Incident: "inc-1", Status: vocab.StatusPending, Updated: consoleNow.Add(-90 * time.Minute),
		Decision: decide.Decision{Action: vocab.BlockAPIM, Address: "192.0.2.9", Seconds: 7200, Reason: "r"},
	}}}
	rows := sectionRows(pagetest.ByID(t, pagetest.Parse(t, renderConsole(t, c)), "pending"))
	if len(rows) != 1 {
		t.Fatalf("%d rows", len(rows))
	}
	if got, want := pagetest.Text(rows[0]), "192.0.2.9 ip block_apim 2h r incident inc-1 1h 30m since 2026-03-14 08:30 UTC"; got != want {
		t.Errorf("row %q, want %q", got, want)
	}
}
