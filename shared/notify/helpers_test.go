package notify

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// receiver is a local HTTP endpoint that records what it is sent (and signals seen)
// before handing the request to its handler.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	got  []request
	seen chan struct{} // one value per request, never blocking the handler
}

type request struct {
	Header http.Header
	Body   []byte
}

// newReceiver answers answer(n) to its n-th request (1-based); nil answers 200.
func newReceiver(t *testing.T, answer func(n int) int) *receiver {
	return newHandler(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if answer != nil {
			w.WriteHeader(answer(n))
		}
	})
}

// newHandler hands the n-th request to handle.
func newHandler(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, n int)) *receiver {
	t.Helper()
	r := &receiver{seen: make(chan struct{}, 100000)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, request{Header: req.Header.Clone(), Body: b})
		n := len(r.got)
		r.mu.Unlock()
		r.seen <- struct{}{}
		handle(w, req, n)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.got...)
}

// always answers code to every request.
func always(code int) func(int) int { return func(int) int { return code } }

// failures collects what OnFailure is told.
type failures struct {
	mu   sync.Mutex
	list []failure
}

type failure struct {
	Target string
	Event  Event
	Err    error
}

func (f *failures) record(target string, ev Event, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list = append(f.list, failure{target, ev, err})
}

func (f *failures) all() []failure {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]failure(nil), f.list...)
}

// sleeps records the waits asked for and returns at once (or with ctx's error).
type sleeps struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// run is a dispatcher on test options: no real backoff (the waits are recorded),
// failures recorded.
type run struct {
	*Dispatcher
	failures *failures
	sleeps   *sleeps
}

// start starts a dispatcher that the test closes at its end (unless it closed it).
func start(t *testing.T, targets []Target, tweaks ...func(*Options)) run {
	t.Helper()
	r := run{failures: &failures{}, sleeps: &sleeps{}}
	opts := Options{Source: "/apiguard/test-host", OnFailure: r.failures.record, Sleep: r.sleeps.sleep, Timeout: 5 * time.Second}
	for _, tweak := range tweaks {
		tweak(&opts)
	}
	r.Dispatcher = New(targets, opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.Close(ctx)
	})
	return r
}

func (r run) flush(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

// send notifies events and waits until they are delivered or have failed.
func (r run) send(t *testing.T, events ...Event) {
	t.Helper()
	r.Notify(events...)
	r.flush(t)
}

var when = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

// blockEvent is a typical event.
func blockEvent(id string) Event {
	return Event{
		ID:      id,
		Type:    TypeBlockCreated,
		Subject: "45.153.160.201",
		Time:    when,
		Summary: "45.153.160.201 blocked at the edge for 24h: High alert API_AccessFromSuspiciousIP",
		Links:   map[string]string{"incident": "https://apiguard.example/incidents/abc"},
		Data:    map[string]any{"address": "45.153.160.201", "ttl": "24h"},
	}
}
