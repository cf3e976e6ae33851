package main

import (
	"context"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/control"
	"github.com/apiguard/apiguard/shared/enforce/defender"
	"github.com/apiguard/apiguard/shared/flow"
	"github.com/apiguard/apiguard/shared/notify"
	"github.com/apiguard/apiguard/shared/triage"
	"github.com/apiguard/apiguard/shared/triage/collect"
)

// online is apiguard as the server and the Functions host run it: the application
// layer over Table Storage, notifications out, and the control API.
type online struct {
	control.App
	// close delivers the notifications still queued, within ctx.
	close func(ctx context.Context) error
}

// liveInventory is the triage's collector over Azure Resource Manager, with the start
// of apiguard's traffic evidence read when it runs.
type liveInventory struct {
	opts collect.Options
	app  *flow.App
}

func (l *liveInventory) Collect(ctx context.Context) (triage.Inventory, error) {
	o := l.opts
	var err error
	if o.WatchingSince, err = l.app.WatchingSince(ctx); err != nil {
		return triage.Inventory{}, err
	}
	return collect.Collect(ctx, o)
}

// snapshotInventory is the triage's collector over a snapshot folder
// (APIGUARD_TRIAGE_SNAPSHOT): ARM answered from the files, apiguard's evidence and the
// collection time the snapshot's own.
type snapshotInventory string

func (dir snapshotInventory) Collect(ctx context.Context) (triage.Inventory, error) {
	opts, err := collect.SnapshotOptions(string(dir))
	if err != nil {
		return triage.Inventory{}, err
	}
	return collect.Collect(ctx, opts)
}

// openOnline builds it. lookup resolves the settings that notification targets name
// for their secrets; q carries reconcile requests; dl counts dead letters (nil: none).
func openOnline(cfg *config.Config, lookup func(string) (string, bool), log zerolog.Logger, q flow.Sender, dl flow.DeadLetters) (online, error) {
	store, err := flow.OpenTables(cfg)
	if err != nil {
		return online{}, err
	}
	targets, err := notify.ParseTargets(cfg.NotifyTargets, lookup)
	if err != nil {
		return online{}, fmt.Errorf("APIGUARD_NOTIFY_TARGETS: %w", err)
	}
	deps := flow.Deps{Config: cfg, Store: store, Detect: store.DetectStates(), Queue: q, Now: time.Now, Log: log}
	if dl != nil {
		deps.DeadLetters = dl
	}
	closer := func(context.Context) error { return nil }
	var app *flow.App
	if len(targets) > 0 {
		source := cfg.PublicURL
		if source == "" {
			source = "/apiguard"
		}
		d := notify.New(targets, notify.Options{Source: source, Log: log,
			// A delivery that finally failed shows in health.
			OnFailure: func(target string, _ notify.Event, err error) {
				app.NotifyFailed(context.Background(), log, target, err)
			}})
		deps.Notify, closer = d, d.Close
	}
	var inventory *liveInventory
	if cfg.TriageSnapshot != "" {
		deps.Inventory = snapshotInventory(cfg.TriageSnapshot)
	} else if len(cfg.TriageScopes) > 0 {
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return online{}, fmt.Errorf("managed identity for the triage: %w", err)
		}
		armOpts := flow.CallOptions(nil, cfg.CallTimeout)
		inventory = &liveInventory{opts: collect.Options{Scopes: cfg.TriageScopes, Credential: cred, ClientOptions: armOpts,
			LastSeen: store.DetectStates(), ReadsPerSecond: cfg.TriageReadsPerSecond}}
		deps.Inventory, deps.Onboard = inventory, defender.Onboarder{Credential: cred, ClientOptions: armOpts}
	}
	if app, err = flow.New(deps); err != nil {
		return online{}, err
	}
	if inventory != nil {
		inventory.app = app
	}
	api := control.NewApp(app, control.Options{Log: log, MaxBody: cfg.MaxBodyBytes, Keys: store})
	return online{App: api, close: closer}, nil
}
