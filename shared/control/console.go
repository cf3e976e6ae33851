package control

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/apiguard/apiguard/shared/flow"
	"github.com/apiguard/apiguard/shared/vocab"
)

// Console is what the operator page shows: the same views the control API answers
// with, gathered by the route, so the page holds no logic of its own beyond layout.
type Console struct {
	// Blocks, Incidents and Pending are shown in the order given.
	Blocks    []flow.Block
	Incidents []flow.Incident
	Pending   []flow.Decision
	Health    flow.Health
	// Now is when the page is drawn: expiries and ages are counted from it, never
	// from the wall clock, so a page renders the same in a test.
	Now time.Time
	// Base is the control API's base path, e.g. "/api/v1", for links.
	Base string
}

// consoleCSPMeta allows inline styles and nothing else: the page has no scripts, so
// markup injected past the escaping could still not run any.
const consoleCSPMeta = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

// ConsoleCSP is the Content-Security-Policy the console route sets. frame-ancestors
// works only as a header (a meta tag ignores it), so only the header carries it.
func ConsoleCSP() string { return consoleCSPMeta + "; frame-ancestors 'none'" }

// operatorSource starts a block's source when an operator made or changed it, as
// flow.Block documents; any other non-empty source is an incident id.
const operatorSource = "operator:"

// timeLayout is how the page writes absolute times: minutes are enough to read, and
// the element's datetime attribute keeps the exact instant.
const timeLayout = "2006-01-02 15:04 UTC"

//go:embed console.html
var consoleHTML string

var consoleTemplate = template.Must(template.New("console").Parse(consoleHTML))

// RenderConsole writes the operator page. It renders into memory first, so a
// failure leaves w untouched and the route can still answer with an error.
func RenderConsole(w io.Writer, c Console) error {
	var buf bytes.Buffer
	if err := consoleTemplate.Execute(&buf, c.view()); err != nil {
		return fmt.Errorf("render console: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// The view types hold display text: formatting happens in Go, where it is tested,
// and the template only lays it out (html/template escapes every field).
type (
	consoleView struct {
		CSP       string
		Healthy   bool
		Status    string
		Causes    []string
		Checked   stamp
		Now       stamp
		Blocks    []blockRow
		Incidents []incidentRow
		Pending   []pendingRow
		Functions []functionRow
		Targets   []targetRow
		Counts    []countRow
	}
	// stamp is a time as the page shows it; Zero marks a time never set.
	stamp struct {
		Zero     bool
		ISO      string // the datetime attribute
		Abs      string // 2006-01-02 15:04 UTC
		Relative string // "in 3h 12m", "5m ago"
	}
	anchor struct {
		Text, URL string // URL empty: plain text
	}
	blockRow struct {
		Action, Target, Kind, Mode, Reason, Severity, SevClass string
		Dry, Forwarded                                         bool
		Source                                                 anchor
		Expires                                                stamp
		Expired                                                bool
		Offences                                               int
	}
	incidentRow struct {
		Time                                               stamp
		AlertType, Severity, SevClass, DisplayName, Source string
		Complete                                           bool
		Addresses, Identities                              []string
		Decisions                                          []decisionLine
		Link                                               anchor
	}
	// decisionLine is one of an incident's decisions: what it does, to what, and
	// where it stands.
	decisionLine struct {
		Action, Target, Status, StatusClass string
	}
	pendingRow struct {
		Target, Kind, Action, Duration, Reason, Severity, SevClass string
		Age                                                        string
		Since                                                      stamp
		Incident                                                   anchor
		Approve, Reject                                            string
	}
	functionRow struct {
		Name                     string
		Invocations              int64
		LastSuccess, LastFailure stamp
		LastError                string
		Failing                  bool
	}
	targetRow struct {
		Name, Target                string // Name: the last segment of an ARM id
		InSync                      bool
		DiffersSince, LastReconcile stamp
		LastFailure                 stamp
		LastError                   string
	}
	countRow struct {
		Label string
		Value int64
		Bad   bool // worth a look when not zero
	}
)

func (c Console) view() consoleView {
	h := c.Health
	v := consoleView{
		CSP:     consoleCSPMeta,
		Healthy: h.Status == "healthy",
		Status:  h.Status,
		Causes:  h.Causes,
		Checked: c.stamp(h.Checked),
		Now:     c.stamp(c.Now),
	}
	if v.Status == "" {
		v.Status = "unknown"
	}
	for _, b := range c.Blocks {
		v.Blocks = append(v.Blocks, blockRow{
			Action: string(b.Action), Target: b.Target, Kind: string(b.Kind), Mode: string(b.Mode),
			Reason: b.Reason, Severity: string(b.Severity), SevClass: sevClass(b.Severity),
			Dry: b.Mode != vocab.Enforce, Forwarded: b.Forwarded,
			Source: c.sourceLink(b.Source), Expires: c.stamp(b.Expires),
			Expired: !b.Expires.IsZero() && !b.Expires.After(c.Now), Offences: b.Offences,
		})
	}
	for _, inc := range c.Incidents {
		at := inc.EventTime
		if at.IsZero() {
			at = inc.Received
		}
		v.Incidents = append(v.Incidents, incidentRow{
			Time: c.stamp(at), AlertType: inc.AlertType, Severity: string(inc.Severity), SevClass: sevClass(inc.Severity),
			DisplayName: inc.DisplayName, Source: inc.Source, Complete: inc.Complete,
			Addresses: inc.Addresses, Identities: inc.Identities, Decisions: decisionLines(inc.Decisions),
			Link: anchor{Text: inc.ID, URL: c.incidentURL(inc.ID)},
		})
	}
	for _, d := range c.Pending {
		target, kind := d.Address, vocab.KeyIP
		if d.Target != nil {
			target, kind = d.Target.Value, d.Target.Kind
		}
		duration := d.Duration
		if duration == "" && d.Seconds > 0 {
			duration = span(time.Duration(d.Seconds) * time.Second)
		}
		endpoint := c.base() + "/decisions/" + url.PathEscape(d.ID)
		row := pendingRow{
			Target: target, Kind: string(kind), Action: string(d.Action), Duration: duration,
			Reason: d.Reason, Severity: string(d.Severity), SevClass: sevClass(d.Severity), Since: c.stamp(d.Updated),
			Incident: anchor{Text: d.Incident, URL: c.incidentURL(d.Incident)},
			Approve:  "POST " + endpoint + "/approve", Reject: "POST " + endpoint + "/reject",
		}
		if !d.Updated.IsZero() {
			row.Age = span(c.Now.Sub(d.Updated))
		}
		v.Pending = append(v.Pending, row)
	}
	for _, f := range h.Functions {
		v.Functions = append(v.Functions, functionRow{
			Name: f.Name, Invocations: f.Invocations, LastSuccess: c.stamp(f.LastSuccess), LastFailure: c.stamp(f.LastFailure),
			LastError: f.LastError, Failing: f.LastFailure.After(f.LastSuccess),
		})
	}
	for _, t := range h.Targets {
		v.Targets = append(v.Targets, targetRow{
			Name: t.Target[strings.LastIndex(t.Target, "/")+1:], Target: t.Target, InSync: t.InSync,
			DiffersSince: c.stamp(t.DiffersSince), LastReconcile: c.stamp(t.LastReconcile),
			LastFailure: c.stamp(t.LastFailure), LastError: t.LastError,
		})
	}
	v.Counts = []countRow{
		{Label: "Pending approvals", Value: int64(h.PendingApprovals)},
		{Label: "Set aside (24 h)", Value: h.SetAside24h, Bad: true},
		{Label: "Notifications failed (24 h)", Value: h.NotificationsFailed24h, Bad: true},
	}
	for _, q := range slices.Sorted(maps.Keys(h.DeadLetters)) {
		v.Counts = append(v.Counts, countRow{Label: "Dead letters: " + q, Value: h.DeadLetters[q], Bad: true})
	}
	return v
}

func (c Console) base() string { return strings.TrimRight(c.Base, "/") }

// incidentURL links an incident; its id is one path segment whatever it holds.
func (c Console) incidentURL(id string) string {
	if id == "" {
		return ""
	}
	return c.base() + "/incidents/" + url.PathEscape(id)
}

// sourceLink links a block's source when it is an incident; an operator is text.
func (c Console) sourceLink(src string) anchor {
	if strings.HasPrefix(src, operatorSource) {
		return anchor{Text: src}
	}
	return anchor{Text: src, URL: c.incidentURL(src)}
}

func (c Console) stamp(t time.Time) stamp {
	if t.IsZero() {
		return stamp{Zero: true}
	}
	s := stamp{ISO: t.UTC().Format(time.RFC3339), Abs: t.UTC().Format(timeLayout)}
	switch d := t.Sub(c.Now); {
	case d >= time.Minute:
		s.Relative = "in " + span(d)
	case d <= -time.Minute:
		s.Relative = span(-d) + " ago"
	case d > 0:
		s.Relative = "in under a minute"
	default:
		s.Relative = "just now"
	}
	return s
}

// span writes a duration in its two largest units, as an operator reads it at a
// glance: "3h 12m", "2d 4h", "45s"; a zero second unit is left out ("2d").
func span(d time.Duration) string {
	d = d.Round(time.Second)
	days, d := d/(24*time.Hour), d%(24*time.Hour)
	h, d := d/time.Hour, d%time.Hour
	m, s := d/time.Minute, d%time.Minute/time.Second
	two := func(a time.Duration, au string, b time.Duration, bu string) string {
		if b == 0 {
			return fmt.Sprintf("%d%s", a, au)
		}
		return fmt.Sprintf("%d%s %d%s", a, au, b, bu)
	}
	switch {
	case days > 0:
		return two(days, "d", h, "h")
	case h > 0:
		return two(h, "h", m, "m")
	case m > 0:
		return two(m, "m", s, "s")
	}
	return fmt.Sprintf("%ds", s)
}

func decisionLines(ds []flow.Decision) []decisionLine {
	out := make([]decisionLine, 0, len(ds))
	for _, d := range ds {
		line := decisionLine{Action: string(d.Action), Target: d.Address, Status: string(d.Status), StatusClass: statusClass(d.Status)}
		if d.Intended != "" {
			line.Action += " (" + string(d.Intended) + ")"
		}
		if d.Target != nil {
			line.Target = d.Target.Value
		}
		out = append(out, line)
	}
	return out
}

// sevClass maps a severity onto one of the page's fixed classes, so no data reaches
// a class attribute.
func sevClass(s vocab.Severity) string {
	switch s {
	case vocab.SeverityHigh:
		return "sev-high"
	case vocab.SeverityMedium:
		return "sev-medium"
	case vocab.SeverityLow:
		return "sev-low"
	case vocab.SeverityInformational:
		return "sev-info"
	}
	return "sev-unknown"
}

// statusClass marks what is in force, what waits for someone, and what is history.
func statusClass(s vocab.Status) string {
	switch s {
	case vocab.StatusEnforced:
		return "st-enforced"
	case vocab.StatusPending:
		return "st-pending"
	}
	return "st-quiet"
}

// The page shows at most consoleIncidents incidents, newest first, of the last
// consoleDays of event time.
const (
	consoleIncidents = 50
	consoleDays      = 30 * 24 * time.Hour
)

// console gathers the page's data from the application and renders it.
func (a *API) console(c *call) (string, error) {
	now := a.now().UTC()
	blocks, err := a.app.Blocks(c.ctx, flow.BlockFilter{})
	if err != nil {
		return "", err
	}
	incidents, _, err := a.app.Incidents(c.ctx, flow.IncidentQuery{Since: now.Add(-consoleDays), Until: now.Add(time.Minute), Limit: consoleIncidents})
	if err != nil {
		return "", err
	}
	pending, err := a.app.Pending(c.ctx)
	if err != nil {
		return "", err
	}
	health, err := a.app.Health(c.ctx)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := RenderConsole(&b, Console{Blocks: blocks, Incidents: incidents, Pending: pending, Health: health, Now: now, Base: Prefix}); err != nil {
		return "", err
	}
	return b.String(), nil
}
