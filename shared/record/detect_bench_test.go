package record

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/detect"
	"github.com/apiguard/apiguard/shared/traffic"
)

// benchBatch is a 1,000-record batch of ordinary API traffic: 200 clients (a few with
// subscriptions and users), 20 operations, mostly 200s, some 404s and 401s.
func benchBatch(n int, start time.Time) []traffic.Record {
	recs := make([]traffic.Record, n)
	for i := range recs {
		c := i % 200
		addr := netip.AddrFrom4([4]byte{45, 153, byte(c / 250), byte(c%250 + 1)})
		status := 200
		switch i % 50 {
		case 7:
			status = 404
		case 13:
			status = 401
		}
		op := i % 20
		recs[i] = traffic.Record{
			Time: start.Add(time.Duration(i) * 250 * time.Millisecond), Client: addr, Peer: addr,
			Method: "GET", Path: fmt.Sprintf("/api/v1/orders/%d", 1000+i), Template: "/api/v1/orders/{id}",
			API: fmt.Sprintf("api-%d", op%4), Operation: fmt.Sprintf("op-%d", op), Status: status,
			RequestBytes: 300, ResponseBytes: 900, Latency: 40 * time.Millisecond, UserAgent: "okhttp/4.12.0",
		}
		if c%5 == 0 {
			recs[i].Subscription = fmt.Sprintf("sub-%03d", c)
			recs[i].User = fmt.Sprintf("user-%03d", c)
		}
	}
	return recs
}

// BenchmarkDetectWithTableState is decode-free detection of one 1,000-record batch with
// its state read from and written to Azurite: what one traffic invocation costs in
// storage round trips. Each iteration is a new batch id in the same window, so every
// key is read and rewritten.
func BenchmarkDetectWithTableState(b *testing.B) {
	st := newStore(b)
	engine, err := detect.NewEngine(nil, st.DetectStates(), zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	recs := benchBatch(1000, time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	if _, err := engine.Process(b.Context(), "warm-up", recs); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(1000 * 1024) // nominal: 1,000 records of about 1 KiB
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := engine.Process(b.Context(), fmt.Sprint("batch-", i), recs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N), "ms/batch")
}
