package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/decide"
	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/notify"
	"github.com/apiguard/apiguard/shared/record"
	"github.com/apiguard/apiguard/shared/vocab"
)

// DecisionID names a decision in the control API: "<incident id>.<index>".
func DecisionID(incident string, index int) string { return incident + "." + strconv.Itoa(index) }

func parseDecisionID(id string) (string, int, error) {
	i := strings.LastIndexByte(id, '.')
	n, err := strconv.Atoi(id[i+1:])
	if i <= 0 || err != nil || n < 0 {
		return "", 0, fault.Invalid("id", "%q is not a decision id (<incident id>.<index>)", id)
	}
	return id[:i], n, nil
}

// statusOf is where a stored decision stands; a decision stored before statuses
// existed stands where its action and mode put it.
func statusOf(rec record.DecisionRecord) vocab.Status {
	if rec.Status != "" {
		return vocab.Status(rec.Status)
	}
	return vocab.StatusOf(vocab.Action(rec.Action), vocab.Mode(rec.Mode))
}

func decisionOf(rec record.DecisionRecord) (Decision, error) {
	d := Decision{ID: DecisionID(rec.IncidentID, rec.Index), Incident: rec.IncidentID, Status: statusOf(rec), Updated: rec.Updated}
	if err := json.Unmarshal(rec.Body, &d.Decision); err != nil {
		return Decision{}, fmt.Errorf("stored decision %s is unreadable: %w", d.ID, err)
	}
	return d, nil
}

// DecisionQuery selects decisions by status over the event days of their incidents.
type DecisionQuery struct {
	Status       vocab.Status
	Since, Until time.Time
	Limit        int
	Token        string
}

// Decisions lists decisions, a page at a time; the token continues the list.
func (a *App) Decisions(ctx context.Context, q DecisionQuery) ([]Decision, string, error) {
	recs, next, err := a.store.ListDecisionsByStatus(ctx, record.DecisionQuery{
		Status: string(q.Status), From: q.Since, To: q.Until, Limit: q.Limit, Token: q.Token,
	})
	if err != nil {
		return nil, "", err
	}
	out := make([]Decision, 0, len(recs))
	for _, r := range recs {
		d, err := decisionOf(r)
		if err != nil {
			return nil, "", err
		}
		out = append(out, d)
	}
	return out, next, nil
}

// located is a decision with what changing it needs.
type located struct {
	rec       record.DecisionRecord
	d         Decision
	eventTime time.Time
}

func (a *App) locate(ctx context.Context, id string) (located, error) {
	incident, index, err := parseDecisionID(id)
	if err != nil {
		return located{}, err
	}
	eventTime, found, err := a.store.LocateIncident(ctx, incident)
	if err != nil {
		return located{}, err
	}
	if !found {
		return located{}, fault.NotFound("no decision %s: no incident %s", id, incident)
	}
	recs, err := a.store.ListDecisions(ctx, incident, eventTime)
	if err != nil {
		return located{}, err
	}
	for _, r := range recs {
		if r.Index == index {
			d, err := decisionOf(r)
			return located{rec: r, d: d, eventTime: eventTime}, err
		}
	}
	return located{}, fault.NotFound("no decision %s", id)
}

// Decision returns one decision by id.
func (a *App) Decision(ctx context.Context, id string) (Decision, error) {
	l, err := a.locate(ctx, id)
	return l.d, err
}

// setStatus moves a decision from one of from to status (with its body replaced when
// body is given), under optimistic concurrency: a decision another caller moved
// meanwhile is not moved again.
func (a *App) setStatus(ctx context.Context, l located, from []vocab.Status, status vocab.Status, d *decide.Decision) (Decision, error) {
	now := a.now().UTC()
	rec, _, err := a.store.UpdateDecision(ctx, l.rec.IncidentID, l.eventTime, l.rec.Index, func(cur *record.DecisionRecord) (*record.DecisionRecord, error) {
		st := statusOf(*cur)
		if st == status {
			return nil, nil // already there: a retry
		}
		ok := false
		for _, f := range from {
			ok = ok || st == f
		}
		if !ok {
			return nil, fault.Conflict("decision %s is %s: it cannot become %s", l.d.ID, st, status)
		}
		next := *cur
		next.Status, next.Updated = string(status), now
		if d != nil {
			body, err := json.Marshal(d)
			if err != nil {
				return nil, err
			}
			next.Body, next.Mode = body, string(d.Mode)
		}
		return &next, nil
	})
	if err != nil {
		return Decision{}, err
	}
	return decisionOf(rec)
}

func (a *App) auditDecision(ctx context.Context, kind, actor string, d Decision, extra map[string]any) error {
	now := a.now().UTC()
	detail := map[string]any{"decision": d}
	for k, v := range extra {
		detail[k] = v
	}
	raw, _ := json.Marshal(detail)
	ev := record.AuditEvent{Time: now, ID: kind + "-" + d.ID, Kind: kind, Subject: d.ID, Actor: operatorSource + actor, Detail: raw}
	if err := a.store.AppendAudit(ctx, []record.AuditEvent{ev}); err != nil {
		return fmt.Errorf("audit %s: %w", kind, err)
	}
	return nil
}

// Approve enforces a pending decision. The guard is asked again: a target
// allow-listed meanwhile is refused, and the decision is rejected with that reason.
// The block runs for the decision's duration from now.
func (a *App) Approve(ctx context.Context, log zerolog.Logger, actor, id string) (Decision, error) {
	l, err := a.locate(ctx, id)
	if err != nil {
		return Decision{}, err
	}
	if st := l.d.Status; st != vocab.StatusPending {
		if st == vocab.StatusEnforced {
			return l.d, nil // approved before: a retry
		}
		return Decision{}, fault.Conflict("decision %s is %s, not pending", id, st)
	}
	now := a.now().UTC().Truncate(time.Second)
	if now.After(l.rec.Created.Add(a.cfg.ApprovalTTL)) {
		if _, err := a.lapse(ctx, l); err != nil {
			return Decision{}, err
		}
		return Decision{}, fault.Conflict("decision %s waited longer than APIGUARD_APPROVAL_TTL (%s): it lapsed", id, a.cfg.ApprovalTTL)
	}
	if why, err := a.protected(ctx, l.d.Decision); err != nil || why != "" {
		if err != nil {
			return Decision{}, err
		}
		d, err := a.setStatus(ctx, l, []vocab.Status{vocab.StatusPending}, vocab.StatusRejected, nil)
		if err != nil {
			return Decision{}, err
		}
		if err := a.auditDecision(ctx, "decision.rejected", actor, d, map[string]any{"reason": "never blocked: " + why}); err != nil {
			return Decision{}, err
		}
		return Decision{}, &fault.Error{Disposition: fault.Reject, Status: 422,
			Err: fmt.Errorf("decision %s cannot be approved: %s is never blocked now: %s", id, l.d.Target.Value, why)}
	}
	dec := l.d.Decision
	if dec.Action == vocab.Onboard {
		return a.approveOnboarding(ctx, log, actor, l)
	}
	dec.Mode, dec.Expires = vocab.Enforce, now.Add(time.Duration(dec.Seconds)*time.Second)
	ev, err := a.keepBlock(ctx, l.rec.IncidentID, dec)
	if err != nil {
		return Decision{}, err
	}
	if ev != nil {
		ev.Actor = operatorSource + actor
		if err := a.store.AppendAudit(ctx, []record.AuditEvent{*ev}); err != nil {
			return Decision{}, err
		}
	}
	if err := a.requestReconcile(ctx, []vocab.Action{dec.Action}, "approved "+id); err != nil {
		return Decision{}, err
	}
	d, err := a.setStatus(ctx, l, []vocab.Status{vocab.StatusPending}, vocab.StatusEnforced, &dec)
	if err != nil {
		return Decision{}, err
	}
	if err := a.auditDecision(ctx, "decision.approved", actor, d, nil); err != nil {
		return Decision{}, err
	}
	a.announceBlock(notify.TypeBlockCreated, d.Decision, l.rec.IncidentID, "approved by "+actor)
	log.Info().Str("actor", actor).Str("decision", id).Msg("decision approved")
	return d, nil
}

// approveOnboarding puts the decision's API under Defender for APIs: the one
// onboarding a triage proposes, only once an operator approves it.
func (a *App) approveOnboarding(ctx context.Context, log zerolog.Logger, actor string, l located) (Decision, error) {
	if a.onboard == nil {
		return Decision{}, fault.Conflict("decision %s onboards %s to Defender for APIs, but no onboarding is configured here", l.d.ID, l.d.Target.Value)
	}
	if err := a.onboard.Onboard(ctx, l.d.Target.Value); err != nil {
		return Decision{}, fmt.Errorf("onboard %s: %w", l.d.Target.Value, err)
	}
	dec := l.d.Decision
	dec.Mode = vocab.Enforce
	d, err := a.setStatus(ctx, l, []vocab.Status{vocab.StatusPending}, vocab.StatusEnforced, &dec)
	if err != nil {
		return Decision{}, err
	}
	if err := a.auditDecision(ctx, "decision.approved", actor, d, map[string]any{"onboarded": l.d.Target.Value}); err != nil {
		return Decision{}, err
	}
	log.Info().Str("actor", actor).Str("decision", d.ID).Str("api", l.d.Target.Value).Msg("API onboarded to Defender for APIs")
	return d, nil
}

// Reject answers a pending decision with no: nothing is enforced.
func (a *App) Reject(ctx context.Context, log zerolog.Logger, actor, id string, req RejectRequest) (Decision, error) {
	l, err := a.locate(ctx, id)
	if err != nil {
		return Decision{}, err
	}
	reason, err := optionalReason(req.Reason)
	if err != nil {
		return Decision{}, err
	}
	if l.d.Target != nil && l.d.Status == vocab.StatusPending {
		// A rejection says the alert was wrong: its offence no longer counts.
		if _, err := a.store.RevertOffences(ctx, l.d.Target.Value, l.rec.IncidentID); err != nil {
			return Decision{}, err
		}
	}
	d, err := a.setStatus(ctx, l, []vocab.Status{vocab.StatusPending}, vocab.StatusRejected, nil)
	if err != nil {
		return Decision{}, err
	}
	if err := a.auditDecision(ctx, "decision.rejected", actor, d, map[string]any{"reason": reason}); err != nil {
		return Decision{}, err
	}
	log.Info().Str("actor", actor).Str("decision", id).Msg("decision rejected")
	return d, nil
}

// Revert undoes what a decision put in force: its desired block goes (the targets
// follow), its offence no longer counts towards escalation, and with Allow the target
// is allow-listed for that long, so the same false positive does not come straight
// back.
func (a *App) Revert(ctx context.Context, log zerolog.Logger, actor, id string, req RevertRequest) (Decision, error) {
	l, err := a.locate(ctx, id)
	if err != nil {
		return Decision{}, err
	}
	reason, err := optionalReason(req.Reason)
	if err != nil {
		return Decision{}, err
	}
	var allowFor time.Duration
	if req.Allow != "" {
		if allowFor, err = a.duration("allow", req.Allow); err != nil {
			return Decision{}, err
		}
		if l.d.Target == nil || l.d.Target.Kind != vocab.KeyIP {
			return Decision{}, fault.Invalid("allow", "only an address can be allow-listed; this decision acts on %v", l.d.Target)
		}
	}
	switch l.d.Status {
	case vocab.StatusReverted:
		return l.d, nil // a retry
	case vocab.StatusEnforced, vocab.StatusDryRun, vocab.StatusRecorded:
	default:
		return Decision{}, fault.Conflict("decision %s is %s: nothing to revert (reject a pending one)", id, l.d.Status)
	}
	if allowFor > 0 {
		if _, err := a.AddAllow(ctx, log, actor, AllowRequest{Target: l.d.Target.Value, Duration: req.Allow,
			Reason: "reverted " + id + orEmpty(": ", reason)}); err != nil {
			return Decision{}, err
		}
	}
	if err := a.undo(ctx, actor, l.rec.IncidentID, l.d.Decision); err != nil {
		return Decision{}, err
	}
	d, err := a.setStatus(ctx, l, []vocab.Status{vocab.StatusEnforced, vocab.StatusDryRun, vocab.StatusRecorded}, vocab.StatusReverted, nil)
	if err != nil {
		return Decision{}, err
	}
	if err := a.auditDecision(ctx, "decision.reverted", actor, d, map[string]any{"reason": reason, "allow": req.Allow}); err != nil {
		return Decision{}, err
	}
	log.Info().Str("actor", actor).Str("decision", id).Msg("decision reverted")
	return d, nil
}

// undo takes a decision's block out of the desired state and its offence out of the
// escalation count.
func (a *App) undo(ctx context.Context, actor, incident string, d decide.Decision) error {
	if d.Target == nil {
		return nil
	}
	if d.Action.Enforcing() {
		b, found, err := a.store.GetBlock(ctx, string(d.Action), d.Target.Value)
		if err != nil {
			return err
		}
		if found {
			if err := a.removeBlock(ctx, actor, b); err != nil {
				return err
			}
		}
	}
	if _, err := a.store.RevertOffences(ctx, d.Target.Value, incident); err != nil {
		return fmt.Errorf("revert the offence of %s: %w", d.Target.Value, err)
	}
	return nil
}

// protected says why a decision's target may not be blocked now, or "".
func (a *App) protected(ctx context.Context, d decide.Decision) (string, error) {
	if d.Target == nil || d.Target.Kind != vocab.KeyIP {
		return "", nil
	}
	addr, err := netip.ParseAddr(d.Target.Value)
	if err != nil {
		return "not an address", nil
	}
	g, err := a.guard(ctx)
	if err != nil {
		return "", err
	}
	return g.Why(addr), nil
}

// lapse marks a pending decision lapsed.
func (a *App) lapse(ctx context.Context, l located) (Decision, error) {
	d, err := a.setStatus(ctx, l, []vocab.Status{vocab.StatusPending}, vocab.StatusLapsed, nil)
	if err != nil {
		return Decision{}, err
	}
	return d, a.auditDecision(ctx, "decision.lapsed", "expire", d, map[string]any{"ttl": a.cfg.ApprovalTTL.String()})
}

// pendingWindow is the incident event days where pending decisions are looked for:
// a decision is pending at most APIGUARD_APPROVAL_TTL, and an alert's event time may
// precede its delivery by a day or two.
func (a *App) pendingWindow() (time.Time, time.Time) {
	now := a.now().UTC()
	return now.Add(-a.cfg.ApprovalTTL - 48*time.Hour), now.Add(24 * time.Hour)
}

// Pending lists the decisions waiting for an operator (at most 500).
func (a *App) Pending(ctx context.Context) ([]Decision, error) {
	from, to := a.pendingWindow()
	ds, _, err := a.Decisions(ctx, DecisionQuery{Status: vocab.StatusPending, Since: from, Until: to, Limit: 500})
	return ds, err
}

// lapsePending marks every decision pending for longer than APIGUARD_APPROVAL_TTL
// lapsed: the expire timer's work.
func (a *App) lapsePending(ctx context.Context) (int, error) {
	now := a.now().UTC()
	n, token := 0, ""
	for {
		from, to := a.pendingWindow()
		recs, next, err := a.store.ListDecisionsByStatus(ctx, record.DecisionQuery{
			Status: string(vocab.StatusPending), From: from, To: to, Limit: 500, Token: token,
		})
		if err != nil {
			return n, err
		}
		for _, r := range recs {
			if !now.After(r.Created.Add(a.cfg.ApprovalTTL)) {
				continue
			}
			d, err := decisionOf(r)
			if err != nil {
				return n, err
			}
			eventTime, _, err := a.store.LocateIncident(ctx, r.IncidentID)
			if err != nil {
				return n, err
			}
			if _, err := a.lapse(ctx, located{rec: r, d: d, eventTime: eventTime}); err != nil {
				return n, err
			}
			n++
		}
		if next == "" {
			return n, nil
		}
		token = next
	}
}

func optionalReason(s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "", nil
	}
	return checkReason(s)
}

func orEmpty(sep, s string) string {
	if s == "" {
		return ""
	}
	return sep + s
}
