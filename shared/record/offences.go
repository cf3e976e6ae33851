package record

import (
	"context"
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
	return addOffence(ctx, s.offences, o)
}

func addOffence(ctx context.Context, t rowTable, o Offence) error {
	e, err := offenceEntity(o)
	if err != nil {
		return err
	}
	return t.upsert(ctx, e)
}

func offenceEntity(o Offence) (*entity, error) {
	pk, rk, err := offenceKeys(o.Target, o.Time, o.IncidentID)
	if err != nil {
		return nil, err
	}
	e := newEntity(pk, rk)
	e.setString("Target", o.Target)
	e.setTime("Time", o.Time)
	e.setString("IncidentID", o.IncidentID)
	e.setString("Action", o.Action)
	e.setString("Severity", o.Severity)
	return e, nil
}

// CountOffences counts the target's offences at or after since, leaving out
// those of excludeIncident (the incident being decided, when it is a retry that
// already recorded its offence). Only row keys are fetched.
func (s *Store) CountOffences(ctx context.Context, target string, since time.Time, excludeIncident string) (int, error) {
	return countOffences(ctx, s.offences, target, since, excludeIncident)
}

func countOffences(ctx context.Context, t rowTable, target string, since time.Time, excludeIncident string) (int, error) {
	r, err := offenceRange(target, since)
	if err != nil {
		return 0, err
	}
	c := offenceCount{exclude: excludeIncident}
	err = t.scan(ctx, r, "RowKey", c.add)
	return c.n, err
}

// offenceRange is the rows of the target's offences at or after since: the row
// key starts with the time at full precision, so this is exact to the nanosecond.
func offenceRange(target string, since time.Time) (rowRange, error) {
	pk := escapeKey(target)
	if err := checkKey("offence target", pk); err != nil {
		return rowRange{}, err
	}
	return rowRange{pkFrom: pk, pkTo: pk, rkFrom: rowTime(since)}, nil
}

// offenceCount counts the rows of an offence range, but those of one incident.
type offenceCount struct {
	exclude string
	n       int
}

func (c *offenceCount) add(e *entity) error {
	if _, incident, ok := splitTimedRowKey(e.rk); ok && c.exclude != "" && incident == c.exclude {
		return nil
	}
	c.n++
	return nil
}
