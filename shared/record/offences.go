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
	return offenceRow(pk, rk, o), nil
}

func offenceRow(pk, rk string, o Offence) *entity {
	e := newEntity(pk, rk)
	e.setString("Target", o.Target)
	e.setTime("Time", o.Time)
	e.setString("IncidentID", o.IncidentID)
	e.setString("Action", o.Action)
	e.setString("Severity", o.Severity)
	e.setBool("Reverted", o.Reverted)
	return e
}

// offenceFrom reads an offence row; target, time and incident come from its keys,
// which hold them exactly.
func offenceFrom(e *entity) (Offence, error) {
	at, incident, ok := splitTimedRowKey(e.rk)
	if !ok {
		return Offence{}, fmt.Errorf("record: offence row %q of %q is not <time>-<incident>", e.rk, e.pk)
	}
	return Offence{
		Target:     unescapeKey(e.pk),
		Time:       at,
		IncidentID: incident,
		Action:     e.str("Action"),
		Severity:   e.str("Severity"),
		Reverted:   e.boolean("Reverted"),
	}, nil
}

// RevertOffences marks the target's offences of one incident reverted, so that
// CountOffences no longer counts them, and returns how many rows it changed: 0 when
// there are none or they are reverted already (it is idempotent). It reads the
// target's partition (its offence history) for the incident's rows, fetching only
// row keys and flags, then sets each row's flag If-Match the ETag read, so two
// concurrent reverts count each row once. AddOffence replaces a row whole, so an
// offence added again after its revert (a redelivered incident) counts again.
func (s *Store) RevertOffences(ctx context.Context, target, incidentID string) (int, error) {
	return revertOffences(ctx, s.offences, s.conflicts, target, incidentID)
}

func revertOffences(ctx context.Context, t rowTable, conflicts backoff, target, incidentID string) (int, error) {
	// The keys of a zero time check the target and the incident id: every time is as wide.
	pk, _, err := offenceKeys(target, time.Time{}, incidentID)
	if err != nil {
		return 0, err
	}
	var rows []string
	err = t.scan(ctx, partition(pk), "RowKey,Reverted", func(e *entity) error {
		if _, id, ok := splitTimedRowKey(e.rk); ok && id == incidentID && !e.boolean("Reverted") {
			rows = append(rows, e.rk)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	changed := 0
	for _, rk := range rows {
		m := rowMerge[Offence]{
			op: fmt.Sprintf("revert offence %s of %s", rk, target), pk: pk, rk: rk,
			missing: notFound("offence %s of %s", rk, target),
			decode:  offenceFrom,
			encode:  func(o Offence) (*entity, error) { return offenceRow(pk, rk, o), nil },
		}
		_, wrote, err := m.run(ctx, t, conflicts, func(cur *Offence) (*Offence, error) {
			if cur.Reverted {
				return nil, nil
			}
			cur.Reverted = true
			return cur, nil
		})
		if err != nil {
			return changed, err
		}
		if wrote {
			changed++
		}
	}
	return changed, nil
}

// CountOffences counts the target's offences at or after since, leaving out
// reverted ones and those of excludeIncident (the incident being decided, when it
// is a retry that already recorded its offence). Only row keys and the reverted
// flag are fetched.
func (s *Store) CountOffences(ctx context.Context, target string, since time.Time, excludeIncident string) (int, error) {
	return countOffences(ctx, s.offences, target, since, excludeIncident)
}

func countOffences(ctx context.Context, t rowTable, target string, since time.Time, excludeIncident string) (int, error) {
	r, err := offenceRange(target, since)
	if err != nil {
		return 0, err
	}
	c := offenceCount{exclude: excludeIncident}
	err = t.scan(ctx, r, "RowKey,Reverted", c.add)
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

// offenceCount counts the rows of an offence range, but reverted ones and those of one incident.
type offenceCount struct {
	exclude string
	n       int
}

func (c *offenceCount) add(e *entity) error {
	if e.boolean("Reverted") {
		return nil
	}
	if _, incident, ok := splitTimedRowKey(e.rk); ok && c.exclude != "" && incident == c.exclude {
		return nil
	}
	c.n++
	return nil
}
