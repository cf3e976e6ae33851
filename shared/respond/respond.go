// Package respond carries an incident from decision to record: it decides once per
// alert, keeps the desired blocks with their expiry, the offence history and the audit
// trail, and expires blocks. Every write is idempotent (deterministic keys), and the
// incident is marked complete last, so a retried or redelivered alert converges on the
// same state and never adds a second decision.
package respond

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/alert"
	"github.com/apiguard/apiguard/shared/decide"
	"github.com/apiguard/apiguard/shared/record"
)

// Store is the state respond keeps; *record.Store implements it.
type Store interface {
	GetIncident(ctx context.Context, id string, eventTime time.Time) (record.IncidentRecord, bool, error)
	PutIncident(ctx context.Context, rec record.IncidentRecord) error
	PutDecisions(ctx context.Context, recs []record.DecisionRecord) error
	ListDecisions(ctx context.Context, incidentID string, eventTime time.Time) ([]record.DecisionRecord, error)
	MergeBlock(ctx context.Context, action, target string, fn func(cur *record.Block) (*record.Block, error)) (record.Block, bool, error)
	ListExpiredBlocks(ctx context.Context, action string, now time.Time) ([]record.Block, error)
	DeleteBlock(ctx context.Context, b record.Block) error
	AddOffence(ctx context.Context, o record.Offence) error
	CountOffences(ctx context.Context, target string, since time.Time, excludeIncident string) (int, error)
	Reserve(ctx context.Context, bucket, key string, limit int) (bool, error)
	AppendAudit(ctx context.Context, events []record.AuditEvent) error
}

var _ Store = (*record.Store)(nil)

// Notifier hears that the desired blocks of an action changed, so the enforcement
// points that hold that action get reconciled.
type Notifier interface {
	BlocksChanged(ctx context.Context, action string, reason string) error
}

// Service responds to incidents.
type Service struct {
	store  Store
	engine *decide.Engine
	now    func() time.Time
	notify Notifier
}

// New wires a service; engine should have been built over History(store). notify may
// be nil (nothing to reconcile).
func New(store Store, engine *decide.Engine, now func() time.Time, notify Notifier) *Service {
	return &Service{store: store, engine: engine, now: now, notify: notify}
}

// changed tells the notifier about each action, once.
func (s *Service) changed(ctx context.Context, actions map[string]bool, reason string) error {
	if s.notify == nil {
		return nil
	}
	for _, a := range []decide.Action{decide.BlockWAF, decide.BlockAPIM, decide.Throttle} {
		if actions[string(a)] {
			if err := s.notify.BlocksChanged(ctx, string(a), reason); err != nil {
				return fmt.Errorf("request reconcile of %s: %w", a, err)
			}
		}
	}
	return nil
}

// History adapts a Store to what the decision engine needs.
func History(s Store) decide.History { return history{s} }

type history struct{ s Store }

func (h history) Offences(ctx context.Context, target string, since time.Time, exclude string) (int, error) {
	return h.s.CountOffences(ctx, target, since, exclude)
}
func (h history) Reserve(ctx context.Context, bucket, key string, limit int) (bool, error) {
	return h.s.Reserve(ctx, bucket, key, limit)
}

// Outcome is what happened to one incident.
type Outcome struct {
	Incident  alert.Incident    `json:"incident"`
	Decisions []decide.Decision `json:"decisions"`
	// Duplicate is true when the alert had been decided before: nothing new was written.
	Duplicate bool `json:"duplicate"`
}

// Alert decides one incident and records everything, or returns the earlier decisions
// of a redelivered alert.
func (s *Service) Alert(ctx context.Context, log zerolog.Logger, inc alert.Incident) (Outcome, error) {
	eventTime := inc.EventTime()
	prev, found, err := s.store.GetIncident(ctx, inc.ID, eventTime)
	if err != nil {
		return Outcome{}, fmt.Errorf("read incident %s: %w", inc.ID, err)
	}
	if found && prev.Complete {
		recs, err := s.store.ListDecisions(ctx, inc.ID, eventTime)
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
		log.Info().Str("incident", inc.ID).Msg("redelivered alert: earlier decisions returned, nothing written")
		return out, nil
	}

	normalized, err := json.Marshal(inc)
	if err != nil {
		return Outcome{}, err
	}
	received := s.now().UTC()
	if found {
		received = prev.Received // an earlier attempt got part of the way: keep its first-seen time
	} else {
		// Claim the incident first (incomplete), so a retry after a partial failure
		// finds the first-seen time and writes the offence rows, keyed by it, again
		// rather than beside the first ones.
		if err := s.store.PutIncident(ctx, record.IncidentRecord{
			ID: inc.ID, EventTime: eventTime, Received: received, AlertType: inc.AlertType, Severity: string(inc.Severity),
			Source: "alert", Normalized: normalized, Raw: inc.Raw,
		}); err != nil {
			return Outcome{}, fmt.Errorf("write incident %s: %w", inc.ID, err)
		}
	}
	// An offence happened when the alert says it did; the row key includes that time, so
	// every delivery of one alert writes the same offence row.
	offenceTime := eventTime
	if offenceTime.IsZero() || offenceTime.After(received) {
		offenceTime = received // no time, or one in the future: count it from now
	}
	decisions, err := s.engine.Decide(ctx, &inc)
	if err != nil {
		return Outcome{}, fmt.Errorf("decide %s: %w", inc.ID, err)
	}

	var audit []record.AuditEvent
	enforced := map[string]bool{}
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
		recs = append(recs, record.DecisionRecord{
			IncidentID: inc.ID, EventTime: eventTime, Index: d.Index, Action: string(d.Action),
			Target: target, Mode: d.Mode, Created: received, Body: body,
		})
		if d.Target != nil && d.Action != decide.Skip {
			if err := s.store.AddOffence(ctx, record.Offence{
				Target: target, Time: offenceTime, IncidentID: inc.ID, Action: string(d.Action), Severity: d.Severity,
			}); err != nil {
				return Outcome{}, fmt.Errorf("record offence of %s: %w", target, err)
			}
		}
		if d.Action.Enforcing() {
			// Every enforcing decision asks for a reconcile, written or not: a retried
			// delivery must not lose the request its first attempt failed to send.
			enforced[string(d.Action)] = true
			ev, err := s.keepBlock(ctx, inc.ID, d)
			if err != nil {
				return Outcome{}, err
			}
			if ev != nil {
				audit = append(audit, *ev)
			}
		}
	}
	if err := s.store.PutDecisions(ctx, recs); err != nil {
		return Outcome{}, fmt.Errorf("write decisions of %s: %w", inc.ID, err)
	}

	summary, _ := json.Marshal(map[string]any{"alert_type": inc.AlertType, "severity": inc.Severity, "decisions": decisions})
	audit = append(audit, record.AuditEvent{
		Time: received, ID: inc.ID + "-decided", Kind: "incident.decided", Subject: inc.ID, Actor: "alerts", Detail: summary,
	})
	if err := s.store.AppendAudit(ctx, audit); err != nil {
		return Outcome{}, fmt.Errorf("audit %s: %w", inc.ID, err)
	}

	if err := s.changed(ctx, enforced, "incident "+inc.ID); err != nil {
		return Outcome{}, err
	}
	if err := s.store.PutIncident(ctx, record.IncidentRecord{
		ID: inc.ID, EventTime: eventTime, Received: received, AlertType: inc.AlertType, Severity: string(inc.Severity),
		Source: "alert", Normalized: normalized, Raw: inc.Raw, DecisionCount: len(decisions), Complete: true,
	}); err != nil {
		return Outcome{}, fmt.Errorf("write incident %s: %w", inc.ID, err)
	}
	return Outcome{Incident: inc, Decisions: decisions}, nil
}

// keepBlock merges a decision into the desired block of its target: a new block, or an
// existing one extended (never shortened). It returns the audit event of the change, or
// nil when the desired state already covered the decision.
func (s *Service) keepBlock(ctx context.Context, incidentID string, d decide.Decision) (*record.AuditEvent, error) {
	now := s.now().UTC()
	kind := "block.created"
	var before *record.Block
	b, wrote, err := s.store.MergeBlock(ctx, string(d.Action), d.Target.Value, func(cur *record.Block) (*record.Block, error) {
		if cur != nil && !cur.Expires.Before(d.Expires) && cur.Mode == d.Mode {
			return nil, nil // already blocked at least as long
		}
		next := record.Block{
			Action: string(d.Action), TargetKind: d.Target.Kind, Target: d.Target.Value, Reason: d.Reason,
			Severity: d.Severity, SourceIncident: incidentID, Created: now, Updated: now, Expires: d.Expires,
			Mode: d.Mode, Offences: d.Offences + 1,
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

// Expired is one desired block removed by expiry.
type Expired struct {
	Action  string    `json:"action"`
	Target  string    `json:"target"`
	Expires time.Time `json:"expires"`
}

// Expire removes every desired block past its expiry and audits each removal. A block
// extended between the scan and the delete (ETag changed) is left alone.
func (s *Service) Expire(ctx context.Context, log zerolog.Logger) ([]Expired, error) {
	now := s.now().UTC()
	var out []Expired
	var errs []error
	gone := map[string]bool{}
	for _, action := range []decide.Action{decide.BlockWAF, decide.BlockAPIM, decide.Throttle} {
		blocks, err := s.store.ListExpiredBlocks(ctx, string(action), now)
		if err != nil {
			errs = append(errs, fmt.Errorf("list expired %s: %w", action, err))
			continue
		}
		for _, b := range blocks {
			// Audit first, with an id fixed by the block's expiry, so a failure between the
			// two writes leaves a record and a retried run rewrites the same one.
			id := "expire-" + b.Action + "-" + b.Target + "-" + b.Expires.UTC().Format("20060102T150405Z")
			detail, _ := json.Marshal(map[string]any{"before": blockView(b)})
			ev := record.AuditEvent{Time: now, ID: id, Kind: "block.expired", Subject: b.Action + ":" + b.Target, Actor: "expire", Detail: detail}
			if err := s.store.AppendAudit(ctx, []record.AuditEvent{ev}); err != nil {
				errs = append(errs, fmt.Errorf("audit expiry of %s: %w", b.Target, err))
				continue
			}
			if err := s.store.DeleteBlock(ctx, b); err != nil {
				if errors.Is(err, record.ErrConflict) {
					// Extended since the scan: the block stays, and the same audit entry is
					// rewritten to say so.
					ev.Kind = "block.expiry_cancelled"
					if err := s.store.AppendAudit(ctx, []record.AuditEvent{ev}); err != nil {
						errs = append(errs, fmt.Errorf("audit kept block %s: %w", b.Target, err))
					}
					log.Info().Str("target", b.Target).Str("action", b.Action).Msg("block changed since the scan: kept")
					continue
				}
				errs = append(errs, fmt.Errorf("delete expired %s %s: %w", b.Action, b.Target, err))
				continue
			}
			out = append(out, Expired{Action: b.Action, Target: b.Target, Expires: b.Expires})
			gone[b.Action] = true
			log.Info().Str("target", b.Target).Str("action", b.Action).Time("expired", b.Expires).Msg("desired block expired")
		}
	}
	if err := s.changed(ctx, gone, "expiry"); err != nil {
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}
