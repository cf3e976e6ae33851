package record

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/record/azuritetest"
)

// TestReserveAcrossInstances: 30 callers on three Stores (three function instances:
// the in-process lock does not reach across them) race for a limit of 10; the counter
// and reservation transaction with If-Match lets exactly 10 through, and the rows say
// so. The contract suite (recordtest) covers the rest of Reserve on one Store.
func TestReserveAcrossInstances(t *testing.T) {
	s := newStore(t)
	prefix := s.limits.name[:len(s.limits.name)-len("Limits")]
	instances := []*Store{s}
	for range 2 {
		o, err := New(Options{ConnectionString: azuritetest.ConnectionString(t), TablePrefix: prefix, ClientOptions: testClientOptions()})
		if err != nil {
			t.Fatal(err)
		}
		instances = append(instances, o)
	}
	ctx := testContext(t)
	const callers, limit = 30, 10
	bucket := "newblocks-2026112312"
	var (
		wg      sync.WaitGroup
		granted atomic.Int32
	)
	for i := range callers {
		wg.Go(func() {
			ok, err := instances[i%len(instances)].Reserve(ctx, bucket, fmt.Sprintf("203.0.113.%d/32", i), limit)
			if err != nil {
				t.Error(err)
			}
			if ok {
				granted.Add(1)
			}
		})
	}
	wg.Wait()
	if n := granted.Load(); n != limit {
		t.Fatalf("granted %d, want exactly %d", n, limit)
	}
	assertCount(t, s, bucket, limit)
}

// TestTransactionConflictIsErrConflict drives the 202-with-inner-412 path: a
// counter update with a stale ETag fails the whole transaction.
func TestTransactionConflictIsErrConflict(t *testing.T) {
	s := newStore(t)
	ctx := testContext(t)
	if ok, err := s.Reserve(ctx, "b", "k1", 5); !ok || err != nil {
		t.Fatal(ok, err)
	}
	counter, found, err := s.limits.get(ctx, "b", counterRow)
	if err != nil || !found {
		t.Fatal(found, err)
	}
	if ok, err := s.Reserve(ctx, "b", "k2", 5); !ok || err != nil {
		t.Fatal(ok, err)
	}
	err = s.commitReservation(ctx, "b", reservationRow+"k3", "k3", 2, counter)
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("stale counter: %v, want ErrConflict", err)
	}
	if status, code := statusOf(err); status != 412 || code != "UpdateConditionNotSatisfied" {
		t.Errorf("inner status = %d %q, want 412 UpdateConditionNotSatisfied", status, code)
	}
	// Nothing of the failed transaction was written.
	if _, found, _ := s.limits.get(ctx, "b", reservationRow+"k3"); found {
		t.Error("reservation written by a failed transaction")
	}
	// Inserting a second "first" counter collides with 409.
	err = s.commitReservation(ctx, "b", reservationRow+"k4", "k4", 1, nil)
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate counter insert: %v, want ErrConflict", err)
	}
	if status, _ := statusOf(err); status != 409 {
		t.Errorf("inner status = %d, want 409", status)
	}
}

// TestReserveGivesUp: a competitor bumps the counter just before each of our
// transactions (a pipeline policy on the real requests), so every attempt
// loses; Reserve stops after its attempts with a transient ErrConflict.
func TestReserveGivesUp(t *testing.T) {
	conn, prefix := azuritetest.ConnectionString(t), azuritetest.TablePrefix(t)
	ctx := testContext(t)
	competitor, err := New(Options{ConnectionString: conn, TablePrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := competitor.Reserve(ctx, "hot", "first", 100); !ok || err != nil {
		t.Fatal(ok, err)
	}
	var n atomic.Int32
	race := policyFunc(func(req *policy.Request) (*http.Response, error) {
		if strings.HasSuffix(req.Raw().URL.Path, "$batch") {
			if _, err := competitor.Reserve(req.Raw().Context(), "hot", fmt.Sprintf("k%d", n.Add(1)), 100); err != nil {
				return nil, err
			}
		}
		return req.Next()
	})
	s, err := New(Options{ConnectionString: conn, TablePrefix: prefix, ClientOptions: &aztables.ClientOptions{
		ClientOptions: azcore.ClientOptions{PerCallPolicies: []policy.Policy{race}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	s.conflicts = backoff{attempts: 3, base: time.Millisecond, max: time.Millisecond}
	ok, err := s.Reserve(ctx, "hot", "mine", 100)
	if ok || !errors.Is(err, ErrConflict) || fault.Of(err) != fault.Retry {
		t.Fatalf("Reserve = %v, %v; want a transient ErrConflict", ok, err)
	}
	if got := n.Load(); got != 3 {
		t.Errorf("%d transactions attempted, want 3", got)
	}
	assertCount(t, s, "hot", 4)
}

type policyFunc func(*policy.Request) (*http.Response, error)

func (f policyFunc) Do(req *policy.Request) (*http.Response, error) { return f(req) }

func assertCount(t *testing.T, s *Store, bucket string, want int) {
	t.Helper()
	ctx := testContext(t)
	c, found, err := s.limits.get(ctx, escapeKey(bucket), counterRow)
	if err != nil || !found {
		t.Fatalf("counter: %v, %v", found, err)
	}
	if got := c.int("Count"); got != int64(want) {
		t.Errorf("counter = %d, want %d", got, want)
	}
	n := 0
	err = s.limits.query(ctx, "PartitionKey eq "+odataString(escapeKey(bucket))+" and RowKey ge 'r-' and RowKey lt 'r.'", "", func(*entity) error {
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Errorf("%d reservations, want %d", n, want)
	}
}
