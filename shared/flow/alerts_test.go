package flow

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/alert"
	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/detect"
	"github.com/apiguard/apiguard/shared/queue"
	"github.com/apiguard/apiguard/shared/record"
	"github.com/apiguard/apiguard/shared/record/azuritetest"
	"github.com/apiguard/apiguard/shared/vocab"
)

func TestMain(m *testing.M) { azuritetest.Main(m) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var quiet = zerolog.New(io.Discard)

// testApp is an App over fresh tables in the test Azurite (or over store when given),
// with the given settings in enforce mode, sending reconcile requests to q.
func testApp(t *testing.T, c *clock, settings map[string]string, store Store, q Sender) *App {
	t.Helper()
	env := map[string]string{"APIGUARD_MODE": "enforce"}
	for k, v := range settings {
		env[k] = v
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if store == nil {
		store = tables(t)
	}
	a, err := New(Deps{Config: cfg, Store: store, Detect: detect.NewMemoryStore(10000, time.Hour), Queue: q, Now: c.now, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// tables is a Table Storage store with tables of its own on the test Azurite.
func tables(t *testing.T) *record.Store {
	t.Helper()
	store, err := record.New(record.Options{ConnectionString: azuritetest.ConnectionString(t), TablePrefix: azuritetest.TablePrefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// service is an App over fresh tables and the store it writes.
func service(t *testing.T, c *clock, settings map[string]string) (*App, *record.Store) {
	t.Helper()
	store := tables(t)
	return testApp(t, c, settings, store, nil), store
}

func incident(id, typ string, ip string, at time.Time) alert.Incident {
	return alert.Incident{
		ID: id, AlertType: typ, Severity: vocab.SeverityMedium, StartTime: at, Shape: alert.ShapeARM,
		Addresses: []alert.Address{{IP: netip.MustParseAddr(ip), Source: "entity"}},
		Raw:       []byte(fmt.Sprintf(`{"systemAlertId":%q}`, id)),
	}
}

// Offences are remembered across alerts in Table Storage: the second and third alert
// for one address double its block, and the desired block is extended, never shortened.
func TestEscalationAcrossAlerts(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	svc, store := service(t, c, map[string]string{"APIGUARD_JITTER": "0"})
	ip := "45.153.160.140"
	var want = []time.Duration{4 * time.Hour, 8 * time.Hour, 16 * time.Hour}
	for i, w := range want {
		out, err := svc.decide(t.Context(), quiet, incident(fmt.Sprintf("inc-esc-%d", i), "API_SprayInRequests", ip, c.now()))
		if err != nil {
			t.Fatal(err)
		}
		d := out.Decisions[0]
		if d.Action != vocab.BlockWAF || time.Duration(d.Seconds)*time.Second != w || d.Offences != i {
			t.Fatalf("alert %d: %+v, want %v after %d offences", i, d, w, i)
		}
		b, _, err := store.GetBlock(t.Context(), "block_waf", ip)
		if err != nil || !b.Expires.Equal(c.now().Add(w)) || b.Offences != i+1 {
			t.Fatalf("alert %d: block %+v err %v", i, b, err)
		}
		c.add(time.Hour)
	}
	// 31 days later the look-back window holds none of them.
	c.add(31 * 24 * time.Hour)
	out, err := svc.decide(t.Context(), quiet, incident("inc-esc-late", "API_SprayInRequests", ip, c.now()))
	if err != nil {
		t.Fatal(err)
	}
	if d := out.Decisions[0]; d.Offences != 0 || time.Duration(d.Seconds)*time.Second != 4*time.Hour {
		t.Errorf("after the look-back: %+v", d)
	}
}

// Concurrent alerts for distinct addresses never exceed the hourly cap, across
// goroutines standing in for function instances.
func TestHourlyCapUnderConcurrency(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	svc, store := service(t, c, map[string]string{"APIGUARD_MAX_NEW_BLOCKS_PER_HOUR": "5"})
	var wg sync.WaitGroup
	results := make([]vocab.Action, 20)
	errs := make([]error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := svc.decide(t.Context(), quiet, incident(fmt.Sprintf("inc-cap-%02d", i), "API_AccessFromTorExitNode", fmt.Sprintf("45.153.161.%d", i+1), c.now()))
			errs[i] = err
			if err == nil {
				results[i] = out.Decisions[0].Action
			}
		}()
	}
	wg.Wait()
	count := map[vocab.Action]int{}
	for i, a := range results {
		if errs[i] != nil {
			t.Fatalf("alert %d: %v", i, errs[i])
		}
		count[a]++
	}
	if count[vocab.BlockWAF] != 5 || count[vocab.Deferred] != 15 {
		t.Fatalf("actions %v, want 5 block_waf and 15 deferred", count)
	}
	blocks, err := store.ListBlocks(t.Context(), "block_waf")
	if err != nil || len(blocks) != 5 {
		t.Errorf("desired blocks %d (%v), want 5", len(blocks), err)
	}
}

// The same alert delivered ten times at once yields one set of decisions and one offence.
func TestConcurrentRedeliveryDecidesOnce(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	svc, store := service(t, c, nil)
	inc := incident("inc-dup", "API_AccessFromSuspiciousIP", "45.153.162.9", c.now())
	var wg sync.WaitGroup
	secs := make([]int64, 10)
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := svc.decide(t.Context(), quiet, inc)
			if err != nil {
				t.Error(err)
				return
			}
			secs[i] = out.Decisions[0].Seconds
		}()
	}
	wg.Wait()
	for _, s := range secs[1:] {
		if s != secs[0] {
			t.Fatalf("deliveries answered different durations: %v", secs)
		}
	}
	recs, err := store.ListDecisions(t.Context(), inc.ID, inc.EventTime())
	if err != nil || len(recs) != 1 {
		t.Errorf("stored decisions %d (%v), want 1", len(recs), err)
	}
	if n, _ := store.CountOffences(t.Context(), "45.153.162.9", c.now().Add(-time.Hour), ""); n != 1 {
		t.Errorf("offences %d, want 1", n)
	}
	// Later deliveries are flagged as duplicates.
	out, err := svc.decide(t.Context(), quiet, inc)
	if err != nil || !out.Duplicate {
		t.Errorf("later delivery duplicate=%v err=%v", out.Duplicate, err)
	}
}

// Expiry removes only what is due, audits it, and leaves a block extended after the
// scan alone.
func TestExpiry(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	svc, store := service(t, c, map[string]string{"APIGUARD_JITTER": "0"})
	if _, err := svc.decide(t.Context(), quiet, incident("inc-x1", "API_SprayInRequests", "45.153.163.1", c.now())); err != nil {
		t.Fatal(err)
	}
	c.add(2 * time.Hour)
	if _, err := svc.decide(t.Context(), quiet, incident("inc-x2", "API_SprayInRequests", "45.153.163.2", c.now())); err != nil {
		t.Fatal(err)
	}
	c.add(2 * time.Hour) // first due exactly now (4h), second in 2h
	gone, err := svc.Sweep(t.Context(), quiet)
	if err != nil || len(gone) != 1 || gone[0].Target != "45.153.163.1" {
		t.Fatalf("expired %+v, %v", gone, err)
	}
	if gone, err := svc.Sweep(t.Context(), quiet); err != nil || len(gone) != 0 {
		t.Fatalf("second run expired %+v, %v", gone, err)
	}

	// A block extended between the scan and the delete: the ETag no longer matches,
	// the block stays and the audit says the expiry was cancelled.
	c.add(3 * time.Hour)
	racing := &raceStore{Store: store, onList: func() {
		if _, _, err := store.MergeBlock(t.Context(), "block_waf", "45.153.163.2", func(cur *record.Block) (*record.Block, error) {
			n := *cur
			n.Expires = c.now().Add(time.Hour)
			return &n, nil
		}); err != nil {
			t.Error(err)
		}
	}}
	svc2 := testApp(t, c, nil, racing, nil)
	if gone, err := svc2.Sweep(t.Context(), quiet); err != nil || len(gone) != 0 {
		t.Fatalf("extended block expired: %+v %v", gone, err)
	}
	if _, found, _ := store.GetBlock(t.Context(), "block_waf", "45.153.163.2"); !found {
		t.Fatal("extended block was deleted")
	}
	events, err := store.ListAudit(t.Context(), c.now().Add(-time.Minute), c.now().Add(time.Minute))
	if err != nil || len(events) != 1 || events[0].Kind != "block.expiry_cancelled" {
		t.Errorf("audit of the cancelled expiry: %+v %v", events, err)
	}
}

// raceStore changes the state right after an expiry scan, as a concurrent alert would.
type raceStore struct {
	Store
	onList func()
	done   bool
}

func (r *raceStore) ListExpiredBlocks(ctx context.Context, action string, now time.Time) ([]record.Block, error) {
	bs, err := r.Store.ListExpiredBlocks(ctx, action, now)
	if len(bs) > 0 && !r.done {
		r.done = true
		r.onList()
	}
	return bs, err
}

// A delivery that fails half-way (decisions not written) is completed by the retry,
// with one set of decisions and one offence.
func TestRetryAfterPartialFailure(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	store := tables(t)
	flaky := &failOnce{Store: store}
	svc := testApp(t, c, map[string]string{"APIGUARD_MODE": "dryrun"}, flaky, nil)
	inc := incident("inc-partial", "API_AccessFromSuspiciousIP", "45.153.164.1", c.now().Add(-time.Hour))
	if _, err := svc.decide(t.Context(), quiet, inc); err == nil {
		t.Fatal("first delivery did not fail")
	}
	c.add(30 * time.Second)
	out, err := svc.decide(t.Context(), quiet, inc)
	if err != nil || out.Duplicate {
		t.Fatalf("retry: duplicate=%v err=%v", out.Duplicate, err)
	}
	if n, _ := store.CountOffences(t.Context(), "45.153.164.1", c.now().Add(-24*time.Hour), ""); n != 1 {
		t.Errorf("offences %d after a retried delivery, want 1", n)
	}
	recs, err := store.ListDecisions(t.Context(), inc.ID, inc.EventTime())
	if err != nil || len(recs) != 1 {
		t.Errorf("decisions %d (%v), want 1", len(recs), err)
	}
	if again, err := svc.decide(t.Context(), quiet, inc); err != nil || !again.Duplicate {
		t.Errorf("third delivery: duplicate=%v err=%v", again.Duplicate, err)
	}
}

// failOnce fails the first PutDecisions, as a storage outage mid-way would.
type failOnce struct {
	Store
	failed bool
}

func (f *failOnce) PutDecisions(ctx context.Context, recs []record.DecisionRecord) error {
	if !f.failed {
		f.failed = true
		return fmt.Errorf("injected outage")
	}
	return f.Store.PutDecisions(ctx, recs)
}

// requests records the reconcile requests sent.
type requests struct {
	mu  sync.Mutex
	got []string
}

func (n *requests) Send(_ context.Context, msgs []queue.Message) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, m := range msgs {
		n.got = append(n.got, m.Target+" "+m.Reason)
	}
	return nil
}

// Enforcing decisions and expiries ask the targets that enforce their action for a
// reconcile; a skip asks nothing, and an APIM target hears of block_waf only when it
// enforces block_waf.
func TestReconcileRequests(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	n := &requests{}
	svc := testApp(t, c, map[string]string{
		"APIGUARD_WAF_TARGETS":  fmt.Sprintf(`[{"file": %q, "kind": "frontdoor"}]`, dir+"/fd.json"),
		"APIGUARD_APIM_TARGETS": fmt.Sprintf(`[{"dir": %q}, {"dir": %q, "enforce": ["block_waf"]}]`, dir+"/apim-a", dir+"/apim-b"),
	}, nil, n)
	if _, err := svc.decide(t.Context(), quiet, incident("inc-n1", "API_AccessFromSuspiciousIP", "10.9.9.9", c.now())); err != nil {
		t.Fatal(err)
	}
	if len(n.got) != 0 {
		t.Fatalf("a skipped address asked for %v", n.got)
	}
	if _, err := svc.decide(t.Context(), quiet, incident("inc-n2", "API_AccessFromSuspiciousIP", "45.153.165.1", c.now())); err != nil {
		t.Fatal(err)
	}
	want := []string{"file:" + dir + "/fd.json incident inc-n2", "dir:" + dir + "/apim-b incident inc-n2"}
	if !slices.Equal(n.got, want) {
		t.Fatalf("requests %q, want %q", n.got, want)
	}
	c.add(8 * 24 * time.Hour)
	n.got = nil
	if _, err := svc.Sweep(t.Context(), quiet); err != nil {
		t.Fatal(err)
	}
	want = []string{"file:" + dir + "/fd.json expiry", "dir:" + dir + "/apim-b expiry"}
	if !slices.Equal(n.got, want) {
		t.Errorf("requests after expiry %q, want %q", n.got, want)
	}
	n.got = nil
	if err := svc.RequestRepair(t.Context(), "periodic repair"); err != nil {
		t.Fatal(err)
	}
	if len(n.got) != 3 {
		t.Errorf("repair asked %q, want every target", n.got)
	}
}
