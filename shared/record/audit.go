package record

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// auditKeys: the UTC day partitions the trail (a day is one partition; old days
// can be dropped or exported whole) and the row key is the fixed-width time and
// the event id, so a time range is a key range and a retried write with the same
// id and time replaces its own row.
func auditKeys(ev AuditEvent) (string, string, error) {
	if ev.ID == "" {
		return "", "", rejectf("audit event without ID")
	}
	rk := timedRowKey(ev.Time, ev.ID)
	if err := checkKey("audit id", rk); err != nil {
		return "", "", err
	}
	return auditDay(ev.Time), rk, nil
}

// AppendAudit writes events with insert-or-replace, so repeating an event (same
// ID and Time) leaves one row. Events are grouped per day into transactions of
// at most 100.
func (s *Store) AppendAudit(ctx context.Context, events []AuditEvent) error {
	return appendAudit(ctx, s.audit, events)
}

func appendAudit(ctx context.Context, t rowTable, events []AuditEvent) error {
	rows, err := auditEntities(events)
	if err != nil {
		return err
	}
	return t.upsertAll(ctx, rows)
}

// auditEntities encodes every event before anything is written, so a bad one
// rejects the call whole.
func auditEntities(events []AuditEvent) ([]*entity, error) {
	rows := make([]*entity, 0, len(events))
	for _, ev := range events {
		pk, rk, err := auditKeys(ev)
		if err != nil {
			return nil, err
		}
		e := newEntity(pk, rk)
		e.setTime("Time", ev.Time)
		e.setString("ID", ev.ID)
		e.setString("Kind", ev.Kind)
		e.setString("Subject", ev.Subject)
		e.setString("Actor", ev.Actor)
		if err := putPayload(e, "Detail", ev.Detail); err != nil {
			return nil, rejectf("audit %s: %w", ev.ID, err)
		}
		rows = append(rows, e)
	}
	return rows, nil
}

// ListAudit returns the events with from <= Time < to, oldest first. It is one
// query over the day partitions in range: the row key begins with the full
// time, so one RowKey range bounds every day at once. An ID seen twice (a retry
// that used a new time) is listed once, at its first time.
func (s *Store) ListAudit(ctx context.Context, from, to time.Time) ([]AuditEvent, error) {
	return listAudit(ctx, s.audit, from, to)
}

func listAudit(ctx context.Context, t rowTable, from, to time.Time) ([]AuditEvent, error) {
	if !to.After(from) {
		return nil, nil
	}
	l := auditList{seen: map[string]bool{}}
	if err := t.scan(ctx, auditRange(from, to), "", l.add); err != nil {
		return nil, err
	}
	return l.sorted(), nil
}

// auditRange is the rows of the events with from <= Time < to.
func auditRange(from, to time.Time) rowRange {
	return rowRange{pkFrom: auditDay(from), pkTo: auditDay(to), rkFrom: rowTime(from), rkTo: rowTime(to)}
}

// auditList collects events from rows read in key order (day, then time), so the
// first row of an ID is its earliest.
type auditList struct {
	seen map[string]bool
	out  []AuditEvent
}

func (l *auditList) add(e *entity) error {
	t, id, ok := splitTimedRowKey(e.rk)
	if !ok || l.seen[id] {
		return nil
	}
	l.seen[id] = true
	detail, err := getPayload(e, "Detail")
	if err != nil {
		return fmt.Errorf("record: audit %s: %w", e.rk, err)
	}
	l.out = append(l.out, AuditEvent{
		Time:    t,
		ID:      id,
		Kind:    e.str("Kind"),
		Subject: e.str("Subject"),
		Actor:   e.str("Actor"),
		Detail:  detail,
	})
	return nil
}

func (l *auditList) sorted() []AuditEvent {
	sort.SliceStable(l.out, func(i, j int) bool { return l.out[i].Time.Before(l.out[j].Time) })
	return l.out
}

// auditDay is the UTC day of t. Unlike incidents there is no "undated"
// partition: it would sort after every date and fall out of range queries.
func auditDay(t time.Time) string {
	return t.UTC().Format(dayLayout)
}
