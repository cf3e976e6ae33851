package record

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestAuditIdempotentAndRange(t *testing.T) {
	s := newStore(t)
	ctx := testContext(t)
	day1 := time.Date(2026, 11, 22, 23, 59, 0, 0, time.UTC)
	day2 := time.Date(2026, 11, 23, 0, 1, 0, 0, time.UTC)
	events := []AuditEvent{
		{Time: day1, ID: "ev-1", Kind: "incident.decided", Subject: "inc-1", Actor: "alerts", Detail: json.RawMessage(`{"n":1}`)},
		{Time: day1.Add(30 * time.Second), ID: "ev-2/x", Kind: "block.created", Subject: "203.0.113.0/24", Actor: "alerts"},
		{Time: day2, ID: "ev-3", Kind: "block.extended", Subject: "203.0.113.0/24", Actor: "alerts", Detail: json.RawMessage(`{"big":"` + strings.Repeat("z", 40000) + `"}`)},
		{Time: day2.Add(time.Minute), ID: "ev-4", Kind: "block.expired", Subject: "203.0.113.0/24", Actor: "expiry"},
	}
	// 150 more events on day 2: more than one transaction.
	for i := range 150 {
		events = append(events, AuditEvent{Time: day2.Add(time.Duration(i) * time.Millisecond), ID: fmt.Sprintf("bulk-%03d", i), Kind: "bulk"})
	}
	if err := s.AppendAudit(ctx, events); err != nil {
		t.Fatal(err)
	}
	// Retried: same IDs and times, no duplicates.
	if err := s.AppendAudit(ctx, events[:4]); err != nil {
		t.Fatal(err)
	}
	all, err := s.ListAudit(ctx, day1.Add(-time.Hour), day2.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(events) {
		t.Fatalf("ListAudit = %d events, want %d", len(all), len(events))
	}
	for i := 1; i < len(all); i++ {
		if all[i].Time.Before(all[i-1].Time) {
			t.Fatalf("not ordered by time at %d", i)
		}
	}
	byID := map[string]AuditEvent{}
	for _, ev := range all {
		byID[ev.ID] = ev
	}
	for _, want := range events[:4] {
		got := byID[want.ID]
		if !got.Time.Equal(want.Time) || got.Kind != want.Kind || got.Subject != want.Subject || got.Actor != want.Actor || !bytes.Equal(got.Detail, want.Detail) {
			t.Errorf("event %s:\n got %+v\nwant %+v", want.ID, got, want)
		}
	}

	// Across the day boundary, from inclusive, to exclusive.
	got, err := s.ListAudit(ctx, day1.Add(30*time.Second), day2.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 152 || got[0].ID != "ev-2/x" || got[1].ID != "ev-3" && got[1].ID != "bulk-000" {
		t.Fatalf("range: %d events, first %q", len(got), got[0].ID)
	}
	for _, ev := range got {
		if ev.ID == "ev-4" || ev.ID == "ev-1" {
			t.Errorf("%s is outside the range", ev.ID)
		}
	}
	if got, _ := s.ListAudit(ctx, day2, day1); got != nil {
		t.Errorf("inverted range = %d events", len(got))
	}

	// A retry that took a new time (clock moved on) is listed once.
	retry := events[0]
	retry.Time = retry.Time.Add(time.Second)
	if err := s.AppendAudit(ctx, []AuditEvent{retry}); err != nil {
		t.Fatal(err)
	}
	again, _ := s.ListAudit(ctx, day1.Add(-time.Hour), day2.Add(time.Hour))
	if len(again) != len(events) {
		t.Errorf("after a retry with a new time: %d events, want %d", len(again), len(events))
	}
}
