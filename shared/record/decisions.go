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
	rows := make([]*entity, 0, len(recs))
	for _, rec := range recs {
		e, err := decisionEntity(rec)
		if err != nil {
			return err
		}
		rows = append(rows, e)
	}
	return s.decisions.upsertAll(ctx, rows)
}

// ListDecisions returns an incident's decisions ordered by Index.
func (s *Store) ListDecisions(ctx context.Context, incidentID string, eventTime time.Time) ([]DecisionRecord, error) {
	pk, first, err := decisionKeys(incidentID, eventTime, 0)
	if err != nil {
		return nil, err
	}
	prefix := first[:len(first)-4] // "<id>-"
	// "<id>." is the first string after every "<id>-…", since '.' follows '-'.
	end := prefix[:len(prefix)-1] + "."
	filter := fmt.Sprintf("PartitionKey eq %s and RowKey ge %s and RowKey lt %s", odataString(pk), odataString(prefix), odataString(end))
	var out []DecisionRecord
	err = s.decisions.query(ctx, filter, "", func(e *entity) error {
		// The range also holds "<id>-x-0000", the decisions of incident "<id>-x":
		// ours are exactly four digits after the prefix.
		if len(e.rk) != len(prefix)+4 {
			return nil
		}
		if _, err := strconv.Atoi(e.rk[len(prefix):]); err != nil {
			return nil
		}
		rec, err := decisionFrom(e)
		if err != nil {
			return err
		}
		out = append(out, rec)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out, nil
}

func decisionEntity(rec DecisionRecord) (*entity, error) {
	pk, rk, err := decisionKeys(rec.IncidentID, rec.EventTime, rec.Index)
	if err != nil {
		return nil, err
	}
	e := newEntity(pk, rk)
	e.setString("IncidentID", rec.IncidentID)
	e.setTime("EventTime", rec.EventTime)
	e.setInt("Index", int64(rec.Index))
	e.setString("Action", rec.Action)
	e.setString("Target", rec.Target)
	e.setString("Mode", rec.Mode)
	e.setTime("Created", rec.Created)
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
	}, nil
}
