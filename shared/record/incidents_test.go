package record

import (
	"context"
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
