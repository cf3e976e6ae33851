package record

import (
	"context"
	"fmt"
	"time"
)

// Incident property names; Raw and Normalized are chunked (see chunks.go).
const (
	propRaw        = "Raw"
	propNormalized = "Normalized"
)

// incidentKeys: the UTC day of the event partitions incidents, so a day's
// incidents are one partition scan and no partition grows forever; the id is
// the row. The caller needs the event time for a point read, which it has:
// the alert carries it.
func incidentKeys(id string, eventTime time.Time) (string, string, error) {
	rk := escapeKey(id)
	if err := checkKey("incident id", rk); err != nil {
		return "", "", err
	}
	return dayPartition(eventTime), rk, nil
}

// GetIncident reads an incident by id and event time; found is false when it
// has not been stored.
func (s *Store) GetIncident(ctx context.Context, id string, eventTime time.Time) (IncidentRecord, bool, error) {
	return getIncident(ctx, s.incidents, id, eventTime)
}

func getIncident(ctx context.Context, t rowTable, id string, eventTime time.Time) (IncidentRecord, bool, error) {
	pk, rk, err := incidentKeys(id, eventTime)
	if err != nil {
		return IncidentRecord{}, false, err
	}
	e, found, err := t.get(ctx, pk, rk)
	if err != nil || !found {
		return IncidentRecord{}, false, err
	}
	rec, err := incidentFrom(e)
	return rec, err == nil, err
}

// PutIncident inserts or replaces an incident. The raw and normalized alert are
// compressed; if they still exceed the entity limit they are cut and flagged
// rather than failing the write (README.md, "Large alerts").
func (s *Store) PutIncident(ctx context.Context, rec IncidentRecord) error {
	return putIncident(ctx, s.incidents, rec)
}

func putIncident(ctx context.Context, t rowTable, rec IncidentRecord) error {
	e, err := incidentEntity(rec)
	if err != nil {
		return err
	}
	return t.upsert(ctx, e)
}

func incidentEntity(rec IncidentRecord) (*entity, error) {
	pk, rk, err := incidentKeys(rec.ID, rec.EventTime)
	if err != nil {
		return nil, err
	}
	e := newEntity(pk, rk)
	e.setString("ID", rec.ID)
	e.setTime("EventTime", rec.EventTime)
	e.setTime("Received", rec.Received)
	e.setString("AlertType", rec.AlertType)
	e.setString("Severity", rec.Severity)
	e.setString("Source", rec.Source)
	e.setInt("DecisionCount", int64(rec.DecisionCount))
	e.setBool("Complete", rec.Complete)
	budget, err := payloadBudget(e)
	if err != nil {
		return nil, fmt.Errorf("record: encode incident %s: %w", rec.ID, err)
	}
	// The normalized document goes first and only whole: it is what the API
	// serves and is much smaller. The raw alert is the one worth cutting, since a
	// prefix of it is still evidence.
	used, _ := putChunks(e, propNormalized, rec.Normalized, budget, true)
	putChunks(e, propRaw, rec.Raw, budget-used, false)
	return e, nil
}

func incidentFrom(e *entity) (IncidentRecord, error) {
	rec := IncidentRecord{
		ID:            unescapeKey(e.rk),
		EventTime:     e.time("EventTime"),
		Received:      e.time("Received"),
		AlertType:     e.str("AlertType"),
		Severity:      e.str("Severity"),
		Source:        e.str("Source"),
		DecisionCount: int(e.int("DecisionCount")),
		Complete:      e.boolean("Complete"),
	}
	norm, cut, err := getChunks(e, propNormalized)
	if err != nil {
		return IncidentRecord{}, fmt.Errorf("record: incident %s: %w", rec.ID, err)
	}
	if cut {
		rec.NormalizedTruncated = true
	} else {
		rec.Normalized = norm
	}
	rec.Raw, rec.RawTruncated, err = getChunks(e, propRaw)
	if err != nil {
		return IncidentRecord{}, fmt.Errorf("record: incident %s: %w", rec.ID, err)
	}
	return rec, nil
}
