package report

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"

	"github.com/apiguard/apiguard/shared/triage"
)

// HTMLOptions are the page's settings besides its content.
type HTMLOptions struct {
	// Title heads the page and names it in the browser, before the month: the
	// environment or tenant the triage covers ("Contoso production"). Empty: "API
	// triage".
	Title string
}

//go:embed report.html
var reportHTML string

// The page's only style sheet and script, inserted whole and allowed by their hashes:
// nothing else on the page can style or run, and nothing is fetched.
var (
	//go:embed report.css
	reportCSS string
	//go:embed report.js
	reportJS string
)

// htmlCSP is the page's Content-Security-Policy (a meta element: the page is a file,
// mailed or stored, with no server to send a header): no source at all, its own
// style sheet and script by hash.
var htmlCSP = "default-src 'none'; script-src '" + cspHash(reportJS) + "'; style-src '" + cspHash(reportCSS) +
	"'; base-uri 'none'; form-action 'none'"

func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

var htmlTemplate = template.Must(template.New("report").Parse(reportHTML))

// HTML writes the report as one self-contained page: the counts as a chart, the
// changes since last month, the gaps, the coverage and the onboarding plan, and the
// whole worklist with every signal's source and every proposed policy. The table is
// complete without the page's script, which adds sorting and filtering. It renders
// into memory first, so a failure writes nothing.
func HTML(w io.Writer, c triage.Classification, opts HTMLOptions) error {
	d, err := digestOf(c)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.Grow(4096 + 1500*len(c.APIs))
	if err := htmlTemplate.Execute(&buf, d.htmlView(opts)); err != nil {
		return fmt.Errorf("report: render HTML: %w", err)
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// The view types hold display text: formatting happens in Go, where it is tested, and
// the template only lays it out (html/template escapes every field). Classes come
// from fixed lists, never from data.
type (
	htmlView struct {
		Title, MonthName         string
		PreviousName             string
		CSP                      string
		Style                    template.CSS
		Script                   template.JS
		CollectedISO, Collected  string
		APIs, Services, Findings int
		Candidates               int
		Focus                    bool
		FocusFindings            int
		Chart                    chart
		ChangeTally              []kindCount
		Changes                  []changeGroup
		Gaps                     []gapView
		Coverage                 coverageView
		Rows                     template.HTML // rowsHTML
		Priorities               []priorityOption
		Version                  int
		HasChanges, FirstRun     bool
		ChangeCount              int
	}
	chart struct {
		Width, Height int
		Bars          []bar
		Label         string // the chart read as one sentence
	}
	bar struct {
		Priority, Term, Class   string
		Count                   int
		Y, TextY, Width, CountX int
		LabelX, BarX, BarHeight int
		Title                   string
	}
	kindCount struct {
		Word string // "newly inactive"
		N    int
	}
	changeGroup struct {
		Kind, Title string
		Items       []changeItem
	}
	changeItem struct {
		Label, Service, ID, Transition, Signal string
	}
	gapView struct {
		What, Scope, ScopeName, Error, Effect string
	}
	named struct {
		Label, Service string
	}
	coverageView struct {
		NotOnboarded []named
		Batches      []batchView
		Next         []named
		Waiting      string
	}
	batchView struct {
		N    int
		APIs []named
		Next bool
	}
	priorityOption struct {
		Priority, Class string
		Count           int
	}
)

// Chart geometry, in SVG user units (the chart scales with the page).
const (
	chartWidth   = 700
	chartRow     = 36
	chartBar     = 24
	chartLabel   = 270 // the labels' column
	chartCountW  = 56  // room for the count after the longest bar
	chartPadding = 6
)

func (d *digest) htmlView(opts HTMLOptions) htmlView {
	c, s := d.c, d.summary
	title := opts.Title
	if title == "" {
		title = "API triage"
	}
	v := htmlView{
		Title: title, MonthName: monthName(c.Month), PreviousName: monthName(c.Previous),
		CSP: htmlCSP, Style: template.CSS(reportCSS), Script: template.JS(reportJS),
		CollectedISO: c.Collected.UTC().Format("2006-01-02T15:04:05Z07:00"), Collected: c.Collected.UTC().Format(timeLayout),
		APIs: s.APIs, Services: d.services, Findings: s.Findings, Candidates: s.Candidates,
		Focus: d.focus(), FocusFindings: FocusFindings, Version: Version,
		FirstRun: c.Previous == "", HasChanges: len(c.Changes) > 0, ChangeCount: len(c.Changes),
	}
	if c.Collected.IsZero() {
		v.CollectedISO, v.Collected = "", ""
	}

	// The chart: one bar per priority, most urgent on top.
	most := 0
	for _, p := range triage.Priorities() {
		most = max(most, s.Priorities[p])
	}
	v.Chart = chart{Width: chartWidth, Height: len(triage.Priorities())*chartRow + 2*chartPadding}
	var words []string
	for i, p := range triage.Priorities() {
		n := s.Priorities[p]
		b := bar{
			Priority: string(p), Term: priorityTerms[p], Class: priorityClass(p), Count: n,
			Y: chartPadding + i*chartRow + (chartRow-chartBar)/2, BarHeight: chartBar,
			TextY: chartPadding + i*chartRow + chartRow/2 + 5, LabelX: 0, BarX: chartLabel,
			Title: fmt.Sprintf("%s (%s): %s", p, priorityTerms[p], plural(n, "API", "APIs")),
		}
		if most > 0 {
			b.Width = n * (chartWidth - chartLabel - chartCountW) / most
		}
		if n > 0 && b.Width < 2 {
			b.Width = 2 // a count that is not zero shows
		}
		b.CountX = chartLabel + b.Width + 8
		v.Chart.Bars = append(v.Chart.Bars, b)
		v.Priorities = append(v.Priorities, priorityOption{Priority: string(p), Class: priorityClass(p), Count: n})
		words = append(words, fmt.Sprintf("%s %d", p, n))
	}
	v.Chart.Label = "APIs per priority: " + strings.Join(words, ", ")

	for _, k := range changeKinds {
		changes := d.changes[k.kind]
		v.ChangeTally = append(v.ChangeTally, kindCount{Word: strings.ToLower(k.title), N: len(changes)})
		if len(changes) == 0 {
			continue
		}
		g := changeGroup{Kind: k.kind, Title: k.title}
		for _, ch := range changes {
			label, service := d.apiName(ch.API, ch.Name)
			g.Items = append(g.Items, changeItem{Label: label, Service: service, ID: ch.API, Transition: transition(ch), Signal: ch.Signal})
		}
		v.Changes = append(v.Changes, g)
	}

	for _, g := range c.Gaps {
		v.Gaps = append(v.Gaps, gapView{What: g.What, Scope: g.Scope, ScopeName: scopeName(g.Scope), Error: g.Error, Effect: g.Effect})
	}

	cov := c.Coverage
	v.Coverage = coverageView{NotOnboarded: d.named(cov.NotOnboarded), Next: d.named(cov.Next), Waiting: cov.Waiting}
	for i, batch := range cov.Batches {
		v.Coverage.Batches = append(v.Coverage.Batches, batchView{N: i + 1, APIs: d.named(batch), Next: len(cov.Next) > 0 && slices.Equal(batch, cov.Next)})
	}

	v.Rows = rowsHTML(c.APIs)
	return v
}

// named resolves resource ids to the APIs' names, in the order given.
func (d *digest) named(ids []string) []named {
	out := make([]named, len(ids))
	for i, id := range ids {
		label, service := d.apiName(id, "")
		out[i] = named{Label: label, Service: service}
	}
	return out
}

// answer is a signal's value as a reader says it.
func answer(s triage.Signal) string {
	switch {
	case !s.Known:
		return "unknown"
	case s.Value:
		return "yes"
	}
	return "no"
}

// signalClass marks the answers that raise the risk (exposed, sensitive, not
// authenticated) apart from the ones that lower it, an idle API, and the unknown
// answers.
func signalClass(s triage.Signal) string {
	switch {
	case !s.Known:
		return "sig-unknown"
	case s.Name == signalInactive:
		if s.Value {
			return "sig-idle"
		}
	case s.Name == signalAuth && !s.Value, s.Name != signalAuth && s.Value:
		return "sig-risk"
	}
	return "sig-ok"
}

// priorityClass maps a priority onto one of the page's fixed classes.
func priorityClass(p triage.Priority) string {
	switch p {
	case triage.P0:
		return "p0"
	case triage.P1:
		return "p1"
	case triage.P2:
		return "p2"
	case triage.P3:
		return "p3"
	}
	return "pd"
}

// priorityOrder is a priority's place in the risk table, the worklist's sort key.
func priorityOrder(p triage.Priority) int {
	for i, q := range triage.Priorities() {
		if p == q {
			return i
		}
	}
	return len(triage.Priorities())
}
