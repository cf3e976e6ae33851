// Package triagetest holds the monthly triage's test scenario: about 30 APIs across two
// API Management services, programmed into the Azure SDK's official fakes
// (armapimanagement/v3/fake, armsecurity/fake, armmonitor/fake) behind one routing
// Transporter, with apiguard's own last-seen times; and, for each scenario, the
// expected rank, rules and key signals of every API (testdata/*.json), derived from the
// risk table and the rules independently of any classification code.
//
// Scenario is the first month; ScenarioNextMonth the same estate a month later with the
// changes the report must tell (a new API, a removed one, authentication added and
// lost, an API newly inactive, a finding resolved).
package triagetest

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/apiguard/apiguard/shared/enforce/azureapim"
	"github.com/apiguard/apiguard/shared/triage"
	"github.com/apiguard/apiguard/shared/triage/collect"
)

// World is a fake Azure estate: what ARM would answer for it, and apiguard's own
// evidence. Change it before the first request; its Transport reads it as it is then.
type World struct {
	Name          string
	Collected     time.Time
	WatchingSince time.Time
	// Scopes are the collector's scopes (subscriptions and service ids).
	Scopes []string
	// SensitiveTags is the APIGUARD_TRIAGE_SENSITIVE_TAGS the expected data assumes.
	SensitiveTags []string
	Services      []*Service
	// Assessments are Defender's assessments by subscription id (lower case), in the
	// order the list answers them.
	Assessments map[string][]Assessment
	// Seen is apiguard's last-seen per operation, keyed as the detectors key it
	// ("<api> <METHOD> <request path template>").
	Seen map[string]time.Time
	// Faults answer a path (lower case, no query) with an ARM error, every time.
	Faults map[string]Fault
	// PageSize splits lists into pages (nextLink), as ARM does.
	PageSize int

	mu   sync.Mutex
	next []nextFault
}

// Fault is an ARM error answer.
type Fault struct {
	Status  int
	Code    string
	Message string
}

type nextFault struct {
	match string
	n     int
	fault Fault
}

// Service is one API Management instance.
type Service struct {
	Subscription, ResourceGroup, Name string
	SKU                               string // Premium, StandardV2, ...
	Network                           string // virtualNetworkType: None, External, Internal
	Global                            string // the global policy ("" none)
	Products                          []*Product
	APIs                              []*API
	// Load is the gateway load metric's data points (maxima) over the last hour:
	// Capacity on classic tiers, CpuPercent_Gateway on v2 tiers.
	Load []float64
}

// Product is an APIM product.
type Product struct {
	Name, DisplayName    string
	State                string // published or notPublished
	SubscriptionRequired bool
	Policy               string
	APIs                 []string
}

// API is an APIM API revision. A non-current revision has Name "{api};rev={n}".
type API struct {
	Name, DisplayName, Path string
	Revision                string
	NotCurrent              bool
	SubscriptionRequired    bool
	Protocols               []string
	VersionSetID, Version   string
	Tags                    []string
	Policy                  string
	Operations              []*Operation
	// Defender is the API's collection in Defender for APIs (nil: not onboarded).
	Defender *triage.Collection
}

// Operation is an APIM operation.
type Operation struct {
	Name, DisplayName, Method, URLTemplate, Policy string
}

// Assessment is one Defender assessment of one resource.
type Assessment struct {
	Key, Resource, Status string
}

// ID is the service's resource id.
func (s *Service) ID() string {
	return azureapim.Service{Subscription: s.Subscription, ResourceGroup: s.ResourceGroup, Name: s.Name}.String()
}

// API returns the API (revision) named name, or nil.
func (s *Service) API(name string) *API {
	for _, a := range s.APIs {
		if strings.EqualFold(a.Name, name) {
			return a
		}
	}
	return nil
}

// Product returns the product named name, or nil.
func (s *Service) Product(name string) *Product {
	for _, p := range s.Products {
		if strings.EqualFold(p.Name, name) {
			return p
		}
	}
	return nil
}

// Service returns the service named name, or nil.
func (w *World) Service(name string) *Service {
	for _, s := range w.Services {
		if strings.EqualFold(s.Name, name) {
			return s
		}
	}
	return nil
}

// FailNext answers the next n requests whose path (lower case) contains match with an
// ARM error, before any other answer: a throttle or an outage.
func (w *World) FailNext(match string, n, status int, code string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.next = append(w.next, nextFault{match: strings.ToLower(match), n: n,
		fault: Fault{Status: status, Code: code, Message: "triagetest: programmed failure"}})
}

func (w *World) takeNext(path string) (Fault, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range w.next {
		if w.next[i].n > 0 && strings.Contains(path, w.next[i].match) {
			w.next[i].n--
			return w.next[i].fault, true
		}
	}
	return Fault{}, false
}

// ClientOptions wire the SDK clients to the world: its Transport, and azcore's retry
// policy as in production but for a 1 ms delay.
func (w *World) ClientOptions() *arm.ClientOptions {
	return &arm.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: w.Transport(),
		Retry:     policy.RetryOptions{RetryDelay: time.Millisecond, MaxRetryDelay: 10 * time.Millisecond},
	}}
}

// Options are the collector's options for the world, its clock at Collected.
func (w *World) Options() collect.Options {
	at := w.Collected
	return collect.Options{
		Scopes:        append([]string(nil), w.Scopes...),
		Credential:    &azfake.TokenCredential{},
		ClientOptions: w.ClientOptions(),
		LastSeen:      seenMap(w.Seen),
		WatchingSince: w.WatchingSince,
		Now:           func() time.Time { return at },
		// The fakes answer at once; ARM's pacing has nothing to protect here.
		ReadsPerSecond: -1,
	}
}

// seenMap is apiguard's evidence as the detector state answers it.
type seenMap map[string]time.Time

func (m seenMap) OperationLastSeen(context.Context) (map[string]time.Time, error) {
	out := make(map[string]time.Time, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out, nil
}

var _ collect.LastSeen = seenMap(nil)

// Subscriptions lists the subscriptions the world has services or assessments in.
func (w *World) subscriptions() []string {
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if !seen[strings.ToLower(s)] {
			seen[strings.ToLower(s)] = true
			out = append(out, strings.ToLower(s))
		}
	}
	for _, s := range w.Services {
		add(s.Subscription)
	}
	for s := range w.Assessments {
		add(s)
	}
	return out
}

// fault is the programmed answer to path, if any.
func (w *World) fault(path string) (Fault, bool) {
	if f, ok := w.takeNext(path); ok {
		return f, true
	}
	f, ok := w.Faults[path]
	return f, ok
}
