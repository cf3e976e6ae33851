package flow

import (
	"context"
	"encoding/json"
	"time"

	"github.com/apiguard/apiguard/shared/alert"
	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/record"
	"github.com/apiguard/apiguard/shared/vocab"
)

// IncidentQuery selects incidents by their event time.
type IncidentQuery struct {
	Since, Until time.Time
	AlertType    string
	Source       string // alert or finding
	Limit        int
	Token        string
}

// Incidents lists incidents, a page at a time; the token continues the list.
func (a *App) Incidents(ctx context.Context, q IncidentQuery) ([]Incident, string, error) {
	recs, next, err := a.store.ListIncidents(ctx, record.IncidentQuery{
		From: q.Since, To: q.Until, AlertType: q.AlertType, Source: q.Source, Limit: q.Limit, Token: q.Token,
	})
	if err != nil {
		return nil, "", err
	}
	out := make([]Incident, 0, len(recs))
	for _, r := range recs {
		out = append(out, incidentOf(r))
	}
	return out, next, nil
}

// Incident returns one incident with its decisions and its evidence.
func (a *App) Incident(ctx context.Context, id string) (Incident, error) {
	eventTime, found, err := a.store.LocateIncident(ctx, id)
	if err != nil {
		return Incident{}, err
	}
	var rec record.IncidentRecord
	if found {
		rec, found, err = a.store.GetIncident(ctx, id, eventTime)
		if err != nil {
			return Incident{}, err
		}
	}
	if !found {
		return Incident{}, fault.NotFound("no incident %s", id)
	}
	out := incidentOf(rec)
	recs, err := a.store.ListDecisions(ctx, id, eventTime)
	if err != nil {
		return Incident{}, err
	}
	for _, r := range recs {
		d, err := decisionOf(r)
		if err != nil {
			return Incident{}, err
		}
		out.Decisions = append(out.Decisions, d)
	}
	if json.Valid(rec.Raw) {
		out.Evidence = json.RawMessage(rec.Raw)
	}
	out.EvidenceTruncated = rec.RawTruncated
	return out, nil
}

// incidentOf is an incident record as operators see it, read from its normalized form.
func incidentOf(r record.IncidentRecord) Incident {
	out := Incident{ID: r.ID, AlertType: r.AlertType, Severity: vocab.Severity(r.Severity), Source: r.Source,
		EventTime: r.EventTime, Received: r.Received, Complete: r.Complete, Undecided: undecidedOf(r)}
	var inc alert.Incident
	if json.Unmarshal(r.Normalized, &inc) == nil {
		out.DisplayName = inc.DisplayName
		for _, ad := range inc.Addresses {
			out.Addresses = append(out.Addresses, ad.IP.String())
		}
		for _, id := range inc.Identities {
			out.Identities = append(out.Identities, string(id.Kind)+":"+id.Value)
		}
	}
	return out
}
