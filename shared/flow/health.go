package flow

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/record"
)

// Health record kinds and counters.
const (
	healthFunction = "function"
	healthTarget   = "target"
	healthNotify   = "notify"
	healthStatus   = "status"
	healthWatching = "watching"

	countSetAside     = "set_aside"
	countNotifyFailed = "notify_failed"

	// expirePeriod is the expire timer's schedule (functions/expire/function.json);
	// health calls it stopped after two periods without a success.
	expirePeriod = 5 * time.Minute
)

// maxError bounds the error text a health record keeps.
const maxError = 500

// DeadLetters counts the messages dead-lettered per queue (Service Bus admin).
type DeadLetters interface {
	DeadLetters(ctx context.Context) (map[string]int64, error)
}

// Invoked records one invocation of a function: its last success, or its last
// failure and why. Health reads it. A failure to record is logged, never returned:
// bookkeeping must not fail the work it records.
func (a *App) Invoked(ctx context.Context, log zerolog.Logger, function string, failure error) {
	a.recordHealth(ctx, log, healthFunction, function, failure)
}

func (a *App) recordHealth(ctx context.Context, log zerolog.Logger, kind, name string, failure error) {
	now := a.now().UTC()
	ctx, cancel := detach(ctx)
	defer cancel()
	_, _, err := a.store.MergeHealth(ctx, kind, name, func(cur *record.HealthRecord) (*record.HealthRecord, error) {
		next := record.HealthRecord{Kind: kind, Name: name}
		if cur != nil {
			next = *cur
		}
		next.Count++
		next.Updated = now
		if failure == nil {
			next.LastSuccess = now
			if kind == healthTarget {
				next.DiffersSince = time.Time{} // converged: holds the desired state
			}
		} else {
			next.LastFailure, next.LastError = now, clip(failure.Error(), maxError)
		}
		return &next, nil
	})
	if err != nil {
		log.Warn().Err(err).Str("kind", kind).Str("name", name).Msg("health not recorded")
	}
}

// awaited marks targets as waiting for a reconcile since now, unless they already
// were: the start of "desired state differs from what the target holds".
func (a *App) awaited(ctx context.Context, keys []string) error {
	now := a.now().UTC()
	for _, k := range keys {
		_, _, err := a.store.MergeHealth(ctx, healthTarget, k, func(cur *record.HealthRecord) (*record.HealthRecord, error) {
			if cur != nil && !cur.DiffersSince.IsZero() {
				return nil, nil
			}
			next := record.HealthRecord{Kind: healthTarget, Name: k}
			if cur != nil {
				next = *cur
			}
			next.DiffersSince, next.Updated = now, now
			return &next, nil
		})
		if err != nil {
			return fmt.Errorf("health of %s: %w", k, err)
		}
	}
	return nil
}

// WatchingSince is when apiguard's own traffic evidence starts: the event time of
// the earliest record it has processed (zero: none). An API unseen for 90 days is
// proven idle only when this reaches back 90 days.
func (a *App) WatchingSince(ctx context.Context) (time.Time, error) {
	recs, err := a.store.ListHealth(ctx, healthStatus)
	if err != nil {
		return time.Time{}, err
	}
	for _, r := range recs {
		if r.Name == healthWatching {
			return r.LastSuccess, nil
		}
	}
	return time.Time{}, nil
}

// noteWatching moves the start of the evidence back to t when t is earlier; once a
// process has noted it, later batches cost nothing.
func (a *App) noteWatching(ctx context.Context, t time.Time) error {
	if t.IsZero() || a.watching.Load() {
		return nil
	}
	_, _, err := a.store.MergeHealth(ctx, healthStatus, healthWatching, func(cur *record.HealthRecord) (*record.HealthRecord, error) {
		if cur != nil && !cur.LastSuccess.IsZero() && !cur.LastSuccess.After(t) {
			return nil, nil
		}
		next := record.HealthRecord{Kind: healthStatus, Name: healthWatching}
		if cur != nil {
			next = *cur
		}
		next.LastSuccess, next.Updated = t.UTC(), a.now().UTC()
		return &next, nil
	})
	if err == nil {
		a.watching.Store(true)
	}
	return err
}

// NotifyFailed records a notification that finally could not be delivered.
func (a *App) NotifyFailed(ctx context.Context, log zerolog.Logger, target string, failure error) {
	a.recordHealth(ctx, log, healthNotify, target, failure)
	ctx, cancel := detach(ctx)
	defer cancel()
	if err := a.store.AddCount(ctx, countNotifyFailed, a.now(), 1); err != nil {
		log.Warn().Err(err).Msg("failed notification not counted")
	}
}

// Health says whether the automation works. It is unhealthy, with the cause, when it
// has silently stopped: a target whose desired state has differed from what it holds
// for longer than APIGUARD_HEALTH_STALE_AFTER with no successful reconcile, the expire
// timer not run for two of its periods, or dead-lettered messages.
func (a *App) Health(ctx context.Context) (Health, error) { return a.health(ctx, false) }

// health evaluates health; inExpire says it runs inside the expire timer, which so is
// running now.
func (a *App) health(ctx context.Context, inExpire bool) (Health, error) {
	now := a.now().UTC()
	h := Health{Status: "healthy", Checked: now, Functions: []FunctionHealth{}, Targets: []TargetHealth{}}
	fns, err := a.store.ListHealth(ctx, healthFunction)
	if err != nil {
		return Health{}, err
	}
	expireRan := time.Time{}
	for _, f := range fns {
		h.Functions = append(h.Functions, FunctionHealth{Name: f.Name, LastSuccess: f.LastSuccess, LastFailure: f.LastFailure,
			LastError: f.LastError, Invocations: f.Count})
		if f.Name == "expire" {
			expireRan = f.LastSuccess
		}
	}
	if inExpire {
		expireRan = now
	}
	if since := now.Sub(expireRan); since > 2*expirePeriod {
		last := "never"
		if !expireRan.IsZero() {
			last = expireRan.Format(time.RFC3339)
		}
		h.Causes = append(h.Causes, fmt.Sprintf("the expire timer has not run for two periods (%s): last success %s; expiry and repair have stopped", 2*expirePeriod, last))
	}
	recs, err := a.store.ListHealth(ctx, healthTarget)
	if err != nil {
		return Health{}, err
	}
	byKey := map[string]record.HealthRecord{}
	for _, r := range recs {
		byKey[r.Name] = r
	}
	for _, k := range a.targets.keys {
		r := byKey[k]
		t := TargetHealth{Target: k, LastReconcile: r.LastSuccess, LastFailure: r.LastFailure, LastError: r.LastError,
			DiffersSince: r.DiffersSince, InSync: r.DiffersSince.IsZero() && !r.LastSuccess.IsZero()}
		h.Targets = append(h.Targets, t)
		if !t.DiffersSince.IsZero() && now.Sub(t.DiffersSince) > a.cfg.StaleAfter {
			why := "no reconcile attempt since"
			if t.LastFailure.After(t.DiffersSince) {
				why = "last failure: " + t.LastError
			}
			h.Causes = append(h.Causes, fmt.Sprintf("target %s has not held the desired state since %s (over %s; %s)",
				k, t.DiffersSince.Format(time.RFC3339), a.cfg.StaleAfter, why))
		}
	}
	if h.SetAside24h, err = a.store.SumCounts(ctx, countSetAside, now.Add(-24*time.Hour), now.Add(time.Second)); err != nil {
		return Health{}, err
	}
	if h.NotificationsFailed24h, err = a.store.SumCounts(ctx, countNotifyFailed, now.Add(-24*time.Hour), now.Add(time.Second)); err != nil {
		return Health{}, err
	}
	pending, err := a.Pending(ctx)
	if err != nil {
		return Health{}, err
	}
	h.PendingApprovals = len(pending)
	if a.deadLetters != nil {
		dl, err := a.deadLetters.DeadLetters(ctx)
		if err != nil {
			h.Causes = append(h.Causes, "dead-letter counts unreadable: "+clip(err.Error(), maxError))
		}
		h.DeadLetters = dl
		for _, q := range sortedKeys(dl) {
			if dl[q] > 0 {
				h.Causes = append(h.Causes, fmt.Sprintf("queue %s holds %d dead-lettered messages", q, dl[q]))
			}
		}
	}
	if len(h.Causes) > 0 {
		h.Status = "unhealthy"
	}
	return h, nil
}

// checkHealth evaluates health and announces a change of status: the expire timer's
// work. It returns the status.
func (a *App) checkHealth(ctx context.Context, log zerolog.Logger) (string, error) {
	h, err := a.health(ctx, true)
	if err != nil {
		return "", err
	}
	summary := h.Status
	if len(h.Causes) > 0 {
		summary += ": " + strings.Join(h.Causes, "; ")
	}
	var was string
	_, _, err = a.store.MergeHealth(ctx, healthStatus, "overall", func(cur *record.HealthRecord) (*record.HealthRecord, error) {
		next := record.HealthRecord{Kind: healthStatus, Name: "overall"}
		if cur != nil {
			next, was = *cur, cur.LastError
		}
		if statusWord(was) == h.Status {
			return nil, nil
		}
		next.LastError, next.Updated = clip(summary, maxError), h.Checked
		return &next, nil
	})
	if err != nil {
		return h.Status, err
	}
	if statusWord(was) != h.Status {
		a.announceHealth(h, statusWord(was))
		log.Info().Str("status", h.Status).Strs("causes", h.Causes).Msg("health changed")
	}
	return h.Status, nil
}

func statusWord(summary string) string {
	w, _, _ := strings.Cut(summary, ":")
	return w
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
