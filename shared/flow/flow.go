// Package flow is apiguard's application layer: the flows every entry point runs.
//
//   - an alert body in: incidents, decisions, desired blocks, reconcile requests (alerts.go);
//   - a log batch in: records, set-aside reasons, findings, decisions (traffic.go);
//   - a change of the desired state: the targets that must reconcile, and the
//     reconcile itself (targets.go);
//   - the expiry sweep and the periodic repair (expire.go).
//
// It is the one place that wires the domain packages together. The Functions host, the
// standalone server and the offline commands all call the same App, online over Table
// Storage and Service Bus, offline over in-memory parts, so they cannot disagree.
// Nothing here knows about the host's envelopes or HTTP routing.
package flow

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/decide"
	"github.com/apiguard/apiguard/shared/detect"
	"github.com/apiguard/apiguard/shared/enforce"
	"github.com/apiguard/apiguard/shared/notify"
	"github.com/apiguard/apiguard/shared/queue"
	"github.com/apiguard/apiguard/shared/record"
)

// Store is the state the flows keep: *record.Store in Table Storage online,
// *record.Memory offline. Each flow uses a part of it.
type Store interface {
	Incidents
	Blocks
	Offences
	Trail
	Allow
	Records
	Runs
}

// Allow keeps the allow-list entries operators add.
type Allow interface {
	PutAllow(ctx context.Context, e record.AllowEntry) error
	ListAllow(ctx context.Context) ([]record.AllowEntry, error)
	DeleteAllow(ctx context.Context, prefix string) (bool, error)
}

// Records keeps what health reads: per-kind records and hourly counters.
type Records interface {
	MergeHealth(ctx context.Context, kind, name string, fn func(cur *record.HealthRecord) (*record.HealthRecord, error)) (record.HealthRecord, bool, error)
	ListHealth(ctx context.Context, kind string) ([]record.HealthRecord, error)
	AddCount(ctx context.Context, name string, at time.Time, n int64) error
	SumCounts(ctx context.Context, name string, from, to time.Time) (int64, error)
}

// Trail keeps the audit trail.
type Trail interface {
	enforce.Auditor
	ListAudit(ctx context.Context, from, to time.Time) ([]record.AuditEvent, error)
}

// Incidents keeps incidents and their decisions.
type Incidents interface {
	GetIncident(ctx context.Context, id string, eventTime time.Time) (record.IncidentRecord, bool, error)
	PutIncident(ctx context.Context, rec record.IncidentRecord) error
	ClaimIncident(ctx context.Context, rec record.IncidentRecord, now time.Time) (record.IncidentRecord, bool, error)
	PutDecisions(ctx context.Context, recs []record.DecisionRecord) error
	ListDecisions(ctx context.Context, incidentID string, eventTime time.Time) ([]record.DecisionRecord, error)
	UpdateDecision(ctx context.Context, incidentID string, eventTime time.Time, index int, fn func(cur *record.DecisionRecord) (*record.DecisionRecord, error)) (record.DecisionRecord, bool, error)
	ListDecisionsByStatus(ctx context.Context, q record.DecisionQuery) ([]record.DecisionRecord, string, error)
	LocateIncident(ctx context.Context, id string) (time.Time, bool, error)
	ListIncidents(ctx context.Context, q record.IncidentQuery) ([]record.IncidentRecord, string, error)
}

// Blocks keeps the desired blocks the reconcilers enforce.
type Blocks interface {
	GetBlock(ctx context.Context, action, target string) (record.Block, bool, error)
	MergeBlock(ctx context.Context, action, target string, fn func(cur *record.Block) (*record.Block, error)) (record.Block, bool, error)
	ListBlocks(ctx context.Context, action string) ([]record.Block, error)
	ListExpiredBlocks(ctx context.Context, action string, now time.Time) ([]record.Block, error)
	DeleteBlock(ctx context.Context, b record.Block) error
}

// Offences keeps what escalation and the hourly cap remember.
type Offences interface {
	AddOffence(ctx context.Context, o record.Offence) error
	CountOffences(ctx context.Context, target string, since time.Time, excludeIncident string) (int, error)
	Reserve(ctx context.Context, bucket, key string, limit int) (bool, error)
	RevertOffences(ctx context.Context, target, incidentID string) (int, error)
}

var (
	_ Store = (*record.Store)(nil)
	_ Store = (*record.Memory)(nil)
)

// Sender carries reconcile requests to the one writer per target: Service Bus sessions
// under the Functions host, queue.Memory in serve.
type Sender interface {
	Send(ctx context.Context, msgs []queue.Message) error
}

// ARMFactory returns the credential and client options for a resource id. Tests point
// it at the SDK's fake servers; nil means managed identity and the SDK's defaults.
type ARMFactory func(resourceID string) (azcore.TokenCredential, *arm.ClientOptions, error)

// Deps are what an App runs on.
type Deps struct {
	Config *config.Config
	// Store keeps incidents, decisions, desired blocks, offences and the audit.
	Store Store
	// Detect keeps the detectors' per-key state: record's Table state online,
	// detect.MemoryStore offline.
	Detect detect.Store
	// Queue carries reconcile requests; nil sends none (the offline commands).
	Queue Sender
	// Now is the clock: the wall clock online, event time in replay.
	Now func() time.Time
	// ARM reaches Azure Resource Manager for the WAF and APIM targets.
	ARM ARMFactory
	// Sleep waits between reconcile attempts; nil is a real timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Notify announces changes (blocks, pending decisions, health); nil announces
	// nothing.
	Notify notify.Notifier
	// DeadLetters counts dead-lettered reconcile and traffic messages for health; nil
	// when no Service Bus namespace is configured.
	DeadLetters DeadLetters
	// Onboard puts an API under Defender for APIs when an operator approves the
	// triage's proposal; nil refuses such approvals.
	Onboard Onboarder
	// Inventory reads the API inventory for the monthly triage; nil: no triage.
	Inventory Inventory
	// Log is the logger of construction and of the detector engine; the operations
	// take the invocation's logger.
	Log zerolog.Logger
}

// App runs the flows over its dependencies.
type App struct {
	cfg      *config.Config
	now      func() time.Time
	store    Store
	decider  *decide.Engine
	detector *detect.Engine
	queue    Sender
	targets  *targets
	notify   notify.Notifier

	deadLetters DeadLetters
	onboard     Onboarder
	inventory   Inventory
	// watching is set once this process has recorded the start of its traffic evidence.
	watching atomic.Bool
}

// Onboarder onboards one API Management API to Defender for APIs.
type Onboarder interface {
	Onboard(ctx context.Context, apiID string) error
}

// New builds an App. It validates what it is given and builds every client, but does
// no I/O: the Functions host restarts a handler that is slow to start.
func New(d Deps) (*App, error) {
	if d.Config == nil || d.Store == nil || d.Detect == nil {
		return nil, errors.New("flow: Config, Store and Detect are required")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	dc, err := DetectConfig(d.Config)
	if err != nil {
		return nil, err
	}
	detector, err := detect.NewEngine(dc, d.Detect, d.Log)
	if err != nil {
		return nil, fmt.Errorf("detector: %w", err)
	}
	a := &App{
		cfg: d.Config, now: d.Now, store: d.Store, queue: d.Queue, detector: detector, notify: d.Notify, deadLetters: d.DeadLetters, onboard: d.Onboard,
		inventory: d.Inventory,
		decider:   decide.New(d.Config, history{d.Store, d.Now}, d.Now),
	}
	if a.targets, err = newTargets(d.Config, d.Store, d.ARM, d.Now, d.Sleep); err != nil {
		return nil, err
	}
	return a, nil
}

// SetQueue sets where reconcile requests go once the App exists: serve's in-process
// queue is built over the App's own Reconcile.
func (a *App) SetQueue(q Sender) { a.queue = q }

// DetectConfig reads the detector thresholds from APIGUARD_DETECT_CONFIG (defaults when
// empty) and validates them, so a bad threshold is reported at start-up.
func DetectConfig(cfg *config.Config) (*detect.Config, error) {
	if cfg.DetectConfig == "" {
		dc := detect.DefaultConfig()
		return &dc, nil
	}
	dc, err := detect.ParseConfig([]byte(cfg.DetectConfig))
	if err != nil {
		return nil, fmt.Errorf("APIGUARD_DETECT_CONFIG: %w", err)
	}
	return dc, nil
}

// history is what the decision engine remembers, read from the store: offences, the
// hourly cap, and the operators' allow-list entries.
type history struct {
	s   Store
	now func() time.Time
}

var _ decide.AllowList = history{}

func (h history) Offences(ctx context.Context, target string, since time.Time, exclude string) (int, error) {
	return h.s.CountOffences(ctx, target, since, exclude)
}

func (h history) Reserve(ctx context.Context, bucket, key string, limit int) (bool, error) {
	return h.s.Reserve(ctx, bucket, key, limit)
}

// Allowed is the operators' allow-list entries that have not expired.
func (h history) Allowed(ctx context.Context) ([]decide.Allowed, error) {
	all, err := h.s.ListAllow(ctx)
	if err != nil {
		return nil, fmt.Errorf("allow-list: %w", err)
	}
	now := h.now()
	var out []decide.Allowed
	for _, e := range all {
		if !e.Expires.IsZero() && !e.Expires.After(now) {
			continue
		}
		p, err := netip.ParsePrefix(e.Prefix)
		if err != nil {
			continue // the store keeps canonical prefixes only
		}
		why := "by " + e.Actor
		if !e.Expires.IsZero() {
			why += " until " + e.Expires.UTC().Format(time.RFC3339)
		}
		out = append(out, decide.Allowed{Prefix: p, Why: why + ": " + e.Reason})
	}
	return out, nil
}
