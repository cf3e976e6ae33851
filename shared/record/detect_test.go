package record

import (
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/detect"
	"github.com/apiguard/apiguard/shared/detect/detecttest"
)

// The Table Storage store passes the same conformance suite as the in-memory one:
// counts add up across batches and concurrent updaters, a batch applied twice counts
// once, every key comes back.
func TestDetectStatesConformance(t *testing.T) {
	detecttest.TestStore(t, func(t *testing.T) detect.Store {
		return newStore(t).DetectStates()
	})
}

// The triage reads apiguard's own last-seen time per operation from the detector state.
func TestOperationLastSeen(t *testing.T) {
	st := newStore(t).DetectStates()
	engine, err := detect.NewEngine(nil, st, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	recs := benchBatch(100, start)
	if _, err := engine.Process(t.Context(), "b1", recs); err != nil {
		t.Fatal(err)
	}
	seen, err := st.OperationLastSeen(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// benchBatch spreads 100 records over 4 APIs with one template: four operations.
	if len(seen) != 4 {
		t.Fatalf("last seen %v", seen)
	}
	last := recs[len(recs)-1].Time
	for op, at := range seen {
		if !strings.Contains(op, "/api/v1/orders/{id}") || at.Before(start) || at.After(last) {
			t.Errorf("%s last seen %s (batch %s..%s)", op, at, start, last)
		}
	}
}
