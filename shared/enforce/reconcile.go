package enforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/decide"
	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/record"
	"github.com/apiguard/apiguard/shared/waf"
)

// Desired lists the desired blocks of one action.
type Desired interface {
	ListBlocks(ctx context.Context, action string) ([]record.Block, error)
}

// Auditor keeps the audit trail.
type Auditor interface {
	AppendAudit(ctx context.Context, events []record.AuditEvent) error
}

// WAFReconciler brings one WAF policy's owned rules to the desired block_waf blocks.
type WAFReconciler struct {
	Key     string // the target's name in audit and logs
	Options waf.Options
	Backend Backend
	Desired Desired
	Audit   Auditor
	Now     func() time.Time
	// Sleep waits between attempts; tests replace it to run on an injected clock.
	Sleep func(ctx context.Context, d time.Duration) error
	// MaxAttempts bounds read-compute-write-verify rounds (default 8).
	MaxAttempts int
	// MaxWait caps a single Retry-After wait (default 2 min), so one invocation never
	// outlives the host's timeout.
	MaxWait time.Duration
	// Guard refuses protected addresses a second time, at the edge: a desired block
	// written by anything other than the decision engine still never reaches the WAF.
	Guard *decide.Guard
}

// Result is what one reconcile did.
type Result struct {
	Target   string         `json:"target"`
	Wrote    bool           `json:"wrote"`
	Attempts int            `json:"attempts"`
	Rules    int            `json:"owned_rules"`
	Values   int            `json:"values"`
	Added    []string       `json:"added,omitempty"`
	Removed  []string       `json:"removed,omitempty"`
	Evicted  []waf.Eviction `json:"evicted,omitempty"`
	ETag     string         `json:"etag,omitempty"`
}

// Reconcile reads the policy, computes the owned rules from the desired blocks, writes
// them with If-Match only when they differ, reads back and verifies. On a 412 or a
// failed verification it starts over with backoff; on 429 it waits as told.
func (r *WAFReconciler) Reconcile(ctx context.Context, log zerolog.Logger) (Result, error) {
	attempts := r.MaxAttempts
	if attempts <= 0 {
		attempts = 8
	}
	res := Result{Target: r.Key}
	var last error
	for attempt := 1; attempt <= attempts; attempt++ {
		res.Attempts = attempt
		blocks, err := r.Desired.ListBlocks(ctx, "block_waf")
		if err != nil {
			return res, fmt.Errorf("desired blocks: %w", err)
		}
		opts := r.Options
		opts.Now = r.Now()
		entries, sources := entriesFrom(blocks, opts.Now, r.Guard, log)

		cur, err := r.Backend.Get(ctx)
		if err != nil {
			return res, fmt.Errorf("read %s: %w", r.Key, err)
		}
		change, err := waf.Compute(opts, cur.Doc, entries)
		if err != nil {
			return res, fmt.Errorf("compute %s: %w", r.Key, err)
		}
		res.Rules, res.Values, res.Evicted = len(change.After), countValues(change.After), change.Evicted
		if !change.Changed {
			res.ETag = cur.ETag
			log.Debug().Str("target", r.Key).Int("rules", res.Rules).Msg("WAF policy already matches the desired blocks")
			return res, nil
		}

		etag, err := r.Backend.Put(ctx, change.Doc, cur.ETag)
		var throttled *ThrottledError
		switch {
		case errors.Is(err, ErrPrecondition):
			last = err
			log.Info().Str("target", r.Key).Int("attempt", attempt).Msg("policy changed under us (412): re-reading")
			if err := r.sleep(ctx, backoff(attempt)); err != nil {
				return res, err
			}
			continue
		case errors.As(err, &throttled):
			last = err
			wait := min(throttled.RetryAfter, r.maxWait())
			log.Warn().Str("target", r.Key).Dur("retry_after", wait).Msg("throttled (429): waiting as told")
			if err := r.sleep(ctx, wait); err != nil {
				return res, err
			}
			continue
		case err != nil:
			return res, fmt.Errorf("write %s: %w", r.Key, err)
		}

		// Verify: the live owned rules must be the ones we wrote. A writer that does not
		// honour If-Match (the Network provider has been seen to let the last writer win)
		// shows up here.
		live, err := r.Backend.Get(ctx)
		if err != nil {
			return res, fmt.Errorf("verify %s: %w", r.Key, err)
		}
		doc, err := waf.ParseDocument(opts.Kind, live.Doc)
		if err != nil {
			return res, fmt.Errorf("verify %s: %w", r.Key, err)
		}
		if !waf.EqualRules(doc.Owned(opts), change.After) {
			last = fmt.Errorf("verify %s: live owned rules differ from what was written", r.Key)
			log.Warn().Str("target", r.Key).Int("attempt", attempt).Msg("verification failed: rewriting")
			if err := r.sleep(ctx, backoff(attempt)); err != nil {
				return res, err
			}
			continue
		}
		res.Wrote, res.ETag, res.Added, res.Removed = true, live.ETag, change.Added, change.Removed
		if err := r.audit(ctx, cur.ETag, etag, live.ETag, change, sources); err != nil {
			return res, err
		}
		log.Info().Str("target", r.Key).Int("rules", res.Rules).Int("added", len(change.Added)).
			Int("removed", len(change.Removed)).Int("evicted", len(change.Evicted)).Int("attempt", attempt).
			Msg("WAF policy reconciled")
		return res, nil
	}
	return res, fault.Transient(fmt.Errorf("reconcile %s: gave up after %d attempts: %w", r.Key, attempts, last))
}

// auditCap bounds the lists an audit entry carries: one reconcile may add tens of
// thousands of values, and an audit entity has to fit in Table Storage's 1 MiB.
const auditCap = 1000

func (r *WAFReconciler) audit(ctx context.Context, before, written, live string, c waf.Change, sources []source) error {
	if r.Audit == nil {
		return nil
	}
	// Owned rules in full while they are small; past auditCap values, their shape
	// (the added and removed lists say what changed).
	summary := func(rules []waf.Rule) any {
		if countValues(rules) <= auditCap {
			return rules
		}
		out := make([]map[string]any, 0, len(rules))
		for _, rl := range rules {
			out = append(out, map[string]any{"name": rl.Name, "priority": rl.Priority, "action": rl.Action,
				"matchVariable": rl.MatchVariable, "value_count": len(rl.Values)})
		}
		return out
	}
	detail, err := json.Marshal(map[string]any{
		"etag_before": before, "etag_written": written, "etag_after": live,
		"rules_before": summary(c.Before), "rules_after": summary(c.After),
		"added": capped(c.Added), "added_count": len(c.Added),
		"removed": capped(c.Removed), "removed_count": len(c.Removed),
		"evicted": c.Evicted[:min(len(c.Evicted), auditCap)], "evicted_count": len(c.Evicted),
		"incidents": incidentsBehind(capped(c.Added), sources),
	})
	if err != nil {
		return err
	}
	now := r.Now().UTC()
	events := []record.AuditEvent{{
		Time: now, ID: "waf-" + strings.Trim(written, `"`) + "-" + shortKey(r.Key), Kind: "waf.reconciled",
		Subject: r.Key, Actor: "remediate", Detail: detail,
	}}
	if err := r.Audit.AppendAudit(ctx, events); err != nil {
		return fmt.Errorf("audit reconcile of %s: %w", r.Key, err)
	}
	return nil
}

func capped(s []string) []string { return s[:min(len(s), auditCap)] }

// source is a desired block's prefix and the incident that asked for it.
type source struct {
	prefix   netip.Prefix
	incident string
}

// incidentsBehind maps each added value (an address or an aggregated CIDR) to the
// incidents of the blocks it covers, at most 20 each.
func incidentsBehind(added []string, sources []source) map[string][]string {
	values := map[netip.Prefix]string{}
	lengths := map[int]bool{}
	for _, v := range added {
		if p, ok := parseTarget(v); ok {
			values[p] = v
			lengths[p.Bits()] = true
		}
	}
	out := map[string][]string{}
	for _, s := range sources {
		for bits := range lengths {
			if bits > s.prefix.Bits() {
				continue
			}
			covering, _ := s.prefix.Addr().Prefix(bits)
			if v, ok := values[covering]; ok && len(out[v]) < 20 {
				out[v] = append(out[v], s.incident)
			}
		}
	}
	for _, incs := range out {
		sort.Strings(incs)
	}
	return out
}

func (r *WAFReconciler) sleep(ctx context.Context, d time.Duration) error {
	if r.Sleep != nil {
		return r.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (r *WAFReconciler) maxWait() time.Duration {
	if r.MaxWait > 0 {
		return r.MaxWait
	}
	return 2 * time.Minute
}

// backoff is bounded exponential with full jitter: concurrent writers spread out.
func backoff(attempt int) time.Duration {
	ceiling := min(100*time.Millisecond<<min(attempt, 6), 5*time.Second)
	return time.Duration(rand.Int64N(int64(ceiling))) + 10*time.Millisecond
}

// entriesFrom turns desired blocks into packer entries: enforced, unexpired,
// unprotected address or CIDR targets only, with the incident behind each.
func entriesFrom(blocks []record.Block, now time.Time, guard *decide.Guard, log zerolog.Logger) ([]waf.Entry, []source) {
	entries := make([]waf.Entry, 0, len(blocks))
	var sources []source
	for _, b := range blocks {
		if b.Mode != "enforce" || !b.Expires.After(now) {
			continue
		}
		p, ok := parseTarget(b.Target)
		if !ok {
			log.Warn().Str("target", b.Target).Msg("desired block_waf target is not an address or CIDR: ignored")
			continue
		}
		if guard != nil {
			if why := guard.WhyPrefix(p); why != "" {
				log.Warn().Str("target", b.Target).Str("reason", why).Msg("desired block of a protected address: never enforced")
				continue
			}
		}
		entries = append(entries, waf.Entry{Prefix: p, Severity: severityRank(b.Severity), Expires: b.Expires, Forwarded: b.Forwarded})
		if b.SourceIncident != "" {
			sources = append(sources, source{p, b.SourceIncident})
		}
	}
	return entries, sources
}

func parseTarget(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err == nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}

func severityRank(s string) int {
	switch strings.ToLower(s) {
	case "informational":
		return 0
	case "low":
		return 1
	case "high":
		return 3
	default:
		return 2
	}
}

func countValues(rules []waf.Rule) int {
	n := 0
	for _, r := range rules {
		n += len(r.Values)
	}
	return n
}

func shortKey(k string) string {
	if i := strings.LastIndexAny(k, "/:"); i >= 0 && i+1 < len(k) {
		return k[i+1:]
	}
	return k
}
