package record_test

import (
	"context"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/record"
	"github.com/apiguard/apiguard/shared/record/recordtest"
)

// The Table store on Azurite and Memory pass one contract, so the offline
// commands and tests that use Memory see what the functions see online.
func TestStoreContract(t *testing.T) {
	recordtest.Run(t, func(t *testing.T) recordtest.Store { return record.NewTestStore(t) })
}

func TestMemoryContract(t *testing.T) {
	recordtest.Run(t, func(*testing.T) recordtest.Store { return record.NewMemory() })
}

func BenchmarkPutDecisions100(b *testing.B) {
	s := record.NewTestStore(b)
	ctx, cancel := context.WithTimeout(b.Context(), time.Minute)
	defer cancel()
	recs := recordtest.Decisions("inc-bench", time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), 100)
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
