package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRetriesOn503ThenDelivers(t *testing.T) {
	rcv := newReceiver(t, func(n int) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	r := start(t, []Target{{Name: "ops", URL: rcv.URL, Kind: KindCloudEvents}})
	r.send(t, blockEvent("e1"))
	if n := len(rcv.requests()); n != 3 {
		t.Errorf("receiver got %d requests, want 3 (two 503s, then 200)", n)
	}
	if got := r.failures.all(); len(got) != 0 {
		t.Errorf("OnFailure called: %v", got)
	}
	// Two waits, each within its jittered window: [250ms, 500ms], then [500ms, 1s].
	w := r.sleeps.all()
	if len(w) != 2 || w[0] < 250*time.Millisecond || w[0] > 500*time.Millisecond || w[1] < 500*time.Millisecond || w[1] > time.Second {
		t.Errorf("waits %v, want two in [250ms,500ms] and [500ms,1s]", w)
	}
}

func TestRetryableAnswers(t *testing.T) {
	for _, c := range []struct {
		code  int
		tries int // with Attempts 3
	}{
		{400, 1}, {401, 1}, {403, 1}, {404, 1}, {410, 1}, {413, 1}, {422, 1},
		{302, 1}, // redirects are not followed
		{408, 3}, {429, 3}, {500, 3}, {502, 3}, {503, 3}, {504, 3},
	} {
		t.Run(fmt.Sprint(c.code), func(t *testing.T) {
			rcv := newReceiver(t, always(c.code))
			r := start(t, []Target{{Name: "ops", URL: rcv.URL, Kind: KindSlack}}, func(o *Options) { o.Attempts = 3 })
			r.send(t, blockEvent("e1"))
			if n := len(rcv.requests()); n != c.tries {
				t.Errorf("%d: %d requests, want %d", c.code, n, c.tries)
			}
			got := r.failures.all()
			if len(got) != 1 {
				t.Fatalf("OnFailure called %d times, want once", len(got))
			}
			var se *StatusError
			if !errors.As(got[0].Err, &se) || se.StatusCode != c.code {
				t.Errorf("error %v, want a StatusError %d", got[0].Err, c.code)
			}
			if got[0].Target != "ops" || got[0].Event.ID != "e1" {
				t.Errorf("reported %q %q, want ops e1", got[0].Target, got[0].Event.ID)
			}
		})
	}
}

func TestNoRetryOn400(t *testing.T) {
	rcv := newReceiver(t, always(http.StatusBadRequest))
	r := start(t, []Target{{Name: "chat", URL: rcv.URL, Kind: KindTeams}})
	r.send(t, blockEvent("e1"))
	if n := len(rcv.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
	if w := r.sleeps.all(); len(w) != 0 {
		t.Errorf("waited %v before a final answer", w)
	}
	got := r.failures.all()
	if len(got) != 1 || !strings.Contains(got[0].Err.Error(), "not retried") || !strings.Contains(got[0].Err.Error(), "400") {
		t.Errorf("failures %v, want one 400 not retried", got)
	}
}

func TestOnFailureAfterTheAttempts(t *testing.T) {
	rcv := newReceiver(t, always(http.StatusServiceUnavailable))
	r := start(t, []Target{{Name: "ops", URL: rcv.URL, Kind: KindCloudEvents}})
	r.Notify(blockEvent("e1"), blockEvent("e2"))
	r.flush(t)
	if n := len(rcv.requests()); n != 8 {
		t.Errorf("%d requests, want 4 attempts x 2 events", n)
	}
	got := r.failures.all()
	if len(got) != 2 || got[0].Event.ID != "e1" || got[1].Event.ID != "e2" {
		t.Fatalf("failures %v, want e1 then e2", got)
	}
	if !strings.Contains(got[0].Err.Error(), "gave up after 4 attempts") {
		t.Errorf("error %q does not say it gave up after 4 attempts", got[0].Err)
	}
	if n := len(r.sleeps.all()); n != 6 {
		t.Errorf("%d waits, want 3 per event", n)
	}
}

// A network error is retried, and the error names the target by scheme and host only:
// a chat webhook's path is its credential.
func TestNetworkErrorRetriedAndRedacted(t *testing.T) {
	rcv := newReceiver(t, nil)
	url := rcv.URL + "/services/T000/B000/SECRETPATH"
	rcv.Close() // nothing listens there any more
	r := start(t, []Target{{Name: "slack", URL: url, Kind: KindSlack}})
	r.send(t, blockEvent("e1"))
	got := r.failures.all()
	if len(got) != 1 || !strings.Contains(got[0].Err.Error(), "gave up after 4 attempts") {
		t.Fatalf("failures %v, want one after 4 attempts", got)
	}
	if strings.Contains(got[0].Err.Error(), "SECRETPATH") {
		t.Errorf("error repeats the URL's path: %v", got[0].Err)
	}
}

func TestRetryAfterIsHonouredAndCapped(t *testing.T) {
	for _, c := range []struct {
		header string
		want   time.Duration
	}{{"7", 7 * time.Second}, {"86400", 30 * time.Second}} {
		rcv := newHandler(t, func(w http.ResponseWriter, _ *http.Request, n int) {
			if n == 1 {
				w.Header().Set("Retry-After", c.header)
				w.WriteHeader(http.StatusTooManyRequests)
			}
		})
		r := start(t, []Target{{Name: "ops", URL: rcv.URL, Kind: KindSlack}})
		r.send(t, blockEvent("e1"))
		if w := r.sleeps.all(); len(w) != 1 || w[0] != c.want {
			t.Errorf("Retry-After %s: waits %v, want [%v]", c.header, w, c.want)
		}
		if got := r.failures.all(); len(got) != 0 {
			t.Errorf("failures %v", got)
		}
	}
}

// A redirect is not followed: the secret header must not travel to another address.
func TestRedirectNotFollowed(t *testing.T) {
	elsewhere := newReceiver(t, nil)
	redirect := http.RedirectHandler(elsewhere.URL, http.StatusTemporaryRedirect)
	rcv := newHandler(t, func(w http.ResponseWriter, r *http.Request, _ int) { redirect.ServeHTTP(w, r) })
	r := start(t, []Target{{Name: "ops", URL: rcv.URL, Kind: KindCloudEvents, Header: "x-functions-key", Secret: "k"}})
	r.send(t, blockEvent("e1"))
	if n := len(elsewhere.requests()); n != 0 {
		t.Errorf("the redirect was followed (%d requests)", n)
	}
	if got := r.failures.all(); len(got) != 1 {
		t.Errorf("failures %v, want one", got)
	}
}

func TestTypeFilters(t *testing.T) {
	blocks := newReceiver(t, nil)
	pending := newReceiver(t, nil)
	everything := newReceiver(t, nil)
	r := start(t, []Target{
		{Name: "blocks", URL: blocks.URL, Kind: KindCloudEvents, Types: []string{"apiguard.block."}},
		{Name: "pending", URL: pending.URL, Kind: KindCloudEvents, Types: []string{TypeDecisionPending, TypeHealthChanged}},
		{Name: "everything", URL: everything.URL, Kind: KindCloudEvents},
	})
	for i, typ := range Types() {
		r.Notify(Event{ID: fmt.Sprint(i), Type: typ, Summary: typ})
	}
	r.flush(t)
	types := func(rcv *receiver) []string {
		var out []string
		for _, q := range rcv.requests() {
			out = append(out, decodeCloudEvent(t, q).Type())
		}
		return out
	}
	for _, c := range []struct {
		r    *receiver
		want []string
	}{
		{blocks, []string{TypeBlockCreated, TypeBlockRemoved, TypeBlockExtended}},
		{pending, []string{TypeDecisionPending, TypeHealthChanged}},
		{everything, Types()},
	} {
		if got := types(c.r); !slices.Equal(got, c.want) {
			t.Errorf("got %v, want %v", got, c.want)
		}
	}
}

// The point of the package: a hanging target delays neither Notify nor the other
// targets.
func TestHangingTargetDelaysNothing(t *testing.T) {
	release := make(chan struct{})
	var hung atomic.Int64
	hanging := newHandler(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		hung.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	healthy := newReceiver(t, nil)
	r := start(t, []Target{
		{Name: "hanging", URL: hanging.URL, Kind: KindCloudEvents},
		{Name: "healthy", URL: healthy.URL, Kind: KindCloudEvents},
	}, func(o *Options) { o.Timeout = time.Minute }) // hangs for as long as the test runs
	defer close(release)

	const n = 1000
	events := make([]Event, n)
	for i := range events {
		events[i] = blockEvent(fmt.Sprintf("e%04d", i))
	}
	start := time.Now()
	for _, ev := range events {
		r.Notify(ev)
	}
	notifyTook := time.Since(start)
	deadline := time.After(5 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-healthy.seen:
		case <-deadline:
			t.Fatalf("the healthy target got %d of %d events in 5s", i, n)
		}
	}
	deliveredIn := time.Since(start)
	t.Logf("Notify of %d events: %v; the healthy target had all of them after %v; the hanging one held %d request(s)", n, notifyTook, deliveredIn, hung.Load())
	if notifyTook > 50*time.Millisecond {
		t.Errorf("Notify of %d events took %v, want under 50ms", n, notifyTook)
	}
	// In order, each once.
	for i, q := range healthy.requests() {
		if id := decodeCloudEvent(t, q).ID(); id != events[i].ID {
			t.Fatalf("healthy target: event %d is %s, want %s", i, id, events[i].ID)
		}
	}
	if got := r.failures.all(); len(got) != 0 {
		t.Errorf("failures before Close: %d", len(got))
	}

	// Closing with a short deadline gives up on the hanging target: every one of its
	// events is reported once, as closed, and Close says how many were left.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	err := r.Close(ctx)
	t.Logf("Close with a 100ms deadline returned after %v: %v", time.Since(start), err)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), fmt.Sprintf("%d events", n)) {
		t.Errorf("Close: %v, want the deadline and %d events left", err, n)
	}
	got := r.failures.all()
	if len(got) != n {
		t.Fatalf("%d failures reported, want %d", len(got), n)
	}
	for i, g := range got {
		if g.Target != "hanging" || !errors.Is(g.Err, ErrClosed) || g.Event.ID != events[i].ID {
			t.Fatalf("failure %d: %s %s %v, want hanging %s closed", i, g.Target, g.Event.ID, g.Err, events[i].ID)
		}
	}
}

func TestBufferFullDropIsReported(t *testing.T) {
	release := make(chan struct{})
	rcv := newHandler(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	r := start(t, []Target{{Name: "slow", URL: rcv.URL, Kind: KindSlack}}, func(o *Options) { o.Queue = 10 })
	r.Notify(blockEvent("first"))
	<-rcv.seen // the worker holds "first": the buffer is empty again
	for i := range 15 {
		r.Notify(blockEvent(fmt.Sprint(i)))
	}
	got := r.failures.all()
	if len(got) != 5 {
		t.Fatalf("%d drops reported, want 5 (15 events, room for 10)", len(got))
	}
	for i, g := range got {
		if !errors.Is(g.Err, ErrQueueFull) || g.Event.ID != fmt.Sprint(10+i) || g.Target != "slow" {
			t.Errorf("drop %d: %s %s %v", i, g.Target, g.Event.ID, g.Err)
		}
	}
	close(release)
	r.flush(t)
	if got := r.failures.all(); len(got) != 5 {
		t.Errorf("%d failures after the flush, want only the 5 drops", len(got))
	}
}

func TestFlushWaitsAndHonoursItsContext(t *testing.T) {
	release := make(chan struct{})
	rcv := newHandler(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	r := start(t, []Target{{Name: "ops", URL: rcv.URL, Kind: KindSlack}})
	r.Notify(blockEvent("e1"))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := r.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Flush with a hanging target: %v, want the deadline", err)
	}
	close(release)
	r.flush(t)
	if got := r.failures.all(); len(got) != 0 {
		t.Errorf("failures %v", got)
	}
}

func TestNotifyAfterCloseIsReported(t *testing.T) {
	rcv := newReceiver(t, nil)
	r := start(t, []Target{{Name: "ops", URL: rcv.URL, Kind: KindSlack}})
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.Notify(blockEvent("late"))
	if got := r.failures.all(); len(got) != 1 || !errors.Is(got[0].Err, ErrClosed) {
		t.Errorf("failures %v, want one closed", got)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestInvalidEventsAreReportedNotSent(t *testing.T) {
	rcv := newReceiver(t, nil)
	r := start(t, []Target{{Name: "ops", URL: rcv.URL, Kind: KindCloudEvents}})
	r.Notify(
		Event{Type: TypeBlockCreated},
		Event{ID: "x"},
		Event{ID: "y", Type: TypeBlockCreated, Data: make(chan int)},
	)
	r.flush(t)
	if n := len(rcv.requests()); n != 0 {
		t.Errorf("%d requests for invalid events", n)
	}
	got := r.failures.all()
	if len(got) != 3 {
		t.Fatalf("failures %v, want 3", got)
	}
	for _, g := range got {
		if !errors.Is(g.Err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", g.Event.ID, g.Err)
		}
	}
}

// A source that is not a URI reference fails every CloudEvent, once each, unretried.
func TestInvalidSourceFailsCloudEvents(t *testing.T) {
	rcv := newReceiver(t, nil)
	r := start(t, []Target{{Name: "ops", URL: rcv.URL, Kind: KindCloudEvents}}, func(o *Options) { o.Source = "%zz" })
	r.send(t, blockEvent("e1"))
	if got := r.failures.all(); len(got) != 1 || !errors.Is(got[0].Err, ErrInvalid) || len(rcv.requests()) != 0 {
		t.Errorf("failures %v, requests %d", got, len(rcv.requests()))
	}
}

// The data is encoded when Notify is called: the caller may change its values after.
func TestDataIsTakenAtNotify(t *testing.T) {
	rcv := newReceiver(t, nil)
	r := start(t, []Target{{Name: "ops", URL: rcv.URL, Kind: KindCloudEvents}})
	data := map[string]any{"address": "10.0.0.1"}
	links := map[string]string{"incident": "https://apiguard.example/i/1"}
	r.Notify(Event{ID: "e1", Type: TypeBlockCreated, Data: data, Links: links})
	data["address"] = "changed"
	links["incident"] = "https://changed.example/"
	r.flush(t)
	var got struct {
		Links  map[string]string `json:"links"`
		Detail map[string]string `json:"detail"`
	}
	if err := decodeCloudEvent(t, rcv.requests()[0]).DataAs(&got); err != nil {
		t.Fatal(err)
	}
	if got.Detail["address"] != "10.0.0.1" || got.Links["incident"] != "https://apiguard.example/i/1" {
		t.Errorf("sent %+v, want the values at Notify", got)
	}
}

func TestBackoffBounds(t *testing.T) {
	base, limit := 500*time.Millisecond, 30*time.Second
	lowest := func(n int64) int64 { return 0 }
	highest := func(n int64) int64 { return n - 1 }
	for attempt, ceiling := range map[int]time.Duration{
		1: 500 * time.Millisecond, 2: time.Second, 3: 2 * time.Second, 6: 16 * time.Second,
		7: 30 * time.Second, 40: 30 * time.Second, 100: 30 * time.Second,
	} {
		if lo, hi := backoff(base, limit, attempt, lowest), backoff(base, limit, attempt, highest); lo != ceiling/2 || hi != ceiling {
			t.Errorf("attempt %d: waits in [%v, %v], want [%v, %v]", attempt, lo, hi, ceiling/2, ceiling)
		}
	}
}

func TestNoTargets(t *testing.T) {
	d := New(nil, Options{})
	d.Notify(blockEvent("e1"))
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}
