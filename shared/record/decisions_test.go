package record

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

func TestSplitBatches(t *testing.T) {
	at := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	var rows []*entity
	for i := range 250 {
		e, err := decisionEntity(DecisionRecord{IncidentID: "inc", EventTime: at, Index: i, Body: json.RawMessage(`{"action":"block_waf"}`)})
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, e)
	}
	// Another day's partition, and a duplicate row.
	other, _ := decisionEntity(DecisionRecord{IncidentID: "inc", EventTime: at.Add(24 * time.Hour)})
	rows = append(rows, other, rows[3])
	parts := partitions(rows)
	if len(parts) != 2 || len(parts[0]) != 250 || len(parts[1]) != 1 {
		t.Fatalf("partitions: %d groups", len(parts))
	}
	batches, err := splitBatches(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(batches) != 3 || len(batches[0]) != 100 || len(batches[2]) != 50 {
		t.Fatalf("batches of %d, want 100/100/50", len(batches))
	}
	// Size splits too: 8 rows of ~700 KiB cannot share one 4 MiB transaction.
	var heavy []*entity
	for i := range 8 {
		e := newEntity("p", fmt.Sprintf("r%d", i))
		putChunks(e, "Raw", randomBytes(t, 700*1024), maxEntityBytes-entityMargin, false)
		heavy = append(heavy, e)
	}
	batches, err = splitBatches(heavy)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range batches {
		total := 0
		for _, body := range b {
			total += len(body) + batchOpBytes
		}
		if total > maxBatchBytes {
			t.Errorf("batch of %d bytes exceeds %d", total, maxBatchBytes)
		}
	}
	if len(batches) < 2 {
		t.Errorf("heavy rows went into %d batch", len(batches))
	}
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}
