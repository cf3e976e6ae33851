package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/alert"
	"github.com/apiguard/apiguard/shared/decide"
	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/notify"
	"github.com/apiguard/apiguard/shared/record"
	"github.com/apiguard/apiguard/shared/vocab"
)

// Outcome is what happened to one incident.
type Outcome struct {
	Incident  alert.Incident    `json:"incident"`
	Decisions []decide.Decision `json:"decisions"`
	// Duplicate is true when the alert had been decided before: nothing new was
	// written. Of concurrent deliveries of one alert exactly one answers false.
	Duplicate bool `json:"duplicate"`
	// Undecided counts the addresses the alert named beyond what one incident is
	// decided on; nil when there were none.
	Undecided *Undecided `json:"undecided,omitempty"`
}

// Undecided is a count of addresses that were not decided on, and why.
type Undecided struct {
	Count  int    `json:"count"`
	Reason string `json:"reason"`
}

// AlertsAnswer is the answer to an alert body: each incident's decisions, and the
// elements of a batch that were set aside. `alerts` answers it and `plan` prints it.
type AlertsAnswer struct {
	Incidents []Outcome        `json:"incidents"`
	Rejected  []alert.Rejected `json:"rejected,omitempty"`
}

// HTTPStatus is 202: the decisions are recorded, enforcement follows.
func (AlertsAnswer) HTTPStatus() int { return http.StatusAccepted }

// Handshake answers an Event Grid subscription validation event.
type Handshake struct {
	ValidationResponse string `json:"validationResponse"`
}

// HTTPStatus is 200, as Event Grid expects.
func (Handshake) HTTPStatus() int { return http.StatusOK }

// Alerts decodes one alert body (any accepted shape) and decides every incident in it:
// decisions recorded, desired blocks kept, reconcile requests sent. The answer is an
// AlertsAnswer, or a Handshake for an Event Grid validation event. A transient failure
// returns an error: every write is idempotent, so the caller's retry completes what
// this attempt started and repeats nothing already decided.
func (a *App) Alerts(ctx context.Context, log zerolog.Logger, body []byte, headers http.Header) (any, error) {
	batch, err := alert.Decode(body, headers)
	if err != nil {
		return nil, err
	}
	if batch.ValidationCode != "" {
		log.Info().Msg("Event Grid subscription validation answered")
		return Handshake{ValidationResponse: batch.ValidationCode}, nil
	}
	for _, r := range batch.Rejected {
		log.Warn().Int("index", r.Index).Str("reason", r.Reason).Msg("batch element set aside")
	}
	out := AlertsAnswer{Incidents: make([]Outcome, 0, len(batch.Incidents)), Rejected: batch.Rejected}
	for _, inc := range batch.Incidents {
		o, err := a.decide(ctx, log, inc)
		if err != nil {
			return nil, fmt.Errorf("incident %s: %w", inc.ID, err)
		}
		ev := log.Info().Str("incident", inc.ID).Str("alert_type", inc.AlertType).Bool("duplicate", o.Duplicate)
		for _, d := range o.Decisions {
			ev = ev.Str(fmt.Sprintf("decision_%d", d.Index), string(d.Action)+" "+d.Address)
		}
		ev.Msg("alert decided")
		out.Incidents = append(out.Incidents, o)
	}
	return out, nil
}

// decide decides one incident and records everything, or returns the earlier decisions
// of a redelivered alert, and asks the targets holding what it changed to reconcile.
//
// One delivery decides: the one that claims the incident (record.ClaimIncident, an
// insert-if-absent). Concurrent deliveries of the same alert find the claim, wait
// for the holder to complete it and answer its decisions as a duplicate, so the
// decisions, the audit row, the block writes and the one "duplicate: false" answer
// happen once. Every write is idempotent (deterministic keys) and the incident is
// marked complete last, under the claim's ETag, so a retry after a partial failure
// (the claim released, or lapsed after a crash) converges on the same state and
// never adds a second decision. The reconcile requests go out before the incident
// is complete, so a retry after a failed send sends them again.
func (a *App) decide(ctx context.Context, log zerolog.Logger, inc alert.Incident) (Outcome, error) {
	eventTime := inc.EventTime()
	prev, found, err := a.store.GetIncident(ctx, inc.ID, eventTime)
	if err != nil {
		return Outcome{}, fmt.Errorf("read incident %s: %w", inc.ID, err)
	}
	if found && prev.Complete {
		return a.duplicate(ctx, log, inc, prev)
	}
	normalized, err := json.Marshal(inc)
	if err != nil {
		return Outcome{}, err
	}
	held, err := a.claim(ctx, log, inc, eventTime, normalized)
	if err != nil {
		return Outcome{}, err
	}
	if held.Complete {
		return a.duplicate(ctx, log, inc, held)
	}
	o, err := a.decideClaimed(ctx, log, inc, held, normalized)
	if err == nil {
		return o, nil
	}
	if !errors.Is(err, errClaimLost) {
		a.release(ctx, log, held)
		return Outcome{}, err
	}
	// Our claim lapsed and another delivery took the incident over: its answer is
	// the one that says it decided.
	log.Warn().Str("incident", inc.ID).Msg("claim lapsed while deciding: another delivery completes the incident")
	again, cerr := a.claim(ctx, log, inc, eventTime, normalized)
	switch {
	case cerr != nil:
		return Outcome{}, cerr
	case again.Complete:
		return a.duplicate(ctx, log, inc, again)
	}
	a.release(ctx, log, again)
	return Outcome{}, fault.Transient(err)
}

// errClaimLost marks the completion of an incident whose claim another delivery took
// over.
var errClaimLost = errors.New("the claim on the incident was taken over")

// Claims last as long as the invocation may run (its context's deadline) and a
// margin, or defaultClaimLease without a deadline; a delivery that finds another
// holding the claim waits up to maxClaimWait for it to complete. Past the lease a
// crashed holder's incident is taken over by the next delivery.
const (
	defaultClaimLease = 5 * time.Minute
	claimMargin       = 30 * time.Second
	maxClaimWait      = 30 * time.Second
	claimPollMin      = 25 * time.Millisecond
	claimPollMax      = time.Second
	releaseBudget     = 2 * time.Second
)

// claimLease is how long this invocation holds a claim.
func claimLease(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return max(time.Until(dl), 0) + claimMargin
	}
	return defaultClaimLease
}

// claim returns the incident claimed by this delivery, or complete (decided by
// another). While another delivery holds it, it waits, boundedly, for that one to
// complete it (or to release it or let it lapse, and then claims it); past the wait
// it returns a transient error, so the caller retries and then reads the answer.
func (a *App) claim(ctx context.Context, log zerolog.Logger, inc alert.Incident, eventTime time.Time, normalized []byte) (record.IncidentRecord, error) {
	wait := time.NewTimer(maxClaimWait)
	defer wait.Stop()
	poll := claimPollMin
	for {
		now := a.now().UTC()
		rec := incidentRecord(inc, eventTime, now, normalized, 0, false)
		rec.ClaimedUntil = now.Add(claimLease(ctx))
		held, claimed, err := a.store.ClaimIncident(ctx, rec, now)
		switch {
		case err != nil:
			return record.IncidentRecord{}, fmt.Errorf("claim incident %s: %w", inc.ID, err)
		case claimed || held.Complete:
			return held, nil
		}
		log.Debug().Str("incident", inc.ID).Time("claimed_until", held.ClaimedUntil).Msg("incident held by another delivery: waiting for its answer")
		for {
			t := time.NewTimer(poll)
			select {
			case <-ctx.Done():
				t.Stop()
				return record.IncidentRecord{}, fault.Transient(fmt.Errorf("incident %s is being decided by another delivery: %w", inc.ID, ctx.Err()))
			case <-wait.C:
				t.Stop()
				return record.IncidentRecord{}, fault.Transient(fmt.Errorf("incident %s is being decided by another delivery (claimed until %s); retry for its answer",
					inc.ID, held.ClaimedUntil.Format(time.RFC3339)))
			case <-t.C:
			}
			poll = min(2*poll, claimPollMax)
			cur, found, err := a.store.GetIncident(ctx, inc.ID, eventTime)
			if err != nil {
				return record.IncidentRecord{}, fmt.Errorf("read incident %s: %w", inc.ID, err)
			}
			if found && cur.Complete {
				return cur, nil
			}
			if !found || !cur.ClaimedUntil.After(a.now()) {
				break // released or lapsed: claim it
			}
		}
	}
}

// release gives up this delivery's claim after a failure, so the caller's retry
// takes the incident over at once instead of waiting for the lease. It is best
// effort (a lapse frees the claim too) and runs even when ctx has ended, for at most
// releaseBudget: a store that made the decision fail may be hung.
func (a *App) release(ctx context.Context, log zerolog.Logger, held record.IncidentRecord) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseBudget)
	defer cancel()
	held.ClaimedUntil = time.Time{}
	if err := a.store.PutIncident(ctx, held); err != nil {
		log.Warn().Err(err).Str("incident", held.ID).Msg("claim not released: the next delivery takes the incident over when it lapses")
	}
}

// decideClaimed decides an incident this delivery holds the claim on, writes
// everything and completes it.
func (a *App) decideClaimed(ctx context.Context, log zerolog.Logger, inc alert.Incident, held record.IncidentRecord, normalized []byte) (Outcome, error) {
	eventTime, received := inc.EventTime(), held.Received // the first sighting, kept across takeovers
	decisions, err := a.decider.Decide(ctx, &inc)
	if err != nil {
		return Outcome{}, fmt.Errorf("decide %s: %w", inc.ID, err)
	}
	undecided := undecidedOf(incidentRecord(inc, eventTime, received, nil, 0, false))
	if undecided != nil {
		log.Warn().Str("incident", inc.ID).Int("undecided", undecided.Count).Msg(undecided.Reason)
	}

	var audit []record.AuditEvent
	var changed []vocab.Action
	var kept []record.AuditEvent // the block changes to announce once the incident is complete
	var pending []Decision
	recs := make([]record.DecisionRecord, 0, len(decisions))
	for _, d := range decisions {
		body, err := json.Marshal(d)
		if err != nil {
			return Outcome{}, err
		}
		target := ""
		if d.Target != nil {
			target = d.Target.Value
		}
		status := vocab.StatusOf(d.Action, d.Mode)
		recs = append(recs, record.DecisionRecord{
			IncidentID: inc.ID, EventTime: eventTime, Index: d.Index, Action: string(d.Action),
			Target: target, Mode: string(d.Mode), Status: string(status), Created: received, Updated: received, Body: body,
		})
		if Offence(d) {
			if err := a.store.AddOffence(ctx, record.Offence{
				Target: target, Time: offenceTime(eventTime, received), IncidentID: inc.ID,
				Action: string(d.Action), Severity: string(d.Severity),
			}); err != nil {
				return Outcome{}, fmt.Errorf("record offence of %s: %w", target, err)
			}
		}
		switch {
		case status == vocab.StatusPending:
			// Nothing is kept until an operator approves.
			pending = append(pending, Decision{ID: DecisionID(inc.ID, d.Index), Incident: inc.ID, Status: status, Updated: received, Decision: d})
		case d.Action.Enforcing():
			// Every enforcing decision asks for a reconcile, written or not: a retried
			// delivery must not lose the request its first attempt failed to send.
			if !slices.Contains(changed, d.Action) {
				changed = append(changed, d.Action)
			}
			ev, err := a.keepBlock(ctx, inc.ID, d)
			if err != nil {
				return Outcome{}, err
			}
			if ev != nil {
				audit = append(audit, *ev)
				kept = append(kept, *ev)
			}
		}
	}
	if err := a.store.PutDecisions(ctx, recs); err != nil {
		return Outcome{}, fmt.Errorf("write decisions of %s: %w", inc.ID, err)
	}

	summary, _ := json.Marshal(map[string]any{"alert_type": inc.AlertType, "severity": inc.Severity, "decisions": decisions, "undecided": undecided})
	audit = append(audit, record.AuditEvent{
		Time: received, ID: inc.ID + "-decided", Kind: "incident.decided", Subject: inc.ID, Actor: "alerts", Detail: summary,
	})
	if err := a.store.AppendAudit(ctx, audit); err != nil {
		return Outcome{}, fmt.Errorf("audit %s: %w", inc.ID, err)
	}
	if err := a.requestReconcile(ctx, changed, "incident "+inc.ID); err != nil {
		return Outcome{}, err
	}
	done := incidentRecord(inc, eventTime, received, normalized, len(decisions), true)
	done.ETag = held.ETag
	if err := a.store.PutIncident(ctx, done); err != nil {
		if errors.Is(err, record.ErrConflict) {
			err = fmt.Errorf("%w: %w", errClaimLost, err)
		}
		return Outcome{}, fmt.Errorf("write incident %s: %w", inc.ID, err)
	}
	for _, ev := range kept {
		a.announceKept(ev)
	}
	for _, d := range pending {
		a.announcePending(d)
	}
	return Outcome{Incident: inc, Decisions: decisions, Undecided: undecided}, nil
}

// Offence is the one rule of what counts towards escalation, online and offline alike:
// every decision that names a target and is not a skip. A recorded or deferred decision
// counts (a play such as "record, then throttle a repeat offender" escalates on it), a
// dry-run one counts (so dry-run shows what enforcing would escalate to), and a skipped
// one does not (a protected address is never an offender).
func Offence(d decide.Decision) bool { return d.Target != nil && d.Action != vocab.Skip }

// offenceTime is when an offence happened: when the alert says it did, so every
// delivery of one alert writes the same offence row; from the first sighting when the
// alert has no time or one in the future.
func offenceTime(eventTime, received time.Time) time.Time {
	if eventTime.IsZero() || eventTime.After(received) {
		return received
	}
	return eventTime
}

// duplicate answers a delivery of an incident decided before (or by a concurrent
// delivery): its decisions as stored, nothing written.
func (a *App) duplicate(ctx context.Context, log zerolog.Logger, inc alert.Incident, rec record.IncidentRecord) (Outcome, error) {
	o, err := a.earlier(ctx, inc, inc.EventTime())
	if err != nil {
		return Outcome{}, err
	}
	o.Undecided = undecidedOf(rec)
	log.Info().Str("incident", inc.ID).Msg("redelivered alert: earlier decisions returned, nothing written")
	return o, nil
}

// earlier returns the decisions of an incident decided before.
func (a *App) earlier(ctx context.Context, inc alert.Incident, eventTime time.Time) (Outcome, error) {
	recs, err := a.store.ListDecisions(ctx, inc.ID, eventTime)
	if err != nil {
		return Outcome{}, fmt.Errorf("read decisions of %s: %w", inc.ID, err)
	}
	out := Outcome{Incident: inc, Duplicate: true, Decisions: make([]decide.Decision, 0, len(recs))}
	for _, r := range recs {
		var d decide.Decision
		if err := json.Unmarshal(r.Body, &d); err != nil {
			return Outcome{}, fmt.Errorf("stored decision %s/%d is unreadable: %w", inc.ID, r.Index, err)
		}
		out.Decisions = append(out.Decisions, d)
	}
	return out, nil
}

func incidentRecord(inc alert.Incident, eventTime, received time.Time, normalized []byte, decisions int, complete bool) record.IncidentRecord {
	rec := record.IncidentRecord{
		ID: inc.ID, EventTime: eventTime, Received: received, AlertType: inc.AlertType, Severity: string(inc.Severity),
		Source: sourceOf(inc), Normalized: normalized, Raw: inc.Raw, DecisionCount: decisions, Complete: complete,
	}
	if n := inc.AddressesOverBound; n > 0 {
		rec.Undecided = n
		rec.UndecidedReason = fmt.Sprintf("the alert names %d more distinct addresses than the %d one alert is decided on: "+
			"they are neither blocked nor recorded as offences; the alert as received keeps them", n, alert.MaxAddresses)
	}
	return rec
}

// undecidedOf is an incident's count of undecided addresses; nil when none.
func undecidedOf(rec record.IncidentRecord) *Undecided {
	if rec.Undecided == 0 {
		return nil
	}
	return &Undecided{Count: rec.Undecided, Reason: rec.UndecidedReason}
}

// sourceOf says where an incident came from: a Defender alert, or apiguard's own
// traffic detection.
func sourceOf(inc alert.Incident) string {
	if inc.Shape == findingShape {
		return "finding"
	}
	return "alert"
}

// announceKept announces the block change that keepBlock audited.
func (a *App) announceKept(ev record.AuditEvent) {
	var detail struct {
		After record.Block `json:"after"`
	}
	if json.Unmarshal(ev.Detail, &detail) != nil {
		return
	}
	typ := notify.TypeBlockCreated
	if ev.Kind == "block.extended" {
		typ = notify.TypeBlockExtended
	}
	a.announceChange(typ, detail.After, detail.After.Reason)
}

// keepBlock merges a decision into the desired block of its target: a new block, or an
// existing one extended (never shortened). It returns the audit event of the change, or
// nil when the desired state already covered the decision.
func (a *App) keepBlock(ctx context.Context, incidentID string, d decide.Decision) (*record.AuditEvent, error) {
	now := a.now().UTC()
	kind := "block.created"
	var before *record.Block
	b, wrote, err := a.store.MergeBlock(ctx, string(d.Action), d.Target.Value, func(cur *record.Block) (*record.Block, error) {
		if cur != nil && !cur.Expires.Before(d.Expires) && cur.Mode == string(d.Mode) {
			return nil, nil // already blocked at least as long
		}
		next := record.Block{
			Action: string(d.Action), TargetKind: string(d.Target.Kind), Target: d.Target.Value, Reason: d.Reason,
			Severity: string(d.Severity), SourceIncident: incidentID, Created: now, Updated: now, Expires: d.Expires,
			Mode: string(d.Mode), Offences: d.Offences + 1,
		}
		kind, before = "block.created", nil
		if cur != nil {
			c := *cur
			before = &c
			kind = "block.extended"
			next.Created = cur.Created
			if cur.Expires.After(next.Expires) {
				next.Expires = cur.Expires
			}
		}
		return &next, nil
	})
	if err != nil {
		return nil, fmt.Errorf("keep desired %s of %s: %w", d.Action, d.Target.Value, err)
	}
	if !wrote {
		return nil, nil
	}
	detail, _ := json.Marshal(map[string]any{"decision": d, "before": before, "after": blockView(b)})
	return &record.AuditEvent{
		Time: now, ID: incidentID + "-" + string(d.Action) + "-" + fmt.Sprint(d.Index), Kind: kind,
		Subject: string(d.Action) + ":" + d.Target.Value, Actor: "alerts", Detail: detail,
	}, nil
}

// blockView drops the ETag from audit records: it is transport state, not history.
func blockView(b record.Block) record.Block { b.ETag = ""; return b }
