package record

import (
	"context"
	"fmt"
	"time"
)

// offenceKeys: a target's offences are one partition (targets spread the load
// across many partitions) and the row key starts with the fixed-width event
// time, so "offences since T" is one RowKey range query inside one partition.
// The incident id ends the key: a redelivered incident rewrites the same row.
func offenceKeys(target string, t time.Time, incidentID string) (string, string, error) {
	pk := escapeKey(target)
	if err := checkKey("offence target", pk); err != nil {
		return "", "", err
	}
	if incidentID == "" {
		return "", "", rejectf("offence of %s without incident id: it could not be written idempotently", target)
	}
	rk := timedRowKey(t, incidentID)
	if err := checkKey("offence incident id", rk); err != nil {
		return "", "", err
	}
	return pk, rk, nil
}

// AddOffence records one offence. It is idempotent: the same incident (at the
// same event time) always writes the same row.
func (s *Store) AddOffence(ctx context.Context, o Offence) error {
	pk, rk, err := offenceKeys(o.Target, o.Time, o.IncidentID)
	if err != nil {
		return err
	}
	e := newEntity(pk, rk)
	e.setString("Target", o.Target)
	e.setTime("Time", o.Time)
	e.setString("IncidentID", o.IncidentID)
	e.setString("Action", o.Action)
	e.setString("Severity", o.Severity)
	return s.offences.upsert(ctx, e)
}

// CountOffences counts the target's offences at or after since, leaving out
// those of excludeIncident (the incident being decided, when it is a retry that
// already recorded its offence). Only row keys are fetched.
func (s *Store) CountOffences(ctx context.Context, target string, since time.Time, excludeIncident string) (int, error) {
	pk := escapeKey(target)
	if err := checkKey("offence target", pk); err != nil {
		return 0, err
	}
	filter := fmt.Sprintf("PartitionKey eq %s and RowKey ge %s", odataString(pk), odataString(rowTime(since)))
	n := 0
	err := s.offences.query(ctx, filter, "RowKey", func(e *entity) error {
		_, incident, ok := splitTimedRowKey(e.rk)
		if ok && excludeIncident != "" && incident == excludeIncident {
			return nil
		}
		n++
		return nil
	})
	return n, err
}
