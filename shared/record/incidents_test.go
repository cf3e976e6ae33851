package record

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestIncidentRoundTrip(t *testing.T) {
	s := newStore(t)
	ctx := testContext(t)
	at := time.Date(2026, 11, 23, 23, 59, 59, 123456789, time.FixedZone("X", -5*3600)) // next UTC day
	rec := IncidentRecord{
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
	want.EventTime, want.Received = edmTime(rec.EventTime), edmTime(rec.Received)
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

func TestIncidentUndated(t *testing.T) {
	s := newStore(t)
	ctx := testContext(t)
	rec := IncidentRecord{ID: "inc-undated", Source: "alert", Raw: []byte("{}")}
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
	e, _ := incidentEntity(rec)
	if e.pk != undatedPartition {
		t.Errorf("partition = %q, want %q", e.pk, undatedPartition)
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

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIncidentLargeRaw(t *testing.T) {
	s := newStore(t)
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
		// (Azurite's JSON-size limit leaves about 760 KiB of binary).
		{"incompressible 900 KiB", randomBytes(t, 900*1024), normalized, true, false},
		{"incompressible 1 MiB raw and normalized", randomBytes(t, 1024*1024), json.RawMessage(`"` + strings.Repeat("x", 10) + `"`), true, false},
		// A normalized document that cannot fit is dropped whole (a cut one would
		// not parse) and leaves the room to the raw alert.
		{"incompressible normalized", []byte("{}"), json.RawMessage(randomBytes(t, 1024*1024)), false, true},
		{"small incompressible", randomBytes(t, 64*1024), normalized, false, false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := IncidentRecord{ID: fmt.Sprintf("inc-large-%d", i), EventTime: at, Raw: c.raw, Normalized: c.normalized, Source: "alert"}
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

func assertIncident(t *testing.T, got, want IncidentRecord) {
	t.Helper()
	if got.ID != want.ID || !got.EventTime.Equal(want.EventTime) || !got.Received.Equal(want.Received) ||
		got.AlertType != want.AlertType || got.Severity != want.Severity || got.Source != want.Source ||
		got.DecisionCount != want.DecisionCount || got.Complete != want.Complete ||
		!bytes.Equal(got.Raw, want.Raw) || !bytes.Equal(got.Normalized, want.Normalized) ||
		got.RawTruncated != want.RawTruncated || got.NormalizedTruncated != want.NormalizedTruncated {
		t.Errorf("incident:\n got %+v\nwant %+v", got, want)
	}
}
