package record

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// An incident without an event time goes to the "undated" partition (its
// behaviour is in the contract suite, recordtest).
func TestIncidentUndatedPartition(t *testing.T) {
	e, err := incidentEntity(IncidentRecord{ID: "inc-undated", EventTime: time.Time{}})
	if err != nil {
		t.Fatal(err)
	}
	if e.pk != undatedPartition {
		t.Errorf("partition = %q, want %q", e.pk, undatedPartition)
	}
}

// failingUpserts is a table whose writes fail, as a crash would leave them.
type failingUpserts struct{ memTable }

func (*failingUpserts) upsert(context.Context, *entity) error { return errors.New("crash") }

// PutIncident writes the index row first: a failure of the incident write leaves
// an index row that locates nothing, never an incident that cannot be located.
func TestPutIncidentWritesTheIndexFirst(t *testing.T) {
	ctx := context.Background()
	var index memTable
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	if err := putIncident(ctx, &failingUpserts{}, &index, IncidentRecord{ID: "inc-1", EventTime: at}); err == nil {
		t.Fatal("the failed incident write was not reported")
	}
	got, found, err := locateIncident(ctx, &index, "inc-1")
	if err != nil || !found || !got.Equal(at) {
		t.Fatalf("index after the failure = %v, %v, %v", got, found, err)
	}
	var incidents memTable
	if err := putIncident(ctx, &incidents, &failingUpserts{}, IncidentRecord{ID: "inc-2", EventTime: at}); err == nil {
		t.Fatal("the failed index write was not reported")
	}
	if _, found, _ := getIncident(ctx, &incidents, "inc-2", at); found {
		t.Error("the incident was written although its index row was not")
	}
}

// Azure answers a $select of a property a row lacks with null (Azurite may leave
// it out); the listing decoders read such rows as if the property were absent.
func TestSelectedNullProperties(t *testing.T) {
	src := newEntity("2026-11-23", "inc-1")
	putChunks(src, propNormalized, []byte(`{"ip":"203.0.113.7"}`), maxEntityBytes, true)
	body, err := src.marshal()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Normalized1", "Normalized12", "RawTruncated", "NormalizedTruncated", "EventTime", "AlertType", "Reverted"} {
		m[name] = nil
	}
	withNulls, _ := json.Marshal(m)
	e, err := parseEntity(withNulls)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := incidentListed(e)
	if err != nil || string(rec.Normalized) != `{"ip":"203.0.113.7"}` || rec.RawTruncated || rec.NormalizedTruncated || !rec.EventTime.IsZero() || rec.AlertType != "" {
		t.Fatalf("incident from nulls = %+v, %v", rec, err)
	}
	e.rk = timedRowKey(time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), "inc-1")
	var c offenceCount
	if err := c.add(e); err != nil || c.n != 1 {
		t.Fatalf("an offence with Reverted null counted %d, %v", c.n, err)
	}
}
