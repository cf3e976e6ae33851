package enforce

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/cidr"
	"github.com/apiguard/apiguard/shared/decide"
	"github.com/apiguard/apiguard/shared/record"
	"github.com/apiguard/apiguard/shared/vocab"
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
	// Guard refuses protected addresses a second time, at the edge: a desired block
	// written by anything other than the decision engine still never reaches the WAF.
	Guard *decide.Guard
	// Sleep, MaxAttempts and MaxWait tune retries (see retrier).
	Sleep       func(ctx context.Context, d time.Duration) error
	MaxAttempts int
	MaxWait     time.Duration
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

// Reconcile reads the policy, computes the owned rules from the desired blocks (read
// afresh on every attempt), writes them with If-Match only when they differ, reads
// back and verifies.
func (r *WAFReconciler) Reconcile(ctx context.Context, log zerolog.Logger) (Result, error) {
	res := Result{Target: r.Key}
	var (
		change  waf.Change
		sources []source
		opts    waf.Options
	)
	w, err := retrier{r.Sleep, r.MaxAttempts, r.MaxWait}.converge(ctx, log, r.Key, r.Backend, func(ctx context.Context, cur Policy) ([]byte, bool, error) {
		blocks, err := r.Desired.ListBlocks(ctx, string(vocab.BlockWAF))
		if err != nil {
			return nil, false, fmt.Errorf("desired blocks: %w", err)
		}
		opts = r.Options
		opts.Now = r.Now()
		if r.Guard != nil { // the packer checks again, last, before rules are written
			opts.Guard = r.Guard
		}
		var entries []waf.Entry
		entries, sources = entriesFrom(blocks, opts.Now, r.Guard, log)
		change, err = waf.Compute(opts, cur.Doc, entries)
		return change.Doc, change.Changed, err
	}, func(live Policy) (bool, error) {
		doc, err := waf.ParseDocument(opts.Kind, live.Doc)
		if err != nil {
			return false, err
		}
		return waf.EqualRules(doc.Owned(opts), change.After), nil
	})
	res.Attempts, res.ETag = w.Attempts, w.After
	res.Rules, res.Values, res.Evicted = len(change.After), countValues(change.After), change.Evicted
	if err != nil || !w.Wrote {
		if err == nil {
			log.Debug().Str("target", r.Key).Int("rules", res.Rules).Msg("WAF policy already matches the desired blocks")
		}
		return res, err
	}
	res.Wrote, res.Added, res.Removed = true, change.Added, change.Removed
	if err := r.audit(ctx, w.Before, w.Written, w.After, change, sources); err != nil {
		return res, err
	}
	log.Info().Str("target", r.Key).Int("rules", res.Rules).Int("added", len(change.Added)).
		Int("removed", len(change.Removed)).Int("evicted", len(change.Evicted)).Int("attempt", w.Attempts).
		Msg("WAF policy reconciled")
	return res, nil
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
		if p, err := cidr.Parse(v); err == nil {
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

// entriesFrom turns desired blocks into packer entries: enforced, unexpired,
// unprotected address or CIDR targets only, with the incident behind each.
func entriesFrom(blocks []record.Block, now time.Time, guard *decide.Guard, log zerolog.Logger) ([]waf.Entry, []source) {
	entries := make([]waf.Entry, 0, len(blocks))
	var sources []source
	for _, b := range blocks {
		if vocab.Mode(b.Mode) != vocab.Enforce || !b.Expires.After(now) {
			continue
		}
		p, err := cidr.Parse(b.Target)
		if err != nil {
			log.Warn().Str("target", b.Target).Msg("desired block_waf target is not an address or CIDR: ignored")
			continue
		}
		if guard != nil {
			if why := guard.WhyPrefix(p); why != "" {
				log.Warn().Str("target", b.Target).Str("reason", why).Msg("desired block of a protected address: never enforced")
				continue
			}
		}
		entries = append(entries, waf.Entry{Prefix: p, Severity: vocab.Severity(b.Severity).Rank(), Expires: b.Expires, Forwarded: b.Forwarded})
		if b.SourceIncident != "" {
			sources = append(sources, source{p, b.SourceIncident})
		}
	}
	return entries, sources
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
