package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/fault"
)

func decisions(incidentID string, at time.Time, n int) []DecisionRecord {
	out := make([]DecisionRecord, n)
	for i := range out {
		out[i] = DecisionRecord{
			IncidentID: incidentID,
			EventTime:  at,
			Index:      i,
			Action:     "block_waf",
			Target:     fmt.Sprintf("203.0.113.%d/32", i%256),
			Mode:       "enforce",
			Created:    at.Add(time.Duration(i) * time.Millisecond),
			Body:       json.RawMessage(fmt.Sprintf(`{"index":%d,"action":"block_waf","reason":"suspicious ip"}`, i)),
		}
	}
	return out
}

func TestDecisionsRoundTripAcrossTransactions(t *testing.T) {
	s := newStore(t)
	ctx := testContext(t)
	at := time.Date(2026, 11, 23, 8, 30, 0, 0, time.UTC)
	// 250 decisions: three transactions of one partition. Incident "inc-1-x"
	// shares the row-key prefix "inc-1-" and must not leak into inc-1's list;
	// inc-2 lives on another day.
	recs := decisions("inc-1", at, 250)
	recs = append(recs, decisions("inc-1-x", at, 3)...)
	recs = append(recs, decisions("inc-2", at.Add(24*time.Hour), 2)...)
	// Large bodies go gzip-chunked; the batch splits on size as well as count.
	big := json.RawMessage(`{"blob":"` + strings.Repeat("ab", 40*1024) + `"}`)
	recs[7].Body = big
	if err := s.PutDecisions(ctx, recs); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListDecisions(ctx, "inc-1", at)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 250 {
		t.Fatalf("got %d decisions, want 250", len(got))
	}
	for i, d := range got {
		w := recs[i]
		if d.Index != i || d.IncidentID != w.IncidentID || d.Action != w.Action || d.Target != w.Target ||
			d.Mode != w.Mode || !d.EventTime.Equal(w.EventTime) || !d.Created.Equal(w.Created) || !bytes.Equal(d.Body, w.Body) {
			t.Fatalf("decision %d:\n got %+v\nwant %+v", i, d, w)
		}
	}
	other, err := s.ListDecisions(ctx, "inc-1-x", at)
	if err != nil || len(other) != 3 {
		t.Fatalf("inc-1-x: %d decisions, %v", len(other), err)
	}
	none, err := s.ListDecisions(ctx, "inc-2", at)
	if err != nil || len(none) != 0 {
		t.Fatalf("inc-2 on the wrong day: %d decisions, %v", len(none), err)
	}

	// Upsert: writing again replaces, never duplicates.
	recs[0].Mode = "dryrun"
	if err := s.PutDecisions(ctx, recs[:1]); err != nil {
		t.Fatal(err)
	}
	got, _ = s.ListDecisions(ctx, "inc-1", at)
	if len(got) != 250 || got[0].Mode != "dryrun" {
		t.Fatalf("after rewrite: %d decisions, first mode %q", len(got), got[0].Mode)
	}
}

func TestPutDecisionsRejectsBadIndex(t *testing.T) {
	s := newStore(t)
	for _, idx := range []int{-1, maxDecisionIndex + 1} {
		err := s.PutDecisions(testContext(t), []DecisionRecord{{IncidentID: "inc", Index: idx}})
		if fault.Of(err) != fault.Reject {
			t.Errorf("index %d: want a rejection, got %v", idx, err)
		}
	}
	err := s.PutDecisions(testContext(t), []DecisionRecord{{IncidentID: "", Index: 0}})
	if fault.Of(err) != fault.Reject {
		t.Errorf("empty incident id: want a rejection, got %v", err)
	}
}

func TestSplitBatches(t *testing.T) {
	at := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	var rows []*entity
	for _, d := range decisions("inc", at, 250) {
		e, err := decisionEntity(d)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, e)
	}
	// Same partition, different day, and a duplicate row.
	other, _ := decisionEntity(decisions("inc", at.Add(24*time.Hour), 1)[0])
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

func TestPutDecisionsHeavyBatches(t *testing.T) {
	s := newStore(t)
	ctx := testContext(t)
	at := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	recs := decisions("inc-heavy", at, 12)
	for i := range recs {
		// Incompressible, base64 in JSON: ~470 KiB each on the wire.
		recs[i].Body, _ = json.Marshal(randomBytes(t, 256*1024))
	}
	if err := s.PutDecisions(ctx, recs); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListDecisions(ctx, "inc-heavy", at)
	if err != nil || len(got) != 12 {
		t.Fatalf("%d decisions, %v", len(got), err)
	}
	for i := range got {
		if !bytes.Equal(got[i].Body, recs[i].Body) {
			t.Fatalf("body %d differs", i)
		}
	}
	// A body that cannot fit even compressed is a rejection, before any write.
	huge := decisions("inc-huge", at, 1)
	huge[0].Body, _ = json.Marshal(randomBytes(t, 1024*1024))
	if err := s.PutDecisions(ctx, huge); fault.Of(err) != fault.Reject || errors.Is(err, ErrConflict) {
		t.Errorf("oversized body: want a rejection, got %v", err)
	}
}

func BenchmarkPutDecisions100(b *testing.B) {
	s := newStore(b)
	ctx := testContext(b)
	at := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	recs := decisions("inc-bench", at, 100)
	size := 0
	for _, r := range recs {
		size += len(r.Body)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	if err := s.PutDecisions(ctx, recs); err != nil { // creates the table
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := s.PutDecisions(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
}
