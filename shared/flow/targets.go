package flow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/decide"
	"github.com/apiguard/apiguard/shared/enforce"
	"github.com/apiguard/apiguard/shared/enforce/azure"
	"github.com/apiguard/apiguard/shared/enforce/azureapim"
	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/queue"
	"github.com/apiguard/apiguard/shared/vocab"
	"github.com/apiguard/apiguard/shared/waf"
)

// ErrUnknownTarget means a reconcile request names no configured target: it can never
// succeed, so it is dropped rather than retried.
var ErrUnknownTarget = fault.Rejected(0, errors.New("unknown target"))

// reconcileFunc brings one target to the desired state and reports whether it wrote.
type reconcileFunc func(ctx context.Context, log zerolog.Logger) (wrote bool, err error)

// targets is the router: which target enforces which action, and how to reconcile each.
// It is built once from the validated settings.
type targets struct {
	keys      []string                  // every target, in configuration order (WAF first)
	byAction  map[vocab.Action][]string // the targets that enforce each action
	reconcile map[string]reconcileFunc  // by target key
}

// newTargets builds a reconciler for every configured WAF and APIM target. It creates
// clients but does no I/O.
func newTargets(cfg *config.Config, store Store, armFor ARMFactory, now func() time.Time, sleep func(context.Context, time.Duration) error) (*targets, error) {
	if armFor == nil {
		armFor = managedIdentity
	}
	t := &targets{byAction: map[vocab.Action][]string{}, reconcile: map[string]reconcileFunc{}}
	guard := decide.NewGuard(cfg.AllowList)
	for _, wt := range cfg.WAFTargets {
		var backend enforce.Backend
		if wt.File != "" {
			backend = enforce.NewFileBackend(wt.File, enforce.EmptyWAFPolicy(waf.Kind(wt.Kind)))
		} else {
			id, err := azure.ParseResourceID(wt.ID)
			if err != nil {
				return nil, err
			}
			cred, opts, err := armFor(wt.ID)
			if err != nil {
				return nil, err
			}
			if backend, err = azure.NewBackend(id, cred, CallOptions(opts, cfg.CallTimeout)); err != nil {
				return nil, err
			}
		}
		r := &enforce.WAFReconciler{
			Key: wt.Key(), Options: enforce.WAFOptions(wt), Backend: backend, Desired: store, Audit: store,
			Now: now, Sleep: sleep, Guard: guard,
		}
		t.add(wt.Key(), []vocab.Action{vocab.BlockWAF}, func(ctx context.Context, log zerolog.Logger) (bool, error) {
			res, err := r.Reconcile(ctx, log)
			return res.Wrote, err
		})
	}
	for _, at := range cfg.APIMTargets {
		r, err := apimReconciler(cfg, at, store, armFor, now, sleep, guard)
		if err != nil {
			return nil, fmt.Errorf("APIM target %s: %w", at.Key(), err)
		}
		t.add(at.Key(), at.Enforce, func(ctx context.Context, log zerolog.Logger) (bool, error) {
			res, err := r.Reconcile(ctx, log)
			return res.Wrote, err
		})
	}
	return t, nil
}

func (t *targets) add(key string, actions []vocab.Action, fn reconcileFunc) {
	t.keys = append(t.keys, key)
	t.reconcile[key] = fn
	for _, a := range actions {
		t.byAction[a] = append(t.byAction[a], key)
	}
}

// holding lists the targets that enforce any of actions, each once.
func (t *targets) holding(actions []vocab.Action) []string {
	var out []string
	for _, k := range t.keys {
		for _, a := range actions {
			if slices.Contains(t.byAction[a], k) {
				out = append(out, k)
				break
			}
		}
	}
	return out
}

func apimReconciler(cfg *config.Config, t config.APIMTarget, store Store, armFor ARMFactory, now func() time.Time,
	sleep func(context.Context, time.Duration) error, guard *decide.Guard) (*enforce.APIMReconciler, error) {
	r := &enforce.APIMReconciler{
		Key: t.Key(), FragmentID: t.FragmentID, Actions: t.Enforce, Options: enforce.APIMFragmentOptions(t),
		Calls: cfg.ThrottleCalls, Period: cfg.ThrottlePeriod,
		Desired: store, Audit: store, Now: now, Sleep: sleep, Guard: guard,
	}
	if err := r.Options.Validate(); err != nil {
		return nil, err
	}
	scopes := make([]string, 0, len(t.Scopes))
	parsed := make([]azureapim.Scope, 0, len(t.Scopes))
	for _, s := range t.Scopes {
		sc, err := azureapim.ParseScope(s)
		if err != nil {
			return nil, err
		}
		scopes, parsed = append(scopes, sc.String()), append(parsed, sc)
	}
	if t.Dir != "" {
		r.Fragment, r.Scopes = enforce.APIMDir(t.Dir, t.FragmentID, scopes)
		return r, nil
	}
	svc, err := azureapim.ParseServiceID(t.ID)
	if err != nil {
		return nil, err
	}
	cred, opts, err := armFor(t.ID)
	if err != nil {
		return nil, err
	}
	opts = CallOptions(opts, cfg.CallTimeout)
	if r.Fragment, err = azureapim.NewFragmentBackend(svc, t.FragmentID, cred, opts); err != nil {
		return nil, err
	}
	for i, sc := range parsed {
		b, err := azureapim.NewPolicyBackend(svc, sc, cred, opts)
		if err != nil {
			return nil, err
		}
		r.Scopes = append(r.Scopes, enforce.APIMScope{Name: scopes[i], Backend: b})
	}
	r.Service = svc.Name
	return r, nil
}

func managedIdentity(id string) (azcore.TokenCredential, *arm.ClientOptions, error) {
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, nil, fmt.Errorf("managed identity for %s: %w", id, err)
	}
	return cred, nil, nil
}

// requestReconcile asks every target that enforces one of actions for a reconcile.
func (a *App) requestReconcile(ctx context.Context, actions []vocab.Action, reason string) error {
	if err := a.send(ctx, a.targets.holding(actions), reason); err != nil {
		return fmt.Errorf("request reconcile of %v: %w", actions, err)
	}
	return nil
}

// RequestRepair asks every target for a reconcile: at start-up and on every expire run,
// so owned rules and fragments deleted or edited by someone else come back.
func (a *App) RequestRepair(ctx context.Context, reason string) error {
	return a.send(ctx, a.targets.keys, reason)
}

// send puts one reconcile request per target on the queue.
func (a *App) send(ctx context.Context, keys []string, reason string) error {
	if a.queue == nil || len(keys) == 0 {
		return nil
	}
	if err := a.awaited(ctx, keys); err != nil {
		return err
	}
	msgs := make([]queue.Message, len(keys))
	for i, k := range keys {
		msgs[i] = queue.Message{Target: k, Reason: reason}
	}
	return a.queue.Send(ctx, msgs)
}

// Reconcile brings one target, WAF or APIM, to the desired state and reports whether
// it wrote anything. It is the one writer's work: the caller guarantees one at a time
// per target (a Service Bus session, or serve's worker per target).
func (a *App) Reconcile(ctx context.Context, log zerolog.Logger, target string) (wrote bool, err error) {
	fn, ok := a.targets.reconcile[target]
	if !ok {
		return false, fmt.Errorf("%w: %s is not a configured WAF or APIM target", ErrUnknownTarget, target)
	}
	// serve's worker calls this directly: bound it as the remediate function is.
	ctx, cancel := a.Invocation(ctx, config.Background)
	defer cancel()
	wrote, err = fn(ctx, log)
	a.recordHealth(ctx, log, healthTarget, target, err)
	return wrote, err
}

// Remediate reconciles the targets named by a batch of reconcile requests, each once
// however many requests name it. A transient failure is returned, so the host
// redelivers the batch (reconciling is idempotent); a request that can never succeed
// (unknown target, a policy that cannot take the change) is logged and dropped so it
// does not loop.
func (a *App) Remediate(ctx context.Context, log zerolog.Logger, reqs []queue.Message) (string, error) {
	byTarget := map[string]int{}
	for _, r := range reqs {
		byTarget[r.Target]++
	}
	keys := make([]string, 0, len(byTarget))
	for k := range byTarget {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var retry []error
	wrote := 0
	for _, k := range keys {
		w, err := a.Reconcile(ctx, log, k)
		switch {
		case err == nil:
			if w {
				wrote++
			}
		case fault.Of(err) != fault.Retry:
			log.Error().Err(err).Str("target", k).Msg("reconcile request cannot succeed: dropped")
		default:
			retry = append(retry, err)
		}
	}
	summary := fmt.Sprintf("%d requests for %d targets, %d policies written", len(reqs), len(keys), wrote)
	return summary, errors.Join(retry...)
}
