package record

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/detect"
	"github.com/apiguard/apiguard/shared/traffic"
	"github.com/apiguard/apiguard/shared/vocab"
)

// scaleWorkload is gateway traffic as a queue hands it to function instances in
// batches: every batch carries one flooding client (a quarter of its records), the
// rest come from a population of clients drawn by a Zipf law (a few busy ones that
// are in most batches, a long tail that is in few), over 20 operations of 4 APIs.
// Every fifth client has a subscription and a user. A batch is a function of its
// seed, so a test can make it again to redeliver it.
type scaleWorkload struct {
	clients int
	flood   netip.Addr
}

func newScaleWorkload() *scaleWorkload {
	return &scaleWorkload{clients: 5000, flood: netip.MustParseAddr("203.0.113.66")}
}

// client is the address of population member c (0-based).
func (w *scaleWorkload) client(c int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(c >> 16), byte(c >> 8), byte(c)})
}

// batch is n records spread evenly over [start, start+span).
func (w *scaleWorkload) batch(seed uint64, n int, start time.Time, span time.Duration) []traffic.Record {
	rng := rand.New(rand.NewPCG(seed, 0x5ca1e))
	zipf := rand.NewZipf(rng, 1.2, 1, uint64(w.clients-1))
	recs := make([]traffic.Record, n)
	for i := range recs {
		addr, c := w.flood, -1
		if i%4 != 0 {
			c = int(zipf.Uint64())
			addr = w.client(c)
		}
		op := rng.IntN(20)
		status := 200
		if rng.IntN(50) == 0 {
			status = 404
		}
		recs[i] = traffic.Record{
			Time: start.Add(span * time.Duration(i) / time.Duration(n)), Client: addr, Peer: addr,
			Method: "GET", Path: fmt.Sprintf("/api/v1/items/%d", rng.IntN(100000)), Template: fmt.Sprintf("/api/v1/items%d/{id}", op),
			API: fmt.Sprintf("api-%d", op%4), Operation: fmt.Sprintf("op-%d", op), Status: status,
			RequestBytes: 300, ResponseBytes: 900, Latency: 40 * time.Millisecond, UserAgent: "okhttp/4.12.0",
		}
		if c >= 0 && c%5 == 0 {
			recs[i].Subscription = fmt.Sprintf("sub-%04d", c)
			recs[i].User = fmt.Sprintf("user-%04d", c)
		}
	}
	return recs
}

// scaleJob is one delivery of a batch.
type scaleJob struct {
	id   string
	recs []traffic.Record
}

// runEngines has the engines take jobs from one queue, as function instances take
// messages, and returns the first error.
func runEngines(ctx context.Context, engines []*detect.Engine, jobs []scaleJob) error {
	queue := make(chan scaleJob)
	errs := make(chan error, len(engines))
	var wg sync.WaitGroup
	for _, e := range engines {
		wg.Go(func() {
			for j := range queue {
				if _, err := e.Process(ctx, j.id, j.recs); err != nil {
					errs <- fmt.Errorf("batch %s: %w", j.id, err)
					return
				}
			}
		})
	}
	for _, j := range jobs {
		select {
		case queue <- j:
		case err := <-errs:
			close(queue)
			wg.Wait()
			return err
		}
	}
	close(queue)
	wg.Wait()
	close(errs)
	return <-errs
}

// newEngines makes calls engines per instance over a DetectStates per instance, all
// over st's tables: function instances sharing one storage account, each running
// calls invocations at once.
func newEngines(t testing.TB, st *Store, instances, calls int, opts DetectOptions) ([]*detect.Engine, []*DetectStates) {
	var engines []*detect.Engine
	states := make([]*DetectStates, instances)
	for i := range instances {
		states[i] = st.DetectStatesWith(opts)
		for range calls {
			e, err := detect.NewEngine(nil, states[i], zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			engines = append(engines, e)
		}
	}
	return engines, states
}

func sumStats(states []*DetectStates) DetectStats {
	var s DetectStats
	for _, d := range states {
		s = s.Add(d.Stats())
	}
	return s
}

// Four function instances, each with its own DetectStates over the same tables,
// process a queue of batches concurrently; every batch has the same flooding client,
// and some batches are delivered twice (three places later in the queue, so often
// while the first delivery is still running on another instance). After each window,
// every key's request count is exactly the sum over the distinct batches, computed
// from the records alone (detect.Aggregate), and the lost races per batch are reported.
func TestDetectFourEngines(t *testing.T) {
	const (
		engines   = 4
		windows   = 2
		perWindow = 50 // batches: 4 x 25 in all
		records   = 1000
	)
	cfg := detect.DefaultConfig()
	size := time.Duration(cfg.Window)
	w := newScaleWorkload()
	w0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, mode := range []struct {
		name string
		// trusted writes every cached state without a read however often the cache
		// turns out stale: the cached path (412, read again, apply again) under the
		// most contention, where the default stands aside after a few batches.
		trusted bool
	}{{"cache", false}, {"cache trusted always", true}} {
		t.Run(mode.name, func(t *testing.T) {
			st := newStore(t)
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
			defer cancel()
			engs, states := newEngines(t, st, engines, 1, DetectOptions{})
			if mode.trusted {
				for _, d := range states {
					d.cache.trustAt = 0
				}
			}
			redelivered := 0
			began := time.Now()
			for win := range windows {
				start := w0.Add(time.Duration(win) * size)
				span := size / perWindow
				want := map[detect.Key]int{}
				var jobs []scaleJob
				for j := range perWindow {
					recs := w.batch(uint64(win*perWindow+j), records, start.Add(time.Duration(j)*span), span)
					for k, ds := range detect.Aggregate(&cfg, recs) {
						for _, d := range ds {
							if ws, _ := d.Window(); !ws.Equal(start) {
								t.Fatalf("batch %d of window %s has a delta in window %s", j, start, ws)
							}
							want[k] += d.Requests()
						}
					}
					jobs = append(jobs, scaleJob{fmt.Sprintf("w%d-b%02d", win, j), recs})
				}
				for j := 2; j < perWindow; j += 5 {
					at := min(j+3, len(jobs))
					jobs = slices.Insert(jobs, at, scaleJob{fmt.Sprintf("w%d-b%02d", win, j), w.batch(uint64(win*perWindow+j), records, start.Add(time.Duration(j)*span), span)})
					redelivered++
				}
				if err := runEngines(ctx, engs, jobs); err != nil {
					t.Fatal(err)
				}
				flood := detect.Key{Type: vocab.KeyIP, Value: w.flood.String()}
				if want[flood] != perWindow*records/4 {
					t.Fatalf("the workload sent %d flooding requests in window %d, want %d", want[flood], win, perWindow*records/4)
				}
				checkCounts(t, ctx, st, start, want, flood)
			}
			s := sumStats(states)
			if s.GaveUp > 0 {
				t.Fatalf("%d updates gave up", s.GaveUp)
			}
			batches := float64(s.Updates)
			if mode.trusted && s.Changed == 0 {
				t.Fatal("no cached ETag was ever stale: the test did not exercise the 412 path")
			}
			t.Logf("%d engines, %d batches (%d redelivered) of %d records in %s: per batch %.1f keys, %.1f cache hits, %.1f rows read in %.1f queries, %.1f transactions, %.2f lost (412 %.2f, 409 %.2f, 404 %.2f); at most %d lost in one batch",
				engines, s.Updates, redelivered, records, time.Since(began).Round(time.Millisecond), float64(s.Keys)/batches, float64(s.CacheHits)/batches,
				float64(s.RowsRead)/batches, float64(s.Queries)/batches, float64(s.Transactions)/batches, float64(s.Lost())/batches,
				float64(s.Changed)/batches, float64(s.Inserted)/batches, float64(s.Vanished)/batches, s.MaxLost)
		})
	}
}

// checkCounts reads every key of want with a DetectStates of its own (no cache, so
// the rows as stored) and checks each has exactly want's requests in window start.
func checkCounts(t *testing.T, ctx context.Context, st *Store, start time.Time, want map[detect.Key]int, flood detect.Key) {
	t.Helper()
	reader := st.DetectStatesWith(DetectOptions{CacheBytes: -1})
	got, err := reader.Update(ctx, slices.Collect(maps.Keys(want)), func(detect.Key, *detect.State) {})
	if err != nil {
		t.Fatal(err)
	}
	if s := got[flood]; s == nil || s.Requests() != want[flood] {
		t.Fatalf("flooding client: %v requests in its window, want %d", requests(s), want[flood])
	}
	wrong := 0
	for k, n := range want {
		s := got[k]
		ws, _ := s.Window()
		if s.Requests() != n || !ws.Equal(start) {
			if wrong++; wrong <= 5 {
				t.Errorf("%s: %d requests in window %s, want %d in %s", k, s.Requests(), ws, n, start)
			}
		}
	}
	if wrong > 0 {
		t.Fatalf("%d of %d keys have wrong counts", wrong, len(want))
	}
	if st := reader.Stats(); st.Transactions != 0 {
		t.Fatalf("reading back wrote %d transactions", st.Transactions)
	}
}

func requests(s *detect.State) any {
	if s == nil {
		return "no state:"
	}
	return s.Requests()
}

// BenchmarkDetectScale is detection of 1,000-record batches of scaleWorkload traffic
// (a flooding client in every batch) with state on Azurite, taken from one queue by
// function instances (each with its own DetectStates) running one or several
// invocations at once, with and without the cache. records/s is the throughput of
// all of them together; per-batch figures are storage round trips and lost races
// (412 changed, 409 inserted, 404 deleted meanwhile). Each engine first processes 4
// batches untimed (the cache's warm-up). Event time advances 10 s a batch: 30
// batches per 5-minute window.
func BenchmarkDetectScale(b *testing.B) {
	const records = 1000
	w := newScaleWorkload()
	for _, shape := range []struct{ instances, calls int }{{1, 1}, {1, 4}, {4, 1}} {
		for _, mode := range []struct {
			name string
			opts DetectOptions
		}{{"cache", DetectOptions{}}, {"nocache", DetectOptions{CacheBytes: -1}}} {
			b.Run(fmt.Sprintf("instances=%d/calls=%d/%s", shape.instances, shape.calls, mode.name), func(b *testing.B) {
				st := newStore(b)
				ctx := b.Context()
				engs, states := newEngines(b, st, shape.instances, shape.calls, mode.opts)
				t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
				job := func(i int) scaleJob {
					return scaleJob{fmt.Sprint("batch-", i), w.batch(uint64(i), records, t0.Add(time.Duration(i)*10*time.Second), 10*time.Second)}
				}
				warm := 4 * len(engs)
				jobs := make([]scaleJob, 0, warm+b.N)
				for i := range warm + b.N {
					jobs = append(jobs, job(i))
				}
				if err := runEngines(ctx, engs, jobs[:warm]); err != nil {
					b.Fatal(err)
				}
				before := sumStats(states)
				b.SetBytes(records * 1024) // nominal: 1,000 records of about 1 KiB
				b.ReportAllocs()
				b.ResetTimer()
				if err := runEngines(ctx, engs, jobs[warm:]); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				s := sumStats(states).Sub(before)
				batches := float64(s.Updates)
				b.ReportMetric(float64(b.N*records)/b.Elapsed().Seconds(), "records/s")
				b.ReportMetric(float64(s.Keys)/batches, "keys/batch")
				b.ReportMetric(float64(s.RowsRead)/batches, "rows-read/batch")
				b.ReportMetric(float64(s.Queries)/batches, "queries/batch")
				b.ReportMetric(float64(s.Transactions)/batches, "tx/batch")
				b.ReportMetric(float64(s.Changed)/batches, "412/batch")
				b.ReportMetric(float64(s.Lost())/batches, "lost/batch")
				b.ReportMetric(float64(s.MaxLost), "max-lost/batch")
			})
		}
	}
}
