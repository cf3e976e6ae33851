// Package collect reads the API Management inventory the monthly triage ranks: for every
// service in scope its APIs (current revisions), products, operations, tags and the
// policies at every scope as raw XML; Defender for APIs' collections and its two API
// assessments; the gateway's load; and apiguard's own last-seen times.
//
// Every ARM read goes through one seam, the SDK transport (policy.Transporter in
// Options.ClientOptions): a Recorder keeps what was read and writes it as a snapshot
// folder, Snapshot answers the same reads from that folder, so the same collector runs
// offline and gives the same Inventory. docs/triage.md lists every read.
//
// What cannot be read becomes a triage.Gap that says what the report does without it;
// a transient fault (429, 5xx after the SDK's retries, a network fault, a call past its
// deadline) fails the whole run so the timer retries it.
package collect

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"

	"github.com/apiguard/apiguard/shared/enforce/azureapim"
	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/triage"
)

// Defaults of Options.
const (
	DefaultCallTimeout     = 60 * time.Second
	DefaultMaxBody         = 32 << 20
	DefaultMaxPages        = 500
	DefaultMaxPolicyFaults = 5
	DefaultConcurrency     = 8
	// DefaultReadsPerSecond is half of ARM's read refill rate per subscription.
	DefaultReadsPerSecond = 12
)

// LastSeen is apiguard's own evidence of traffic: the last time (event time) it saw each
// API operation. *record.DetectStates satisfies it. A key is either
//
//	"<api name> <METHOD> <template>"  as the detectors keep it (record.OperationLastSeen):
//	                                  the gateway log's API id, the method, and the request
//	                                  path with id-like segments replaced by {id};
//	"<API or operation resource id>"  (starting with /subscriptions/), as a snapshot's
//	                                  apiguard/last-seen.json holds it.
//
// The collector attributes the first kind to APIs by name and to operations by method
// and URL template (see docs/triage.md); the second kind by id.
type LastSeen interface {
	OperationLastSeen(ctx context.Context) (map[string]time.Time, error)
}

// Options say what to read and how.
type Options struct {
	// Scopes are subscription ids ("/subscriptions/{id}" or the bare id: every APIM
	// service in it) and APIM service resource ids.
	Scopes []string
	// Credential authorizes every read (Reader and Security Reader on the scopes).
	Credential azcore.TokenCredential
	// ClientOptions configure every SDK client. Its Transport is the read seam: nil is
	// HTTPS to ARM; a Recorder records; Snapshot replays; tests put fakes there.
	ClientOptions *arm.ClientOptions
	// LastSeen is apiguard's own last-seen per operation; nil means none (a gap says so).
	LastSeen LastSeen
	// WatchingSince is when apiguard's traffic evidence starts (zero: none).
	WatchingSince time.Time
	// Now is the clock that stamps Inventory.Collected and ends the metric's hour
	// (default time.Now). An offline run uses the snapshot's time.
	Now func() time.Time
	// Stats, when set, receives the count of ARM requests made (retries included).
	Stats *Stats
	// CallTimeout bounds each request or page, retries included (default 60 s).
	CallTimeout time.Duration
	// MaxBody bounds one response body (default 32 MiB); a larger one is a gap.
	MaxBody int64
	// MaxPages bounds one list (default 500 pages); a longer one is a gap.
	MaxPages int
	// MaxPolicyFaults is how many policies may answer 5xx (after the SDK's retries) and
	// be reported unread; one more fails the run as transient (default 5).
	MaxPolicyFaults int
	// Concurrency bounds the requests in flight (default 8).
	Concurrency int
	// ReadsPerSecond paces the requests (default DefaultReadsPerSecond; negative: no
	// pacing, for tests and snapshots). ARM refills a subscription's read budget at
	// about 25 a second: a large inventory (one GET per operation policy) read at full
	// speed would spend it all and throttle everything else the subscription runs.
	ReadsPerSecond float64
}

// Stats counts the ARM requests one run made, retries included, by the SDK method that
// made them ("APIClient.NewListByServicePager").
type Stats struct {
	Calls  int            `json:"calls"`
	ByKind map[string]int `json:"byKind"`
}

func (o *Options) setDefaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.MaxPages <= 0 {
		o.MaxPages = DefaultMaxPages
	}
	if o.MaxPolicyFaults <= 0 {
		o.MaxPolicyFaults = DefaultMaxPolicyFaults
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.ReadsPerSecond == 0 {
		o.ReadsPerSecond = DefaultReadsPerSecond
	}
}

// scopes is Options.Scopes read: subscriptions to list and services to get.
type scopes struct {
	subscriptions []string
	services      []azureapim.Service
}

// validate reads the scopes and checks what a run needs, naming everything wrong.
func (o *Options) validate() (scopes, error) {
	var sc scopes
	var problems []string
	if o.Credential == nil {
		problems = append(problems, "credential: missing")
	}
	if len(o.Scopes) == 0 {
		problems = append(problems, "scopes: none (give subscription ids or APIM service resource ids)")
	}
	seenSub := map[string]bool{}
	seenSvc := map[string]bool{}
	for _, s := range o.Scopes {
		sub, svc, err := parseScope(s)
		switch {
		case err != nil:
			problems = append(problems, err.Error())
		case sub != "" && !seenSub[strings.ToLower(sub)]:
			seenSub[strings.ToLower(sub)] = true
			sc.subscriptions = append(sc.subscriptions, sub)
		case svc != nil && !seenSvc[strings.ToLower(svc.String())]:
			seenSvc[strings.ToLower(svc.String())] = true
			sc.services = append(sc.services, *svc)
		}
	}
	if len(problems) > 0 {
		return scopes{}, fault.Invalid("collect", "%s", strings.Join(problems, "; "))
	}
	return sc, nil
}

// parseScope reads "/subscriptions/{id}", a bare subscription id, or a service id.
func parseScope(s string) (sub string, svc *azureapim.Service, err error) {
	t := strings.TrimSuffix(strings.TrimSpace(s), "/")
	segs := strings.Split(strings.TrimPrefix(t, "/"), "/")
	switch {
	case len(segs) == 1 && !strings.HasPrefix(t, "/"):
		if !isGUID(segs[0]) {
			return "", nil, fmt.Errorf("scope %q: a subscription id is a GUID", s)
		}
		return segs[0], nil, nil
	case len(segs) == 2 && strings.EqualFold(segs[0], "subscriptions"):
		if !isGUID(segs[1]) {
			return "", nil, fmt.Errorf("scope %q: a subscription id is a GUID", s)
		}
		return segs[1], nil, nil
	}
	v, perr := azureapim.ParseServiceID(t)
	if perr != nil {
		return "", nil, fmt.Errorf("scope %q: neither a subscription id nor an APIM service id (%v)", s, perr)
	}
	return "", &v, nil
}

// isGUID reports whether s has a GUID's shape (8-4-4-4-12 hex digits).
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
				return false
			}
		}
	}
	return true
}

// safeName reports whether a name read from ARM (or a scope) can stand as one path
// segment: non-empty, bounded, no slash, backslash, percent or control character, not
// "." or "..".
func safeName(n string) bool {
	if n == "" || n == "." || n == ".." || len(n) > 256 {
		return false
	}
	return !strings.ContainsFunc(n, func(r rune) bool {
		return r == '/' || r == '\\' || r == '%' || r == '?' || r == '#' || r < 0x20 || r == 0x7f
	})
}

// Collect reads the inventory of every API Management service in scope. Gaps are in the
// Inventory; the error is a rejection for bad Options or a refused snapshot, a transient
// fault (fault.Transient) when ARM failed in a way a later run may not, or the context's.
func Collect(ctx context.Context, o Options) (triage.Inventory, error) {
	o.setDefaults()
	sc, err := o.validate()
	if err != nil {
		return triage.Inventory{}, err
	}
	c := newCollector(o)
	defer c.publishStats()
	inv, err := c.run(ctx, sc)
	if err != nil {
		return triage.Inventory{}, err
	}
	return inv, nil
}

// gapList is the gaps found, in any order, from many goroutines.
type gapList struct {
	mu   sync.Mutex
	gaps []triage.Gap
}

func (g *gapList) add(scope, what, errText, effect string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gaps = append(g.gaps, triage.Gap{Scope: scope, What: what, Error: errText, Effect: effect})
}

func (g *gapList) sorted() []triage.Gap {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := slices.Clone(g.gaps)
	slices.SortFunc(out, func(a, b triage.Gap) int {
		if c := strings.Compare(strings.ToLower(a.Scope), strings.ToLower(b.Scope)); c != 0 {
			return c
		}
		return strings.Compare(a.What, b.What)
	})
	return out
}

// errFatal marks an error that ends the run as it is (not a gap).
var errFatal = errors.New("fatal")

// Collector is Collect with its Options bound: what the app layer's triage reads
// (flow.Inventory).
type Collector struct{ Options Options }

// Collect reads the inventory with c.Options.
func (c Collector) Collect(ctx context.Context) (triage.Inventory, error) {
	return Collect(ctx, c.Options)
}
