package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/alert"
	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/queue"
	"github.com/apiguard/apiguard/shared/record"
	"github.com/apiguard/apiguard/shared/vocab"
	"github.com/apiguard/apiguard/shared/waf"
)

// countingStore counts the writes the exactly-once promise is about: desired-block
// writes (a MergeBlock that wrote) and audit events by kind.
type countingStore struct {
	Store
	blockWrites atomic.Int64
	mu          sync.Mutex
	audited     map[string]int // events written, by kind
}

func counting(s Store) *countingStore {
	return &countingStore{Store: s, audited: map[string]int{}}
}

func (c *countingStore) MergeBlock(ctx context.Context, action, target string, fn func(cur *record.Block) (*record.Block, error)) (record.Block, bool, error) {
	b, wrote, err := c.Store.MergeBlock(ctx, action, target, fn)
	if wrote {
		c.blockWrites.Add(1)
	}
	return b, wrote, err
}

func (c *countingStore) AppendAudit(ctx context.Context, events []record.AuditEvent) error {
	err := c.Store.AppendAudit(ctx, events)
	if err == nil {
		c.mu.Lock()
		for _, ev := range events {
			c.audited[ev.Kind]++
		}
		c.mu.Unlock()
	}
	return err
}

// arriving spreads deliveries over time: each claim moves the clock on a second (a
// second decider would compute a later expiry and extend the block) and is answered
// after a pause, so that deliveries interleave on the in-memory store as they do over
// the network.
type arriving struct {
	Store
	c *clock
}

func (a *arriving) ClaimIncident(ctx context.Context, rec record.IncidentRecord, now time.Time) (record.IncidentRecord, bool, error) {
	a.c.add(time.Second)
	held, claimed, err := a.Store.ClaimIncident(ctx, rec, now)
	time.Sleep(2 * time.Millisecond)
	return held, claimed, err
}

// wafEnv is an App in enforce mode whose block_waf decisions reach a Front Door
// policy file through serve's in-process queue (one writer per target), counting
// the store's writes and the file's.
type wafEnv struct {
	app        *App
	store      *countingStore
	queue      *queue.Memory
	file       string
	fileWrites atomic.Int64
}

func newWAFEnv(t *testing.T, c *clock, base Store, settings map[string]string) *wafEnv {
	t.Helper()
	e := &wafEnv{store: counting(base), file: filepath.Join(t.TempDir(), "frontdoor.json")}
	env := map[string]string{"APIGUARD_WAF_TARGETS": fmt.Sprintf(`[{"file": %q, "kind": "frontdoor"}]`, e.file)}
	for k, v := range settings {
		env[k] = v
	}
	testCtx := t.Context()
	e.queue = queue.NewMemory(testCtx, 0, func(ctx context.Context, target string, _ []queue.Message) error {
		wrote, err := e.app.Reconcile(ctx, quiet, target)
		if wrote {
			e.fileWrites.Add(1)
		}
		return err
	}, func(target string, err error) {
		if testCtx.Err() == nil && !errors.Is(err, context.Canceled) {
			t.Errorf("reconcile %s: %v", target, err)
		}
	})
	e.app = testApp(t, c, env, e.store, e.queue)
	return e
}

// blocked is what the policy file blocks.
func (e *wafEnv) blocked(t *testing.T) []netip.Prefix {
	t.Helper()
	e.queue.Wait()
	data, err := os.ReadFile(e.file)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := waf.ParseDocument(waf.FrontDoor, data)
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Prefix
	for _, r := range doc.Owned(waf.Options{Kind: waf.FrontDoor}) {
		for _, v := range r.Values {
			p, err := netip.ParsePrefix(v)
			if err != nil {
				a, aerr := netip.ParseAddr(v)
				if aerr != nil {
					t.Fatalf("rule %s holds %q: %v", r.Name, v, err)
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			out = append(out, p)
		}
	}
	return out
}

func covered(ps []netip.Prefix, a netip.Addr) int {
	n := 0
	for _, p := range ps {
		if p.Contains(a) {
			n++
		}
	}
	return n
}

// defenderAlert is an ARM-shaped Defender for APIs alert naming the given addresses.
func defenderAlert(n int, ips ...string) []byte {
	ents := make([]string, len(ips))
	for i, ip := range ips {
		ents[i] = fmt.Sprintf(`{"$id":"%d","type":"ip","address":%q}`, i+1, ip)
	}
	return []byte(fmt.Sprintf(`{"id":"/subscriptions/s/providers/Microsoft.Security/locations/westeurope/alerts/a%d","name":"a%d",
"properties":{"alertType":"API_AccessFromSuspiciousIP","systemAlertId":"sys-%05d","severity":"High","startTimeUtc":"2026-11-23T11:00:00Z",
"entities":[%s]}}`, n, n, n, strings.Join(ents, ",")))
}

// stores are the two stores the flow runs over: Table Storage on Azurite online,
// Memory offline. The concurrency promises hold on both.
var stores = []struct {
	name string
	make func(t *testing.T) Store
}{
	{"tables", func(t *testing.T) Store { return tables(t) }},
	{"memory", func(*testing.T) Store { return record.NewMemory() }},
}

// Fifty simultaneous deliveries of one alert: one answer says it decided
// (duplicate: false), the others answer its decisions as duplicates; one
// incident.decided audit row, one desired-block write, one write of the policy file.
func TestConcurrentDeliveriesAnswerOnce(t *testing.T) {
	const n = 50
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			c := &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
			e := newWAFEnv(t, c, &arriving{Store: s.make(t), c: c}, map[string]string{"APIGUARD_MODE": "enforce"})
			body := defenderAlert(1, "45.153.170.7")
			answers := make([]AlertsAnswer, n)
			start := time.Now()
			err := concurrently(n, func(i int) error {
				out, err := e.app.Alerts(t.Context(), quiet, body, nil)
				if err == nil {
					answers[i] = out.(AlertsAnswer)
				}
				return err
			})
			elapsed := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			fresh, expiries := 0, map[time.Time]int{}
			for i := range answers {
				o := &answers[i].Incidents[0]
				if !o.Duplicate {
					fresh++
				}
				if len(o.Decisions) != 1 || o.Decisions[0].Action != vocab.BlockWAF {
					t.Fatalf("answer %d: %+v", i, o.Decisions)
				}
				expiries[o.Decisions[0].Expires]++
			}
			if fresh != 1 {
				t.Errorf("%d answers said duplicate: false, want 1", fresh)
			}
			if len(expiries) != 1 {
				t.Errorf("the answers name %d different expiries, want one: %v", len(expiries), expiries)
			}
			e.store.mu.Lock()
			decided, created, extended := e.store.audited["incident.decided"], e.store.audited["block.created"], e.store.audited["block.extended"]
			e.store.mu.Unlock()
			if decided != 1 || created != 1 || extended != 0 {
				t.Errorf("audit: %d incident.decided, %d block.created, %d block.extended; want 1, 1, 0", decided, created, extended)
			}
			if w := e.store.blockWrites.Load(); w != 1 {
				t.Errorf("desired block written %d times, want once", w)
			}
			blocked := e.blocked(t)
			if covered(blocked, netip.MustParseAddr("45.153.170.7")) != 1 || len(blocked) != 1 {
				t.Errorf("policy file blocks %v, want the address once", blocked)
			}
			if w := e.fileWrites.Load(); w != 1 {
				t.Errorf("policy file written %d times, want once", w)
			}
			if o, _ := e.store.CountOffences(t.Context(), "45.153.170.7", c.now().Add(-24*time.Hour), ""); o != 1 {
				t.Errorf("offences %d, want 1", o)
			}
			t.Logf("%s: %d deliveries in %v: %d duplicate:false, %d expiries, %d incident.decided, %d block writes (%d extended), %d policy file writes",
				s.name, n, elapsed.Round(time.Millisecond), fresh, len(expiries), decided, e.store.blockWrites.Load(), extended, e.fileWrites.Load())
		})
	}
}

// Two hundred distinct alerts at once, some naming many addresses: every one is
// decided, the hourly cap is honoured to the block, each incident keeps to its share,
// and the policy file blocks exactly the addresses enforced.
func TestConcurrentAlertsHonourTheCaps(t *testing.T) {
	const alerts, hourly, share = 200, 100, 20
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			c := &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
			e := newWAFEnv(t, c, s.make(t), map[string]string{"APIGUARD_MODE": "enforce"})
			named := make([][]string, alerts)
			for i := range alerts {
				k := 1
				if i%10 == 0 {
					k = 30 // one alert in ten names thirty addresses
				}
				for j := range k {
					named[i] = append(named[i], fmt.Sprintf("45.%d.%d.%d", 160+i/200, i%200, j+1))
				}
			}
			answers := make([]AlertsAnswer, alerts)
			start := time.Now()
			err := concurrently(alerts, func(i int) error {
				out, err := e.app.Alerts(t.Context(), quiet, defenderAlert(1000+i, named[i]...), nil)
				if err == nil {
					answers[i] = out.(AlertsAnswer)
				}
				return err
			})
			elapsed := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			count := map[string]int{}
			var enforced, held []netip.Addr
			for i, ans := range answers {
				o := ans.Incidents[0]
				if o.Duplicate || len(o.Decisions) != len(named[i]) {
					t.Fatalf("alert %d: duplicate=%v, %d decisions for %d addresses", i, o.Duplicate, len(o.Decisions), len(named[i]))
				}
				blocks := 0
				for _, d := range o.Decisions {
					a := netip.MustParseAddr(d.Address)
					switch {
					case d.Action == vocab.BlockWAF:
						blocks++
						enforced = append(enforced, a)
						count["block_waf"]++
					case d.Action == vocab.Deferred && strings.Contains(d.Reason, "APIGUARD_MAX_BLOCKS_PER_INCIDENT"):
						held = append(held, a)
						count["deferred: incident share"]++
					case d.Action == vocab.Deferred && strings.Contains(d.Reason, "APIGUARD_MAX_NEW_BLOCKS_PER_HOUR"):
						held = append(held, a)
						count["deferred: hourly cap"]++
					default:
						t.Fatalf("alert %d: %s %s (%s)", i, d.Action, d.Address, d.Reason)
					}
				}
				if blocks > share {
					t.Errorf("alert %d took %d blocks, more than its share of %d", i, blocks, share)
				}
				rec, found, err := e.store.GetIncident(t.Context(), o.Incident.ID, o.Incident.EventTime())
				if err != nil || !found || !rec.Complete {
					t.Errorf("alert %d: incident stored %v complete %v (%v)", i, found, rec.Complete, err)
				}
			}
			if count["block_waf"] != hourly {
				t.Errorf("%d blocks in the hour, want exactly the cap of %d (%v)", count["block_waf"], hourly, count)
			}
			desired, err := e.store.ListBlocks(t.Context(), "block_waf")
			if err != nil || len(desired) != hourly {
				t.Errorf("desired blocks %d (%v), want %d", len(desired), err, hourly)
			}
			blocked := e.blocked(t)
			for _, a := range enforced {
				if covered(blocked, a) != 1 {
					t.Errorf("enforced %s is in the policy file %d times, want once", a, covered(blocked, a))
				}
			}
			for _, a := range held {
				if covered(blocked, a) != 0 {
					t.Errorf("deferred %s is blocked by the policy file", a)
				}
			}
			e.store.mu.Lock()
			decided := e.store.audited["incident.decided"]
			e.store.mu.Unlock()
			if decided != alerts {
				t.Errorf("%d incident.decided audit events, want %d", decided, alerts)
			}
			t.Logf("%s: %d alerts (%d addresses) in %v: %v; %d policy file writes, %d values in it",
				s.name, alerts, len(enforced)+len(held), elapsed.Round(time.Millisecond), count, e.fileWrites.Load(), len(blocked))
		})
	}
}

// An alert naming 10,000 addresses takes its share of the hour, not the hour: the
// rest of the addresses the decoder reads are deferred with the reason, those beyond
// its bound are counted on the incident, in the answer and in the audit, and the
// next alert is still blocked.
func TestOneAlertCannotTakeTheHour(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	e := newWAFEnv(t, c, tables(t), map[string]string{"APIGUARD_MODE": "enforce"})
	var ips []string
	for i := range 10000 {
		ips = append(ips, fmt.Sprintf("45.%d.%d.%d", 170+i/62500, (i/250)%250, 1+i%250))
	}
	out, err := e.app.Alerts(t.Context(), quiet, defenderAlert(1, ips...), nil)
	if err != nil {
		t.Fatal(err)
	}
	o := out.(AlertsAnswer).Incidents[0]
	count := map[vocab.Action]int{}
	for _, d := range o.Decisions {
		count[d.Action]++
		if d.Action == vocab.Deferred && !strings.Contains(d.Reason, "share of 20 new blocks per hour (APIGUARD_MAX_BLOCKS_PER_INCIDENT)") {
			t.Errorf("deferred without the share's reason: %s", d.Reason)
		}
	}
	if count[vocab.BlockWAF] != 20 || count[vocab.Deferred] != alert.MaxAddresses-20 || len(o.Decisions) != alert.MaxAddresses {
		t.Errorf("decisions %v, want 20 block_waf and %d deferred", count, alert.MaxAddresses-20)
	}
	wantUndecided := 10000 - alert.MaxAddresses
	if o.Undecided == nil || o.Undecided.Count != wantUndecided || !strings.Contains(o.Undecided.Reason, fmt.Sprint(alert.MaxAddresses)) {
		t.Fatalf("answer's undecided: %+v, want %d with the reason", o.Undecided, wantUndecided)
	}
	rec, _, err := e.store.GetIncident(t.Context(), o.Incident.ID, o.Incident.EventTime())
	if err != nil || rec.Undecided != wantUndecided || rec.UndecidedReason != o.Undecided.Reason {
		t.Errorf("incident record: %d undecided (%q), %v", rec.Undecided, rec.UndecidedReason, err)
	}
	events, err := e.store.ListAudit(t.Context(), c.now().Add(-time.Minute), c.now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var audited *Undecided
	for _, ev := range events {
		if ev.Kind == "incident.decided" {
			var detail struct {
				Undecided *Undecided `json:"undecided"`
			}
			if err := json.Unmarshal(ev.Detail, &detail); err != nil {
				t.Fatal(err)
			}
			audited = detail.Undecided
		}
	}
	if audited == nil || *audited != *o.Undecided {
		t.Errorf("audit's undecided: %+v, want %+v", audited, o.Undecided)
	}
	// A redelivery answers the same count, and the next genuine alert is blocked.
	again, err := e.app.Alerts(t.Context(), quiet, defenderAlert(1, ips...), nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := again.(AlertsAnswer).Incidents[0]; !d.Duplicate || d.Undecided == nil || *d.Undecided != *o.Undecided {
		t.Errorf("redelivery: duplicate=%v undecided=%+v", d.Duplicate, d.Undecided)
	}
	next, err := e.app.Alerts(t.Context(), quiet, defenderAlert(2, "45.153.171.1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := next.(AlertsAnswer).Incidents[0].Decisions[0]; d.Action != vocab.BlockWAF {
		t.Errorf("the next alert: %s (%s)", d.Action, d.Reason)
	}
	blocked := e.blocked(t)
	for _, d := range append(o.Decisions, next.(AlertsAnswer).Incidents[0].Decisions...) {
		want := 0
		if d.Action == vocab.BlockWAF {
			want = 1
		}
		if n := covered(blocked, netip.MustParseAddr(d.Address)); n != want {
			t.Errorf("%s %s is in the policy file %d times, want %d", d.Action, d.Address, n, want)
		}
	}
	for _, ip := range ips[alert.MaxAddresses:] {
		if covered(blocked, netip.MustParseAddr(ip)) != 0 {
			t.Fatalf("undecided %s is blocked", ip)
		}
	}
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

// A delivery that finds the incident held by a live claim waits for it, and gives up
// with a retryable error within its invocation's budget; once the holder's claim
// lapses (it crashed) the next delivery takes the incident over and decides it, once.
func TestCrashedHolderIsTakenOver(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			c := &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
			store := s.make(t)
			svc := testApp(t, c, nil, store, nil)
			inc := incident("inc-crashed", "API_AccessFromSuspiciousIP", "45.153.172.1", c.now().Add(-time.Hour))
			normalized, _ := json.Marshal(inc)
			crashed := incidentRecord(inc, inc.EventTime(), c.now(), normalized, 0, false)
			crashed.ClaimedUntil = c.now().Add(time.Minute)
			if _, claimed, err := store.ClaimIncident(t.Context(), crashed, c.now()); err != nil || !claimed {
				t.Fatalf("the crashed holder's claim: %v %v", claimed, err)
			}

			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			if _, err := svc.decide(ctx, quiet, inc); fault.Of(err) != fault.Retry {
				t.Fatalf("a delivery behind a live claim: %v, want a retryable error", err)
			}
			c.add(2 * time.Minute)
			out, err := svc.decide(t.Context(), quiet, inc)
			if err != nil || out.Duplicate || len(out.Decisions) != 1 || out.Decisions[0].Action != vocab.BlockWAF {
				t.Fatalf("after the lapse: %+v, %v", out, err)
			}
			rec, _, err := store.GetIncident(t.Context(), inc.ID, inc.EventTime())
			if err != nil || !rec.Complete || !rec.Received.Equal(crashed.Received) {
				t.Errorf("incident after the takeover: complete %v received %v (first sighting %v), %v", rec.Complete, rec.Received, crashed.Received, err)
			}
			if again, err := svc.decide(t.Context(), quiet, inc); err != nil || !again.Duplicate {
				t.Errorf("a later delivery: duplicate %v, %v", again.Duplicate, err)
			}
		})
	}
}
