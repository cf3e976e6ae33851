package triagetest

import (
	"embed"
	"encoding/json"
	"fmt"
	"time"

	"github.com/apiguard/apiguard/shared/triage"
)

// Expected is what a correct triage of a scenario says: per API its rank, the rules
// that hold and the key signals with where they come from, the gaps the collector must
// report, and (next month) the changes. It is derived by hand from the risk table and
// the rules, not from any classification code: it is the cross-check a
// classifier is tested against. Notes state the interpretations it rests on.
type Expected struct {
	Scenario      string                  `json:"scenario"`
	Collected     time.Time               `json:"collected"`
	WatchingSince time.Time               `json:"watchingSince"`
	SensitiveTags []string                `json:"sensitiveTags"`
	Notes         []string                `json:"notes"`
	Counts        map[triage.Priority]int `json:"counts"`
	APIs          []ExpectedAPI           `json:"apis"`
	Gaps          []ExpectedGap           `json:"gaps"`
	Changes       []ExpectedChange        `json:"changes,omitempty"`

	byID map[string]*ExpectedAPI
}

// ExpectedAPI is one API's expected place in the worklist.
type ExpectedAPI struct {
	API     string `json:"api"` // resource id
	Name    string `json:"name"`
	Service string `json:"service"`
	// Exercises says what the API is in the scenario for.
	Exercises string          `json:"exercises"`
	Priority  triage.Priority `json:"priority"`
	// Rules are the table's rules that hold: external+unauthenticated,
	// external+sensitive, external+authenticated, internal+sensitive,
	// internal+non-sensitive, inactive>90d.
	Rules     []string `json:"rules"`
	Candidate bool     `json:"candidate,omitempty"`
	// Otherwise is the rank a Decommission API would have without the inactivity.
	Otherwise triage.Priority `json:"otherwise,omitempty"`
	Onboarded bool            `json:"onboarded"`
	// Signals are external, authenticated, sensitive and inactive.
	Signals map[string]ExpectedSignal `json:"signals"`
}

// ExpectedSignal is one signal's expected answer and where it comes from.
type ExpectedSignal struct {
	Value    bool `json:"value"`
	Known    bool `json:"known"`
	Inferred bool `json:"inferred,omitempty"`
	// By names the source: defender, network, subscription-key, policy, apim, tag,
	// tags, apiguard, or two joined with +.
	By  string `json:"by"`
	Why string `json:"why"`
	// IdleDays (inactive only) is whole days since apiguard's last sighting, or since
	// WatchingSince when it never saw the API.
	IdleDays *int `json:"idleDays,omitempty"`
}

// ExpectedGap is a gap the collector must report (its effect is the collector's).
type ExpectedGap struct {
	Scope string `json:"scope"`
	What  string `json:"what"`
	Error string `json:"error"`
}

// ExpectedChange is one difference from the previous month.
type ExpectedChange struct {
	API    string          `json:"api"`
	Name   string          `json:"name"`
	Kind   string          `json:"kind"`
	From   triage.Priority `json:"from,omitempty"`
	To     triage.Priority `json:"to,omitempty"`
	Signal string          `json:"signal,omitempty"`
}

//go:embed testdata/scenario.json testdata/next-month.json
var testdata embed.FS

// ScenarioExpected is what Scenario must give.
func ScenarioExpected() Expected { return mustLoad("testdata/scenario.json") }

// NextMonthExpected is what ScenarioNextMonth must give, with the changes from Scenario.
func NextMonthExpected() Expected { return mustLoad("testdata/next-month.json") }

func mustLoad(name string) Expected {
	body, err := testdata.ReadFile(name)
	if err != nil {
		panic(fmt.Sprintf("triagetest: %v", err))
	}
	var e Expected
	if err := json.Unmarshal(body, &e); err != nil {
		panic(fmt.Sprintf("triagetest: %s: %v", name, err))
	}
	e.byID = map[string]*ExpectedAPI{}
	for i := range e.APIs {
		e.byID[e.APIs[i].API] = &e.APIs[i]
	}
	return e
}

// API returns the expectation for an API resource id, or nil.
func (e Expected) API(id string) *ExpectedAPI { return e.byID[id] }
