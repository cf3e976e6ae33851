// Package recordtest holds the contract every implementation of apiguard's state
// store must pass: the Table Storage store (record.Store, on Azurite) and the
// in-memory one (record.Memory) both run it from shared/record's tests, so the
// offline commands and tests see what the functions see online.
package recordtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/record"
)

// Store is the state store the contract covers: the operations the application
// layer runs online and offline alike.
type Store interface {
	GetIncident(ctx context.Context, id string, eventTime time.Time) (record.IncidentRecord, bool, error)
	PutIncident(ctx context.Context, rec record.IncidentRecord) error
	ClaimIncident(ctx context.Context, rec record.IncidentRecord, now time.Time) (record.IncidentRecord, bool, error)
	LocateIncident(ctx context.Context, id string) (eventTime time.Time, found bool, err error)
	ListIncidents(ctx context.Context, q record.IncidentQuery) ([]record.IncidentRecord, string, error)
	PutDecisions(ctx context.Context, recs []record.DecisionRecord) error
	ListDecisions(ctx context.Context, incidentID string, eventTime time.Time) ([]record.DecisionRecord, error)
	UpdateDecision(ctx context.Context, incidentID string, eventTime time.Time, index int, fn func(cur *record.DecisionRecord) (*record.DecisionRecord, error)) (record.DecisionRecord, bool, error)
	ListDecisionsByStatus(ctx context.Context, q record.DecisionQuery) ([]record.DecisionRecord, string, error)
	GetBlock(ctx context.Context, action, target string) (record.Block, bool, error)
	MergeBlock(ctx context.Context, action, target string, fn func(cur *record.Block) (*record.Block, error)) (record.Block, bool, error)
	ListBlocks(ctx context.Context, action string) ([]record.Block, error)
	ListExpiredBlocks(ctx context.Context, action string, now time.Time) ([]record.Block, error)
	DeleteBlock(ctx context.Context, b record.Block) error
	AddOffence(ctx context.Context, o record.Offence) error
	CountOffences(ctx context.Context, target string, since time.Time, excludeIncident string) (int, error)
	RevertOffences(ctx context.Context, target, incidentID string) (int, error)
	Reserve(ctx context.Context, bucket, key string, limit int) (bool, error)
	PutAllow(ctx context.Context, e record.AllowEntry) error
	ListAllow(ctx context.Context) ([]record.AllowEntry, error)
	DeleteAllow(ctx context.Context, prefix string) (bool, error)
	ClaimIdempotency(ctx context.Context, scope, key, requestHash string, now time.Time, ttl time.Duration) (rec record.IdempotencyRecord, claimed bool, err error)
	FinishIdempotency(ctx context.Context, scope, key string, status int, contentType string, body []byte, keepUntil time.Time) error
	ReleaseIdempotency(ctx context.Context, scope, key string) error
	MergeHealth(ctx context.Context, kind, name string, fn func(cur *record.HealthRecord) (*record.HealthRecord, error)) (record.HealthRecord, bool, error)
	ListHealth(ctx context.Context, kind string) ([]record.HealthRecord, error)
	AddCount(ctx context.Context, name string, at time.Time, n int64) error
	SumCounts(ctx context.Context, name string, from, to time.Time) (int64, error)
	AppendAudit(ctx context.Context, events []record.AuditEvent) error
	ListAudit(ctx context.Context, from, to time.Time) ([]record.AuditEvent, error)
	PutTriageRun(ctx context.Context, run record.TriageRun) error
	GetTriageRun(ctx context.Context, month string) (record.TriageRun, bool, error)
	ListTriageMonths(ctx context.Context) ([]string, error)
}

var (
	_ Store = (*record.Store)(nil)
	_ Store = (*record.Memory)(nil)
)

// Run runs the contract against stores made by newStore, a fresh and empty one
// for each case.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	cases := []struct {
		name string
		run  func(t *testing.T, s Store)
	}{
		{"incident round trip", incidentRoundTrip},
		{"undated incident", undatedIncident},
		{"large incident payloads", largeIncident},
		{"LocateIncident", locateIncident},
		{"ClaimIncident concurrent", claimIncidentConcurrent},
		{"ClaimIncident release and lapse", claimIncidentTakeover},
		{"ListIncidents pages", listIncidents},
		{"decisions round trip", decisionsRoundTrip},
		{"heavy decision bodies", heavyDecisions},
		{"bad decisions rejected", badDecisions},
		{"decision status round trip", decisionStatus},
		{"UpdateDecision", updateDecision},
		{"UpdateDecision concurrent", updateDecisionConcurrent},
		{"ListDecisionsByStatus pages", decisionsByStatus},
		{"ListDecisionsByStatus tokens", decisionTokens},
		{"block round trip", blockRoundTrip},
		{"blocks list in row key order", blockOrder},
		{"MergeBlock returns what a read returns", mergeReturnsRead},
		{"MergeBlock without change or with an error", mergeNoChange},
		{"MergeBlock concurrent increments", mergeConcurrent},
		{"MergeBlock gives up", mergeGivesUp},
		{"DeleteBlock is conditional", deleteBlock},
		{"expired blocks", expiredBlocks},
		{"offences counted", countOffences},
		{"offences reverted", revertOffences},
		{"Reserve concurrent callers", reserveConcurrent},
		{"Reserve one key concurrently", reserveSameKey},
		{"Reserve limits", reserveLimits},
		{"allow-list", allowList},
		{"idempotency keys", idempotency},
		{"idempotency claims concurrent", idempotencyConcurrent},
		{"health records", healthRecords},
		{"MergeHealth concurrent", healthConcurrent},
		{"hourly counters", counters},
		{"hourly counters concurrent", countersConcurrent},
		{"audit idempotent and by range", auditRange},
		{"triage runs", triageRuns},
		{"keys rejected before any I/O", keysRejected},
		{"a cancelled context fails", cancelled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, newStore(t)) })
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// concurrently runs fn(0) to fn(n-1) at once and joins their errors.
func concurrently(n int, fn func(i int) error) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// edm is t as Table Storage keeps an Edm.DateTime: UTC, 100 ns ticks.
func edm(t time.Time) time.Time { return t.UTC().Truncate(100 * time.Nanosecond) }

func incidentRoundTrip(t *testing.T, s Store) {
	ctx := testContext(t)
	at := time.Date(2026, 11, 23, 23, 59, 59, 123456789, time.FixedZone("X", -5*3600)) // next UTC day
	rec := record.IncidentRecord{
		ID:            "inc-0123456789abcdef/#?%'",
		EventTime:     at,
		Received:      at.Add(3 * time.Second),
		AlertType:     "API_SuspiciousIP",
		Severity:      "High",
		Source:        "alert",
		Normalized:    json.RawMessage(`{"ip":"203.0.113.7","kind":"suspicious"}`),
		Raw:           []byte(`{"alert":"raw","properties":{"x":1}}`),
		DecisionCount: 3,
		Complete:      true,
	}
	if err := s.PutIncident(ctx, rec); err != nil {
		t.Fatal(err)
	}
	got, found, err := s.GetIncident(ctx, rec.ID, at)
	if err != nil || !found {
		t.Fatalf("GetIncident = %v, %v", found, err)
	}
	want := rec
	want.EventTime, want.Received = edm(rec.EventTime), edm(rec.Received)
	assertIncident(t, got, want)
	if got.EventTime.Location() != time.UTC {
		t.Errorf("times come back in %v, want UTC", got.EventTime.Location())
	}

	// Replace, not merge: a smaller version leaves nothing of the old one behind.
	rec.Raw, rec.Normalized, rec.Complete = nil, nil, false
	if err := s.PutIncident(ctx, rec); err != nil {
		t.Fatal(err)
	}
	got, _, _ = s.GetIncident(ctx, rec.ID, at)
	if got.Raw != nil || got.Normalized != nil || got.Complete {
		t.Errorf("replace kept old properties: %+v", got)
	}

	// The event time chooses the partition: another day does not find it.
	if _, found, err := s.GetIncident(ctx, rec.ID, at.Add(-48*time.Hour)); err != nil || found {
		t.Errorf("lookup on the wrong day = %v, %v", found, err)
	}
	if _, found, err := s.GetIncident(ctx, "inc-missing", at); err != nil || found {
		t.Errorf("missing incident = %v, %v", found, err)
	}
}

func undatedIncident(t *testing.T, s Store) {
	ctx := testContext(t)
	rec := record.IncidentRecord{ID: "inc-undated", Source: "alert", Raw: []byte("{}")}
	if err := s.PutIncident(ctx, rec); err != nil {
		t.Fatal(err)
	}
	got, found, err := s.GetIncident(ctx, rec.ID, time.Time{})
	if err != nil || !found {
		t.Fatalf("GetIncident = %v, %v", found, err)
	}
	if !got.EventTime.IsZero() || !got.Received.IsZero() {
		t.Errorf("zero times came back as %v, %v", got.EventTime, got.Received)
	}
}

// Of concurrent deliveries of one alert exactly one claims the incident; the others
// read the holder's claim, and once it is complete no one claims it again. Only the
// holder's ETag completes it.
func claimIncidentConcurrent(t *testing.T, s Store) {
	ctx := testContext(t)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	const n = 24
	claims := make([]record.IncidentRecord, n)
	won := make([]bool, n)
	err := concurrently(n, func(i int) error {
		rec := record.IncidentRecord{
			ID: "inc-claimed", EventTime: now.Add(-time.Minute), Received: now.Add(time.Duration(i) * time.Millisecond),
			Source: "alert", Raw: []byte(`{"n":1}`), ClaimedUntil: now.Add(time.Minute),
		}
		var err error
		claims[i], won[i], err = s.ClaimIncident(ctx, rec, now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	winner := -1
	for i, w := range won {
		if w {
			if winner >= 0 {
				t.Fatalf("deliveries %d and %d both claimed the incident", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatal("no delivery claimed the incident")
	}
	held := claims[winner]
	if held.ETag == "" || held.Complete || !held.ClaimedUntil.Equal(now.Add(time.Minute)) {
		t.Fatalf("the claim as stored: %+v", held)
	}
	for i, c := range claims {
		if !c.Received.Equal(held.Received) || !c.ClaimedUntil.Equal(held.ClaimedUntil) {
			t.Errorf("delivery %d read %v/%v, not the holder's claim %v/%v", i, c.Received, c.ClaimedUntil, held.Received, held.ClaimedUntil)
		}
	}
	if _, again, err := s.ClaimIncident(ctx, held, now.Add(30*time.Second)); err != nil || again {
		t.Fatalf("a live claim was claimed again: %v, %v", again, err)
	}

	done := held
	done.Complete, done.ClaimedUntil, done.DecisionCount = true, time.Time{}, 2
	done.Undecided, done.UndecidedReason = 9900, "beyond the bound"
	if err := s.PutIncident(ctx, done); err != nil {
		t.Fatalf("the holder completes: %v", err)
	}
	if err := s.PutIncident(ctx, done); !errors.Is(err, record.ErrConflict) {
		t.Fatalf("a write under a spent ETag = %v, want ErrConflict", err)
	}
	got, found, err := s.GetIncident(ctx, held.ID, held.EventTime)
	if err != nil || !found || !got.Complete || got.DecisionCount != 2 || got.Undecided != 9900 || got.UndecidedReason != "beyond the bound" || !got.ClaimedUntil.IsZero() {
		t.Fatalf("completed incident = %+v, %v, %v", got, found, err)
	}
	later := held
	later.ClaimedUntil = now.Add(time.Hour)
	if c, claimed, err := s.ClaimIncident(ctx, later, now.Add(10*time.Minute)); err != nil || claimed || !c.Complete {
		t.Fatalf("a complete incident was claimed: %+v, %v, %v", c, claimed, err)
	}
	if at, found, err := s.LocateIncident(ctx, held.ID); err != nil || !found || !at.Equal(held.EventTime) {
		t.Errorf("LocateIncident after a claim = %v, %v, %v", at, found, err)
	}
}

// A released claim is taken over at once and a lapsed one once it lapses, keeping
// the first sighting; the former holder can then no longer complete it.
func claimIncidentTakeover(t *testing.T, s Store) {
	ctx := testContext(t)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	rec := record.IncidentRecord{ID: "inc-takeover", EventTime: now, Received: now, Source: "alert", ClaimedUntil: now.Add(time.Minute)}
	first, claimed, err := s.ClaimIncident(ctx, rec, now)
	if err != nil || !claimed {
		t.Fatalf("first claim = %v, %v", claimed, err)
	}

	released := first
	released.ClaimedUntil = time.Time{}
	if err := s.PutIncident(ctx, released); err != nil {
		t.Fatalf("release: %v", err)
	}
	retry := rec
	retry.Received, retry.ClaimedUntil = now.Add(5*time.Second), now.Add(5*time.Second+time.Minute)
	second, claimed, err := s.ClaimIncident(ctx, retry, now.Add(5*time.Second))
	if err != nil || !claimed || !second.Received.Equal(now) {
		t.Fatalf("claim after a release = %+v, %v, %v (want the first Received %v)", second, claimed, err, now)
	}

	// The second holder vanishes; its claim lapses and a third delivery takes over.
	third := rec
	third.Received, third.ClaimedUntil = now.Add(2*time.Minute), now.Add(3*time.Minute)
	if _, claimed, err := s.ClaimIncident(ctx, third, now.Add(time.Minute)); err != nil || claimed {
		t.Fatalf("claimed before the lapse: %v, %v", claimed, err)
	}
	got, claimed, err := s.ClaimIncident(ctx, third, now.Add(2*time.Minute))
	if err != nil || !claimed || !got.Received.Equal(now) || !got.ClaimedUntil.Equal(now.Add(3*time.Minute)) {
		t.Fatalf("claim after the lapse = %+v, %v, %v", got, claimed, err)
	}
	stale := second
	stale.Complete = true
	if err := s.PutIncident(ctx, stale); !errors.Is(err, record.ErrConflict) {
		t.Fatalf("the lapsed holder completed the incident: %v", err)
	}

	for name, bad := range map[string]record.IncidentRecord{
		"complete":        {ID: "inc-bad", Complete: true, ClaimedUntil: now.Add(time.Minute)},
		"lapsed at once":  {ID: "inc-bad", ClaimedUntil: now},
		"no claim period": {ID: "inc-bad"},
	} {
		if _, _, err := s.ClaimIncident(ctx, bad, now); fault.Of(err) != fault.Reject {
			t.Errorf("%s: ClaimIncident = %v, want a rejection", name, err)
		}
	}
}

// jsonAlert builds a compressible alert of about n bytes.
func jsonAlert(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"entries":[`)
	for i := 0; b.Len() < n-64; i++ {
		fmt.Fprintf(&b, `{"i":%d,"ip":"203.0.113.%d","path":"/api/v1/orders/%d","status":401},`, i, i%256, i*7919%100000)
	}
	b.WriteString(`{}]}`)
	return b.Bytes()
}

// noise is n incompressible bytes, the same on every run for the same seed.
func noise(seed byte, n int) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{seed}).Read(b) // never fails
	return b
}

func largeIncident(t *testing.T, s Store) {
	ctx := testContext(t)
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	normalized := json.RawMessage(`{"ip":"203.0.113.7"}`)
	cases := []struct {
		name          string
		raw           []byte
		normalized    json.RawMessage
		wantTruncated bool
		wantNormCut   bool
	}{
		// 900 KiB of JSON compresses far below the limit: stored whole.
		{"compressible 900 KiB", jsonAlert(900 * 1024), normalized, false, false},
		{"compressible 1 MiB raw and normalized", jsonAlert(1024 * 1024), json.RawMessage(jsonAlert(1024 * 1024)), false, false},
		// 900 KiB of noise does not compress: a prefix is kept and flagged
		// (the budget for Azurite's JSON-size limit leaves about 760 KiB of binary).
		{"incompressible 900 KiB", noise(1, 900*1024), normalized, true, false},
		{"incompressible 1 MiB raw and normalized", noise(2, 1024*1024), json.RawMessage(`"` + strings.Repeat("x", 10) + `"`), true, false},
		// A normalized document that cannot fit is dropped whole (a cut one would
		// not parse) and leaves the room to the raw alert.
		{"incompressible normalized", []byte("{}"), json.RawMessage(noise(3, 1024*1024)), false, true},
		{"small incompressible", noise(4, 64*1024), normalized, false, false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := record.IncidentRecord{ID: fmt.Sprintf("inc-large-%d", i), EventTime: at, Raw: c.raw, Normalized: c.normalized, Source: "alert"}
			if err := s.PutIncident(ctx, rec); err != nil {
				t.Fatalf("PutIncident: %v", err)
			}
			got, found, err := s.GetIncident(ctx, rec.ID, at)
			if err != nil || !found {
				t.Fatalf("GetIncident = %v, %v", found, err)
			}
			if got.RawTruncated != c.wantTruncated {
				t.Fatalf("RawTruncated = %v, want %v (raw %d bytes back of %d)", got.RawTruncated, c.wantTruncated, len(got.Raw), len(c.raw))
			}
			if got.NormalizedTruncated != c.wantNormCut {
				t.Fatalf("NormalizedTruncated = %v, want %v", got.NormalizedTruncated, c.wantNormCut)
			}
			if !c.wantTruncated && !bytes.Equal(got.Raw, c.raw) {
				t.Fatalf("raw differs: %d bytes back of %d", len(got.Raw), len(c.raw))
			}
			if c.wantTruncated {
				if len(got.Raw) == 0 {
					t.Fatal("truncated raw kept nothing")
				}
				if !bytes.HasPrefix(c.raw, got.Raw) {
					t.Fatal("truncated raw is not a prefix of the original")
				}
				t.Logf("kept %d of %d bytes", len(got.Raw), len(c.raw))
			}
			if c.wantNormCut {
				if got.Normalized != nil {
					t.Error("a cut normalized document must read back as nil")
				}
			} else if !bytes.Equal(got.Normalized, c.normalized) {
				t.Errorf("normalized differs: %d bytes back of %d", len(got.Normalized), len(c.normalized))
			}
		})
	}
}

func assertIncident(t *testing.T, got, want record.IncidentRecord) {
	t.Helper()
	if got.ID != want.ID || !got.EventTime.Equal(want.EventTime) || !got.Received.Equal(want.Received) ||
		got.AlertType != want.AlertType || got.Severity != want.Severity || got.Source != want.Source ||
		got.DecisionCount != want.DecisionCount || got.Complete != want.Complete ||
		!bytes.Equal(got.Raw, want.Raw) || !bytes.Equal(got.Normalized, want.Normalized) ||
		got.RawTruncated != want.RawTruncated || got.NormalizedTruncated != want.NormalizedTruncated {
		t.Errorf("incident:\n got %+v\nwant %+v", got, want)
	}
}

// Decisions returns n decisions of one incident, indexed 0..n-1, for tests and
// benchmarks.
func Decisions(incidentID string, at time.Time, n int) []record.DecisionRecord {
	out := make([]record.DecisionRecord, n)
	for i := range out {
		out[i] = record.DecisionRecord{
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

func decisionsRoundTrip(t *testing.T, s Store) {
	ctx := testContext(t)
	at := time.Date(2026, 11, 23, 8, 30, 0, 0, time.UTC)
	// 250 decisions (more than one transaction on Table Storage). Incident
	// "inc-1-x" shares the row-key prefix "inc-1-" and must not leak into inc-1's
	// list; inc-2 lives on another day.
	recs := Decisions("inc-1", at, 250)
	recs = append(recs, Decisions("inc-1-x", at, 3)...)
	recs = append(recs, Decisions("inc-2", at.Add(24*time.Hour), 2)...)
	// A large body is stored compressed.
	recs[7].Body = json.RawMessage(`{"blob":"` + strings.Repeat("ab", 40*1024) + `"}`)
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

	// Upsert: writing again replaces, never duplicates; within one call the last
	// version of a decision wins.
	first := recs[0]
	first.Mode = "dryrun"
	if err := s.PutDecisions(ctx, []record.DecisionRecord{recs[0], first}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.ListDecisions(ctx, "inc-1", at)
	if len(got) != 250 || got[0].Mode != "dryrun" {
		t.Fatalf("after rewrite: %d decisions, first mode %q", len(got), got[0].Mode)
	}
}

func heavyDecisions(t *testing.T, s Store) {
	ctx := testContext(t)
	at := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	recs := Decisions("inc-heavy", at, 12)
	for i := range recs {
		// Incompressible bodies of about 340 KiB: a few rows fill an entity group
		// transaction on Table Storage.
		recs[i].Body, _ = json.Marshal(noise(byte(i), 256*1024))
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
	// A body that cannot fit even compressed is a rejection, and nothing of the
	// call is written.
	huge := Decisions("inc-huge", at, 2)
	huge[1].Body, _ = json.Marshal(noise(99, 1024*1024))
	if err := s.PutDecisions(ctx, huge); fault.Of(err) != fault.Reject || errors.Is(err, record.ErrConflict) {
		t.Errorf("oversized body: want a rejection, got %v", err)
	}
	if got, err := s.ListDecisions(ctx, "inc-huge", at); err != nil || len(got) != 0 {
		t.Errorf("a rejected call wrote %d decisions, %v", len(got), err)
	}
}

func badDecisions(t *testing.T, s Store) {
	ctx := testContext(t)
	for _, idx := range []int{-1, 10000} {
		err := s.PutDecisions(ctx, []record.DecisionRecord{{IncidentID: "inc", Index: idx}})
		if fault.Of(err) != fault.Reject {
			t.Errorf("index %d: want a rejection, got %v", idx, err)
		}
	}
	err := s.PutDecisions(ctx, []record.DecisionRecord{{IncidentID: "", Index: 0}})
	if fault.Of(err) != fault.Reject {
		t.Errorf("empty incident id: want a rejection, got %v", err)
	}
	if err := s.PutDecisions(ctx, nil); err != nil {
		t.Errorf("no decisions: %v", err)
	}
}

// blockTargets are the kinds of target a block has, with the characters keys forbid.
var blockTargets = []struct{ kind, target string }{
	{"ip", "203.0.113.7"},
	{"cidr", "203.0.113.0/24"},
	{"ip", "2001:db8::1"},
	{"cidr", "2001:db8:abcd::/48"},
	{"subscription", "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim/subscriptions/sub-1"},
	{"user", `user:CONTOSO\alice#1?x=%41'`},
}

func blockRoundTrip(t *testing.T, s Store) {
	ctx := testContext(t)
	now := time.Date(2026, 11, 23, 12, 0, 0, 123456789, time.UTC)
	for i, bt := range blockTargets {
		want := record.Block{
			Action: "block_waf", TargetKind: bt.kind, Target: bt.target, Reason: "suspicious", Severity: "High",
			SourceIncident: "inc-1", SourceFinding: "f-1", Created: now, Updated: now, Expires: now.Add(time.Hour),
			Mode: "enforce", Offences: i + 1, Forwarded: i%2 == 1,
		}
		stored, wrote, err := s.MergeBlock(ctx, want.Action, want.Target, func(cur *record.Block) (*record.Block, error) {
			if cur != nil {
				t.Errorf("%s: block exists before the first write", bt.target)
			}
			b := want
			return &b, nil
		})
		if err != nil || !wrote || stored.ETag == "" {
			t.Fatalf("MergeBlock(%s) = %v, %v, etag %q", bt.target, wrote, err, stored.ETag)
		}
		got, found, err := s.GetBlock(ctx, want.Action, want.Target)
		if err != nil || !found {
			t.Fatalf("GetBlock(%s) = %v, %v", bt.target, found, err)
		}
		if got != stored {
			t.Errorf("read differs from what MergeBlock returned:\n read %+v\nmerge %+v", got, stored)
		}
		want.Created, want.Updated, want.Expires, want.ETag = edm(now), edm(now), edm(now.Add(time.Hour)), got.ETag
		if got != want {
			t.Errorf("block:\n got %+v\nwant %+v", got, want)
		}
	}
	list, err := s.ListBlocks(ctx, "block_waf")
	if err != nil || len(list) != len(blockTargets) {
		t.Fatalf("ListBlocks: %d, %v", len(list), err)
	}
	for _, bt := range blockTargets {
		if !slices.ContainsFunc(list, func(b record.Block) bool { return b.Target == bt.target }) {
			t.Errorf("ListBlocks lacks %q", bt.target)
		}
	}
	if other, _ := s.ListBlocks(ctx, "block_apim"); len(other) != 0 {
		t.Errorf("another action's partition holds %d blocks", len(other))
	}
	if _, found, err := s.GetBlock(ctx, "block_waf", "198.51.100.1"); found || err != nil {
		t.Errorf("missing block: %v, %v", found, err)
	}
}

// blockOrder: blocks list in the order of their row keys, the escaped targets
// compared as UTF-16, which is not the order of the targets themselves.
func blockOrder(t *testing.T, s Store) {
	ctx := testContext(t)
	want := []string{
		"/subscriptions/s1", // %2F...
		"2001:db8::1",
		"203.0.113.0",
		"203.0.113.0/24", // 203.0.113.0%2F24
		"203.0.113.00",
		"Z",
		"a b",
		"a$",
		"a#",  // a%23
		"a/b", // a%2Fb, before a+b although '/' follows '+'
		"a+b",
		"~",
		"é",
		"\U0001F600", // a surrogate pair sorts before U+E000
		"\uE000",
		"\uFFFD",
	}
	past := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, i := range []int{7, 3, 15, 0, 11, 9, 1, 13, 5, 14, 2, 10, 8, 4, 12, 6} { // not in order
		if _, _, err := s.MergeBlock(ctx, "block_waf", want[i], func(*record.Block) (*record.Block, error) {
			return &record.Block{Expires: past}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	targets := func(bs []record.Block) []string {
		var out []string
		for _, b := range bs {
			out = append(out, b.Target)
		}
		return out
	}
	list, err := s.ListBlocks(ctx, "block_waf")
	if err != nil {
		t.Fatal(err)
	}
	if got := targets(list); !slices.Equal(got, want) {
		t.Errorf("ListBlocks order:\n got %q\nwant %q", got, want)
	}
	expired, err := s.ListExpiredBlocks(ctx, "block_waf", past)
	if err != nil {
		t.Fatal(err)
	}
	if got := targets(expired); !slices.Equal(got, want) {
		t.Errorf("ListExpiredBlocks order:\n got %q\nwant %q", got, want)
	}
}

// mergeReturnsRead: what MergeBlock returns is what a later read returns, also
// where the store changes what it was given (time precision, zone, invalid UTF-8).
func mergeReturnsRead(t *testing.T, s Store) {
	ctx := testContext(t)
	at := time.Date(2026, 11, 23, 12, 0, 0, 987654321, time.FixedZone("X", 3600))
	stored, _, err := s.MergeBlock(ctx, "throttle", "user:bob", func(*record.Block) (*record.Block, error) {
		return &record.Block{Reason: "bad \xff byte", Created: at, Updated: at, Expires: at.Add(time.Minute), Offences: -1}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := s.GetBlock(ctx, "throttle", "user:bob")
	if err != nil {
		t.Fatal(err)
	}
	if got != stored {
		t.Errorf("read differs from what MergeBlock returned:\n read %+v\nmerge %+v", got, stored)
	}
	if !got.Created.Equal(edm(at)) || got.Created.Location() != time.UTC || got.Offences != -1 {
		t.Errorf("block = %+v", got)
	}
}

func mergeNoChange(t *testing.T, s Store) {
	ctx := testContext(t)
	b, wrote, err := s.MergeBlock(ctx, "throttle", "203.0.113.9", func(*record.Block) (*record.Block, error) { return nil, nil })
	if err != nil || wrote || b != (record.Block{}) {
		t.Fatalf("no change on absent block = %+v, %v, %v", b, wrote, err)
	}
	first, _, err := s.MergeBlock(ctx, "throttle", "203.0.113.9", func(*record.Block) (*record.Block, error) {
		return &record.Block{Offences: 1, Target: "ignored", Action: "ignored"}, nil
	})
	if err != nil || first.Target != "203.0.113.9" || first.Action != "throttle" {
		t.Fatalf("first write = %+v, %v", first, err)
	}
	same, wrote, err := s.MergeBlock(ctx, "throttle", "203.0.113.9", func(*record.Block) (*record.Block, error) { return nil, nil })
	if err != nil || wrote || same != first {
		t.Fatalf("no change = %+v, %v, %v; want %+v", same, wrote, err, first)
	}
	boom := errors.New("boom")
	if _, _, err := s.MergeBlock(ctx, "throttle", "203.0.113.9", func(*record.Block) (*record.Block, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("fn error = %v", err)
	}
	// fn gets a copy: changing cur without returning it changes nothing.
	if _, _, err := s.MergeBlock(ctx, "throttle", "203.0.113.9", func(cur *record.Block) (*record.Block, error) {
		cur.Offences = 99
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if b, _, _ := s.GetBlock(ctx, "throttle", "203.0.113.9"); b != first {
		t.Fatalf("block = %+v, want %+v", b, first)
	}
}

// mergeConcurrent proves the ETag conditions: 20 writers each add one offence to
// the same block; without them some increments would be lost.
func mergeConcurrent(t *testing.T, s Store) {
	ctx := testContext(t)
	const writers = 20
	var (
		mu    sync.Mutex
		calls int
	)
	err := concurrently(writers, func(int) error {
		_, wrote, err := s.MergeBlock(ctx, "block_waf", "203.0.113.0/24", func(cur *record.Block) (*record.Block, error) {
			mu.Lock()
			calls++
			mu.Unlock()
			// As long as a round trip, so that writers overlap in any store.
			time.Sleep(time.Millisecond)
			next := record.Block{TargetKind: "cidr", Offences: 1}
			if cur != nil {
				next = *cur
				next.Offences++
			}
			return &next, nil
		})
		if err == nil && !wrote {
			err = errors.New("no write")
		}
		return err
	})
	if err != nil {
		t.Fatalf("MergeBlock: %v", err)
	}
	b, _, err := s.GetBlock(ctx, "block_waf", "203.0.113.0/24")
	if err != nil {
		t.Fatal(err)
	}
	if b.Offences != writers {
		t.Fatalf("Offences = %d, want %d: an update was lost", b.Offences, writers)
	}
	t.Logf("%d writers, %d calls of fn (%d lost races retried)", writers, calls, calls-writers)
}

// mergeGivesUp: fn changes the block behind MergeBlock's back every time, so
// every write loses; after its bounded attempts MergeBlock returns a transient
// ErrConflict and has written nothing of its own.
func mergeGivesUp(t *testing.T, s Store) {
	ctx := testContext(t)
	if _, _, err := s.MergeBlock(ctx, "block_waf", "203.0.113.1", func(*record.Block) (*record.Block, error) { return &record.Block{}, nil }); err != nil {
		t.Fatal(err)
	}
	calls := 0
	_, _, err := s.MergeBlock(ctx, "block_waf", "203.0.113.1", func(cur *record.Block) (*record.Block, error) {
		calls++
		if _, _, err := s.MergeBlock(ctx, "block_waf", "203.0.113.1", func(c *record.Block) (*record.Block, error) {
			c.Offences++
			return c, nil
		}); err != nil {
			return nil, err
		}
		cur.Reason = "mine"
		return cur, nil
	})
	if !errors.Is(err, record.ErrConflict) || fault.Of(err) != fault.Retry {
		t.Fatalf("want a transient ErrConflict, got %v", err)
	}
	b, _, _ := s.GetBlock(ctx, "block_waf", "203.0.113.1")
	if calls < 2 || b.Offences != calls || b.Reason != "" {
		t.Fatalf("block = %+v after %d calls of fn, want %d offences and no reason", b, calls, calls)
	}
}

func deleteBlock(t *testing.T, s Store) {
	ctx := testContext(t)
	set := func(n int) record.Block {
		b, _, err := s.MergeBlock(ctx, "block_apim", "sub/1", func(*record.Block) (*record.Block, error) { return &record.Block{Offences: n}, nil })
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	stale := set(1)
	fresh := set(2)
	if stale.ETag == fresh.ETag {
		t.Fatal("ETag did not change on update")
	}
	if err := s.DeleteBlock(ctx, stale); !errors.Is(err, record.ErrConflict) {
		t.Fatalf("delete with a stale ETag = %v, want ErrConflict", err)
	}
	if _, found, _ := s.GetBlock(ctx, "block_apim", "sub/1"); !found {
		t.Fatal("stale delete removed the block")
	}
	if err := s.DeleteBlock(ctx, fresh); err != nil {
		t.Fatalf("delete = %v", err)
	}
	if _, found, _ := s.GetBlock(ctx, "block_apim", "sub/1"); found {
		t.Fatal("block still there")
	}
	if err := s.DeleteBlock(ctx, fresh); err != nil {
		t.Fatalf("delete of a deleted block = %v, want nil", err)
	}
	// Written again, the block has an ETag that no earlier read had.
	again := set(1)
	if again.ETag == stale.ETag || again.ETag == fresh.ETag {
		t.Fatalf("a new block reuses an old ETag %q", again.ETag)
	}
	if err := s.DeleteBlock(ctx, fresh); !errors.Is(err, record.ErrConflict) {
		t.Fatalf("delete of a new block with an old ETag = %v, want ErrConflict", err)
	}
	noETag := again
	noETag.ETag = ""
	if err := s.DeleteBlock(ctx, noETag); fault.Of(err) != fault.Reject {
		t.Fatalf("delete without ETag = %v, want a rejection", err)
	}
}

func expiredBlocks(t *testing.T, s Store) {
	ctx := testContext(t)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	expiries := map[string]time.Time{
		"past":        now.Add(-time.Hour),
		"exactly-now": now,
		"tick-after":  now.Add(100 * time.Nanosecond), // Azurite's own filter would include this one
		"ms-after":    now.Add(time.Millisecond),
		"future":      now.Add(time.Hour),
		"never":       {},
		"long-ago":    time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for target, exp := range expiries {
		if _, _, err := s.MergeBlock(ctx, "block_waf", target, func(*record.Block) (*record.Block, error) { return &record.Block{Expires: exp}, nil }); err != nil {
			t.Fatal(err)
		}
	}
	// Same expiry in another action: not in this partition's answer.
	if _, _, err := s.MergeBlock(ctx, "throttle", "past", func(*record.Block) (*record.Block, error) {
		return &record.Block{Expires: now.Add(-time.Hour)}, nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListExpiredBlocks(ctx, "block_waf", now)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range got {
		if b.ETag == "" {
			t.Errorf("%s has no ETag", b.Target)
		}
		names = append(names, b.Target)
	}
	if want := []string{"exactly-now", "long-ago", "past"}; !slices.Equal(names, want) {
		t.Fatalf("expired = %q, want %q", names, want)
	}
	// The ETags from the listing delete.
	for _, b := range got {
		if err := s.DeleteBlock(ctx, b); err != nil {
			t.Fatalf("delete expired %s: %v", b.Target, err)
		}
	}
	// A zone-shifted now means the same instant; below a tick, now is cut to the tick.
	later := now.Add(150 * time.Nanosecond).In(time.FixedZone("X", 7*3600))
	got, err = s.ListExpiredBlocks(ctx, "block_waf", later)
	if err != nil || len(got) != 1 || got[0].Target != "tick-after" {
		t.Fatalf("expired one tick later = %+v, %v", got, err)
	}
}

func countOffences(t *testing.T, s Store) {
	ctx := testContext(t)
	base := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	target := "203.0.113.0/24"
	offences := []record.Offence{
		{Target: target, Time: base.Add(-48 * time.Hour), IncidentID: "inc-old", Action: "block_waf", Severity: "High"},
		{Target: target, Time: base, IncidentID: "inc-a", Action: "block_waf", Severity: "High"},
		{Target: target, Time: base.Add(time.Nanosecond), IncidentID: "inc-b", Action: "throttle", Severity: "Low"},
		{Target: target, Time: base.Add(time.Hour), IncidentID: "inc-c/1", Action: "block_waf", Severity: "High"},
		{Target: "2001:db8::/32", Time: base, IncidentID: "inc-other", Action: "block_waf"},
	}
	for _, o := range offences {
		if err := s.AddOffence(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	// Redelivery of the same incident writes the same row.
	if err := s.AddOffence(ctx, offences[1]); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		since   time.Time
		exclude string
		want    int
	}{
		{"all", time.Time{}, "", 4},
		{"since is inclusive", base, "", 3},
		{"one ns later", base.Add(time.Nanosecond), "", 2},
		{"since in another zone", base.In(time.FixedZone("X", -3600)), "", 3},
		{"exclude the incident being decided", base, "inc-a", 2},
		{"exclude an escaped id", base, "inc-c/1", 2},
		{"exclude an unknown id", base, "inc-zzz", 3},
		{"after everything", base.Add(2 * time.Hour), "", 0},
	}
	for _, c := range cases {
		got, err := s.CountOffences(ctx, target, c.since, c.exclude)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s: CountOffences = %d, want %d", c.name, got, c.want)
		}
	}
	if n, err := s.CountOffences(ctx, "198.51.100.1", time.Time{}, ""); n != 0 || err != nil {
		t.Errorf("unknown target: %d, %v", n, err)
	}
}

// reserveConcurrent: 30 callers race for a limit of 10; exactly 10 get through.
func reserveConcurrent(t *testing.T, s Store) {
	ctx := testContext(t)
	const callers, limit = 30, 10
	bucket := "newblocks-2026112312"
	key := func(i int) string { return fmt.Sprintf("203.0.113.%d/32", i) }
	ok := make([]bool, callers)
	err := concurrently(callers, func(i int) (err error) {
		ok[i], err = s.Reserve(ctx, bucket, key(i), limit)
		return err
	})
	if err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	var granted []string
	for i := range callers {
		if ok[i] {
			granted = append(granted, key(i))
		}
	}
	if len(granted) != limit {
		t.Fatalf("granted %d, want exactly %d", len(granted), limit)
	}
	// A granted key is still granted, and not counted twice: a limit one higher
	// lets exactly one new key through.
	for _, key := range granted {
		if ok, err := s.Reserve(ctx, bucket, key, limit); err != nil || !ok {
			t.Fatalf("re-reserve %s = %v, %v", key, ok, err)
		}
	}
	if ok, err := s.Reserve(ctx, bucket, "198.51.100.1", limit); ok || err != nil {
		t.Fatalf("over the limit = %v, %v", ok, err)
	}
	if ok, err := s.Reserve(ctx, bucket, "198.51.100.2", limit+1); !ok || err != nil {
		t.Fatalf("limit+1, first new key = %v, %v", ok, err)
	}
	if ok, err := s.Reserve(ctx, bucket, "198.51.100.3", limit+1); ok || err != nil {
		t.Fatalf("limit+1, second new key = %v, %v", ok, err)
	}
	// Another bucket has its own count.
	if ok, err := s.Reserve(ctx, "newblocks-2026112313", "198.51.100.1", limit); !ok || err != nil {
		t.Fatalf("next bucket = %v, %v", ok, err)
	}
}

// reserveSameKey: one key reserved by 10 callers at once is counted once.
func reserveSameKey(t *testing.T, s Store) {
	ctx := testContext(t)
	err := concurrently(10, func(int) error {
		ok, err := s.Reserve(ctx, "b", "same/key", 2)
		if err == nil && !ok {
			err = errors.New("refused")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Reserve(ctx, "b", "other", 2); !ok || err != nil {
		t.Fatalf("second key of a limit of 2 = %v, %v; the same key was counted twice", ok, err)
	}
	if ok, err := s.Reserve(ctx, "b", "third", 2); ok || err != nil {
		t.Fatalf("third key of a limit of 2 = %v, %v", ok, err)
	}
}

func reserveLimits(t *testing.T, s Store) {
	ctx := testContext(t)
	for _, limit := range []int{0, -1} {
		if ok, err := s.Reserve(ctx, "zero", "k", limit); ok || err != nil {
			t.Errorf("limit %d = %v, %v", limit, ok, err)
		}
	}
	// Keys are escaped, and their case counts.
	for _, key := range []string{"a/b", "a%2Fb", "A/B"} {
		if ok, err := s.Reserve(ctx, "bucket/1", key, 3); !ok || err != nil {
			t.Fatalf("Reserve(%q) = %v, %v", key, ok, err)
		}
	}
	if ok, err := s.Reserve(ctx, "bucket/1", "a/b/c", 3); ok || err != nil {
		t.Fatalf("fourth key of a limit of 3 = %v, %v", ok, err)
	}
}

func auditRange(t *testing.T, s Store) {
	ctx := testContext(t)
	day1 := time.Date(2026, 11, 22, 23, 59, 0, 0, time.UTC)
	day2 := time.Date(2026, 11, 23, 0, 1, 0, 0, time.UTC)
	events := []record.AuditEvent{
		{Time: day1, ID: "ev-1", Kind: "incident.decided", Subject: "inc-1", Actor: "alerts", Detail: json.RawMessage(`{"n":1}`)},
		{Time: day1.Add(30 * time.Second), ID: "ev-2/x", Kind: "block.created", Subject: "203.0.113.0/24", Actor: "alerts"},
		{Time: day2, ID: "ev-3", Kind: "block.extended", Subject: "203.0.113.0/24", Actor: "alerts", Detail: json.RawMessage(`{"big":"` + strings.Repeat("z", 40000) + `"}`)},
		{Time: day2.Add(time.Minute), ID: "ev-4", Kind: "block.expired", Subject: "203.0.113.0/24", Actor: "expiry"},
	}
	// 150 more events on day 2 (more than one transaction on Table Storage).
	for i := range 150 {
		events = append(events, record.AuditEvent{Time: day2.Add(time.Duration(i) * time.Millisecond), ID: fmt.Sprintf("bulk-%03d", i), Kind: "bulk"})
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
	byID := map[string]record.AuditEvent{}
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
	if got, err := s.ListAudit(ctx, day2, day1); got != nil || err != nil {
		t.Errorf("inverted range = %d events, %v", len(got), err)
	}
	// Within one day.
	if got, err := s.ListAudit(ctx, day2.Add(time.Millisecond), day2.Add(3*time.Millisecond)); err != nil || len(got) != 2 || got[0].ID != "bulk-001" {
		t.Errorf("two milliseconds of day 2 = %+v, %v", got, err)
	}

	// A retry that took a new time (clock moved on) is listed once, at its first time.
	retry := events[0]
	retry.Time = retry.Time.Add(time.Second)
	if err := s.AppendAudit(ctx, []record.AuditEvent{retry}); err != nil {
		t.Fatal(err)
	}
	again, _ := s.ListAudit(ctx, day1.Add(-time.Hour), day2.Add(time.Hour))
	if len(again) != len(events) || !again[0].Time.Equal(events[0].Time) {
		t.Errorf("after a retry with a new time: %d events, want %d", len(again), len(events))
	}
	if err := s.AppendAudit(ctx, nil); err != nil {
		t.Errorf("no events: %v", err)
	}
}

// keysRejected: keys a store cannot hold (empty, or over 512 characters once
// escaped) and writes that could not be idempotent are rejected before any I/O,
// so even a cancelled context gets the rejection.
func keysRejected(t *testing.T, s Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	long := strings.Repeat("/", 171) // 513 characters escaped
	never := func(*record.Block) (*record.Block, error) {
		t.Error("MergeBlock called fn for a key it rejects")
		return nil, nil
	}
	hour := at.Add(time.Hour)
	incidents := func(q record.IncidentQuery) func() error {
		return func() error { _, _, err := s.ListIncidents(ctx, q); return err }
	}
	decisions := func(q record.DecisionQuery) func() error {
		return func() error { _, _, err := s.ListDecisionsByStatus(ctx, q); return err }
	}
	claim := func(scope, key string, now time.Time, ttl time.Duration) func() error {
		return func() error { _, _, err := s.ClaimIdempotency(ctx, scope, key, "h", now, ttl); return err }
	}
	calls := map[string]func() error{
		"GetIncident empty id":      func() error { _, _, err := s.GetIncident(ctx, "", at); return err },
		"GetIncident long id":       func() error { _, _, err := s.GetIncident(ctx, long, at); return err },
		"PutIncident empty id":      func() error { return s.PutIncident(ctx, record.IncidentRecord{EventTime: at}) },
		"LocateIncident empty":      func() error { _, _, err := s.LocateIncident(ctx, ""); return err },
		"LocateIncident long":       func() error { _, _, err := s.LocateIncident(ctx, long); return err },
		"ListIncidents no range":    incidents(record.IncidentQuery{To: at}),
		"ListIncidents long filter": incidents(record.IncidentQuery{From: at, To: hour, AlertType: strings.Repeat("a", 257)}),
		"ListIncidents bad token":   incidents(record.IncidentQuery{From: at, To: hour, Token: "x"}),
		"PutDecisions no id":        func() error { return s.PutDecisions(ctx, []record.DecisionRecord{{EventTime: at}}) },
		"PutDecisions one bad": func() error {
			return s.PutDecisions(ctx, []record.DecisionRecord{{IncidentID: "inc"}, {IncidentID: "inc", Index: -1}})
		},
		"ListDecisions empty id": func() error { _, err := s.ListDecisions(ctx, "", at); return err },
		"ListDecisions long id":  func() error { _, err := s.ListDecisions(ctx, long, at); return err },
		"PutDecisions long status": func() error {
			return s.PutDecisions(ctx, []record.DecisionRecord{{IncidentID: "inc", Status: strings.Repeat("s", 65)}})
		},
		"UpdateDecision empty id":              func() error { _, _, err := s.UpdateDecision(ctx, "", at, 0, neverDecision(t)); return err },
		"UpdateDecision index":                 func() error { _, _, err := s.UpdateDecision(ctx, "inc", at, 10000, neverDecision(t)); return err },
		"ListDecisionsByStatus no range":       decisions(record.DecisionQuery{Status: "pending"}),
		"ListDecisionsByStatus inverted":       decisions(record.DecisionQuery{From: at, To: at}),
		"ListDecisionsByStatus negative limit": decisions(record.DecisionQuery{From: at, To: hour, Limit: -1}),
		"ListDecisionsByStatus long status":    decisions(record.DecisionQuery{From: at, To: hour, Status: strings.Repeat("s", 257)}),
		"ListDecisionsByStatus bad token":      decisions(record.DecisionQuery{From: at, To: hour, Token: "%%%"}),
		"GetBlock empty action":                func() error { _, _, err := s.GetBlock(ctx, "", "203.0.113.7"); return err },
		"GetBlock empty target":                func() error { _, _, err := s.GetBlock(ctx, "block_waf", ""); return err },
		"GetBlock long target":                 func() error { _, _, err := s.GetBlock(ctx, "block_waf", long); return err },
		"MergeBlock empty target":              func() error { _, _, err := s.MergeBlock(ctx, "block_waf", "", never); return err },
		"MergeBlock long target":               func() error { _, _, err := s.MergeBlock(ctx, "block_waf", long, never); return err },
		"ListBlocks empty action":              func() error { _, err := s.ListBlocks(ctx, ""); return err },
		"ListExpired empty action":             func() error { _, err := s.ListExpiredBlocks(ctx, "", at); return err },
		"DeleteBlock without ETag":             func() error { return s.DeleteBlock(ctx, record.Block{Action: "block_waf", Target: "203.0.113.7"}) },
		"DeleteBlock empty target":             func() error { return s.DeleteBlock(ctx, record.Block{Action: "block_waf", ETag: "x"}) },
		"AddOffence no incident":               func() error { return s.AddOffence(ctx, record.Offence{Target: "203.0.113.7", Time: at}) },
		"AddOffence empty target":              func() error { return s.AddOffence(ctx, record.Offence{Time: at, IncidentID: "inc"}) },
		"AddOffence long incident":             func() error { return s.AddOffence(ctx, record.Offence{Target: "t", Time: at, IncidentID: long}) },
		"CountOffences empty":                  func() error { _, err := s.CountOffences(ctx, "", at, ""); return err },
		"RevertOffences no target":             func() error { _, err := s.RevertOffences(ctx, "", "inc"); return err },
		"RevertOffences no id":                 func() error { _, err := s.RevertOffences(ctx, "t", ""); return err },
		"RevertOffences long id":               func() error { _, err := s.RevertOffences(ctx, "t", long); return err },
		"Reserve empty bucket":                 func() error { _, err := s.Reserve(ctx, "", "k", 1); return err },
		"Reserve empty key":                    func() error { _, err := s.Reserve(ctx, "b", "", 1); return err },
		"Reserve long key":                     func() error { _, err := s.Reserve(ctx, "b", long, 1); return err },
		"PutAllow empty":                       func() error { return s.PutAllow(ctx, record.AllowEntry{}) },
		"PutAllow not a CIDR":                  func() error { return s.PutAllow(ctx, record.AllowEntry{Prefix: "example.com"}) },
		"PutAllow not canonical":               func() error { return s.PutAllow(ctx, record.AllowEntry{Prefix: "203.0.113.7/24"}) },
		"DeleteAllow bare address":             func() error { _, err := s.DeleteAllow(ctx, "203.0.113.7"); return err },
		"ClaimIdempotency empty key":           claim("scope", "", at, time.Hour),
		"ClaimIdempotency empty scope":         claim("", "k", at, time.Hour),
		"ClaimIdempotency 201 characters":      claim("scope", strings.Repeat("é", 201), at, time.Hour),
		"ClaimIdempotency long escaped":        claim("scope", strings.Repeat("/", 200), at, time.Hour),
		"ClaimIdempotency no ttl":              claim("scope", "k", at, 0),
		"ClaimIdempotency no time":             claim("scope", "k", time.Time{}, time.Hour),
		"FinishIdempotency empty key":          func() error { return s.FinishIdempotency(ctx, "scope", "", 200, "", nil, time.Time{}) },
		"FinishIdempotency status 0":           func() error { return s.FinishIdempotency(ctx, "scope", "k", 0, "", nil, time.Time{}) },
		"FinishIdempotency body too big": func() error {
			return s.FinishIdempotency(ctx, "scope", "k", 200, "application/octet-stream", noise(6, 1024*1024), time.Time{})
		},
		"ReleaseIdempotency long key": func() error { return s.ReleaseIdempotency(ctx, "scope", strings.Repeat("k", 201)) },
		"MergeHealth empty kind": func() error {
			_, _, err := s.MergeHealth(ctx, "", "alerts", neverHealth(t))
			return err
		},
		"MergeHealth long name": func() error {
			_, _, err := s.MergeHealth(ctx, "function", long, neverHealth(t))
			return err
		},
		"ListHealth empty kind": func() error { _, err := s.ListHealth(ctx, ""); return err },
		"AddCount empty name":   func() error { return s.AddCount(ctx, "", at, 1) },
		"AddCount long name":    func() error { return s.AddCount(ctx, long, at, 1) },
		"SumCounts empty name":  func() error { _, err := s.SumCounts(ctx, "", at, at.Add(time.Hour)); return err },
		"AppendAudit no id":     func() error { return s.AppendAudit(ctx, []record.AuditEvent{{Time: at}}) },
		"AppendAudit long id":   func() error { return s.AppendAudit(ctx, []record.AuditEvent{{Time: at, ID: long}}) },
		"AppendAudit detail too big": func() error {
			detail, _ := json.Marshal(noise(5, 1024*1024))
			return s.AppendAudit(ctx, []record.AuditEvent{{Time: at, ID: "ev", Detail: detail}})
		},
	}
	for name, call := range calls {
		if err := call(); fault.Of(err) != fault.Reject {
			t.Errorf("%s: want a rejection, got %v", name, err)
		}
	}
}

// cancelled: with valid keys, a call whose context has ended fails, and is worth
// retrying. Calls with nothing to do succeed without I/O.
func cancelled(t *testing.T, s Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	called := false
	calls := map[string]func() error{
		"GetIncident":    func() error { _, _, err := s.GetIncident(ctx, "inc", at); return err },
		"PutIncident":    func() error { return s.PutIncident(ctx, record.IncidentRecord{ID: "inc", EventTime: at}) },
		"LocateIncident": func() error { _, _, err := s.LocateIncident(ctx, "inc"); return err },
		"ListIncidents": func() error {
			_, _, err := s.ListIncidents(ctx, record.IncidentQuery{From: at, To: at.Add(time.Hour)})
			return err
		},
		"PutDecisions":  func() error { return s.PutDecisions(ctx, Decisions("inc", at, 1)) },
		"ListDecisions": func() error { _, err := s.ListDecisions(ctx, "inc", at); return err },
		"UpdateDecision": func() error {
			_, _, err := s.UpdateDecision(ctx, "inc", at, 0, func(*record.DecisionRecord) (*record.DecisionRecord, error) {
				called = true
				return &record.DecisionRecord{}, nil
			})
			return err
		},
		"ListDecisionsByStatus": func() error {
			_, _, err := s.ListDecisionsByStatus(ctx, record.DecisionQuery{From: at, To: at.Add(time.Hour)})
			return err
		},
		"GetBlock": func() error { _, _, err := s.GetBlock(ctx, "block_waf", "203.0.113.7"); return err },
		"MergeBlock": func() error {
			_, _, err := s.MergeBlock(ctx, "block_waf", "203.0.113.7", func(*record.Block) (*record.Block, error) {
				called = true
				return &record.Block{}, nil
			})
			return err
		},
		"ListBlocks":        func() error { _, err := s.ListBlocks(ctx, "block_waf"); return err },
		"ListExpiredBlocks": func() error { _, err := s.ListExpiredBlocks(ctx, "block_waf", at); return err },
		"DeleteBlock": func() error {
			return s.DeleteBlock(ctx, record.Block{Action: "block_waf", Target: "203.0.113.7", ETag: "x"})
		},
		"AddOffence":     func() error { return s.AddOffence(ctx, record.Offence{Target: "t", Time: at, IncidentID: "inc"}) },
		"CountOffences":  func() error { _, err := s.CountOffences(ctx, "t", at, ""); return err },
		"RevertOffences": func() error { _, err := s.RevertOffences(ctx, "t", "inc"); return err },
		"Reserve":        func() error { _, err := s.Reserve(ctx, "b", "k", 1); return err },
		"AppendAudit":    func() error { return s.AppendAudit(ctx, []record.AuditEvent{{Time: at, ID: "ev"}}) },
		"ListAudit":      func() error { _, err := s.ListAudit(ctx, at, at.Add(time.Hour)); return err },
	}
	for name, call := range calls {
		if err := call(); err == nil || fault.Of(err) != fault.Retry {
			t.Errorf("%s with a cancelled context: want a transient error, got %v", name, err)
		}
	}
	if called {
		t.Error("a merge called fn without having read the row")
	}
	for name, err := range map[string]error{
		"PutDecisions of none": s.PutDecisions(ctx, nil),
		"AppendAudit of none":  s.AppendAudit(ctx, nil),
		"AddCount of zero":     s.AddCount(ctx, "alerts", at, 0),
	} {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if got, err := s.ListAudit(ctx, at, at); got != nil || err != nil {
		t.Errorf("ListAudit of an empty range = %v, %v", got, err)
	}
	if got, err := s.SumCounts(ctx, "alerts", at, at); got != 0 || err != nil {
		t.Errorf("SumCounts of an empty range = %v, %v", got, err)
	}
}

// A month's triage report of several megabytes reads back whole; a smaller rewrite
// replaces it; months list oldest first; a bad month is refused before any I/O.
func triageRuns(t *testing.T, s Store) {
	ctx := testContext(t)
	at := time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)
	if _, found, err := s.GetTriageRun(ctx, "2026-12"); found || err != nil {
		t.Fatalf("before any run: %v %v", found, err)
	}
	// Noise as hex does not compress below half: the stream spans several part rows.
	big := []byte(`{"apis":"` + fmt.Sprintf("%x", noise(9, 1_200_000)) + `"}`)
	if err := s.PutTriageRun(ctx, record.TriageRun{Month: "2026-12", Created: at, Report: big}); err != nil {
		t.Fatal(err)
	}
	got, found, err := s.GetTriageRun(ctx, "2026-12")
	if err != nil || !found || !bytes.Equal(got.Report, big) || !got.Created.Equal(at) || got.Month != "2026-12" {
		t.Fatalf("big run: found=%v err=%v, %d bytes", found, err, len(got.Report))
	}
	small := []byte(`{"apis":[]}`)
	if err := s.PutTriageRun(ctx, record.TriageRun{Month: "2026-12", Created: at.Add(time.Hour), Report: small}); err != nil {
		t.Fatal(err)
	}
	if got, _, err := s.GetTriageRun(ctx, "2026-12"); err != nil || !bytes.Equal(got.Report, small) {
		t.Fatalf("rewritten run: %q %v", got.Report, err)
	}
	if err := s.PutTriageRun(ctx, record.TriageRun{Month: "2026-11", Created: at.Add(-30 * 24 * time.Hour), Report: small}); err != nil {
		t.Fatal(err)
	}
	if months, err := s.ListTriageMonths(ctx); err != nil || strings.Join(months, ",") != "2026-11,2026-12" {
		t.Fatalf("months %v %v", months, err)
	}
	for _, bad := range []string{"", "2026-13", "2026-1", "../x", "2026-12 "} {
		if err := s.PutTriageRun(ctx, record.TriageRun{Month: bad, Report: small}); fault.Of(err) != fault.Reject {
			t.Errorf("month %q: %v", bad, err)
		}
		if _, _, err := s.GetTriageRun(ctx, bad); fault.Of(err) != fault.Reject {
			t.Errorf("get month %q: %v", bad, err)
		}
	}
	if err := s.PutTriageRun(ctx, record.TriageRun{Month: "2026-10"}); fault.Of(err) != fault.Reject {
		t.Errorf("empty report: %v", err)
	}
}
