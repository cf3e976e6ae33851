package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/apiguard/apiguard/shared/fault"
)

// One worker per target: runs of a target never overlap, requests that arrive during a
// run are coalesced into the next, and every request is handled.
func TestMemoryOneWriterPerTargetAndCoalescing(t *testing.T) {
	var mu sync.Mutex
	active := map[string]int{}
	runs := map[string]int{}
	handled := map[string]int{}
	var overlap atomic.Bool
	q := NewMemory(t.Context(), 0, func(ctx context.Context, target string, batch []Message) error {
		mu.Lock()
		active[target]++
		if active[target] > 1 {
			overlap.Store(true)
		}
		runs[target]++
		handled[target] += len(batch)
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		mu.Lock()
		active[target]--
		mu.Unlock()
		return nil
	}, nil)
	var wg sync.WaitGroup
	for i := range 400 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = q.Send(t.Context(), []Message{{Target: fmt.Sprintf("policy-%d", i%2), Reason: fmt.Sprint(i)}})
		}()
	}
	wg.Wait()
	q.Wait()
	if overlap.Load() {
		t.Error("two runs of one target overlapped")
	}
	for _, target := range []string{"policy-0", "policy-1"} {
		if handled[target] != 200 {
			t.Errorf("%s: %d requests handled, want 200", target, handled[target])
		}
		if runs[target] >= 200 {
			t.Errorf("%s: %d runs for 200 requests: nothing coalesced", target, runs[target])
		}
	}
}

func TestMemoryReportsErrors(t *testing.T) {
	var got []string
	var mu sync.Mutex
	q := NewMemory(t.Context(), 0, func(context.Context, string, []Message) error { return errors.New("boom") },
		func(target string, err error) { mu.Lock(); got = append(got, target+": "+err.Error()); mu.Unlock() })
	_ = q.Send(t.Context(), []Message{{Target: "p"}})
	q.Wait()
	if len(got) != 1 || got[0] != "p: boom" {
		t.Errorf("errors %v", got)
	}
}

type recordingSender struct {
	msgs []*azservicebus.Message
	fail error
}

func (r *recordingSender) SendMessage(_ context.Context, m *azservicebus.Message, _ *azservicebus.SendMessageOptions) error {
	if r.fail != nil {
		return r.fail
	}
	r.msgs = append(r.msgs, m)
	return nil
}

func TestServiceBusMessagesCarrySessionPerTarget(t *testing.T) {
	long := "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/a-rather-long-resource-group-name/providers/Microsoft.Network/FrontDoorWebApplicationFirewallPolicies/policy-with-a-long-name"
	rec := &recordingSender{}
	if err := send(t.Context(), rec, []Message{{Target: long, Reason: "inc-1"}, {Target: "file:x.json", Reason: "expiry"}}); err != nil {
		t.Fatal(err)
	}
	if len(rec.msgs) != 2 {
		t.Fatalf("%d messages", len(rec.msgs))
	}
	s0 := *rec.msgs[0].SessionID
	if len(s0) > 128 || s0 != SessionID(long) || s0 == *rec.msgs[1].SessionID {
		t.Errorf("session ids %q %q", s0, *rec.msgs[1].SessionID)
	}
	m, err := Decode(rec.msgs[0].Body)
	if err != nil || m.Target != long || m.Reason != "inc-1" {
		t.Errorf("body %s: %+v %v", rec.msgs[0].Body, m, err)
	}
	rec.fail = errors.New("connection reset")
	if err := send(t.Context(), rec, []Message{{Target: "t"}}); fault.Of(err) != fault.Retry {
		t.Errorf("send failure disposition %v (%v)", fault.Of(err), err)
	}
	if err := NewServiceBus("q", "", "").Send(t.Context(), []Message{{Target: "t"}}); fault.Of(err) != fault.Reject {
		t.Errorf("unconfigured sender: %v", err)
	}
}

func TestDecode(t *testing.T) {
	for _, bad := range []string{``, `{`, `[]`, `{"reason":"x"}`} {
		if _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("Decode(%q) accepted", bad)
		}
	}
	body, _ := json.Marshal(Message{Target: "t", Reason: "r"})
	if m, err := Decode(body); err != nil || m.Target != "t" {
		t.Errorf("%+v %v", m, err)
	}
}

// A real namespace (or the emulator elsewhere) when a connection string is given.
func TestServiceBusLive(t *testing.T) {
	conn := os.Getenv("APIGUARD_TEST_SERVICEBUS_CONNECTION")
	if conn == "" {
		t.Skip("APIGUARD_TEST_SERVICEBUS_CONNECTION not set: no Service Bus reachable here")
	}
	queue := os.Getenv("APIGUARD_TEST_SERVICEBUS_QUEUE")
	if queue == "" {
		queue = "apiguard-reconcile"
	}
	if err := NewServiceBus(queue, conn, "").Send(t.Context(), []Message{{Target: "live-test", Reason: "test"}}); err != nil {
		t.Fatal(err)
	}
}

// Requests that arrive within the settle time go into one run.
func TestMemorySettleGathers(t *testing.T) {
	var runs, handled atomic.Int32
	q := NewMemory(t.Context(), 100*time.Millisecond, func(_ context.Context, _ string, batch []Message) error {
		runs.Add(1)
		handled.Add(int32(len(batch)))
		return nil
	}, nil)
	for i := range 10 {
		_ = q.Send(t.Context(), []Message{{Target: "p", Reason: fmt.Sprint(i)}})
		time.Sleep(time.Millisecond)
	}
	q.Wait()
	if runs.Load() != 1 || handled.Load() != 10 {
		t.Errorf("%d runs handled %d requests, want 1 run of 10", runs.Load(), handled.Load())
	}
}
