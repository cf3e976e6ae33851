package flow

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// about reports whether an audit subject names target: the whole subject (an address
// also as its allow-list entry, "<address>/32"), the target of "<action>:<target>", the
// target key of "<target> <scope>", or the incident of a decision
// "<incident>.<index>". A part of an address never matches the whole one.
func about(subject, target string) bool {
	return subject == target || subject == target+"/32" || subject == target+"/128" || strings.HasSuffix(subject, ":"+target) || strings.HasPrefix(subject, target+" ") ||
		strings.HasPrefix(subject, target+".") && !strings.ContainsAny(subject[len(target)+1:], ".:")
}

// AuditEntry is one entry of the audit trail.
type AuditEntry struct {
	Time    time.Time       `json:"time"`
	ID      string          `json:"id"`
	Kind    string          `json:"kind"`
	Subject string          `json:"subject"`
	Actor   string          `json:"actor"`
	Detail  json.RawMessage `json:"detail,omitempty"`
}

// Audit lists the audit trail from since to until, oldest first; target, when set,
// keeps the entries whose subject names it.
func (a *App) Audit(ctx context.Context, since, until time.Time, target string) ([]AuditEntry, error) {
	events, err := a.store.ListAudit(ctx, since, until)
	if err != nil {
		return nil, err
	}
	out := make([]AuditEntry, 0, len(events))
	for _, e := range events {
		if target != "" && !about(e.Subject, target) {
			continue
		}
		out = append(out, AuditEntry{Time: e.Time, ID: e.ID, Kind: e.Kind, Subject: e.Subject, Actor: e.Actor, Detail: e.Detail})
	}
	return out, nil
}
