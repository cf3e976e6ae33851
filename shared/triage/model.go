// Package triage turns the API Management inventory into a ranked, explained worklist
// each month: the collector reads every API with its products, operations, tags and
// policies, Defender for APIs' view of it and apiguard's own last-seen times
// (collect/); classification ranks each API by the Defender for APIs risk table with
// the signals that decided it and where each came from; the report compares with last
// month and proposes remediations that an operator approves (report/ renders it).
//
// The model here is the contract between those parts: the collector fills an
// Inventory, classification reads only the Inventory, and the report reads only the
// Classification. Nothing in the model is read from the wall clock: ages are judged
// against Inventory.Collected.
package triage

import "time"

// Inventory is everything the collector read: the facts the ranks rest on.
type Inventory struct {
	// Collected is when the collector read it; every age is judged against it.
	Collected time.Time `json:"collected"`
	// WatchingSince is when apiguard's own traffic evidence starts (zero: it has seen
	// no traffic): an API idle for 90 days needs evidence that goes back 90 days.
	WatchingSince time.Time `json:"watchingSince,omitzero"`
	Services      []Service `json:"services"`
	Gaps          []Gap     `json:"gaps,omitempty"`
}

// Gap is something the collector could not read, and what that changes: the report
// says it rather than rank on a silent hole.
type Gap struct {
	// Scope is the subscription, service or API resource id the gap is in.
	Scope string `json:"scope"`
	// What was not read: "service", "Defender for APIs collections", "assessments",
	// "policy of apis/orders", "Capacity metric".
	What  string `json:"what"`
	Error string `json:"error"`
	// Effect says what the report does without it: "authentication inferred from APIM
	// only", "external inferred from the network mode".
	Effect string `json:"effect"`
}

// Service is one API Management service in scope.
type Service struct {
	ID            string `json:"id"` // ARM resource id
	Name          string `json:"name"`
	Subscription  string `json:"subscription"`
	ResourceGroup string `json:"resourceGroup"`
	SKU           string `json:"sku,omitempty"`
	// Network is virtualNetworkType: None (no VNet: public), External (VNet with a
	// public endpoint) or Internal (reachable only inside the VNet); "" unread.
	Network string `json:"network,omitempty"`
	// Defender says what is known of Defender for APIs on this service.
	Defender DefenderState `json:"defender"`
	// Global is the service-wide policy (Found false: none).
	Global   Policy    `json:"global"`
	Products []Product `json:"products"`
	APIs     []API     `json:"apis"`
	// Capacity is the gateway's load (percent, the last hour's maximum of the
	// Capacity metric, or CpuPercent_Gateway on v2 tiers); nil when unread.
	Capacity *float64 `json:"capacity,omitempty"`
}

// DefenderState is what the collector learnt of Defender for APIs on a service.
type DefenderState struct {
	// Collections is true when the API collections of the service were read (an
	// empty list then means no API is onboarded).
	Collections bool `json:"collections"`
	// Assessments is true when the two API assessments were read.
	Assessments bool `json:"assessments"`
	// PlanOff is true when Defender for APIs is not enabled on the subscription.
	PlanOff bool `json:"planOff,omitempty"`
}

// Product is an APIM product: how consumers get keys to APIs.
type Product struct {
	Name                 string `json:"name"`
	DisplayName          string `json:"displayName,omitempty"`
	State                string `json:"state"` // published or notPublished
	SubscriptionRequired bool   `json:"subscriptionRequired"`
	Policy               Policy `json:"policy"`
	// APIs names the APIs (APIM API names) the product holds.
	APIs []string `json:"apis"`
}

// API is one APIM API (the current revision unless said otherwise).
type API struct {
	ID          string   `json:"id"`   // ARM resource id
	Name        string   `json:"name"` // APIM API name; a non-current revision adds ";rev=n"
	DisplayName string   `json:"displayName,omitempty"`
	Path        string   `json:"path"`
	Protocols   []string `json:"protocols,omitempty"`
	Revision    string   `json:"revision,omitempty"`
	IsCurrent   bool     `json:"isCurrent"`
	IsOnline    bool     `json:"isOnline"`
	// SubscriptionRequired is the API's own setting: false means the gateway takes
	// calls without a key whatever the products say.
	SubscriptionRequired bool        `json:"subscriptionRequired"`
	VersionSetID         string      `json:"versionSetId,omitempty"`
	Tags                 []string    `json:"tags,omitempty"`
	Products             []string    `json:"products,omitempty"` // product names holding it
	Policy               Policy      `json:"policy"`
	Operations           []Operation `json:"operations"`
	// Defender is the API's collection in Defender for APIs; nil when the API is not
	// onboarded (or Defender was not read: see the service's DefenderState).
	Defender *Collection `json:"defender,omitempty"`
	// Assessments are Defender's per-operation assessments of this API.
	Assessments []Assessment `json:"assessments,omitempty"`
	// LastSeen is apiguard's own last sighting of traffic to the API (zero: never
	// seen since WatchingSince).
	LastSeen time.Time `json:"lastSeen,omitzero"`
}

// Operation is one operation of an API.
type Operation struct {
	Name        string `json:"name"`
	DisplayName string `json:"displayName,omitempty"`
	Method      string `json:"method"`
	URLTemplate string `json:"urlTemplate"`
	Policy      Policy `json:"policy"`
	// LastSeen is apiguard's own last sighting of the operation.
	LastSeen time.Time `json:"lastSeen,omitzero"`
}

// Policy is one scope's policy document as stored (rawxml), never re-serialized.
type Policy struct {
	// Found is false when the scope has no policy of its own (it inherits).
	Found bool `json:"found"`
	// XML is the document as the service returned it. Most real policies are not
	// well-formed XML (raw C# in attributes): read it with the tolerant scanner of
	// shared/apim/include, never a strict XML parser.
	XML string `json:"xml,omitempty"`
	// Unread is set when the policy could not be read (see the inventory's gaps).
	Unread bool `json:"unread,omitempty"`
}

// Collection is Defender for APIs' view of one onboarded API: counts over its
// endpoints (operations) for the last 30 days.
type Collection struct {
	ProvisioningState string `json:"provisioningState,omitempty"`
	Endpoints         int    `json:"endpoints"`
	Inactive          int    `json:"inactive"`        // no traffic in 30 days
	Unauthenticated   int    `json:"unauthenticated"` // traffic without authentication observed
	External          int    `json:"external"`        // internet traffic observed
	SensitiveData     int    `json:"sensitiveData"`   // sensitive data exposed
	SensitivityLabel  string `json:"sensitivityLabel,omitempty"`
}

// Assessment is one Defender assessment of one API operation.
type Assessment struct {
	// Key is the assessment's name: AssessmentAuthenticated or AssessmentUnused.
	Key       string `json:"key"`
	Operation string `json:"operation"` // the APIM operation's resource id
	Status    string `json:"status"`    // Healthy, Unhealthy or NotApplicable
}

// The two documented API assessments of Defender for APIs.
const (
	AssessmentAuthenticated = "91af2040-7874-4659-abf0-578e1f8d07dc" // API endpoints in APIM should be authenticated
	AssessmentUnused        = "4e8c00a2-e8bc-42a8-9e12-99584a51ad10" // unused API endpoints should be disabled (30 days)
)

// Priority is a rank of the risk table.
type Priority string

const (
	P0           Priority = "P0"           // this week: external and unauthenticated, or external and sensitive
	P1           Priority = "P1"           // this month: external and authenticated
	P2           Priority = "P2"           // this quarter: internal and sensitive
	P3           Priority = "P3"           // monitor only: internal and not sensitive
	Decommission Priority = "Decommission" // inactive for more than 90 days
)

// Priorities lists the ranks, most urgent first.
func Priorities() []Priority { return []Priority{P0, P1, P2, P3, Decommission} }

// Signal is one fact a rank rests on, with where it came from.
type Signal struct {
	// Name is external, authenticated, sensitive or inactive.
	Name string `json:"name"`
	// Value is the signal's answer; Known is false when nothing could tell (the rank
	// then takes the cautious side and says so).
	Value bool `json:"value"`
	Known bool `json:"known"`
	// Inferred is true when the value is inferred rather than observed (external from
	// the network mode without Defender data).
	Inferred bool `json:"inferred,omitempty"`
	// Source says where the value came from, readably: "Defender: 3 of 12 endpoints
	// saw internet traffic", "validate-jwt in the global policy reaches every operation".
	Source string `json:"source"`
}

// Ranked is one API's place in the worklist.
type Ranked struct {
	API         string   `json:"api"` // resource id
	Name        string   `json:"name"`
	DisplayName string   `json:"displayName,omitempty"`
	Service     string   `json:"service"` // service name
	Priority    Priority `json:"priority"`
	// Rules names every rule of the table that holds ("external+unauthenticated",
	// "external+sensitive", ...): both P0 rules are shown when both hold.
	Rules []string `json:"rules"`
	// Candidate marks an API idle for 30 days whose evidence does not yet reach 90
	// days: reported as a Decommission candidate, not ranked Decommission.
	Candidate bool     `json:"candidate,omitempty"`
	Signals   []Signal `json:"signals"`
	// Reason is the rank in one sentence, from the signals.
	Reason          string           `json:"reason"`
	Recommendations []Recommendation `json:"recommendations,omitempty"`
	// Onboarded is false for an API Defender for APIs does not cover.
	Onboarded bool `json:"onboarded"`
}

// Recommendation is a remediation proposed for an API, never applied by itself.
type Recommendation struct {
	// Kind is require-subscription, validate-jwt, rate-limit, deprecate or onboard.
	Kind string `json:"kind"`
	Text string `json:"text"`
	// Snippet is the policy to add, where there is one.
	Snippet string `json:"snippet,omitempty"`
	// Enforceable recommendations become pending decisions (rate-limit through the
	// owned fragment, Defender onboarding); the others are advice.
	Enforceable bool `json:"enforceable,omitempty"`
	// Operations names the operations it is for (rate-limit), when not the whole API.
	Operations []string `json:"operations,omitempty"`
}

// Change is one difference from last month.
type Change struct {
	API  string `json:"api"`
	Name string `json:"name"`
	// Kind is new, removed, rose, fell, newly-inactive or resolved.
	Kind string   `json:"kind"`
	From Priority `json:"from,omitempty"`
	To   Priority `json:"to,omitempty"`
	// Signal names the signal whose change moved the rank ("authenticated: false -> true").
	Signal string `json:"signal,omitempty"`
}

// Classification is one run's result: the report's content.
type Classification struct {
	// Month is the run's month, "2026-12".
	Month     string    `json:"month"`
	Collected time.Time `json:"collected"`
	// APIs are ranked, most urgent first; with more than 50 findings (P0 to P2)
	// external and sensitive APIs lead.
	APIs    []Ranked         `json:"apis"`
	Counts  map[Priority]int `json:"counts"`
	Changes []Change         `json:"changes,omitempty"`
	// Previous is the month compared with ("" for the first run).
	Previous string `json:"previous,omitempty"`
	Gaps     []Gap  `json:"gaps,omitempty"`
	// Coverage lists the APIs Defender for APIs does not cover and the onboarding plan.
	Coverage Coverage `json:"coverage"`
}

// Coverage is Defender for APIs' coverage and the gradual plan to complete it.
type Coverage struct {
	NotOnboarded []string `json:"notOnboarded"` // API resource ids
	// Batches are the onboarding plan: a few APIs at a time, heaviest traffic last.
	Batches [][]string `json:"batches,omitempty"`
	// Next is the batch proposed this run (pending decisions); empty with Waiting
	// saying why (the service's capacity is too high, the plan is off).
	Next    []string `json:"next,omitempty"`
	Waiting string   `json:"waiting,omitempty"`
}
