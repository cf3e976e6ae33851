package record

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"
)

// maxDecisionIndex keeps the index four digits wide, so row-key order is index order.
const maxDecisionIndex = 9999

// maxStatusLen bounds a decision's Status: it is a word the caller chooses, and a
// filter of ListDecisionsByStatus.
const maxStatusLen = 64

// decisionKeys put an incident's decisions in its incident's partition with
// row keys "<incident id>-<index %04d>": one incident's decisions are a
// contiguous RowKey range, written in one transaction and read in one query.
func decisionKeys(incidentID string, eventTime time.Time, index int) (string, string, error) {
	id := escapeKey(incidentID)
	if id == "" {
		return "", "", rejectf("decision without incident id")
	}
	if err := checkKey("incident id", id+"-0000"); err != nil {
		return "", "", err
	}
	if index < 0 || index > maxDecisionIndex {
		return "", "", rejectf("decision index %d of incident %s is outside 0..%d", index, incidentID, maxDecisionIndex)
	}
	return dayPartition(eventTime), fmt.Sprintf("%s-%04d", id, index), nil
}

// PutDecisions inserts or replaces decisions, in transactions of one partition
// and at most 100 rows, so an incident's decisions (up to 100) land together or
// not at all.
func (s *Store) PutDecisions(ctx context.Context, recs []DecisionRecord) error {
	return putDecisions(ctx, s.decisions, recs)
}

func putDecisions(ctx context.Context, t rowTable, recs []DecisionRecord) error {
	rows := make([]*entity, 0, len(recs))
	for _, rec := range recs {
		e, err := decisionEntity(rec)
		if err != nil {
			return err
		}
		rows = append(rows, e)
	}
	return t.upsertAll(ctx, rows)
}

// ListDecisions returns an incident's decisions ordered by Index.
func (s *Store) ListDecisions(ctx context.Context, incidentID string, eventTime time.Time) ([]DecisionRecord, error) {
	return listDecisions(ctx, s.decisions, incidentID, eventTime)
}

func listDecisions(ctx context.Context, t rowTable, incidentID string, eventTime time.Time) ([]DecisionRecord, error) {
	r, err := decisionRange(incidentID, eventTime)
	if err != nil {
		return nil, err
	}
	l := decisionList{from: r.rkFrom}
	if err := t.scan(ctx, r, "", l.add); err != nil {
		return nil, err
	}
	return l.sorted(), nil
}

// decisionRange is the rows that hold an incident's decisions: one RowKey range,
// "<id>-" up to "<id>.", the first string after every "<id>-…" since '.' follows '-'.
func decisionRange(incidentID string, eventTime time.Time) (rowRange, error) {
	pk, first, err := decisionKeys(incidentID, eventTime, 0)
	if err != nil {
		return rowRange{}, err
	}
	prefix := first[:len(first)-4] // "<id>-"
	return rowRange{pkFrom: pk, pkTo: pk, rkFrom: prefix, rkTo: prefix[:len(prefix)-1] + "."}, nil
}

// decisionList collects an incident's decisions from the rows of its range.
type decisionList struct {
	from string // the range's first row key, "<id>-"
	out  []DecisionRecord
}

func (l *decisionList) add(e *entity) error {
	// The range also holds "<id>-x-0000", the decisions of incident "<id>-x":
	// ours are exactly four digits after the prefix.
	if len(e.rk) != len(l.from)+4 {
		return nil
	}
	if _, err := strconv.Atoi(e.rk[len(l.from):]); err != nil {
		return nil
	}
	rec, err := decisionFrom(e)
	if err != nil {
		return err
	}
	l.out = append(l.out, rec)
	return nil
}

func (l *decisionList) sorted() []DecisionRecord {
	sort.Slice(l.out, func(i, j int) bool { return l.out[i].Index < l.out[j].Index })
	return l.out
}

// UpdateDecision is a read-modify-write of one decision under optimistic
// concurrency, as MergeBlock is of a block: it reads the decision, calls fn with a
// copy, and writes fn's result If-Match the ETag read; a lost race reads again and
// calls fn again, within the same bounds, so fn must compute only from cur. fn
// returning nil writes nothing (UpdateDecision then returns the decision as read
// and false). IncidentID, EventTime and Index of the result are kept: an update
// cannot move a decision. A decision that does not exist is an error wrapping
// ErrNotFound, a fault.Rejected 404, and fn is not called. Updated is not set
// for the caller: fn sets it from its clock.
func (s *Store) UpdateDecision(ctx context.Context, incidentID string, eventTime time.Time, index int, fn func(cur *DecisionRecord) (*DecisionRecord, error)) (DecisionRecord, bool, error) {
	return updateDecision(ctx, s.decisions, s.conflicts, incidentID, eventTime, index, fn)
}

func updateDecision(ctx context.Context, t rowTable, conflicts backoff, incidentID string, eventTime time.Time, index int, fn func(cur *DecisionRecord) (*DecisionRecord, error)) (DecisionRecord, bool, error) {
	pk, rk, err := decisionKeys(incidentID, eventTime, index)
	if err != nil {
		return DecisionRecord{}, false, err
	}
	m := rowMerge[DecisionRecord]{
		op: fmt.Sprintf("update decision %d of incident %s", index, incidentID), pk: pk, rk: rk,
		missing: notFound("decision %d of incident %s on %s", index, incidentID, pk),
		decode:  decisionFrom,
		encode:  decisionEntity,
	}
	return m.run(ctx, t, conflicts, func(cur *DecisionRecord) (*DecisionRecord, error) {
		at := cur.EventTime
		if dayPartition(at) != pk {
			at = eventTime // a row without its own event time keeps the partition it is in
		}
		next, err := fn(cur)
		if err != nil || next == nil {
			return nil, err
		}
		d := *next
		d.IncidentID, d.EventTime, d.Index = incidentID, at, index
		return &d, nil
	})
}

// ListDecisionsByStatus returns a page of the decisions with status q.Status (any
// status when empty) of the incidents whose event time lies in [q.From, q.To).
// It reads the day partitions of the range oldest first, each in row-key order
// (incident id, then index), one query per day with the status filtered by the
// service, and visits at most 31 days per page: a page may hold fewer than
// q.Limit decisions, even none, and still return a token. The token ("" after
// the last page) is opaque; one that this list did not issue for this range is a
// fault.Rejected error. Decisions of incidents that are not complete are listed
// too; callers filter. Decisions of undated incidents are in no range.
func (s *Store) ListDecisionsByStatus(ctx context.Context, q DecisionQuery) ([]DecisionRecord, string, error) {
	return listDecisionsByStatus(ctx, s.decisions, q)
}

func listDecisionsByStatus(ctx context.Context, t rowTable, q DecisionQuery) ([]DecisionRecord, string, error) {
	p := dayPager[DecisionRecord]{
		list: "decisions", from: q.From, to: q.To, timeProp: "EventTime",
		limit: q.Limit, token: q.Token, decode: decisionFrom,
	}
	if q.Status != "" {
		p.eq = []propEq{{"Status", q.Status}}
	}
	return p.page(ctx, t)
}

func decisionEntity(rec DecisionRecord) (*entity, error) {
	pk, rk, err := decisionKeys(rec.IncidentID, rec.EventTime, rec.Index)
	if err != nil {
		return nil, err
	}
	if n := utf16Len(rec.Status); n > maxStatusLen {
		return nil, rejectf("decision %s: status is %d characters; the limit is %d", rk, n, maxStatusLen)
	}
	e := newEntity(pk, rk)
	e.setString("IncidentID", rec.IncidentID)
	e.setTime("EventTime", rec.EventTime)
	e.setInt("Index", int64(rec.Index))
	e.setString("Action", rec.Action)
	e.setString("Target", rec.Target)
	e.setString("Mode", rec.Mode)
	e.setTime("Created", rec.Created)
	e.setString("Status", rec.Status)
	e.setTime("Updated", rec.Updated)
	if err := putPayload(e, "Body", rec.Body); err != nil {
		return nil, rejectf("decision %s: %w", rk, err)
	}
	return e, nil
}

func decisionFrom(e *entity) (DecisionRecord, error) {
	body, err := getPayload(e, "Body")
	if err != nil {
		return DecisionRecord{}, fmt.Errorf("record: decision %s: %w", e.rk, err)
	}
	return DecisionRecord{
		IncidentID: e.str("IncidentID"),
		EventTime:  e.time("EventTime"),
		Index:      int(e.int("Index")),
		Action:     e.str("Action"),
		Target:     e.str("Target"),
		Mode:       e.str("Mode"),
		Created:    e.time("Created"),
		Body:       body,
		Status:     e.str("Status"),
		Updated:    e.time("Updated"),
	}, nil
}
