package record

import (
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
