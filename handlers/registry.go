// Package handlers holds one thin handler per Azure Function: decode the host's
// envelope, call the domain, encode the answer. The same handlers serve the Functions
// host (custom handler, envelope mode) and the standalone `apiguard serve`.
package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/envelope"
)

// Function is the code behind one folder under functions/. Exactly one of HTTP, Timer,
// Queue and Events is set, matching the trigger in its function.json.
type Function struct {
	Trigger string // httpTrigger, timerTrigger, ...: checked against function.json
	Binding string // the trigger binding's name in function.json
	HTTP    func(a *App, ctx context.Context, log zerolog.Logger, req *envelope.HTTPRequest) envelope.HTTPResponse
	Timer   func(a *App, ctx context.Context, log zerolog.Logger, t *envelope.Timer) (string, error)
	Queue   func(a *App, ctx context.Context, log zerolog.Logger, msgs []envelope.Message) (string, error)
	// Events takes an Event Hubs batch. An error fails the invocation; the host runs
	// it again only under the function's retry policy (functions/<name>/function.json).
	Events func(a *App, ctx context.Context, log zerolog.Logger, b *envelope.EventBatch) (string, error)
	// Long marks a function bounded by the host's function timeout rather than the
	// background budget: the monthly triage, whose paced reads are sized to it.
	Long bool
}

// budget is how long one invocation of f may run: HTTP functions answer within the
// interactive budget, the others run within the background one (see config.Budget).
func (f Function) budget() config.Budget {
	switch {
	case f.Long:
		return config.Long
	case f.HTTP != nil:
		return config.Interactive
	default:
		return config.Background
	}
}

// invocation bounds one invocation of f by its budget. The work gets the budget less
// a reserve for the health record that follows it (Invoked), so the invocation, record
// included, ends within its budget even when the store hangs: work is the work's
// context, record the record's, and cancel releases both.
func (a *App) invocation(ctx context.Context, f Function) (work, record context.Context, cancel context.CancelFunc) {
	budget := a.Config.Budget(f.budget())
	record, cancelRecord := context.WithTimeout(ctx, budget)
	work, cancelWork := context.WithTimeout(record, budget-bookkeepingReserve(budget, a.Config.CallTimeout))
	return work, record, func() { cancelWork(); cancelRecord() }
}

// bookkeepingReserve is the part of a budget kept for recording how the invocation
// ended: a tenth of it, at most one call's timeout (one health merge is a read and a
// conditional write, well under a call timeout when the store answers).
func bookkeepingReserve(budget, call time.Duration) time.Duration {
	return min(budget/10, call)
}

// Functions maps every function folder to its handler. A test checks it against the
// function.json files on disk, both ways.
var Functions = map[string]Function{
	"alerts":           {Trigger: "httpTrigger", Binding: "req", HTTP: alertsHTTP},
	"api":              {Trigger: "httpTrigger", Binding: "req", HTTP: apiHTTP},
	"expire":           {Trigger: "timerTrigger", Binding: "timer", Timer: expireTimer},
	"remediate":        {Trigger: "serviceBusTrigger", Binding: "msgs", Queue: remediateQueue},
	"ingest":           {Trigger: "httpTrigger", Binding: "req", HTTP: ingestHTTP},
	"traffic":          {Trigger: "serviceBusTrigger", Binding: "msgs", Queue: trafficQueue},
	"traffic-eventhub": {Trigger: "eventHubTrigger", Binding: "events", Events: trafficEventHub},
	"triage":           {Trigger: "timerTrigger", Binding: "timer", Timer: triageTimer, Long: true},
}

// Def is what apiguard needs from one function.json.
type Def struct {
	Name      string
	Trigger   string
	Binding   string
	Route     string   // HTTP: route under /api/ (defaults to the function name)
	Methods   []string // HTTP: upper-case methods
	AuthLevel string   // HTTP
	Schedule  string   // timer: NCRONTAB
	Retry     *Retry   // the function-level retry policy, if any
}

// Retry is a function.json retry policy: how the host runs a failed invocation again
// for triggers that do not redeliver by themselves (timers, Event Hubs).
type Retry struct {
	Strategy        string `json:"strategy"`      // fixedDelay or exponentialBackoff
	MaxRetryCount   int    `json:"maxRetryCount"` // -1: until it succeeds
	DelayInterval   string `json:"delayInterval"` // fixedDelay
	MinimumInterval string `json:"minimumInterval"`
	MaximumInterval string `json:"maximumInterval"`
}

type functionJSON struct {
	Retry    *Retry `json:"retry"`
	Bindings []struct {
		Type      string   `json:"type"`
		Direction string   `json:"direction"`
		Name      string   `json:"name"`
		Route     string   `json:"route"`
		Methods   []string `json:"methods"`
		AuthLevel string   `json:"authLevel"`
		Schedule  string   `json:"schedule"`
	} `json:"bindings"`
}

// LoadDefs reads every <name>/function.json in fsys.
func LoadDefs(fsys fs.FS) (map[string]Def, error) {
	files, err := fs.Glob(fsys, "*/function.json")
	if err != nil {
		return nil, err
	}
	defs := map[string]Def{}
	for _, f := range files {
		raw, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		var fj functionJSON
		if err := json.Unmarshal(raw, &fj); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		d := Def{Name: path.Dir(f), Retry: fj.Retry}
		for _, b := range fj.Bindings {
			if b.Direction != "in" || !strings.HasSuffix(b.Type, "Trigger") {
				continue
			}
			if d.Trigger != "" {
				return nil, fmt.Errorf("%s: more than one trigger", f)
			}
			d.Trigger, d.Binding, d.Route, d.AuthLevel, d.Schedule = b.Type, b.Name, b.Route, b.AuthLevel, b.Schedule
			for _, m := range b.Methods {
				d.Methods = append(d.Methods, strings.ToUpper(m))
			}
			sort.Strings(d.Methods)
		}
		if d.Trigger == "" {
			return nil, fmt.Errorf("%s: no trigger binding", f)
		}
		if d.Trigger == "httpTrigger" && d.Route == "" {
			d.Route = d.Name
		}
		defs[d.Name] = d
	}
	return defs, nil
}
