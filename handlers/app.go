package handlers

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/decide"
	"github.com/apiguard/apiguard/shared/enforce"
	"github.com/apiguard/apiguard/shared/enforce/azure"
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

// BlocksChanged asks every enforcement point holding action for a reconcile.
func (a *App) BlocksChanged(ctx context.Context, action, reason string) error {
	if action != string(decide.BlockWAF) || a.Queue == nil || len(a.Config.WAFTargets) == 0 {
		return nil
	}
	return a.Queue.Send(ctx, a.reconcileRequests(reason))
}

func (a *App) reconcileRequests(reason string) []queue.Message {
	msgs := make([]queue.Message, 0, len(a.Config.WAFTargets))
	for _, t := range a.Config.WAFTargets {
		msgs = append(msgs, queue.Message{Target: t.Key(), Reason: reason})
	}
	return msgs
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

// Reconcile brings one target to the desired state.
func (a *App) Reconcile(ctx context.Context, log zerolog.Logger, target string) (enforce.Result, error) {
	recs, err := a.wafReconcilers()
	if err != nil {
		return enforce.Result{}, err
	}
	r, ok := recs[target]
	if !ok {
		return enforce.Result{}, fmt.Errorf("%w: %s is not a configured WAF target", errUnknownTarget, target)
	}
	return r.Reconcile(ctx, log)
}
