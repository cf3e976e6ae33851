package handlers

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/decide"
	"github.com/apiguard/apiguard/shared/detect"
	"github.com/apiguard/apiguard/shared/enforce"
	"github.com/apiguard/apiguard/shared/enforce/azure"
	"github.com/apiguard/apiguard/shared/enforce/azureapim"
	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/queue"
	"github.com/apiguard/apiguard/shared/record"
	"github.com/apiguard/apiguard/shared/respond"
	"github.com/apiguard/apiguard/shared/waf"
)

// App holds what the handlers share. Clients are created on first use, never at
// start-up: the Functions host restarts a handler that is not listening within 30 s.
type App struct {
	Config *config.Config
	Log    zerolog.Logger
	Now    func() time.Time

	// Queue carries reconcile requests to the one writer per policy: Service Bus under
	// the Functions host, queue.Memory in serve. Nil sends nothing.
	Queue queue.Sender
	// ARM returns the credential and client options for a policy's resource id; nil
	// means managed identity (DefaultAzureCredential) and the SDK defaults. Tests
	// point it at the SDK's fake servers.
	ARM func(resourceID string) (azcore.TokenCredential, *arm.ClientOptions, error)
	// Sleep waits between reconcile attempts; nil is a real timer.
	Sleep func(ctx context.Context, d time.Duration) error

	once    sync.Once
	store   *record.Store
	svc     *respond.Service
	initErr error

	wafOnce sync.Once
	waf     map[string]*enforce.WAFReconciler
	wafErr  error

	apimOnce sync.Once
	apim     map[string]*enforce.APIMReconciler
	apimErr  error

	detectOnce sync.Once
	detector   *detect.Engine
	detectErr  error
}

// New returns an app over a validated configuration.
func New(cfg *config.Config, log zerolog.Logger, now func() time.Time) *App {
	if now == nil {
		now = time.Now
	}
	return &App{Config: cfg, Log: log, Now: now}
}

// Store returns the Table Storage store, created on first use.
func (a *App) Store() (*record.Store, error) {
	_, err := a.Responder()
	return a.store, err
}

// Responder returns the alert and expiry service, creating the store on first use.
func (a *App) Responder() (*respond.Service, error) {
	a.once.Do(func() {
		if err := a.Config.RequireTables(); err != nil {
			a.initErr = err
			return
		}
		opts := record.Options{ConnectionString: a.Config.TablesConnection, TablePrefix: a.Config.TablePrefix}
		if a.Config.TablesURL != "" {
			cred, err := azidentity.NewDefaultAzureCredential(nil)
			if err != nil {
				a.initErr = fmt.Errorf("managed identity for Table Storage: %w", err)
				return
			}
			opts.ServiceURL, opts.Credential = a.Config.TablesURL, cred
		}
		store, err := record.New(opts)
		if err != nil {
			a.initErr = fmt.Errorf("table store: %w", err)
			return
		}
		engine := decide.New(a.Config, respond.History(store), a.Now)
		a.store = store
		a.svc = respond.New(store, engine, a.Now, a)
	})
	return a.svc, a.initErr
}

// DetectConfig reads the detector thresholds from APIGUARD_DETECT_CONFIG (defaults
// when empty) and validates them; serve and the host call it at start-up so a bad
// threshold is reported before the first batch.
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

// Detector returns the traffic detection engine over the Table Storage state, created
// on first use.
func (a *App) Detector() (*detect.Engine, error) {
	a.detectOnce.Do(func() {
		dc, err := DetectConfig(a.Config)
		if err != nil {
			a.detectErr = fault.Rejected(0, err)
			return
		}
		store, err := a.Store()
		if err != nil {
			a.detectErr = err
			return
		}
		a.detector, a.detectErr = detect.NewEngine(dc, store.DetectStates(), a.Log)
	})
	return a.detector, a.detectErr
}

// BlocksChanged asks every enforcement point holding action for a reconcile: the WAF
// targets for block_waf, and the APIM targets whose enforce list names action.
func (a *App) BlocksChanged(ctx context.Context, action, reason string) error {
	if a.Queue == nil {
		return nil
	}
	var msgs []queue.Message
	if action == string(decide.BlockWAF) {
		for _, t := range a.Config.WAFTargets {
			msgs = append(msgs, queue.Message{Target: t.Key(), Reason: reason})
		}
	}
	for _, t := range a.Config.APIMTargets {
		if slices.Contains(t.Enforce, action) {
			msgs = append(msgs, queue.Message{Target: t.Key(), Reason: reason})
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return a.Queue.Send(ctx, msgs)
}

// RequestRepair asks every target for a reconcile: at start-up and on every expire
// run, so owned rules and fragments deleted or edited by someone else come back.
func (a *App) RequestRepair(ctx context.Context, reason string) error {
	if a.Queue == nil {
		return nil
	}
	var msgs []queue.Message
	for _, t := range a.Config.WAFTargets {
		msgs = append(msgs, queue.Message{Target: t.Key(), Reason: reason})
	}
	for _, t := range a.Config.APIMTargets {
		msgs = append(msgs, queue.Message{Target: t.Key(), Reason: reason})
	}
	if len(msgs) == 0 {
		return nil
	}
	return a.Queue.Send(ctx, msgs)
}

// wafReconcilers builds one reconciler per configured WAF target, on first use.
func (a *App) wafReconcilers() (map[string]*enforce.WAFReconciler, error) {
	a.wafOnce.Do(func() {
		store, err := a.Store()
		if err != nil {
			a.wafErr = err
			return
		}
		a.waf = map[string]*enforce.WAFReconciler{}
		for _, t := range a.Config.WAFTargets {
			opts := enforce.WAFOptions(t)
			var backend enforce.Backend
			if t.File != "" {
				backend = enforce.NewFileBackend(t.File, enforce.EmptyWAFPolicy(waf.Kind(t.Kind)))
			} else {
				id, err := azure.ParseResourceID(t.ID)
				if err != nil {
					a.wafErr = err
					return
				}
				cred, copts, err := a.armFor(t.ID)
				if err != nil {
					a.wafErr = err
					return
				}
				if backend, err = azure.NewBackend(id, cred, copts); err != nil {
					a.wafErr = err
					return
				}
			}
			a.waf[t.Key()] = &enforce.WAFReconciler{
				Key: t.Key(), Options: opts, Backend: backend, Desired: store, Audit: store, Now: a.Now, Sleep: a.Sleep,
				Guard: decide.NewGuard(a.Config.AllowList),
			}
		}
	})
	return a.waf, a.wafErr
}

func (a *App) armFor(id string) (azcore.TokenCredential, *arm.ClientOptions, error) {
	if a.ARM != nil {
		return a.ARM(id)
	}
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, nil, fmt.Errorf("managed identity for %s: %w", id, err)
	}
	return cred, nil, nil
}

// Reconcile brings one target, WAF or APIM, to the desired state and reports whether
// it wrote anything.
func (a *App) Reconcile(ctx context.Context, log zerolog.Logger, target string) (wrote bool, err error) {
	for _, t := range a.Config.WAFTargets {
		if t.Key() == target {
			recs, err := a.wafReconcilers()
			if err != nil {
				return false, err
			}
			res, err := recs[target].Reconcile(ctx, log)
			return res.Wrote, err
		}
	}
	for _, t := range a.Config.APIMTargets {
		if t.Key() == target {
			recs, err := a.apimReconcilers()
			if err != nil {
				return false, err
			}
			res, err := recs[target].Reconcile(ctx, log)
			return res.Wrote, err
		}
	}
	return false, fmt.Errorf("%w: %s is not a configured WAF or APIM target", errUnknownTarget, target)
}

// apimReconcilers builds one reconciler per configured APIM target, on first use.
func (a *App) apimReconcilers() (map[string]*enforce.APIMReconciler, error) {
	a.apimOnce.Do(func() {
		store, err := a.Store()
		if err != nil {
			a.apimErr = err
			return
		}
		a.apim = map[string]*enforce.APIMReconciler{}
		for _, t := range a.Config.APIMTargets {
			r := &enforce.APIMReconciler{
				Key: t.Key(), FragmentID: t.FragmentID, Actions: t.Enforce, Options: enforce.APIMFragmentOptions(t),
				Calls: a.Config.ThrottleCalls, Period: a.Config.ThrottlePeriod,
				Desired: store, Audit: store, Now: a.Now, Sleep: a.Sleep, Guard: decide.NewGuard(a.Config.AllowList),
			}
			if err := r.Options.Validate(); err != nil {
				a.apimErr = fmt.Errorf("APIM target %s: %w", t.Key(), err)
				return
			}
			scopes := make([]string, 0, len(t.Scopes))
			parsed := make([]azureapim.Scope, 0, len(t.Scopes))
			for _, s := range t.Scopes {
				sc, err := azureapim.ParseScope(s)
				if err != nil {
					a.apimErr = fmt.Errorf("APIM target %s: %w", t.Key(), err)
					return
				}
				scopes, parsed = append(scopes, sc.String()), append(parsed, sc)
			}
			if t.Dir != "" {
				r.Fragment, r.Scopes = enforce.APIMDir(t.Dir, t.FragmentID, scopes)
			} else {
				svc, err := azureapim.ParseServiceID(t.ID)
				if err != nil {
					a.apimErr = err
					return
				}
				cred, copts, err := a.armFor(t.ID)
				if err != nil {
					a.apimErr = err
					return
				}
				if r.Fragment, err = azureapim.NewFragmentBackend(svc, t.FragmentID, cred, copts); err != nil {
					a.apimErr = err
					return
				}
				for i, sc := range parsed {
					b, err := azureapim.NewPolicyBackend(svc, sc, cred, copts)
					if err != nil {
						a.apimErr = err
						return
					}
					r.Scopes = append(r.Scopes, enforce.APIMScope{Name: scopes[i], Backend: b})
				}
				r.Service = svc.Name
			}
			a.apim[t.Key()] = r
		}
	})
	return a.apim, a.apimErr
}
