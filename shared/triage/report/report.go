// Package report renders a month's triage.Classification for its three readers: JSON
// for scripts (a versioned contract, documented in README.md), Markdown for a Teams
// message or a mail, and one self-contained HTML page holding the whole worklist.
//
// Rendering reads only the Classification: no clock, no network, no file. The same
// Classification gives the same bytes, so the samples under docs/triage-report are
// checked by a test like golden files.
package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/apiguard/apiguard/shared/triage"
)

// Version is the JSON document's "version": it changes when a field changes meaning
// or goes away, never when one is added.
const Version = 1

// Findings are the APIs ranked P0 to P2. With more than FocusFindings of them the
// guidance says to start with the external and sensitive ones (usually 5 to 15 APIs
// holding most of the risk), and the Markdown's "Start here" puts them first.
const FocusFindings = triage.LeadThreshold

// changeKinds are the kinds in report order, with their headings.
var changeKinds = []struct{ kind, title string }{
	{triage.ChangeNew, "New"},
	{triage.ChangeRemoved, "Removed"},
	{triage.ChangeRose, "Rose"},
	{triage.ChangeFell, "Fell"},
	{triage.ChangeNewlyInactive, "Newly inactive"},
	{triage.ChangeResolved, "Resolved"},
}

// priorityTerms are the risk table's deadlines, as the guidance words them.
var priorityTerms = map[triage.Priority]string{
	triage.P0:           "this week",
	triage.P1:           "this month",
	triage.P2:           "this quarter",
	triage.P3:           "monitor only",
	triage.Decommission: "inactive > 90 days",
}

// The signal names the report reads (triage.Signal documents them).
const (
	signalExternal  = "external"
	signalSensitive = "sensitive"
	signalAuth      = "authenticated"
	signalInactive  = "inactive"
)

// timeLayout is how the Markdown and the page write times: minutes are enough.
const timeLayout = "2006-01-02 15:04 UTC"

// Summary is what a script usually wants first, tallied from the Classification's
// lists: every priority and every change kind is present, zero included.
type Summary struct {
	// APIs is the number of APIs in the worklist.
	APIs int `json:"apis"`
	// Priorities counts the APIs per priority.
	Priorities map[triage.Priority]int `json:"priorities"`
	// Findings counts the APIs ranked P0, P1 or P2.
	Findings int `json:"findings"`
	// Candidates counts the APIs marked as decommission candidates (whatever their rank).
	Candidates int `json:"candidates"`
	// Changes counts the changes from the previous month per kind.
	Changes map[string]int `json:"changes"`
	// Gaps counts what the collector could not read.
	Gaps int `json:"gaps"`
	// NotOnboarded counts the APIs Defender for APIs does not cover.
	NotOnboarded int `json:"notOnboarded"`
}

// Document is the JSON report: the Classification's own fields, between a version
// and a summary. A script in Go decodes the report into it.
type Document struct {
	Version int `json:"version"`
	triage.Classification
	Summary Summary `json:"summary"`
}

// digest is what every format reads besides the Classification itself: the tallies,
// the changes by kind, and the APIs by resource id (to name the ones a change or the
// onboarding plan points at).
type digest struct {
	c        triage.Classification
	summary  Summary
	changes  map[string][]triage.Change
	byID     map[string]*triage.Ranked
	services int
}

// digestOf checks the Classification against the model's vocabularies and tallies
// it. A priority or change kind the report does not know would silently drop out of
// a chart or a list, and counts that disagree with the list would put two numbers on
// one page: both are refused, naming what is wrong.
func digestOf(c triage.Classification) (*digest, error) {
	d := &digest{
		c: c,
		summary: Summary{
			APIs:         len(c.APIs),
			Priorities:   make(map[triage.Priority]int, len(priorityTerms)),
			Changes:      make(map[string]int, len(changeKinds)),
			Gaps:         len(c.Gaps),
			NotOnboarded: len(c.Coverage.NotOnboarded),
		},
		changes: make(map[string][]triage.Change, len(changeKinds)),
		byID:    make(map[string]*triage.Ranked, len(c.APIs)),
	}
	for _, p := range triage.Priorities() {
		d.summary.Priorities[p] = 0
	}
	for _, k := range changeKinds {
		d.summary.Changes[k.kind] = 0
	}
	services := map[string]bool{}
	for i := range c.APIs {
		a := &c.APIs[i]
		if _, ok := priorityTerms[a.Priority]; !ok {
			return nil, fmt.Errorf("report: API %s has priority %q, not one of %v", a.API, a.Priority, triage.Priorities())
		}
		d.summary.Priorities[a.Priority]++
		if finding(a.Priority) {
			d.summary.Findings++
		}
		if a.Candidate {
			d.summary.Candidates++
		}
		if _, dup := d.byID[a.API]; !dup {
			d.byID[a.API] = a
		}
		services[a.Service] = true
	}
	d.services = len(services)
	for p, n := range c.Counts {
		if _, ok := priorityTerms[p]; !ok {
			return nil, fmt.Errorf("report: counts hold priority %q, not one of %v", p, triage.Priorities())
		}
		if n != d.summary.Priorities[p] {
			return nil, fmt.Errorf("report: counts say %d APIs are %s, the list holds %d", n, p, d.summary.Priorities[p])
		}
	}
	for p, n := range d.summary.Priorities {
		if _, ok := c.Counts[p]; !ok && n > 0 {
			return nil, fmt.Errorf("report: counts leave out %s, the list holds %d", p, n)
		}
	}
	for _, ch := range c.Changes {
		if _, ok := d.summary.Changes[ch.Kind]; !ok {
			return nil, fmt.Errorf("report: change of %s has kind %q, not one of %s", ch.API, ch.Kind, kindList())
		}
		d.summary.Changes[ch.Kind]++
		d.changes[ch.Kind] = append(d.changes[ch.Kind], ch)
	}
	return d, nil
}

func kindList() string {
	kinds := make([]string, len(changeKinds))
	for i, k := range changeKinds {
		kinds[i] = k.kind
	}
	return strings.Join(kinds, ", ")
}

// finding is true for the ranks that call for work: P0 to P2.
func finding(p triage.Priority) bool { return p == triage.P0 || p == triage.P1 || p == triage.P2 }

// focus is true when the guidance's rule applies: external and sensitive APIs first.
func (d *digest) focus() bool { return d.summary.Findings > FocusFindings }

// startHere lists the P0 APIs in worklist order; under focus, the external and
// sensitive ones lead.
func (d *digest) startHere() []*triage.Ranked {
	var first, rest []*triage.Ranked
	for i := range d.c.APIs {
		a := &d.c.APIs[i]
		if a.Priority != triage.P0 {
			continue
		}
		if d.focus() && holds(a, signalExternal) && holds(a, signalSensitive) {
			first = append(first, a)
		} else {
			rest = append(rest, a)
		}
	}
	return append(first, rest...)
}

// holds is true when the API's named signal answers yes.
func holds(a *triage.Ranked, name string) bool {
	for _, s := range a.Signals {
		if s.Name == name {
			return s.Value
		}
	}
	return false
}

// apiName is how the report names an API by resource id: its name and service when
// the worklist holds it, else the name given (a removed API) or the id's last
// segment, with the service the id names.
func (d *digest) apiName(id, fallback string) (name, service string) {
	if a, ok := d.byID[id]; ok {
		return label(a), a.Service
	}
	name = fallback
	if name == "" {
		name = id[strings.LastIndex(id, "/")+1:]
	}
	if i := strings.Index(strings.ToLower(id), apimService); i >= 0 {
		service, _, _ = strings.Cut(id[i+len(apimService):], "/")
	}
	return name, service
}

// apimService precedes an APIM service's name in a resource id (matched lower case:
// ARM ids are case-insensitive).
const apimService = "/providers/microsoft.apimanagement/service/"

// scopeName shortens a gap's scope for reading: what follows the APIM provider
// ("apim-prod/apis/orders"), "subscription <id>" or "resource group <name>", else the
// scope as given.
func scopeName(scope string) string {
	if i := strings.LastIndex(strings.ToLower(scope), apimService); i >= 0 {
		return scope[i+len(apimService):]
	}
	parts := strings.Split(strings.Trim(scope, "/"), "/")
	switch {
	case len(parts) == 2 && strings.EqualFold(parts[0], "subscriptions"):
		return "subscription " + parts[1]
	case len(parts) == 4 && strings.EqualFold(parts[2], "resourceGroups"):
		return "resource group " + parts[3]
	}
	return scope
}

// label is an API's display name, or its name when it has none.
func label(a *triage.Ranked) string {
	if a.DisplayName != "" {
		return a.DisplayName
	}
	return a.Name
}

// monthName writes "2026-12" as "December 2026"; anything else stays as given.
func monthName(m string) string {
	t, err := time.Parse("2006-01", m)
	if err != nil {
		return m
	}
	return t.Format("January 2006")
}

// transition writes a change's ranks: "P1 → P0", "now P0", "was P1".
func transition(ch triage.Change) string {
	switch {
	case ch.From != "" && ch.To != "":
		return string(ch.From) + " → " + string(ch.To)
	case ch.To != "":
		return "now " + string(ch.To)
	case ch.From != "":
		return "was " + string(ch.From)
	}
	return ""
}

// HTMLName is the file name the HTML report of a month is stored under, the name the
// Markdown points its reader to: "apiguard-triage-2026-12.html".
func HTMLName(month string) string { return "apiguard-triage-" + month + ".html" }
